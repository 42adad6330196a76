//! In-memory cache of applications, the only data read on every token request.
//!
//! Every change to an application clears this process's cache at once, bumps a version in
//! `change_log` and, on PostgreSQL, sends `NOTIFY logi_changes`: other processes clear theirs
//! when the notification arrives (milliseconds), or at the latest at their next version check
//! (every `key_refresh_interval_seconds`, should a notification be lost with a connection).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, RwLock,
    },
};

use super::{applications::Application, Backend, Result, Store};

/// Channel for PostgreSQL `LISTEN`/`NOTIFY`.
pub const CHANNEL: &str = "logi_changes";
/// Upper bound on cached applications; the cache starts over when it is reached.
const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Default)]
pub struct Caches {
    applications: RwLock<HashMap<String, Arc<Application>>>,
    version: AtomicI64,
}

impl Caches {
    pub fn application(&self, client_id: &str) -> Option<Arc<Application>> {
        self.applications.read().ok()?.get(client_id).cloned()
    }

    pub fn remember(&self, app: Arc<Application>) {
        if let Ok(mut map) = self.applications.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(app.client_id.clone(), app);
        }
    }

    pub fn clear(&self) {
        match self.applications.write() {
            Ok(mut map) => map.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
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

/// The periodic fallback: clears the cache when another process changed applications.
pub async fn check_version(store: &Store) -> Result<()> {
    let (version,): (i64,) =
        sqlx::query_as("SELECT version FROM change_log WHERE name = 'applications'")
            .fetch_one(&store.pool)
            .await?;
    if store.caches.version.swap(version, Ordering::Relaxed) != version {
        store.caches.clear();
    }
    Ok(())
}
