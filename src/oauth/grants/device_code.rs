//! The device authorization grant (RFC 8628): issuing device and user codes, and polling
//! `grant_type=urn:ietf:params:oauth:grant-type:device_code`.

use serde::Serialize;

use super::GrantError;
use crate::{
    crypto::{random_bytes, random_token},
    oauth::{
        audience,
        error::{ErrorCode, OAuthError},
        policy, scope,
        tokens::{TokenContext, TokenResponse},
    },
    store::{
        self,
        applications::Application,
        device::DeviceCode,
        oauth::{Grant, Redemption},
    },
};

/// RFC 8628 §6.1: consonants only, no look-alikes (no 0/O, 1/I/L confusion, no vowels so no
/// words). 20^8 ≈ 2^34.6 codes, and wrong entries at `/device` are throttled.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// A fresh user code, normalised (no dash).
fn new_user_code() -> String {
    let mut out = String::with_capacity(USER_CODE_LEN);
    while out.len() < USER_CODE_LEN {
        for b in random_bytes(16) {
            // Rejection sampling keeps the distribution uniform.
            if (b as usize) < 256 - 256 % USER_CODE_ALPHABET.len() && out.len() < USER_CODE_LEN {
                out.push(USER_CODE_ALPHABET[b as usize % USER_CODE_ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// `BCDFGHJK` → `BCDF-GHJK`, as shown to people.
pub fn display_user_code(code: &str) -> String {
    if code.len() == USER_CODE_LEN {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

/// What a person typed → the stored form: upper case, no dashes or spaces; `None` when it
/// cannot be a user code.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// RFC 8628 §3.2 response.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// `POST /oauth/device_authorization` for an authenticated client.
pub async fn authorize_device(
    ctx: &TokenContext<'_>,
    app: &Application,
    requested: Option<&str>,
    resources: &[String],
) -> Result<DeviceAuthorization, GrantError> {
    policy::check_grant_allowed(app, policy::GRANT_DEVICE_CODE)?;
    let registered = scope::parse(&app.scope).unwrap_or_default();
    let scopes = match requested {
        None => registered.clone(),
        Some(s) => scope::parse(s).ok_or_else(|| OAuthError::invalid_scope("malformed scope"))?,
    };
    if scopes.is_empty() || !scope::is_subset(&scopes, &registered) {
        return Err(
            OAuthError::invalid_scope("scope is not registered for this application").into(),
        );
    }
    let resources = audience::for_request(&ctx.target.apis, resources, &scopes)?;
    let device_code = random_token(32);
    let interval = ctx.config.device_poll_interval_seconds;
    // A collision of user codes is astronomically unlikely; retry a few times anyway.
    for _ in 0..3 {
        let row = DeviceCode {
            device_code_hash: ctx.keys.hash_secret(&device_code),
            user_code: new_user_code(),
            application_id: app.id.clone(),
            scope: scopes.join(" "),
            resources: resources.join(" "),
            status: store::device::PENDING.into(),
            user_id: None,
            auth_time: None,
            sid: None,
            poll_interval: interval as i64,
            last_polled_at: None,
            created_at: ctx.now,
            expires_at: ctx.now + ctx.config.device_code_ttl_seconds as i64,
        };
        match store::device::insert(ctx.store, &row).await {
            Ok(()) => {
                let user_code = display_user_code(&row.user_code);
                let verification_uri = format!("{}/device", ctx.config.issuer);
                return Ok(DeviceAuthorization {
                    verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
                    verification_uri,
                    device_code,
                    user_code,
                    expires_in: ctx.config.device_code_ttl_seconds,
                    interval,
                });
            }
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::new(ErrorCode::ServerError, "could not allocate a user code").into())
}

/// Polling the token endpoint (RFC 8628 §3.4, §3.5).
pub async fn poll(
    ctx: &TokenContext<'_>,
    app: &Application,
    device_code: &str,
) -> Result<TokenResponse, GrantError> {
    let hash = ctx.keys.hash_secret(device_code);
    let Some(row) = store::device::by_hash(ctx.store, &hash).await? else {
        return Err(OAuthError::invalid_grant("unknown device_code").into());
    };
    if row.application_id != app.id {
        return Err(OAuthError::invalid_grant("device_code was issued to another client").into());
    }
    if row.status == store::device::REDEEMED {
        return Err(OAuthError::invalid_grant("device_code already used").into());
    }
    if row.expires_at <= ctx.now {
        return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired").into());
    }
    let too_fast = row
        .last_polled_at
        .is_some_and(|last| ctx.now - last < row.poll_interval);
    store::device::record_poll(ctx.store, &hash, ctx.now, too_fast).await?;
    if too_fast {
        return Err(OAuthError::new(
            ErrorCode::SlowDown,
            "polling too fast: wait 5 more seconds between requests",
        )
        .into());
    }
    match row.status.as_str() {
        store::device::PENDING => Err(OAuthError::new(
            ErrorCode::AuthorizationPending,
            "the user has not answered yet",
        )
        .into()),
        store::device::DENIED => {
            Err(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request").into())
        }
        store::device::APPROVED => issue(ctx, app, &hash, &row).await,
        _ => Err(OAuthError::invalid_grant("device_code is not usable").into()),
    }
}

async fn issue(
    ctx: &TokenContext<'_>,
    app: &Application,
    hash: &str,
    row: &DeviceCode,
) -> Result<TokenResponse, GrantError> {
    let (Some(user_id), Some(auth_time)) = (&row.user_id, row.auth_time) else {
        return Err(OAuthError::invalid_grant("device_code is not usable").into());
    };
    let scopes = scope::parse(&row.scope).unwrap_or_default();
    let grant = Grant {
        id: format!("grt_{}", random_token(16)),
        application_id: app.id.clone(),
        user_id: Some(user_id.clone()),
        scope: row.scope.clone(),
        auth_time,
        created_at: ctx.now,
        revoked_at: None,
        sid: row.sid.clone(),
        resources: row
            .resources
            .split(' ')
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
    };
    let redemption = Redemption::DeviceCode {
        device_code_hash: hash,
        grant: &grant,
    };
    super::first_tokens(ctx, app, &grant, &scopes, redemption, None)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("device_code already used").into())
}
