//! logi: an OAuth 2.0 / OpenID Connect authorization server.
//!
//! The modules are layers, each importing only the ones before it (`docs/architecture.md`;
//! `tests/it/architecture.rs` checks it):
//! - [`clock`]: the only reader of the system time; handlers read `AppState::clock`.
//! - [`config`]: file + `LOGI_*` environment configuration, validated once at start.
//! - [`outbound`]: the one HTTP client logi calls out with (a client's `jwks_uri`, back-channel
//!   logout): no redirects, time limits, a size cap.
//! - [`crypto`]: server keys derived from the master key, secret hashing, randomness.
//! - [`clients`]: what a client is (type, authentication method) as data; no rules.
//! - [`store`]: the one query layer over PostgreSQL and SQLite, and the only place that opens a
//!   transaction; the caches and how every process hears of a change ([`store::cache`]).
//! - [`keys`]: signing keys, encrypted at rest, published before they sign.
//! - [`accounts`]: end users, argon2 passwords, sessions, login throttling, claims.
//! - [`oauth`]: the protocol, without HTTP types; [`oauth::policy`] holds every
//!   public-vs-confidential rule.
//! - [`oidc`]: discovery and userinfo on top of the OAuth core.
//! - [`developer`]: developer tokens and application registration.
//! - [`http`]: axum routers, extractors, error rendering; the only module that knows HTTP.
//! - [`server`]: wiring used by `main.rs` and by the integration tests.
//!
//! Deviation from `STYLE.md`'s sketch: `AppState` lives in `http` (it is what handlers take), and
//! the client kinds live in the leaf `clients` so that the store can load them without
//! depending on the protocol.

pub mod accounts;
pub mod clients;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod developer;
pub mod http;
pub mod keys;
pub mod oauth;
pub mod oidc;
pub mod outbound;
pub mod server;
pub mod store;
#[cfg(test)]
mod test_support;
