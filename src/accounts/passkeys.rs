//! Passkeys (WebAuthn, through `webauthn-rs`): registration, a passkey as the second step of a
//! sign-in, and passwordless sign-in with a discoverable credential.
//!
//! Each ceremony has two halves (options to the browser, its answer back). Between them the
//! library's state travels with the browser, sealed under the master key
//! ([`Sealing::PasskeyCeremony`], bound to the ceremony's kind and account) with the time it
//! started, and is spent when it finishes (a shared single-use table, so a captured answer
//! cannot be replayed, in any process). Nothing is stored before the ceremony succeeds, so
//! unauthenticated traffic cannot fill the database.
//!
//! User verification is required (the library's passkey defaults): a passkey is two factors by
//! itself (`amr::Method::is_multi_factor`). The relying party id is the issuer's host; an
//! issuer on an IP address (as in tests) has no passkeys, because browsers refuse IP addresses
//! as relying party ids.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use super::amr::Method;
use crate::{
    config::Config,
    crypto::{random_token, Sealing, ServerKeys},
    store::{
        self,
        second_factors::{self as factors, StoredPasskey},
        users::User,
        Store,
    },
};

/// How long a ceremony may take (the library asks browsers for 5 minutes).
pub const CEREMONY_TTL: i64 = 360;
/// Passkeys one account may hold.
pub const MAX_PER_ACCOUNT: usize = 20;

/// The site's WebAuthn configuration; `None` inside when the issuer cannot have passkeys.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
}

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys are not available on this server")]
    Unavailable,
    /// The ceremony's state is altered, expired, or was already used.
    #[error("this passkey request has expired; try again")]
    Expired,
    /// The browser's answer does not verify (or names no passkey of the account).
    #[error("the passkey was not accepted")]
    Rejected,
    #[error("this passkey is already registered")]
    Duplicate,
    #[error("an account holds at most {MAX_PER_ACCOUNT} passkeys")]
    TooMany,
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// The options for `navigator.credentials.create/get` and the sealed state to post back.
#[derive(Debug, Serialize)]
pub struct Challenge {
    pub options: Value,
    pub state: String,
}

/// The browser's half of a ceremony: the sealed state `start` gave it, and its credential.
pub struct Answer {
    pub state: String,
    pub credential: Value,
}

/// Which ceremony a sealed state belongs to.
#[derive(Clone, Copy)]
enum Kind {
    Register,
    SecondFactor,
    Discoverable,
}

impl Kind {
    fn context(self, user_id: &str) -> String {
        let kind = match self {
            Kind::Register => "register",
            Kind::SecondFactor => "second-factor",
            Kind::Discoverable => "discoverable",
        };
        format!("{kind}\0{user_id}")
    }
}

#[derive(Serialize, Deserialize)]
struct SealedState<S> {
    s: S,
    t: i64,
    j: String,
}

impl Passkeys {
    pub fn from_config(config: &Config) -> Passkeys {
        let webauthn = Url::parse(&config.issuer).ok().and_then(|origin| {
            let rp_id = origin.domain()?.to_string();
            let built = WebauthnBuilder::new(&rp_id, &origin)
                .and_then(|b| b.rp_name("logi").build());
            match built {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, issuer = %config.issuer, "passkeys are off: the issuer is no WebAuthn origin");
                    None
                }
            }
        });
        if webauthn.is_none() {
            tracing::info!(issuer = %config.issuer, "passkeys are off: the issuer's host is not a domain name");
        }
        Passkeys { webauthn }
    }

    pub fn enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn.as_ref().ok_or(PasskeyError::Unavailable)
    }

    /// Starts registering a passkey for `user` (their existing ones excluded).
    pub fn start_registration(
        &self,
        keys: &ServerKeys,
        user: &User,
        existing: &[StoredPasskey],
        now: i64,
    ) -> Result<Challenge, PasskeyError> {
        if existing.len() >= MAX_PER_ACCOUNT {
            return Err(PasskeyError::TooMany);
        }
        let exclude = existing
            .iter()
            .filter_map(|p| parse_passkey(p).ok())
            .map(|p| p.cred_id().clone())
            .collect::<Vec<_>>();
        let handle = Uuid::from_bytes(keys.webauthn_user_handle(&user.id));
        let display = if user.name.is_empty() {
            &user.email
        } else {
            &user.name
        };
        let (options, state) = self
            .webauthn()?
            .start_passkey_registration(handle, &user.email, display, Some(exclude))
            .map_err(|e| rejected("start registration", e))?;
        let mut options = to_value(&options)?;
        // Ask for a discoverable credential where the authenticator can hold one, so the same
        // passkey also signs in without a password (WebAuthn §5.4.6 `residentKey`).
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "preferred".into());
        }
        Ok(Challenge {
            options,
            state: seal(keys, Kind::Register, &user.id, &state, now)?,
        })
    }

    /// Finishes a registration: verifies the browser's answer and stores the passkey.
    pub async fn finish_registration(
        &self,
        store: &Store,
        keys: &ServerKeys,
        user: &User,
        answer: Answer,
        name: &str,
        now: i64,
    ) -> Result<StoredPasskey, PasskeyError> {
        let webauthn = self.webauthn()?;
        let state: PasskeyRegistration =
            open(store, keys, Kind::Register, &user.id, &answer.state, now).await?;
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(answer.credential).map_err(|_| PasskeyError::Rejected)?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| rejected("finish registration", e))?;
        let stored = StoredPasskey {
            id: format!("pk_{}", random_token(12)),
            user_id: user.id.clone(),
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            name: name.to_string(),
            passkey: serde_json::to_string(&passkey)
                .map_err(|e| store::StoreError::Corrupt(e.to_string()))?,
            created_at: now,
            last_used_at: None,
        };
        match factors::insert_passkey(store, &stored).await {
            Ok(()) => {}
            Err(e) if e.is_unique_violation() => return Err(PasskeyError::Duplicate),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(target: "logi::security", user_id = %user.id, passkey = %stored.id, "passkey registered");
        Ok(stored)
    }

    /// Starts a second step with one of `user_id`'s passkeys.
    pub async fn start_second_factor(
        &self,
        store: &Store,
        keys: &ServerKeys,
        user_id: &str,
        now: i64,
    ) -> Result<Challenge, PasskeyError> {
        let webauthn = self.webauthn()?;
        let passkeys: Vec<Passkey> = factors::passkeys(store, user_id)
            .await?
            .iter()
            .filter_map(|p| parse_passkey(p).ok())
            .collect();
        if passkeys.is_empty() {
            return Err(PasskeyError::Rejected);
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| rejected("start authentication", e))?;
        Ok(Challenge {
            options: to_value(&options)?,
            state: seal(keys, Kind::SecondFactor, user_id, &state, now)?,
        })
    }

    /// Finishes a second step: the method (`hwk` or `swk`) when the answer verifies with one
    /// of `user_id`'s passkeys.
    pub async fn finish_second_factor(
        &self,
        store: &Store,
        keys: &ServerKeys,
        user_id: &str,
        answer: Answer,
        now: i64,
    ) -> Result<Method, PasskeyError> {
        let webauthn = self.webauthn()?;
        let state: PasskeyAuthentication =
            open(store, keys, Kind::SecondFactor, user_id, &answer.state, now).await?;
        let credential: PublicKeyCredential =
            serde_json::from_value(answer.credential).map_err(|_| PasskeyError::Rejected)?;
        let result = webauthn
            .finish_passkey_authentication(&credential, &state)
            .map_err(|e| rejected("finish authentication", e))?;
        let stored = stored_for(store, result.cred_id().as_ref()).await?;
        if stored.user_id != user_id {
            return Err(PasskeyError::Rejected);
        }
        record_use(store, &stored, &result, now).await?;
        Ok(Method::passkey(result.backup_eligible()))
    }

    /// Starts a passwordless sign-in: the browser offers whichever discoverable passkey the
    /// person picks.
    pub fn start_discoverable(
        &self,
        keys: &ServerKeys,
        now: i64,
    ) -> Result<Challenge, PasskeyError> {
        let (options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(|e| rejected("start discoverable authentication", e))?;
        let mut options = to_value(&options)?;
        // The library prepares conditional mediation (autofill); logi's page has a button, so the
        // browser's ordinary modal prompt is wanted.
        if let Some(fields) = options.as_object_mut() {
            fields.remove("mediation");
        }
        Ok(Challenge {
            options,
            state: seal(keys, Kind::Discoverable, "", &state, now)?,
        })
    }

    /// Finishes a passwordless sign-in: the account whose passkey answered, and the method.
    pub async fn finish_discoverable(
        &self,
        store: &Store,
        keys: &ServerKeys,
        answer: Answer,
        now: i64,
    ) -> Result<(String, Method), PasskeyError> {
        let webauthn = self.webauthn()?;
        let state: DiscoverableAuthentication =
            open(store, keys, Kind::Discoverable, "", &answer.state, now).await?;
        let credential: PublicKeyCredential =
            serde_json::from_value(answer.credential).map_err(|_| PasskeyError::Rejected)?;
        let (handle, credential_id) = webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|e| rejected("identify discoverable credential", e))?;
        let stored = stored_for(store, credential_id).await?;
        // The user handle the authenticator returned must be the one logi gave that account.
        if handle.as_bytes() != &keys.webauthn_user_handle(&stored.user_id) {
            return Err(PasskeyError::Rejected);
        }
        let passkey = parse_passkey(&stored)?;
        let result = webauthn
            .finish_discoverable_authentication(
                &credential,
                state,
                &[DiscoverableKey::from(&passkey)],
            )
            .map_err(|e| rejected("finish discoverable authentication", e))?;
        record_use(store, &stored, &result, now).await?;
        Ok((stored.user_id, Method::passkey(result.backup_eligible())))
    }
}

fn rejected(step: &str, e: impl std::fmt::Display) -> PasskeyError {
    tracing::info!(target: "logi::security", step, error = %e, "passkey ceremony refused");
    PasskeyError::Rejected
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, PasskeyError> {
    serde_json::to_value(v).map_err(|e| store::StoreError::Corrupt(e.to_string()).into())
}

fn parse_passkey(stored: &StoredPasskey) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(&stored.passkey)
        .map_err(|e| store::StoreError::Corrupt(format!("passkey {}: {e}", stored.id)).into())
}

async fn stored_for(store: &Store, credential_id: &[u8]) -> Result<StoredPasskey, PasskeyError> {
    factors::passkey_by_credential(store, &URL_SAFE_NO_PAD.encode(credential_id))
        .await?
        .ok_or(PasskeyError::Rejected)
}

/// Notes the use, and the credential's new counter or flags when they moved (WebAuthn §6.1.1:
/// a counter that goes back is refused by the library as a possible clone).
async fn record_use(
    store: &Store,
    stored: &StoredPasskey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: i64,
) -> Result<(), PasskeyError> {
    let mut passkey = parse_passkey(stored)?;
    let updated = match passkey.update_credential(result) {
        Some(true) => Some(
            serde_json::to_string(&passkey)
                .map_err(|e| store::StoreError::Corrupt(e.to_string()))?,
        ),
        _ => None,
    };
    factors::passkey_used(store, &stored.id, updated.as_deref(), now).await?;
    Ok(())
}

fn seal<S: Serialize>(
    keys: &ServerKeys,
    kind: Kind,
    user_id: &str,
    state: &S,
    now: i64,
) -> Result<String, PasskeyError> {
    let plain = serde_json::to_vec(&SealedState {
        s: state,
        t: now,
        j: random_token(16),
    })
    .map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
    Ok(keys.seal_for(Sealing::PasskeyCeremony, &kind.context(user_id), &plain))
}

/// Opens a sealed state of `kind` for `user_id` and spends it.
async fn open<S: for<'de> Deserialize<'de>>(
    store: &Store,
    keys: &ServerKeys,
    kind: Kind,
    user_id: &str,
    sealed: &str,
    now: i64,
) -> Result<S, PasskeyError> {
    let plain = keys
        .open_for(Sealing::PasskeyCeremony, &kind.context(user_id), sealed)
        .ok_or(PasskeyError::Expired)?;
    let state: SealedState<S> =
        serde_json::from_slice(&plain).map_err(|_| PasskeyError::Expired)?;
    if now - state.t >= CEREMONY_TTL || state.t - now > 60 {
        return Err(PasskeyError::Expired);
    }
    let key = keys.hash_secret(&format!("passkey-ceremony\0{}", state.j));
    if !store::oauth::remember_jti(store, &key, state.t + CEREMONY_TTL + 60).await? {
        return Err(PasskeyError::Expired);
    }
    Ok(state.s)
}
