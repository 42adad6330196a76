//! The integration suite, one binary: every module starts the real server over HTTP on its own
//! database (SQLite, or PostgreSQL when `LOGI_TEST_DATABASE_URL` names a server).
//!
//! One binary rather than one per file: the crate is linked once, and `cargo test` runs every
//! module's tests in one process in parallel.

#[allow(dead_code)]
mod common;
#[path = "../support/helpers.rs"]
mod helpers;

mod account_page;
mod accounts;
mod apis;
mod architecture;
mod authn_hardening;
mod authz_hardening;
mod backchannel_logout;
mod branding;
mod cli;
mod console;
mod control_chars;
mod cors;
mod db_outage;
mod developer_api;
mod device_flow;
mod fapi2;
mod faults;
mod fuzz;
mod jwks_uri;
mod mail_and_recovery;
mod metrics_and_logs;
mod multi_process;
mod oauth2_client;
mod oauth_flow;
mod oauth_policy;
mod oidc;
mod operations;
mod pages;
mod par;
mod private_key_jwt;
mod refresh_reuse;
mod second_factors;
mod server_limits;
mod token_lifecycle;
