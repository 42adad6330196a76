//! logi: an OAuth 2.0 / OpenID Connect authorization server.
//!
//! Module map (see `../shared/STYLE.md` for the reasoning):
//! - [`config`]: file + `LOGI_*` environment configuration, validated once at start.
//! - [`crypto`]: server keys derived from the master key, secret hashing, randomness.
//! - [`store`]: the one query layer over PostgreSQL and SQLite (why one layer: see its docs).
//! - [`accounts`]: end users, argon2 passwords, sessions, login throttling.
//! - [`developer`]: developer tokens and application registration.
//! - [`oauth`]: the protocol; [`oauth::policy`] holds every public-vs-confidential rule.
//! - [`http`]: axum routers, extractors, error rendering; the only module that knows HTTP.
//! - [`server`]: wiring used by `main.rs` and by the integration tests.

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
pub mod server;
pub mod store;
#[cfg(test)]
mod test_support;
