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
    login::{self, LoginError, Recheck},
    passwords::PasswordHasherPool,
    sessions::{self, Ending},
};

/// The mails a change sends to the account's owner ("your password was changed").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    PasswordChanged,
    ApplicationRevoked,
    AccountDeleted,
    AccountDisabled,
    SecondFactorAdded,
    SecondFactorRemoved,
    SecondFactorsReset,
}

impl Notice {
    /// The subject and the one paragraph of the mail.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            Notice::PasswordChanged => (
                "Your password was changed",
                "The password of your account was changed from the account page. Your other \
                 sessions were signed out.",
            ),
            Notice::ApplicationRevoked => (
                "An application's access was revoked",
                "An application's access to your account was revoked from the account page. It \
                 will have to ask you again to use your account.",
            ),
            Notice::AccountDeleted => (
                "Your account was deleted",
                "Your account was deleted, with its sessions and every application's access.",
            ),
            Notice::AccountDisabled => (
                "Your account was disabled",
                "The operator of this service disabled your account: it cannot sign in, and \
                 every session and application access ended.",
            ),
            Notice::SecondFactorAdded => (
                "A second factor was added to your account",
                "A second sign-in step (an authenticator app or a passkey) was added to your \
                 account.",
            ),
            Notice::SecondFactorRemoved => (
                "A second factor was removed from your account",
                "A second sign-in step (an authenticator app or a passkey) was removed from \
                 your account.",
            ),
            Notice::SecondFactorsReset => (
                "Your second factors were removed",
                "The operator of this service removed every second sign-in step of your account \
                 (authenticator app, recovery codes, passkeys). Sign-in now asks for your \
                 password only; add a second factor again on your account page.",
            ),
        }
    }
}

/// What a notice needs besides the store: the keys that seal the queued mail, and the issuer
/// its help line links to.
#[derive(Clone, Copy)]
pub struct Mailing<'a> {
    pub keys: &'a ServerKeys,
    pub issuer: &'a str,
}

/// **The one call site for notification mails**: queues `notice` to the account's address in
/// the mail outbox (delivered by the outbox worker, never inline).
pub async fn notify(
    store: &Store,
    mailing: Mailing<'_>,
    user: &store::users::User,
    notice: Notice,
    now: i64,
) -> store::Result<()> {
    let (subject, message) = notice.words();
    tracing::info!(target: "logi::security", user_id = %user.id, ?notice, "account notice queued");
    super::mail::notify(
        store,
        mailing.keys,
        mailing.issuer,
        &user.email,
        subject,
        message,
        now,
    )
    .await
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
    match login::recheck(store, keys, hasher, config, user, current, client_ip, now).await? {
        Recheck::Confirmed => {}
        Recheck::Locked { retry_after } => return Ok(PasswordChange::Locked { retry_after }),
        Recheck::Invalid => return Ok(PasswordChange::Invalid),
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
    let mailing = Mailing {
        keys,
        issuer: &config.issuer,
    };
    notify(store, mailing, user, Notice::PasswordChanged, now).await?;
    Ok(PasswordChange::Changed)
}

/// Revokes every grant the user gave `application_id` (every token of each, in every process)
/// and forgets the remembered consent, so the next authorization asks again.
pub async fn revoke_application(
    store: &Store,
    mailing: Mailing<'_>,
    user: &store::users::User,
    application_id: &str,
    now: i64,
) -> store::Result<u64> {
    let revoked =
        store::oauth::revoke_user_grants(store, &user.id, Some(application_id), now).await?;
    tracing::info!(target: "logi::security", user_id = %user.id, application_id, revoked, "application access revoked by the user");
    notify(store, mailing, user, Notice::ApplicationRevoked, now).await?;
    Ok(revoked)
}

/// Disables the account: it cannot sign in, its sessions end (with back-channel logout) and
/// every grant is revoked, in every process; the owner is told by mail.
pub async fn disable(
    store: &Store,
    mailing: Mailing<'_>,
    user: &store::users::User,
    now: i64,
) -> store::Result<bool> {
    let user_id = user.id.as_str();
    // Refused from here on wherever sessions and grants are read, even before they are gone.
    if !store::users::set_disabled(store, user_id, true, now).await? {
        return Ok(false);
    }
    end_everything(store, user_id, now).await?;
    tracing::warn!(target: "logi::security", user_id, "account disabled");
    notify(store, mailing, user, Notice::AccountDisabled, now).await?;
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

/// Removes every second factor of the account (TOTP, recovery codes, passkeys: someone lost
/// their phone); sign-in asks for the password only until one is added again. The owner is told
/// by mail.
pub async fn reset_second_factors(
    store: &Store,
    mailing: Mailing<'_>,
    user: &store::users::User,
    now: i64,
) -> store::Result<()> {
    store::second_factors::delete_all(store, &user.id).await?;
    tracing::warn!(target: "logi::security", user_id = %user.id, "second factors reset by an operator");
    notify(store, mailing, user, Notice::SecondFactorsReset, now).await
}

/// Deletes the account: the owner is told, its sessions end first (so applications hear of
/// it), every grant is revoked in every process, then the account and everything it owns are
/// deleted.
pub async fn delete(
    store: &Store,
    mailing: Mailing<'_>,
    user: &store::users::User,
    now: i64,
) -> store::Result<bool> {
    let user_id = user.id.as_str();
    notify(store, mailing, user, Notice::AccountDeleted, now).await?;
    end_everything(store, user_id, now).await?;
    let found = store::users::delete(store, user_id).await?;
    if found {
        tracing::warn!(target: "logi::security", user_id, "account deleted");
    }
    Ok(found)
}

/// Ends every session of the account (applications hear of it by back-channel logout) and
/// revokes every grant with its tokens, in every process.
async fn end_everything(store: &Store, user_id: &str, now: i64) -> store::Result<()> {
    sessions::end_sessions(store, Ending::AllOf { user_id }, now).await?;
    store::oauth::revoke_user_grants(store, user_id, None, now).await?;
    Ok(())
}
