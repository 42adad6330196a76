//! What each process keeps in memory, and how every process learns that it changed.
//!
//! **What is cached.** Maps read on every hot request:
//! - applications by `client_id` (the token endpoint authenticates a client on every request);
//! - each developer's protected APIs, by owner (every token request resolves its audience);
//! - unrevoked grants → their user (userinfo, introspection and ID tokens on refresh answer "is
//!   this grant still alive, and whose is it?" without a query);
//! - the set of origins some application allows (CORS preflights name no client).
//!
//! Entries have no time-to-live: they stay until a change removes them, or until a map reaches
//! [`MAX_ENTRIES`] and starts over.
//!
//! **How a change is announced.** Invalidation is part of the store functions that write, never
//! of their callers: [`announce`] is private to the store, and every function that changes an
//! application, revokes a grant or changes a user calls it after its write. [`announce`]:
//! 1. forgets the affected entries in this process at once;
//! 2. bumps the change's row in `change_log` (`applications` or `grants`);
//! 3. on PostgreSQL, sends `NOTIFY logi_changes` with a payload naming the change;
//! 4. forgets again (a reader that started before the write may have refilled the entry).
//!
//! **How other processes learn of it.** On PostgreSQL each process `LISTEN`s (see
//! `server::spawn_change_listener`) and applies a notification within milliseconds; a listener
//! that (re)connects starts from empty caches, since it may have missed notifications. As a
//! fallback for lost notifications, and as the only path on SQLite (where other processes are
//! `logi` commands on the same file), every process compares the `change_log` versions with
//! the ones it saw last, every `key_refresh_interval_seconds`, and clears what changed.
//!
//! **Worst staleness.** In the process that wrote: none. In another process: the notification
//! delay (milliseconds) on PostgreSQL, and at most `key_refresh_interval_seconds` when a
//! notification is lost or on SQLite. A reader that started its query before an invalidation
//! cannot store its (possibly stale) answer afterwards: every invalidation bumps a generation
//! that `remember*` checks.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, RwLock,
    },
};

use super::{Backend, Result, Store};

/// Channel for PostgreSQL `LISTEN`/`NOTIFY`.
pub const CHANNEL: &str = "logi_changes";
/// Upper bound on the entries of one map; the map starts over when it is reached.
pub const MAX_ENTRIES: usize = 50_000;

/// A cached user names itself, so that a change to the user can find its grants.
pub trait CachedUser {
    fn user_id(&self) -> &str;
}

/// A change that caches must hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// Any application or protected API was created, changed or deleted (a deleted application
    /// takes its grants with it, so this forgets grants too).
    Applications,
    /// One grant was revoked.
    GrantRevoked(&'a str),
    /// One user was changed or deleted.
    User(&'a str),
}

impl Change<'_> {
    fn log_row(self) -> &'static str {
        match self {
            Change::Applications => "applications",
            Change::GrantRevoked(_) | Change::User(_) => "grants",
        }
    }

    fn payload(self) -> String {
        match self {
            Change::Applications => "applications".into(),
            Change::GrantRevoked(id) => format!("grant:{id}"),
            Change::User(id) => format!("user:{id}"),
        }
    }

    /// The inverse of `payload`; an unknown payload means "something changed": `None`.
    fn parse(payload: &str) -> Option<Change<'_>> {
        if payload == "applications" {
            Some(Change::Applications)
        } else if let Some(id) = payload.strip_prefix("grant:") {
            Some(Change::GrantRevoked(id))
        } else {
            payload.strip_prefix("user:").map(Change::User)
        }
    }
}

#[derive(Debug)]
struct Map<V>(RwLock<HashMap<String, V>>);

impl<V: Clone> Map<V> {
    fn get(&self, key: &str) -> Option<V> {
        self.0.read().ok()?.get(key).cloned()
    }

    fn insert(&self, key: String, value: V) {
        if let Ok(mut map) = self.0.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, value);
        }
    }

    fn retain(&self, keep: impl FnMut(&String, &mut V) -> bool) {
        match self.0.write() {
            Ok(mut m) => m.retain(keep),
            Err(poisoned) => poisoned.into_inner().retain(keep),
        }
    }

    fn clear(&self) {
        self.retain(|_, _| false);
    }

    fn len(&self) -> usize {
        self.0.read().map(|m| m.len()).unwrap_or(0)
    }
}

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map(RwLock::new(HashMap::new()))
    }
}

/// The caches of one process: applications `A` by `client_id`, each owner's protected APIs `P`,
/// unrevoked grants → user `U`, and the set of origins some application allows.
#[derive(Debug)]
pub struct Caches<A, U, P> {
    applications: Map<Arc<A>>,
    apis: Map<Arc<P>>,
    origins: RwLock<Option<Arc<HashSet<String>>>>,
    grants: Map<Arc<U>>,
    /// The `change_log` versions this process has seen.
    applications_version: AtomicI64,
    grants_version: AtomicI64,
    /// Bumped by every invalidation: a reader that started its query before an invalidation
    /// must not put its (possibly stale) answer into the cache afterwards.
    generation: AtomicI64,
}

impl<A, U, P> Default for Caches<A, U, P> {
    fn default() -> Self {
        Caches {
            applications: Map::default(),
            apis: Map::default(),
            origins: RwLock::new(None),
            grants: Map::default(),
            applications_version: AtomicI64::new(0),
            grants_version: AtomicI64::new(0),
            generation: AtomicI64::new(0),
        }
    }
}

impl<A, U: CachedUser, P> Caches<A, U, P> {
    /// The current generation, to pass to `remember*` after a database read.
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn application(&self, client_id: &str) -> Option<Arc<A>> {
        self.applications.get(client_id)
    }

    pub fn remember_application(&self, client_id: &str, app: Arc<A>, generation: i64) {
        if self.generation() == generation {
            self.applications.insert(client_id.to_string(), app);
        }
    }

    pub fn apis(&self, owner_id: &str) -> Option<Arc<P>> {
        self.apis.get(owner_id)
    }

    pub fn remember_apis(&self, owner_id: &str, apis: Arc<P>, generation: i64) {
        if self.generation() == generation {
            self.apis.insert(owner_id.to_string(), apis);
        }
    }

    pub fn origins(&self) -> Option<Arc<HashSet<String>>> {
        self.origins.read().ok()?.clone()
    }

    pub fn remember_origins(&self, origins: Arc<HashSet<String>>, generation: i64) {
        if self.generation() == generation {
            if let Ok(mut slot) = self.origins.write() {
                *slot = Some(origins);
            }
        }
    }

    pub fn grant_user(&self, grant_id: &str) -> Option<Arc<U>> {
        self.grants.get(grant_id)
    }

    pub fn remember_grant(&self, grant_id: &str, user: Arc<U>, generation: i64) {
        if self.generation() == generation {
            self.grants.insert(grant_id.to_string(), user);
        }
    }

    /// Number of cached (applications, grants).
    pub fn sizes(&self) -> (usize, usize) {
        (self.applications.len(), self.grants.len())
    }

    fn invalidate(&self, change: Change<'_>) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::Applications => {
                self.applications.clear();
                self.apis.clear();
                self.grants.clear();
                match self.origins.write() {
                    Ok(mut slot) => *slot = None,
                    Err(poisoned) => *poisoned.into_inner() = None,
                }
            }
            Change::GrantRevoked(id) => self.grants.retain(|grant, _| grant.as_str() != id),
            Change::User(id) => self.grants.retain(|_, user| user.user_id() != id),
        }
    }

    /// Forgets everything (a listener that reconnected may have missed changes).
    pub fn clear(&self) {
        self.invalidate(Change::Applications);
    }

    /// Applies a `NOTIFY logi_changes` payload from another process.
    pub fn apply_notification(&self, payload: &str) {
        match Change::parse(payload) {
            Some(change) => self.invalidate(change),
            None => self.clear(),
        }
    }
}

/// Called by every store function that writes something the caches hold, after its write:
/// forget here, tell every other process (see the module docs).
pub(super) async fn announce(store: &Store, change: Change<'_>) -> Result<()> {
    store.caches.invalidate(change);
    sqlx::query("UPDATE change_log SET version = version + 1 WHERE name = $1")
        .bind(change.log_row())
        .execute(&store.pool)
        .await?;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(change.payload())
            .execute(&store.pool)
            .await?;
    }
    // The write was ours: forget again in case a reader refilled the cache meanwhile.
    store.caches.invalidate(change);
    Ok(())
}

/// The periodic fallback: clears what another process changed since the last check.
pub async fn check_version(store: &Store) -> Result<()> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, version FROM change_log")
        .fetch_all(&store.pool)
        .await?;
    let caches = &store.caches;
    for (name, version) in rows {
        let seen = match name.as_str() {
            "applications" => &caches.applications_version,
            "grants" => &caches.grants_version,
            _ => continue,
        };
        if seen.swap(version, Ordering::AcqRel) != version {
            caches.generation.fetch_add(1, Ordering::AcqRel);
            match name.as_str() {
                "grants" => caches.grants.clear(),
                _ => caches.clear(),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct U(&'static str);
    impl CachedUser for U {
        fn user_id(&self) -> &str {
            self.0
        }
    }

    fn filled() -> Caches<&'static str, U, ()> {
        let c = Caches::default();
        let g = c.generation();
        c.remember_application("c1", Arc::new("app1"), g);
        c.remember_grant("g1", Arc::new(U("alice")), g);
        c.remember_grant("g2", Arc::new(U("alice")), g);
        c.remember_grant("g3", Arc::new(U("bob")), g);
        c
    }

    #[test]
    fn each_change_forgets_exactly_what_it_affects() {
        let c = filled();
        c.apply_notification("grant:g1");
        assert!(c.grant_user("g1").is_none());
        assert!(c.grant_user("g2").is_some());
        assert_eq!(c.sizes(), (1, 2));

        let c = filled();
        c.apply_notification("user:alice");
        assert!(c.grant_user("g1").is_none() && c.grant_user("g2").is_none());
        assert_eq!(c.grant_user("g3").map(|u| u.0), Some("bob"));
        assert_eq!(c.sizes(), (1, 1));

        for payload in ["applications", "something new"] {
            let c = filled();
            c.apply_notification(payload);
            assert_eq!(c.sizes(), (0, 0), "{payload}");
        }
    }

    #[test]
    fn a_read_that_started_before_an_invalidation_is_not_cached() {
        let c: Caches<&'static str, U, ()> = Caches::default();
        let before = c.generation();
        c.apply_notification("user:alice");
        c.remember_grant("g1", Arc::new(U("alice")), before);
        c.remember_application("c1", Arc::new("app"), before);
        assert_eq!(c.sizes(), (0, 0));
        let now = c.generation();
        c.remember_grant("g1", Arc::new(U("alice")), now);
        assert_eq!(c.sizes(), (0, 1));
    }

    #[test]
    fn payloads_round_trip() {
        for change in [
            Change::Applications,
            Change::GrantRevoked("grt_1"),
            Change::User("usr_1"),
        ] {
            assert_eq!(Change::parse(&change.payload()), Some(change));
        }
    }
}
