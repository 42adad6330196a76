//! Password hashing with argon2id, off the async worker threads.
//!
//! Hashing runs on tokio's blocking pool, and a semaphore bounds how many hashes run at once
//! (one per core): a burst of logins queues up here instead of taking every thread, so token
//! requests keep their latency while logins are being checked.

use std::sync::{Arc, OnceLock};

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

/// OWASP's minimum for argon2id: m = 19456 KiB, t = 2, p = 1.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Hash(String),
    #[error("hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("hashing pool closed")]
    Closed,
}

pub fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's documented limits.
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash of a random password, verified against when an email is unknown so that both cases
/// cost the same time and reveal nothing.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now(&crate::crypto::random_token(16)).unwrap_or_default())
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(&crate::crypto::random_bytes(16))
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_now(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasherPool {
    pub fn new(concurrency: usize) -> Self {
        PasswordHasherPool {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Closed)?;
        tokio::task::spawn_blocking(move || hash_now(&password)).await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no account.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Closed)?;
        tokio::task::spawn_blocking(move || match stored {
            Some(hash) => verify_now(&password, &hash),
            None => {
                let _ = verify_now(&password, dummy_hash());
                false
            }
        })
        .await
        .map_err(PasswordError::from)
    }
}
