//! Email verification and password recovery (SPEC "End users: verification, recovery, …").
//!
//! Both send a single-use link `<issuer>/verify-email?token=…` (24 h) or
//! `<issuer>/reset-password?token=…` (30 minutes). The token is 256 random bits, stored only as
//! its HMAC (`crypto::ServerKeys::hash_secret`), and written with its mail in one transaction
//! (`store::email_tokens`); the mail itself travels sealed through the outbox ([`super::mail`]).
//!
//! A reset sets the password, ends every session of the account (`sessions::end_sessions`,
//! which queues back-channel logout), revokes every grant (refresh-token families and access
//! tokens, in every process) and mails a notice.

use crate::{
    crypto::{random_token, ServerKeys},
    store::{
        self,
        email_tokens::{EmailToken, Lookup},
        users::User,
        Store,
    },
};

use super::{
    mail,
    passwords::PasswordHasherPool,
    sessions::{self, Ending},
};

pub const VERIFY_EMAIL: &str = "verify_email";
pub const RESET_PASSWORD: &str = "reset_password";
/// A verification link lives 24 hours.
pub const VERIFY_TTL: i64 = 24 * 3600;
/// A reset link lives 30 minutes.
pub const RESET_TTL: i64 = 30 * 60;
/// Tokens longer than this are refused before any hashing or lookup.
const MAX_TOKEN_LEN: usize = 100;

/// What the link functions need.
#[derive(Clone, Copy)]
pub struct Links<'a> {
    pub store: &'a Store,
    pub keys: &'a ServerKeys,
    pub issuer: &'a str,
}

impl Links<'_> {
    /// A fresh token for `user` at `email`, its stored form, and the link.
    fn token(
        &self,
        purpose: &str,
        path: &str,
        user_id: &str,
        email: &str,
        ttl: i64,
        now: i64,
    ) -> (EmailToken, String) {
        let token = random_token(32);
        let stored = EmailToken {
            token_hash: self.keys.hash_secret(&token),
            purpose: purpose.into(),
            user_id: user_id.into(),
            email: email.into(),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        };
        (stored, format!("{}/{path}?token={token}", self.issuer))
    }

    fn hash(&self, token: &str) -> Option<String> {
        (!token.is_empty() && token.len() <= MAX_TOKEN_LEN).then(|| self.keys.hash_secret(token))
    }

    /// The verification link of `user`'s address and its mail.
    fn verification(
        &self,
        user_id: &str,
        email: &str,
        now: i64,
    ) -> (EmailToken, store::outbox::NewItem) {
        let (token, link) = self.token(
            VERIFY_EMAIL,
            "verify-email",
            user_id,
            email,
            VERIFY_TTL,
            now,
        );
        let mail = mail::link_mail(
            email,
            "Confirm your email address",
            "Confirm that this address is yours by opening this link (valid for 24 hours):",
            &link,
            "If you did not create an account, ignore this mail.",
        );
        (token, mail::outbox_item(self.keys, &mail))
    }

    /// Creates the account and queues its verification mail, in one transaction (signup).
    pub async fn create_user(&self, user: &User, now: i64) -> store::Result<()> {
        let (token, item) = self.verification(&user.id, &user.email, now);
        store::email_tokens::insert_user_with(self.store, user, &token, &item, now).await
    }

    /// Queues a fresh verification mail for the account's current address (resend).
    pub async fn send_verification(&self, user: &User, now: i64) -> store::Result<()> {
        let (token, item) = self.verification(&user.id, &user.email, now);
        store::email_tokens::issue(self.store, &token, &item, now).await
    }

    /// Gives the account a new, unverified address and mails it a verification link (earlier
    /// verification links die); a notice goes to the old address. `Ok(false)`: no such account.
    /// A taken address is a unique violation.
    pub async fn change_email(
        &self,
        user: &User,
        new_email: &str,
        now: i64,
    ) -> store::Result<bool> {
        let (token, item) = self.verification(&user.id, new_email, now);
        let changed =
            store::email_tokens::change_email(self.store, &user.id, new_email, &token, &item, now)
                .await?;
        if changed {
            let message = format!("The email address of your account was changed to {new_email}.");
            mail::notify(
                self.store,
                self.keys,
                self.issuer,
                &user.email,
                "Your email address was changed",
                &message,
                now,
            )
            .await?;
        }
        Ok(changed)
    }

    /// `GET /verify-email`: verifies the address the link was sent to.
    pub async fn verify_email(&self, token: &str, now: i64) -> store::Result<Lookup> {
        let Some(hash) = self.hash(token) else {
            return Ok(Lookup::Unknown);
        };
        store::email_tokens::verify_email(self.store, &hash, VERIFY_EMAIL, now).await
    }

    /// `POST /forgot-password` for a parsed address: mails a reset link when an account has
    /// it, and otherwise runs a write of about the same cost, so neither the answer nor (much)
    /// its timing tells whether the account exists.
    pub async fn request_reset(&self, email: &str, now: i64) -> store::Result<()> {
        let user = store::users::by_email(self.store, email).await?;
        let Some(user) = user.filter(may_reset) else {
            return store::email_tokens::issue_nothing(self.store, now).await;
        };
        let (token, link) = self.token(
            RESET_PASSWORD,
            "reset-password",
            &user.id,
            &user.email,
            RESET_TTL,
            now,
        );
        let mail = mail::link_mail(
            &user.email,
            "Reset your password",
            "Someone (hopefully you) asked to reset the password of your account. Choose a new one by opening this link (valid for 30 minutes, once):",
            &link,
            "If you did not ask for this, ignore this mail: your password stays as it is.",
        );
        let item = mail::outbox_item(self.keys, &mail);
        store::email_tokens::issue(self.store, &token, &item, now).await
    }

    /// Whether a reset link is usable now (the form is shown only then); nothing is spent.
    pub async fn check_reset(&self, token: &str, now: i64) -> store::Result<Lookup> {
        let Some(hash) = self.hash(token) else {
            return Ok(Lookup::Unknown);
        };
        let lookup = store::email_tokens::peek(self.store, &hash, RESET_PASSWORD, now).await?;
        self.for_enabled_account(lookup).await
    }

    /// A valid reset link of an account disabled since it was sent counts as unknown.
    async fn for_enabled_account(&self, lookup: Lookup) -> store::Result<Lookup> {
        let Lookup::Valid(token) = &lookup else {
            return Ok(lookup);
        };
        let user = store::users::by_id(self.store, &token.user_id).await?;
        Ok(match user {
            Some(user) if may_reset(&user) => lookup,
            _ => Lookup::Unknown,
        })
    }

    /// `POST /reset-password` with a checked new password: spends the link and sets the
    /// password, then ends every session, revokes every grant and mails a notice. The password
    /// is hashed only for a link that is valid when the request arrives.
    pub async fn reset_password(
        &self,
        hasher: &PasswordHasherPool,
        token: &str,
        password: String,
        now: i64,
    ) -> Result<Lookup, ResetError> {
        let Some(hash) = self.hash(token) else {
            return Ok(Lookup::Unknown);
        };
        match self.check_reset(token, now).await? {
            Lookup::Valid(_) => {}
            other => return Ok(other),
        }
        let password_hash = hasher
            .hash(password)
            .await
            .map_err(|e| ResetError::Hash(e.to_string()))?;
        let outcome = store::email_tokens::reset_password(
            self.store,
            &hash,
            RESET_PASSWORD,
            &password_hash,
            now,
        )
        .await?;
        let Lookup::Valid(token) = &outcome else {
            return Ok(outcome);
        };
        let user_id = token.user_id.as_str();
        sessions::end_sessions(self.store, Ending::AllOf { user_id }, now).await?;
        let revoked = store::oauth::revoke_user_grants(self.store, user_id, None, now).await?;
        tracing::info!(target: "logi::security", %user_id, revoked, "password reset: sessions ended, grants revoked");
        mail::notify(
            self.store,
            self.keys,
            self.issuer,
            &token.email,
            "Your password was changed",
            "The password of your account was reset with a link sent to this address. Every session was signed out and every application will have to ask you to sign in again.",
            now,
        )
        .await?;
        Ok(outcome)
    }
}

/// Whether the account may reset its password: a disabled account is sent no link (and
/// `store::email_tokens::reset_password` refuses a link sent before it was disabled).
fn may_reset(user: &User) -> bool {
    user.disabled == 0
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("password hashing: {0}")]
    Hash(String),
}
