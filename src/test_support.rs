//! Helpers shared by the unit tests of several modules.

use crate::crypto::ServerKeys;

/// Server keys from a fixed master key: hashes and nonces are the same in every run.
pub fn keys() -> ServerKeys {
    ServerKeys::from_master(&[7u8; 32])
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
