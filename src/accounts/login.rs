//! Password login with failed-attempt throttling per account and per client IP, kept in the
//! database so the limits hold across processes. Used by `/login` and `POST /developer/tokens`.
//!
//! Each attempt is reserved in the database (`store::throttle::reserve`) before the password is
//! hashed, and given back only when it succeeds: at most `login_max_failures_per_account` wrong
//! passwords are ever checked per account and lock window, however many arrive in parallel.

use crate::{
    config::Config,
    store::{self, throttle, users::User, Store},
};

use super::passwords::{PasswordError, PasswordHasherPool};

pub enum LoginOutcome {
    Success(User),
    /// Wrong password or unknown email: deliberately indistinguishable.
    Invalid,
    /// Too many failures; retry after this many seconds (the right password is refused too).
    Locked {
        retry_after: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

pub async fn attempt(
    store: &Store,
    hasher: &PasswordHasherPool,
    config: &Config,
    email: &str,
    password: String,
    client_ip: &str,
    now: i64,
) -> Result<LoginOutcome, LoginError> {
    let account_key = format!("account:{email}");
    let ip_key = format!("ip:{client_ip}");
    let window = config.login_lockout_seconds as i64;
    // Reserve the attempt before hashing: the database decides atomically whether this guess
    // may be checked at all, so parallel guesses (in any number of processes) cannot get more
    // than the limit checked in a window. Only a success gives its reservation back.
    let max_account = config.login_max_failures_per_account as i64;
    let account = match throttle::reserve(store, &account_key, now, max_account, window).await? {
        Ok(r) => r,
        Err(retry_after) => return Ok(locked(client_ip, retry_after)),
    };
    let max_ip = config.login_max_failures_per_ip as i64;
    let ip = match throttle::reserve(store, &ip_key, now, max_ip, window).await? {
        Ok(r) => r,
        Err(retry_after) => {
            throttle::release(store, &account_key, account).await?;
            return Ok(locked(client_ip, retry_after));
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
            Ok(LoginOutcome::Success(user))
        }
        _ => {
            tracing::info!(target: "logi::security", email, client_ip, "login failed");
            Ok(LoginOutcome::Invalid)
        }
    }
}

fn locked(client_ip: &str, retry_after: i64) -> LoginOutcome {
    tracing::warn!(target: "logi::security", client_ip, "login refused: throttled");
    LoginOutcome::Locked {
        retry_after: retry_after.max(1),
    }
}
