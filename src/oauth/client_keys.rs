//! The public keys a `private_key_jwt` client signs with: registered inline (`jwks`), or
//! fetched from its `jwks_uri` and cached in this process.
//!
//! For a `jwks_uri` (SPEC "Pushed authorization requests, key-based client authentication, …"):
//! - the JWK Set is fetched through [`crate::outbound`] (no redirects, time limits, at most
//!   [`MAX_JWKS_BYTES`] read) and must pass the same checks as an inline one;
//! - it is cached per client and URI for [`MAX_AGE`] seconds;
//! - an assertion naming a `kid` the cached set does not hold means the client may have rotated
//!   its keys: the set is fetched again, but at most once per [`REFETCH_AFTER`] seconds per
//!   client, so that assertions with made-up `kid`s cannot make logi hammer the client's server
//!   (or wait on a slow one) once per request;
//! - every failure (unreachable, slow, too large, not a JWK Set) fails closed: the assertion is
//!   refused as `invalid_client`, never accepted with stale keys past their age, never a 5xx;
//!   and a failed fetch is not repeated for [`REFETCH_AFTER`] seconds either.
//!
//! Time comes from the caller's clock (`now`), so tests move it instead of waiting. Concurrent
//! requests for one client wait for a single fetch (one async lock per client and URI).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::{
    clients::{ClientAuth, ClientKeys},
    outbound::Outbound,
    store::applications::Application,
};

/// How long a fetched JWK Set is used before it is fetched again.
pub const MAX_AGE: i64 = 300;
/// The least time between two fetches of one client's `jwks_uri`.
pub const REFETCH_AFTER: i64 = 60;
/// The largest JWK Set read from a `jwks_uri`.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Clients whose key sets one process keeps; past it the cache starts afresh.
const MAX_CLIENTS: usize = 10_000;

#[derive(Default)]
struct Entry {
    set: Option<Fetched>,
    /// When the URI was last fetched (successfully or not).
    last_fetch: Option<i64>,
    /// Why the last fetch failed, while no usable set is held.
    last_error: Option<String>,
}

struct Fetched {
    text: Arc<str>,
    kids: Vec<String>,
    at: i64,
}

type Slot = Arc<tokio::sync::Mutex<Entry>>;

/// The per-process cache of fetched key sets.
pub struct KeySets {
    outbound: Outbound,
    /// One slot per (client_id, jwks_uri), each with its own async lock.
    entries: Mutex<HashMap<(String, String), Slot>>,
}

impl KeySets {
    pub fn new(outbound: Outbound) -> KeySets {
        KeySets {
            outbound,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The keys to check `assertion` with when `app` is a `private_key_jwt` client; `None` for
    /// any other client, or without an assertion.
    pub async fn for_client(
        &self,
        app: &Application,
        assertion: Option<&str>,
        now: i64,
    ) -> Option<Result<Arc<str>, String>> {
        let (ClientAuth::PrivateKeyJwt { keys }, Some(assertion)) = (&app.auth, assertion) else {
            return None;
        };
        let kid = super::client_assertion::header_kid(assertion);
        Some(
            self.for_assertion(&app.client_id, keys, kid.as_deref(), now)
                .await,
        )
    }

    /// The JWK Set (JSON text) to verify an assertion of `client_id` with, whose header names
    /// `kid` (if any), at time `now`. `Err` describes why the keys are unavailable.
    pub async fn for_assertion(
        &self,
        client_id: &str,
        keys: &ClientKeys,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<str>, String> {
        let uri = match keys {
            ClientKeys::Inline(jwks) => return Ok(Arc::from(jwks.as_str())),
            ClientKeys::Uri(uri) => uri,
        };
        let slot = {
            let mut entries = self
                .entries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if entries.len() >= MAX_CLIENTS {
                entries.clear();
            }
            entries
                .entry((client_id.to_string(), uri.clone()))
                .or_default()
                .clone()
        };
        let mut entry = slot.lock().await;
        let fetched_recently = entry
            .last_fetch
            .is_some_and(|t| now.saturating_sub(t) < REFETCH_AFTER);
        if let Some(set) = &entry.set {
            let fresh = now.saturating_sub(set.at) < MAX_AGE;
            let knows_kid = kid.is_none_or(|k| set.kids.iter().any(|have| have == k));
            // An unknown kid while the set was fetched less than a minute ago: no new fetch;
            // the assertion then fails to verify with the keys at hand.
            if fresh && (knows_kid || fetched_recently) {
                return Ok(set.text.clone());
            }
        } else if fetched_recently {
            return Err(entry
                .last_error
                .clone()
                .unwrap_or_else(|| "the client's jwks_uri could not be fetched".into()));
        }
        entry.last_fetch = Some(now);
        match self.fetch(uri).await {
            Ok((text, kids)) => {
                let text: Arc<str> = Arc::from(text);
                entry.set = Some(Fetched {
                    text: text.clone(),
                    kids,
                    at: now,
                });
                entry.last_error = None;
                Ok(text)
            }
            Err(e) => {
                tracing::warn!(target: "logi::security", client_id, error = %e, "jwks_uri fetch failed");
                // A set still within its age stays for assertions with known kids; a stale one
                // is dropped (fail closed).
                if entry
                    .set
                    .as_ref()
                    .is_some_and(|s| now.saturating_sub(s.at) >= MAX_AGE)
                {
                    entry.set = None;
                }
                entry.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn fetch(&self, uri: &str) -> Result<(String, Vec<String>), String> {
        let body = self
            .outbound
            .get(
                uri,
                "application/jwk-set+json, application/json",
                MAX_JWKS_BYTES,
            )
            .await
            .map_err(|e| format!("the client's jwks_uri {e}"))?;
        let text = String::from_utf8(body)
            .map_err(|_| "the client's jwks_uri answered something other than a JWK Set")?;
        super::client_assertion::check_jwks(&text)
            .map_err(|e| format!("the client's jwks_uri: {e}"))?;
        let kids = super::client_assertion::key_ids(&text);
        Ok((text, kids))
    }
}
