//! Password login with failed-attempt throttling per account and per client IP, kept in the
//! database so the limits hold across processes. Used by `/login` and `POST /developer/tokens`.

use crate::{
    config::Config,
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
    let locked = [
        store::throttle::locked_for(store, &account_key, now).await?,
        store::throttle::locked_for(store, &ip_key, now).await?,
    ];
    if let Some(retry_after) = locked.into_iter().flatten().max() {
        tracing::warn!(target: "logi::security", email, client_ip, "login refused: throttled");
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
            tracing::info!(target: "logi::security", email, client_ip, "login failed");
            Ok(LoginOutcome::Invalid)
        }
    }
}
