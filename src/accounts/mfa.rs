//! Second factors of an account (SPEC "End users: … second factors"): TOTP enrolment and
//! checks, recovery codes, the throttle of second steps, and the sign-in that waits for its
//! second step.
//!
//! - A TOTP secret is stored sealed under the master key, bound to its account
//!   ([`Sealing::TotpSecret`]). Until the enrolment is confirmed it is stored nowhere: the
//!   enrolment page carries it sealed ([`Sealing::TotpEnrolment`], 15 minutes).
//! - A code is accepted once: the store keeps the last accepted 30-second step and takes only
//!   later ones, in one conditional update ([`store::second_factors::accept_totp_step`]).
//! - Recovery codes (ten, 50 random bits each) are shown once and stored as HMACs; using one
//!   spends it in one conditional update.
//! - Second steps are throttled like passwords (`accounts::login`): each attempt is reserved in
//!   the database, per account and per client IP, before the check, and given back only when
//!   it succeeds.

use serde::{Deserialize, Serialize};

use super::{amr::Amr, totp};
use crate::{
    config::Config,
    crypto::{random_bytes, random_token, sha256_b64, Sealing, ServerKeys},
    store::{
        self,
        second_factors::{self as factors, TotpFactor},
        throttle::{self, Reservation},
        Store, StoreError,
    },
};

/// How long a sign-in waits for its second step.
pub const PENDING_LOGIN_TTL: i64 = 300;
/// How long an enrolment page's secret may be confirmed.
pub const ENROLMENT_TTL: i64 = 900;
/// Recovery codes made with each TOTP enrolment.
pub const RECOVERY_CODES: usize = 10;

// ---------------------------------------------------------------------------------------------
// TOTP enrolment
// ---------------------------------------------------------------------------------------------

/// A TOTP secret offered on the enrolment page, and the same secret sealed for the page's form.
pub struct Enrolment {
    pub secret: Vec<u8>,
    pub sealed: String,
}

#[derive(Serialize, Deserialize)]
struct SealedEnrolment {
    /// The secret, base32.
    s: String,
    /// When it was offered.
    t: i64,
}

/// A fresh secret for `user_id`'s enrolment page.
pub fn new_enrolment(keys: &ServerKeys, user_id: &str, now: i64) -> Enrolment {
    let secret = random_bytes(totp::SECRET_BYTES);
    let plain = SealedEnrolment {
        s: totp::base32(&secret),
        t: now,
    };
    // Serialising two plain fields cannot fail.
    let json = serde_json::to_vec(&plain).unwrap_or_default();
    Enrolment {
        sealed: keys.seal_for(Sealing::TotpEnrolment, user_id, &json),
        secret,
    }
}

/// The secret of an enrolment page posted back by `user_id`; `None` when it was altered,
/// sealed for someone else, or offered more than [`ENROLMENT_TTL`] ago.
pub fn open_enrolment(keys: &ServerKeys, user_id: &str, sealed: &str, now: i64) -> Option<Vec<u8>> {
    let plain = keys.open_for(Sealing::TotpEnrolment, user_id, sealed)?;
    let e: SealedEnrolment = serde_json::from_slice(&plain).ok()?;
    if now - e.t >= ENROLMENT_TTL || e.t - now > 60 {
        return None;
    }
    totp::from_base32(&e.s)
}

pub enum ConfirmOutcome {
    /// TOTP is on; these recovery codes are shown once.
    Enabled {
        recovery_codes: Vec<String>,
    },
    WrongCode,
    /// The account already has TOTP (another tab confirmed first): nothing changed.
    AlreadyEnabled,
}

/// Confirms an enrolment with a `code` of `secret`: stores the sealed secret with the code's
/// step as the last one used (the code cannot be used again to sign in) and ten new recovery
/// codes, all in one transaction.
pub async fn confirm_totp(
    store: &Store,
    keys: &ServerKeys,
    user_id: &str,
    secret: &[u8],
    code: &str,
    now: i64,
) -> store::Result<ConfirmOutcome> {
    let Some(step) = totp::matching_step(secret, &normalize(code), now) else {
        return Ok(ConfirmOutcome::WrongCode);
    };
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| recovery_hash(keys, user_id, c))
        .collect();
    let factor = TotpFactor {
        user_id: user_id.to_string(),
        secret_enc: keys.seal_for(Sealing::TotpSecret, user_id, secret),
        last_step: step,
        created_at: now,
    };
    if !factors::enable_totp(store, &factor, &hashes).await? {
        return Ok(ConfirmOutcome::AlreadyEnabled);
    }
    tracing::info!(target: "logi::security", user_id, "totp enabled");
    Ok(ConfirmOutcome::Enabled {
        recovery_codes: codes,
    })
}

// ---------------------------------------------------------------------------------------------
// Codes at the second step
// ---------------------------------------------------------------------------------------------

/// What a code was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    Totp,
    RecoveryCode,
}

pub enum CodeOutcome {
    Accepted(CodeKind),
    /// Wrong, already used, or the account has no such factor: deliberately one answer.
    Invalid,
    /// Too many failures; retry after this many seconds (a right code is refused too).
    Locked {
        retry_after: i64,
    },
}

/// Checks a TOTP or recovery `code` for `user_id`, throttled ([`reserve`]).
pub async fn check_code(
    store: &Store,
    keys: &ServerKeys,
    config: &Config,
    user_id: &str,
    code: &str,
    client_ip: &str,
    now: i64,
) -> store::Result<CodeOutcome> {
    let attempt = match reserve(store, config, user_id, client_ip, now).await? {
        Ok(attempt) => attempt,
        Err(retry_after) => return Ok(CodeOutcome::Locked { retry_after }),
    };
    let code = normalize(code);
    let accepted = if totp::is_code_shaped(&code) {
        totp_code_ok(store, keys, user_id, &code, now)
            .await?
            .then_some(CodeKind::Totp)
    } else if code.len() <= 64 {
        let hash = recovery_hash(keys, user_id, &code);
        factors::use_recovery_code(store, user_id, &hash, now)
            .await?
            .then_some(CodeKind::RecoveryCode)
    } else {
        None
    };
    match accepted {
        Some(kind) => {
            attempt.succeeded(store).await?;
            if kind == CodeKind::RecoveryCode {
                tracing::warn!(target: "logi::security", user_id, "recovery code used");
            }
            Ok(CodeOutcome::Accepted(kind))
        }
        None => {
            tracing::info!(target: "logi::security", user_id, client_ip, "second step failed");
            Ok(CodeOutcome::Invalid)
        }
    }
}

async fn totp_code_ok(
    store: &Store,
    keys: &ServerKeys,
    user_id: &str,
    code: &str,
    now: i64,
) -> store::Result<bool> {
    let Some(factor) = factors::totp(store, user_id).await? else {
        return Ok(false);
    };
    let secret = keys
        .open_for(Sealing::TotpSecret, user_id, &factor.secret_enc)
        .ok_or_else(|| StoreError::Corrupt(format!("TOTP secret of {user_id} does not open")))?;
    match totp::matching_step(&secret, code, now) {
        // A step at or before the last accepted one is a replay: refused by the same update.
        Some(step) => factors::accept_totp_step(store, user_id, step).await,
        None => Ok(false),
    }
}

/// Codes as people type them: spaces and dashes ignored, any case.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A recovery code: 10 base32 characters (50 bits) as `xxxxx-xxxxx`.
fn new_recovery_code() -> String {
    let raw = totp::base32(&random_bytes(7)).to_lowercase();
    format!("{}-{}", &raw[..5], &raw[5..10])
}

/// The stored form of a recovery code: an HMAC under the master key, bound to the account.
fn recovery_hash(keys: &ServerKeys, user_id: &str, code: &str) -> String {
    keys.hash_secret(&format!("recovery-code\0{user_id}\0{}", normalize(code)))
}

// ---------------------------------------------------------------------------------------------
// Throttle
// ---------------------------------------------------------------------------------------------

/// A reserved second-step attempt, per account and per client IP (the IP counter is the one
/// password logins use: one budget per address for both steps).
pub struct Attempt {
    account_key: String,
    account: Reservation,
    ip_key: String,
    ip: Reservation,
}

/// Reserves an attempt before the check, as `accounts::login` does for passwords:
/// `Err(retry_after)` when the account or the IP has used up its window.
pub async fn reserve(
    store: &Store,
    config: &Config,
    user_id: &str,
    client_ip: &str,
    now: i64,
) -> store::Result<Result<Attempt, i64>> {
    let window = config.login_lockout_seconds as i64;
    let account_key = format!("mfa:{user_id}");
    let ip_key = format!("ip:{client_ip}");
    let max_account = config.login_max_failures_per_account as i64;
    let account = match throttle::reserve(store, &account_key, now, max_account, window).await? {
        Ok(r) => r,
        Err(retry_after) => return Ok(Err(locked(user_id, client_ip, retry_after))),
    };
    let max_ip = config.login_max_failures_per_ip as i64;
    let ip = match throttle::reserve(store, &ip_key, now, max_ip, window).await? {
        Ok(r) => r,
        Err(retry_after) => {
            throttle::release(store, &account_key, account).await?;
            return Ok(Err(locked(user_id, client_ip, retry_after)));
        }
    };
    Ok(Ok(Attempt {
        account_key,
        account,
        ip_key,
        ip,
    }))
}

fn locked(user_id: &str, client_ip: &str, retry_after: i64) -> i64 {
    tracing::warn!(target: "logi::security", user_id, client_ip, "second step refused: throttled");
    retry_after.max(1)
}

impl Attempt {
    /// The attempt succeeded: it does not count against the limits.
    pub async fn succeeded(self, store: &Store) -> store::Result<()> {
        throttle::release(store, &self.account_key, self.account).await?;
        throttle::release(store, &self.ip_key, self.ip).await
    }
}

// ---------------------------------------------------------------------------------------------
// A sign-in waiting for its second step
// ---------------------------------------------------------------------------------------------

/// A sign-in whose first step (a password) succeeded, waiting for the second: carried by the
/// browser in a cookie sealed under the master key, bound to the account and to the `next`
/// URL (by hash: the URL itself may be too long for a cookie and travels in the form), for
/// [`PENDING_LOGIN_TTL`], and usable once.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    #[serde(rename = "u")]
    pub user_id: String,
    /// The first step's methods.
    #[serde(rename = "a")]
    pub amr: String,
    /// SHA-256 of the `next` URL ("" when none).
    #[serde(rename = "n")]
    next_hash: String,
    #[serde(rename = "t")]
    pub issued_at: i64,
    /// Makes it single use ([`PendingLogin::consume`]).
    #[serde(rename = "j")]
    nonce: String,
}

impl PendingLogin {
    pub fn new(user_id: &str, first: &Amr, next: Option<&str>, now: i64) -> PendingLogin {
        PendingLogin {
            user_id: user_id.to_string(),
            amr: first.stored(),
            next_hash: sha256_b64(next.unwrap_or_default()),
            issued_at: now,
            nonce: random_token(16),
        }
    }

    pub fn seal(&self, keys: &ServerKeys) -> String {
        // Serialising plain strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.seal_for(Sealing::MfaLogin, "", &json)
    }

    /// Opens the cookie; `None` when it was altered or is older than [`PENDING_LOGIN_TTL`].
    pub fn open(keys: &ServerKeys, sealed: &str, now: i64) -> Option<PendingLogin> {
        let plain = keys.open_for(Sealing::MfaLogin, "", sealed)?;
        let p: PendingLogin = serde_json::from_slice(&plain).ok()?;
        if now - p.issued_at >= PENDING_LOGIN_TTL || p.issued_at - now > 60 {
            return None;
        }
        Some(p)
    }

    /// Whether `next` is the URL this sign-in was started for.
    pub fn is_for(&self, next: Option<&str>) -> bool {
        crate::crypto::constant_time_eq(
            sha256_b64(next.unwrap_or_default()).as_bytes(),
            self.next_hash.as_bytes(),
        )
    }

    /// Spends it: `true` once, in every process; `false` when it already finished a sign-in.
    pub async fn consume(&self, store: &Store, keys: &ServerKeys) -> store::Result<bool> {
        let key = keys.hash_secret(&format!("mfa-login\0{}", self.nonce));
        store::oauth::remember_jti(store, &key, self.issued_at + PENDING_LOGIN_TTL + 60).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ServerKeys {
        ServerKeys::from_master(&[7; 32])
    }

    #[test]
    fn an_enrolment_opens_for_its_account_within_its_time() {
        let k = keys();
        let e = new_enrolment(&k, "usr_a", 1000);
        assert_eq!(
            open_enrolment(&k, "usr_a", &e.sealed, 1000).unwrap(),
            e.secret
        );
        assert!(open_enrolment(&k, "usr_b", &e.sealed, 1000).is_none());
        assert!(open_enrolment(&k, "usr_a", &e.sealed, 1000 + ENROLMENT_TTL).is_none());
    }

    #[test]
    fn a_pending_login_is_bound_to_its_next_url_and_expires() {
        let k = keys();
        let p = PendingLogin::new("usr_a", &Amr::default(), Some("/x"), 1000);
        let opened = PendingLogin::open(&k, &p.seal(&k), 1000 + PENDING_LOGIN_TTL - 1).unwrap();
        assert_eq!(opened.user_id, "usr_a");
        assert!(opened.is_for(Some("/x")));
        assert!(!opened.is_for(Some("/y")));
        assert!(!opened.is_for(None));
        assert!(PendingLogin::open(&k, &p.seal(&k), 1000 + PENDING_LOGIN_TTL).is_none());
        let sealed_elsewhere =
            k.seal_for(Sealing::TotpEnrolment, "", &serde_json::to_vec(&p).unwrap());
        assert!(PendingLogin::open(&k, &sealed_elsewhere, 1000).is_none());
    }

    #[test]
    fn recovery_codes_are_normalised_and_bound_to_their_account() {
        let k = keys();
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        let typed = format!(" {} ", code.to_uppercase().replace('-', " "));
        assert_eq!(
            recovery_hash(&k, "usr_a", &code),
            recovery_hash(&k, "usr_a", &typed)
        );
        assert_ne!(
            recovery_hash(&k, "usr_a", &code),
            recovery_hash(&k, "usr_b", &code)
        );
    }
}
