//! Password login with failed-attempt throttling per account and per client IP, kept in the
//! database so the limits hold across processes. Used by `/login` and `POST /developer/tokens`.
//!
//! Each attempt is reserved in the database (`store::throttle::reserve`) before the password is
//! hashed, and given back only when it succeeds: at most `login_max_failures_per_account` wrong
//! passwords are ever checked per account and lock window, however many arrive in parallel.

use crate::{
    config::Config,
    crypto::ServerKeys,
    store::{self, throttle, users::User, Store},
};

use super::passwords::{PasswordError, PasswordHasherPool};

pub enum LoginOutcome {
    Success(User),
    /// Wrong password or unknown email: deliberately indistinguishable (the count is per
    /// email, whether or not the account exists). `attempts_left` before the account locks.
    Invalid {
        attempts_left: i64,
    },
    /// Too many failures; retry after this many seconds (the right password is refused too).
    Locked {
        retry_after: i64,
    },
    /// The right password for an account an operator disabled (`logi user disable`).
    Disabled,
}

/// The throttle key of an account's failed logins (cleared by `logi user unlock`).
pub fn account_key(email: &str) -> String {
    format!("account:{email}")
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// Logs name the account by its id, or an email that matches none by a keyed hash
/// ([`ServerKeys::log_pseudonym`]); the email itself only at DEBUG.
#[allow(clippy::too_many_arguments)]
pub async fn attempt(
    store: &Store,
    keys: &ServerKeys,
    hasher: &PasswordHasherPool,
    config: &Config,
    email: &str,
    password: String,
    client_ip: &str,
    now: i64,
) -> Result<LoginOutcome, LoginError> {
    let account_key = account_key(email);
    let ip_key = format!("ip:{client_ip}");
    let window = config.login_lockout_seconds as i64;
    // Reserve the attempt before hashing: the database decides atomically whether this guess
    // may be checked at all, so parallel guesses (in any number of processes) cannot get more
    // than the limit checked in a window. Only a success gives its reservation back.
    let max_account = config.login_max_failures_per_account as i64;
    let account = match throttle::reserve(store, &account_key, now, max_account, window).await? {
        Ok(r) => r,
        Err(retry_after) => return Ok(locked(keys, email, client_ip, retry_after)),
    };
    let max_ip = config.login_max_failures_per_ip as i64;
    let ip = match throttle::reserve(store, &ip_key, now, max_ip, window).await? {
        Ok(r) => r,
        Err(retry_after) => {
            throttle::release(store, &account_key, account).await?;
            return Ok(locked(keys, email, client_ip, retry_after));
        }
    };
    let user = store::users::by_email(store, email).await?;
    let ok = hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    match user {
        Some(user) if ok => {
            throttle::release(store, &account_key, account).await?;
            throttle::release(store, &ip_key, ip).await?;
            if user.disabled != 0 {
                tracing::info!(target: "logi::security", user_id = %user.id, client_ip, "login refused: account disabled");
                return Ok(LoginOutcome::Disabled);
            }
            Ok(LoginOutcome::Success(user))
        }
        _ => {
            match &user {
                Some(user) => {
                    tracing::info!(target: "logi::security", user_id = %user.id, client_ip, "login failed")
                }
                None => {
                    let email_hash = keys.log_pseudonym(email);
                    tracing::info!(target: "logi::security", %email_hash, client_ip, "login failed: no such account");
                    tracing::debug!(target: "logi::security", %email_hash, email, "failed login: email");
                }
            }
            Ok(LoginOutcome::Invalid {
                attempts_left: (max_account - account.attempts).max(0),
            })
        }
    }
}

fn locked(keys: &ServerKeys, email: &str, client_ip: &str, retry_after: i64) -> LoginOutcome {
    let email_hash = keys.log_pseudonym(email);
    tracing::warn!(target: "logi::security", %email_hash, client_ip, "login refused: throttled");
    tracing::debug!(target: "logi::security", %email_hash, email, "throttled login: email");
    LoginOutcome::Locked {
        retry_after: retry_after.max(1),
    }
}

/// A signed-in user's password checked again (a password change, turning TOTP off, deleting
/// the account): exactly a login's check, throttled alike, and it must be this user's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recheck {
    Confirmed,
    Invalid,
    Locked { retry_after: i64 },
}

#[allow(clippy::too_many_arguments)]
pub async fn recheck(
    store: &Store,
    keys: &ServerKeys,
    hasher: &PasswordHasherPool,
    config: &Config,
    user: &User,
    password: String,
    client_ip: &str,
    now: i64,
) -> Result<Recheck, LoginError> {
    let outcome = attempt(
        store,
        keys,
        hasher,
        config,
        &user.email,
        password,
        client_ip,
        now,
    )
    .await?;
    Ok(match outcome {
        LoginOutcome::Success(checked) if checked.id == user.id => Recheck::Confirmed,
        LoginOutcome::Locked { retry_after } => Recheck::Locked { retry_after },
        _ => Recheck::Invalid,
    })
}
