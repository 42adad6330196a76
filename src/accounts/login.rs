//! Password login with failed-attempt throttling per account and per client IP, kept in the
//! database so the limits hold across processes. Used by `/login` and `POST /developer/tokens`.

use crate::{
    config::Config,
    crypto::ServerKeys,
    store::{self, users::User, Store},
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
    let account_key = format!("account:{email}");
    let ip_key = format!("ip:{client_ip}");
    let locked = [
        store::throttle::locked_for(store, &account_key, now).await?,
        store::throttle::locked_for(store, &ip_key, now).await?,
    ];
    if let Some(retry_after) = locked.into_iter().flatten().max() {
        let email_hash = keys.log_pseudonym(email);
        tracing::warn!(target: "logi::security", %email_hash, client_ip, "login refused: throttled");
        tracing::debug!(target: "logi::security", %email_hash, email, "throttled login: email");
        return Ok(LoginOutcome::Locked {
            retry_after: retry_after.max(1),
        });
    }
    let user = store::users::by_email(store, email).await?;
    let ok = hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    match user {
        Some(user) if ok => {
            store::throttle::clear(store, &account_key).await?;
            Ok(LoginOutcome::Success(user))
        }
        _ => {
            let window = config.login_lockout_seconds as i64;
            store::throttle::record_failure(
                store,
                &account_key,
                now,
                config.login_max_failures_per_account as i64,
                window,
            )
            .await?;
            store::throttle::record_failure(
                store,
                &ip_key,
                now,
                config.login_max_failures_per_ip as i64,
                window,
            )
            .await?;
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
            Ok(LoginOutcome::Invalid)
        }
    }
}
