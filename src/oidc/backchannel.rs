//! OIDC Back-Channel Logout 1.0: the logout token and its delivery to an application.
//!
//! When a session ends, `accounts::sessions::end_sessions` queues a
//! [`SessionEnded`] notice per application that received an ID token in it (same transaction
//! as the deletion of the session). The server's outbox worker hands each notice to
//! [`deliver`], which signs a logout token and POSTs it to the application's
//! `backchannel_logout_uri` (§2.5: `application/x-www-form-urlencoded`, `logout_token=…`).
//!
//! **The token is signed at delivery time, not when the session ends.** The outbox holds only
//! identifiers (application, `sub`, `sid`), so a copy of the database lets nobody mint or
//! replay a logout token (SPEC "Secrets at rest": a copy of the database must not let anyone
//! mint or use a token). A token signed at enqueue time would sit in the table for as long as
//! retries last (hours, with backoff); its `exp` would have to cover that whole time (a long
//! replay window for whoever reads the row) or it would expire before a late retry arrived.
//! Signed per attempt, every token lives [`TOKEN_TTL`] seconds from the moment it is sent, with
//! a fresh `jti`, with the signing key that is current then (key rotation during a retry is
//! harmless), and never touches the disk.

use serde_json::{json, Value};

use crate::{
    accounts::sessions::SessionEnded,
    crypto::random_token,
    keys::{Alg, KeyRing},
    outbound::Outbound,
    store::{
        self,
        applications::{Application, LogoutStatus},
        Store,
    },
};

/// The event a logout token carries (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The JWT `typ` of a logout token (§2.4, RFC 8725 §3.11 explicit typing).
pub const TYP: &str = "logout+jwt";
/// How long a logout token is valid after it is sent (§2.4 recommends at most two minutes).
pub const TOKEN_TTL: i64 = 120;
/// How much of an application's answer is read before it is dropped.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// What a delivery needs, at time `now`.
pub struct Delivery<'a> {
    pub store: &'a Store,
    pub keyring: &'a KeyRing,
    pub outbound: &'a Outbound,
    pub issuer: &'a str,
    pub now: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The application answered 2xx.
    Delivered,
    /// It did not (or logi could not send): worth another attempt.
    Failed(String),
    /// Nothing to deliver any more (the application or its `backchannel_logout_uri` is gone).
    Obsolete(String),
}

/// The claims of a logout token (§2.4): `iss aud iat exp jti events sub sid`, never a `nonce`.
pub fn logout_claims(issuer: &str, client_id: &str, notice: &SessionEnded, now: i64) -> Value {
    json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + TOKEN_TTL,
        "jti": random_token(16),
        "events": { EVENT: {} },
        "sub": notice.sub,
        "sid": notice.sid,
    })
}

/// Signs a logout token for `app` with the key and algorithm of its ID tokens.
pub fn logout_token(
    keyring: &KeyRing,
    issuer: &str,
    app: &Application,
    notice: &SessionEnded,
    now: i64,
) -> Result<String, crate::keys::KeyError> {
    let alg = Alg::parse(&app.id_token_signed_response_alg).unwrap_or(Alg::RS256);
    let claims = logout_claims(issuer, &app.client_id, notice, now);
    keyring.signer(alg)?.sign(TYP, &claims)
}

/// One delivery attempt of a queued [`SessionEnded`] notice (`payload`). `last_attempt`: no
/// retry follows a failure, which the application's status then says. The outcome of every
/// attempt that reached the sending stage is recorded for the application's developer.
pub async fn deliver(ctx: &Delivery<'_>, payload: &str, last_attempt: bool) -> Outcome {
    let Ok(notice) = serde_json::from_str::<SessionEnded>(payload) else {
        return Outcome::Obsolete("unreadable notice".into());
    };
    let app = match store::applications::by_id(ctx.store, &notice.application_id).await {
        Ok(Some(app)) => app,
        Ok(None) => return Outcome::Obsolete("the application was deleted".into()),
        Err(e) => return Outcome::Failed(format!("database: {e}")),
    };
    let Some(uri) = app.backchannel_logout_uri.as_deref() else {
        return Outcome::Obsolete("the application no longer has a backchannel_logout_uri".into());
    };
    let token = match logout_token(ctx.keyring, ctx.issuer, &app, &notice, ctx.now) {
        Ok(token) => token,
        Err(e) => return Outcome::Failed(format!("cannot sign the logout token: {e}")),
    };
    let sent = ctx
        .outbound
        .post_form(uri, &[("logout_token", &token)], MAX_ANSWER_BYTES)
        .await;
    let (outcome, status) = match sent {
        Ok(()) => (Outcome::Delivered, ("delivered", None)),
        Err(e) => {
            let error = format!("backchannel_logout_uri {e}");
            let result = if last_attempt { "gave_up" } else { "failed" };
            (Outcome::Failed(error.clone()), (result, Some(error)))
        }
    };
    let (last_result, last_error) = status;
    let recorded = store::applications::set_logout_status(
        ctx.store,
        &app.id,
        &LogoutStatus {
            last_attempt_at: ctx.now,
            last_result: last_result.into(),
            last_error,
        },
    )
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, application = %app.id, "cannot record the back-channel logout status");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_claims_follow_section_2_4() {
        let notice = SessionEnded {
            application_id: "app_1".into(),
            sub: "user-1".into(),
            sid: "sid-1".into(),
        };
        let c = logout_claims("https://logi.example", "client-1", &notice, 1_000);
        assert_eq!(c["iss"], "https://logi.example");
        assert_eq!(c["aud"], "client-1");
        assert_eq!(c["iat"], 1_000);
        assert_eq!(c["exp"], 1_000 + TOKEN_TTL);
        assert_eq!(c["sub"], "user-1");
        assert_eq!(c["sid"], "sid-1");
        assert_eq!(c["events"], json!({ EVENT: {} }));
        assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 16));
        assert!(
            c.get("nonce").is_none(),
            "§2.4: a logout token has no nonce"
        );
        let other = logout_claims("https://logi.example", "client-1", &notice, 1_000);
        assert_ne!(c["jti"], other["jti"], "a fresh jti per token");
    }
}
