//! What a user does on the account page and an operator with `logi user …`: change the
//! password, revoke an application, disable, enable, unlock and delete an account. Each
//! function does the whole change (sessions, grants, caches in every process), so the page and
//! the command line cannot disagree.

use crate::{
    config::Config,
    crypto::ServerKeys,
    store::{self, Store},
};

use super::{
    login::{self, LoginError, LoginOutcome},
    passwords::PasswordHasherPool,
    sessions::{self, Ending},
};

/// The mails a change sends to the account's owner ("your password was changed").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    PasswordChanged,
    ApplicationRevoked,
    AccountDeleted,
}

/// **The one call site for notification mails.** The mail outbox (branch `mail`) is not here
/// yet: until it is, the notice is logged; once it is, this calls its `notify`.
pub async fn notify(_store: &Store, user: &store::users::User, notice: Notice) {
    tracing::info!(target: "logi::security", user_id = %user.id, ?notice, "account notice (mail pending)");
}

/// The result of a password change.
pub enum PasswordChange {
    Changed,
    /// The current password was wrong.
    Invalid,
    /// Too many wrong guesses (the same throttle as `/login`).
    Locked {
        retry_after: i64,
    },
}

/// Changes the password of `user` after checking `current` exactly as a login would (throttled
/// per account and per IP), then ends every other session of the account (`keep_sid` stays).
#[allow(clippy::too_many_arguments)]
pub async fn change_password(
    store: &Store,
    keys: &ServerKeys,
    hasher: &PasswordHasherPool,
    config: &Config,
    user: &store::users::User,
    current: String,
    new: String,
    keep_sid: Option<&str>,
    client_ip: &str,
    now: i64,
) -> Result<PasswordChange, LoginError> {
    let outcome = login::attempt(
        store,
        keys,
        hasher,
        config,
        &user.email,
        current,
        client_ip,
        now,
    )
    .await?;
    match outcome {
        LoginOutcome::Success(checked) if checked.id == user.id => {}
        LoginOutcome::Locked { retry_after } => return Ok(PasswordChange::Locked { retry_after }),
        _ => return Ok(PasswordChange::Invalid),
    }
    let hash = hasher.hash(new).await?;
    store::users::set_password_hash(store, &user.id, &hash, now).await?;
    let ending = match keep_sid {
        Some(sid) => Ending::AllOfExcept {
            user_id: &user.id,
            keep_sid: sid,
        },
        None => Ending::AllOf { user_id: &user.id },
    };
    sessions::end_sessions(store, ending, now).await?;
    tracing::info!(target: "logi::security", user_id = %user.id, "password changed; other sessions ended");
    notify(store, user, Notice::PasswordChanged).await;
    Ok(PasswordChange::Changed)
}

/// Revokes every grant the user gave `application_id` (every token of each, in every process)
/// and forgets the remembered consent, so the next authorization asks again.
pub async fn revoke_application(
    store: &Store,
    user: &store::users::User,
    application_id: &str,
    now: i64,
) -> store::Result<u64> {
    let revoked =
        store::oauth::revoke_user_grants(store, &user.id, Some(application_id), now).await?;
    tracing::info!(target: "logi::security", user_id = %user.id, application_id, revoked, "application access revoked by the user");
    notify(store, user, Notice::ApplicationRevoked).await;
    Ok(revoked)
}

/// Disables the account: it cannot sign in, its sessions end (with back-channel logout) and
/// every grant is revoked, in every process. Returns false when no such account exists.
pub async fn disable(store: &Store, user_id: &str, now: i64) -> store::Result<bool> {
    // Refused from here on wherever sessions and grants are read, even before they are gone.
    if !store::users::set_disabled(store, user_id, true, now).await? {
        return Ok(false);
    }
    sessions::end_sessions(store, Ending::AllOf { user_id }, now).await?;
    store::oauth::revoke_user_grants(store, user_id, None, now).await?;
    tracing::warn!(target: "logi::security", user_id, "account disabled");
    Ok(true)
}

/// Enables the account again: sign-in works; the old sessions and tokens stay dead.
pub async fn enable(store: &Store, user_id: &str, now: i64) -> store::Result<bool> {
    let found = store::users::set_disabled(store, user_id, false, now).await?;
    if found {
        tracing::warn!(target: "logi::security", user_id, "account enabled");
    }
    Ok(found)
}

/// Lifts the failed-login lockout of the account (not of any IP address).
pub async fn unlock(store: &Store, email: &str) -> store::Result<bool> {
    let cleared = store::throttle::clear(store, &login::account_key(email)).await?;
    tracing::warn!(target: "logi::security", cleared, "account login throttle cleared");
    Ok(cleared)
}

/// Deletes the account: its sessions end first (so applications hear of it), every grant is
/// revoked in every process, then the account and everything it owns are deleted.
pub async fn delete(store: &Store, user_id: &str, now: i64) -> store::Result<bool> {
    sessions::end_sessions(store, Ending::AllOf { user_id }, now).await?;
    store::oauth::revoke_user_grants(store, user_id, None, now).await?;
    let found = store::users::delete(store, user_id).await?;
    if found {
        tracing::warn!(target: "logi::security", user_id, "account deleted");
    }
    Ok(found)
}
