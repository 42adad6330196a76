//! Password hashing with argon2id on a small pool of dedicated threads.
//!
//! Why dedicated threads rather than tokio's blocking pool: a burst of logins must never stall
//! token requests, so hashing is bounded to `threads` at a time (default: one core fewer than
//! the machine has), and each thread keeps its own 19 MiB argon2 working memory for reuse, so a
//! burst costs neither fresh allocations nor memory that glibc's per-thread arenas would keep
//! (tokio's blocking pool may use hundreds of threads over time). Requests wait in a bounded
//! queue; the async side awaits the answer without blocking a runtime thread.

use std::sync::{Arc, Mutex, OnceLock};

use argon2::{password_hash::PasswordHash, Algorithm, Argon2, Block, Params, Version};
use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine};
use tokio::sync::{mpsc, oneshot};

use crate::crypto::{constant_time_eq, random_bytes};

/// OWASP's minimum for argon2id: m = 19456 KiB, t = 2, p = 1.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Hash(String),
    #[error("password hashing pool stopped")]
    Closed,
}

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, PasswordError>>,
    },
    Verify {
        password: String,
        stored: Option<String>,
        reply: oneshot::Sender<bool>,
    },
}

#[derive(Clone)]
pub struct PasswordHasherPool {
    jobs: mpsc::Sender<Job>,
    threads: usize,
}

impl std::fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordHasherPool({} threads)", self.threads)
    }
}

fn params() -> Params {
    // The parameters are constants within argon2's documented limits.
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(HASH_LEN))
        .expect("valid argon2 parameters")
}

/// argon2id with logi's parameters (also used by the benchmark to measure the raw rate).
pub fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// A PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash` for `password`, computed in `memory`.
pub fn hash_with(memory: &mut [Block], password: &str) -> Result<String, PasswordError> {
    let salt = random_bytes(SALT_LEN);
    let mut out = [0u8; HASH_LEN];
    argon2()
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut *memory)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Checks `password` against a stored PHC string in constant time. Hashes made with other
/// parameters still verify (the memory is then allocated for that one call).
pub fn verify_with(memory: &mut [Block], password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let (Ok(params), Some(expected)) = (Params::try_from(&parsed), parsed.hash) else {
        return false;
    };
    let mut salt = [0u8; 64];
    let Ok(salt) = parsed.salt.map(|s| s.decode_b64(&mut salt)).transpose() else {
        return false;
    };
    let Some(salt) = salt else { return false };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let argon = Argon2::new(Algorithm::Argon2id, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let ok = if params.block_count() == memory.len() {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut *memory)
    } else {
        argon.hash_password_into(password.as_bytes(), salt, &mut out)
    };
    ok.is_ok() && constant_time_eq(&out, expected.as_bytes())
}

/// Hash of a random password, verified against when an email is unknown so that both cases
/// cost the same time and reveal nothing.
fn dummy_hash(memory: &mut [Block]) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_with(memory, &crate::crypto::random_token(16)).unwrap_or_default())
}

/// Hashing threads run at a lower scheduling priority (nice 10): when the CPU is contended,
/// token requests go first and logins wait; an idle CPU still goes to logins in full.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux, PRIO_PROCESS with who = 0 applies to the calling thread only.
    // SAFETY: setpriority has no memory-safety preconditions.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl PasswordHasherPool {
    /// Starts `threads` hashing threads (at least one).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("logi-argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    // Allocated on the first job, then reused: an idle server does not hold it.
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        let job = match rx.lock() {
                            Ok(mut guard) => guard.blocking_recv(),
                            Err(_) => None,
                        };
                        if job.is_some() && memory.is_empty() {
                            memory = vec![Block::default(); params().block_count()];
                        }
                        match job {
                            Some(Job::Hash { password, reply }) => {
                                let _ = reply.send(hash_with(&mut memory, &password));
                            }
                            Some(Job::Verify {
                                password,
                                stored,
                                reply,
                            }) => {
                                let ok = match stored {
                                    Some(hash) => verify_with(&mut memory, &password, &hash),
                                    None => {
                                        let dummy = dummy_hash(&mut memory).to_string();
                                        let _ = verify_with(&mut memory, &password, &dummy);
                                        false
                                    }
                                };
                                let _ = reply.send(ok);
                            }
                            None => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        PasswordHasherPool { jobs: tx, threads }
    }

    /// One thread fewer than the machine has cores (at least one): hashing can never take
    /// every core away from the token endpoints.
    pub fn default_threads() -> usize {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        cores.saturating_sub(1).max(1)
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Hash { password, reply })
            .await
            .map_err(|_| PasswordError::Closed)?;
        answer.await.map_err(|_| PasswordError::Closed)?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no account.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Verify {
                password,
                stored,
                reply,
            })
            .await
            .map_err(|_| PasswordError::Closed)?;
        answer.await.map_err(|_| PasswordError::Closed)
    }
}
