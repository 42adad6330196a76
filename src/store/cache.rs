//! In-memory caches of what hot paths read on every request: applications (token endpoint) and
//! active grants with their user (userinfo, introspection).
//!
//! Every change to an application, and every grant revocation, updates this process's cache at
//! once, bumps a version in `change_log` and, on PostgreSQL, sends `NOTIFY logi_changes`: other
//! processes update theirs when the notification arrives (milliseconds), or at the latest at
//! their next version check (every `key_refresh_interval_seconds`, should a notification be lost
//! with a connection). A listener that reconnects starts from empty caches.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, RwLock,
    },
};

use super::{applications::Application, users::User, Backend, Result, Store};

/// Channel for PostgreSQL `LISTEN`/`NOTIFY`.
pub const CHANNEL: &str = "logi_changes";
/// Upper bound on cached applications; the cache starts over when it is reached.
const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Default)]
pub struct Caches {
    applications: RwLock<HashMap<String, Arc<Application>>>,
    /// Unrevoked grants → their user.
    grants: RwLock<HashMap<String, Arc<User>>>,
    applications_version: AtomicI64,
    grants_version: AtomicI64,
    /// Bumped by every forget/clear: a reader that started its query before an invalidation
    /// must not put its (possibly stale) answer into the cache afterwards.
    generation: AtomicI64,
}

fn bounded_insert<V>(map: &RwLock<HashMap<String, V>>, key: String, value: V) {
    if let Ok(mut map) = map.write() {
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }
}

fn clear_map<V>(map: &RwLock<HashMap<String, V>>) {
    match map.write() {
        Ok(mut m) => m.clear(),
        Err(poisoned) => poisoned.into_inner().clear(),
    }
}

impl Caches {
    pub fn application(&self, client_id: &str) -> Option<Arc<Application>> {
        self.applications.read().ok()?.get(client_id).cloned()
    }

    /// The current generation, to pass to `remember*` after a database read.
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn remember(&self, app: Arc<Application>, generation: i64) {
        if self.generation() == generation {
            bounded_insert(&self.applications, app.client_id.clone(), app);
        }
    }

    pub fn grant_user(&self, grant_id: &str) -> Option<Arc<User>> {
        self.grants.read().ok()?.get(grant_id).cloned()
    }

    pub fn remember_grant(&self, grant_id: &str, user: Arc<User>, generation: i64) {
        if self.generation() == generation {
            bounded_insert(&self.grants, grant_id.to_string(), user);
        }
    }

    pub fn forget_grant(&self, grant_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match self.grants.write() {
            Ok(mut m) => m.remove(grant_id),
            Err(poisoned) => poisoned.into_inner().remove(grant_id),
        };
    }

    /// Forgets everything (a deleted application takes its grants with it).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        clear_map(&self.applications);
        clear_map(&self.grants);
    }

    /// Applies a `NOTIFY logi_changes` payload.
    pub fn apply_notification(&self, payload: &str) {
        match payload.strip_prefix("grant:") {
            Some(grant_id) => self.forget_grant(grant_id),
            None => self.clear(),
        }
    }
}

/// After any write to `applications`: forget locally, tell everyone else.
pub async fn applications_changed(store: &Store) -> Result<()> {
    store.caches.clear();
    sqlx::query("UPDATE change_log SET version = version + 1 WHERE name = 'applications'")
        .execute(&store.pool)
        .await?;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, 'applications')")
            .bind(CHANNEL)
            .execute(&store.pool)
            .await?;
    }
    // The write above is ours: clear again in case a reader refilled the cache meanwhile.
    store.caches.clear();
    Ok(())
}

/// After a grant is revoked: forget it here, tell everyone else.
pub async fn grant_revoked(store: &Store, grant_id: &str) -> Result<()> {
    store.caches.forget_grant(grant_id);
    sqlx::query("UPDATE change_log SET version = version + 1 WHERE name = 'grants'")
        .execute(&store.pool)
        .await?;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("grant:{grant_id}"))
            .execute(&store.pool)
            .await?;
    }
    store.caches.forget_grant(grant_id);
    Ok(())
}

/// The periodic fallback: clears caches when another process changed what they hold.
pub async fn check_version(store: &Store) -> Result<()> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, version FROM change_log")
        .fetch_all(&store.pool)
        .await?;
    for (name, version) in rows {
        let seen = match name.as_str() {
            "applications" => &store.caches.applications_version,
            "grants" => &store.caches.grants_version,
            _ => continue,
        };
        if seen.swap(version, Ordering::Relaxed) != version {
            match name.as_str() {
                "grants" => {
                    store.caches.generation.fetch_add(1, Ordering::AcqRel);
                    clear_map(&store.caches.grants)
                }
                _ => store.caches.clear(),
            }
        }
    }
    Ok(())
}
