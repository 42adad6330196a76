//! Access tokens (RFC 9068 JWTs), refresh tokens and the token response.

use std::sync::Arc;

use serde::Serialize;

use crate::{
    accounts::amr::Amr,
    config::Config,
    crypto::{random_token, ServerKeys},
    keys::{Alg, KeyError, KeyRing},
    oauth::{audience, error::OAuthError, policy},
    store::{self, apis::Api, applications::Application, oauth::Grant, oauth::RefreshToken, Store},
};

/// The end of a refresh-token family that started (its grant was created) at
/// `family_started_at` and lives at most `absolute_ttl` seconds (SPEC "Tokens": rotation never
/// extends it).
pub fn family_ends_at(family_started_at: i64, absolute_ttl: u64) -> i64 {
    family_started_at.saturating_add(i64::try_from(absolute_ttl).unwrap_or(i64::MAX))
}

/// When a refresh token issued at `now` expires: `ttl` seconds later, but never after the end of
/// its family.
pub fn refresh_expires_at(now: i64, ttl: u64, family_started_at: i64, absolute_ttl: u64) -> i64 {
    now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))
        .min(family_ends_at(family_started_at, absolute_ttl))
}

/// Whether a grant of `scopes` (with a user) gets an ID token: OIDC Core §3.1.2.1, `openid`.
pub fn issues_id_token(scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == "openid")
}

/// Access tokens are ES256: an order of magnitude cheaper to sign than RS256.
pub const ACCESS_TOKEN_ALG: Alg = Alg::ES256;

/// What the grant handlers need: the store, the keys, the configuration and the clock.
pub struct TokenContext<'a> {
    pub store: &'a Store,
    pub keys: &'a ServerKeys,
    pub config: &'a Config,
    pub keyring: &'a KeyRing,
    pub now: i64,
    /// Thumbprint of the key of a valid DPoP proof sent with the request.
    pub dpop_jkt: Option<String>,
    /// What the request can address: the client owner's APIs and its `resource` parameter.
    pub target: Target,
}

/// The protected APIs a token request may address (RFC 8707): the client owner's APIs and the
/// request's `resource`. Endpoints that issue no access token (revocation, introspection) use
/// [`Target::none`].
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub apis: Arc<Vec<Api>>,
    pub requested: Option<String>,
}

impl Target {
    pub fn none() -> Target {
        Target::default()
    }
}

/// Who an access token is for (`None`: logi itself, `aud` = issuer) and the scopes it carries.
#[derive(Debug)]
pub struct Audience<'a> {
    pub api: Option<&'a Api>,
    pub scopes: Vec<String>,
}

/// RFC 9068 §2.2 claims, plus `gid`: the grant the token belongs to, so that revoking the grant
/// (or its refresh-token family) is honoured by userinfo and introspection.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gid: Option<String>,
    /// RFC 9068 §2.2.1: how the user authenticated (RFC 8176), as in the ID token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amr: Option<Vec<String>>,
    /// RFC 9449 §6.1: the DPoP key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Cnf>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Cnf {
    pub jkt: String,
}

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    /// Left out when nothing was granted: RFC 6749 §5.1 makes it optional, and `"scope":""`
    /// reads as a scope named by the empty string.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenContext<'_> {
    /// The audience of an access token of an authorization that covers the APIs `resources`
    /// with the scopes `granted`, given the request's `resource` ([`audience`] has the rules).
    pub fn audience(
        &self,
        resources: &[String],
        granted: &[String],
    ) -> Result<Audience<'_>, OAuthError> {
        let apis = self.target.apis.as_slice();
        let api = audience::audience(apis, resources, self.target.requested.as_deref())?;
        Ok(Audience {
            api,
            scopes: audience::token_scopes(apis, api, granted),
        })
    }

    /// Lifetime of an access token for `audience`: the API's own, or the server's.
    pub fn access_token_ttl(&self, audience: &Audience<'_>) -> u64 {
        audience
            .api
            .and_then(|a| a.access_token_ttl_seconds)
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(self.config.access_token_ttl_seconds)
    }

    /// Signs an access token for `audience`. `sub` is the user id, or the client id for
    /// client_credentials. `aud` is the API's identifier, or the issuer for a token meant for
    /// logi's own endpoints (userinfo). A token of a `grant` carries its id (`gid`) and how its
    /// user authenticated (`auth_time`, `acr`, `amr`).
    pub fn access_token(
        &self,
        app: &Application,
        sub: &str,
        audience: &Audience<'_>,
        grant: Option<&Grant>,
    ) -> Result<(String, AccessClaims), KeyError> {
        let authn = grant.map(|g| Amr::parse(&g.amr)).filter(|a| !a.is_empty());
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            sub: sub.to_string(),
            aud: audience
                .api
                .map_or_else(|| self.config.issuer.clone(), |a| a.identifier.clone()),
            client_id: app.client_id.clone(),
            scope: audience.scopes.join(" "),
            jti: random_token(16),
            iat: self.now,
            exp: self.now + self.access_token_ttl(audience) as i64,
            auth_time: grant.map(|g| g.auth_time),
            gid: grant.map(|g| g.id.clone()),
            acr: authn.as_ref().map(|a| a.acr().to_string()),
            amr: authn.map(|a| a.claim().into_iter().map(String::from).collect()),
            cnf: self.dpop_jkt.clone().map(|jkt| Cnf { jkt }),
        };
        let jwt = self
            .keyring
            .signer(ACCESS_TOKEN_ALG)?
            .sign("at+jwt", &claims)?;
        Ok((jwt, claims))
    }

    /// A new refresh token: 256 random bits for the client, and its HMAC for the database.
    pub fn refresh_secret(&self) -> (String, String) {
        let token = random_token(32);
        let hash = self.keys.hash_secret(&token);
        (token, hash)
    }

    /// A new refresh token of `grant`'s family: 256 random bits for the client, an HMAC for the
    /// database. It expires after `refresh_token_ttl_seconds`, but never after the family's
    /// absolute end ([`refresh_expires_at`]).
    pub fn refresh_token(
        &self,
        app: &Application,
        grant: &Grant,
        scopes: &[String],
        dpop_jkt: Option<String>,
    ) -> (String, RefreshToken) {
        let (token, token_hash) = self.refresh_secret();
        let row = RefreshToken {
            token_hash,
            grant_id: grant.id.clone(),
            application_id: app.id.clone(),
            scope: scopes.join(" "),
            created_at: self.now,
            expires_at: refresh_expires_at(
                self.now,
                self.config.refresh_token_ttl_seconds,
                grant.created_at,
                self.config.refresh_token_absolute_ttl_seconds,
            ),
            used_at: None,
            dpop_jkt,
            successor_enc: None,
        };
        (token, row)
    }

    /// The refresh token a new grant gets, if the policy gives it one (bound to the request's
    /// DPoP key for public clients).
    pub fn initial_refresh_token(
        &self,
        app: &Application,
        grant: &Grant,
        scopes: &[String],
    ) -> Option<(String, RefreshToken)> {
        policy::issues_refresh_token(app, scopes).then(|| {
            let binding = policy::refresh_token_binding(app, self.dpop_jkt.as_deref());
            self.refresh_token(app, grant, scopes, binding)
        })
    }

    pub fn response(
        &self,
        access_token: String,
        audience: &Audience<'_>,
        refresh_token: Option<String>,
    ) -> TokenResponse {
        TokenResponse {
            access_token,
            token_type: if self.dpop_jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: self.access_token_ttl(audience),
            scope: audience.scopes.join(" "),
            refresh_token,
            id_token: None,
        }
    }

    /// An ID token (OIDC Core §2) for a grant whose scope includes `openid`, signed with the
    /// client's `id_token_signed_response_alg`; `None` without `openid` or without a user.
    pub async fn id_token(
        &self,
        app: &Application,
        grant: &Grant,
        scopes: &[String],
        nonce: Option<&str>,
        access_token: &str,
    ) -> Result<Option<String>, super::error::GrantError> {
        if !issues_id_token(scopes) {
            return Ok(None);
        }
        if grant.user_id.is_none() {
            return Ok(None);
        }
        // The grant cache makes this free on refresh.
        let Some(user) = store::oauth::active_grant_user(self.store, &grant.id).await? else {
            return Ok(None);
        };
        let alg = Alg::parse(&app.id_token_signed_response_alg).unwrap_or(Alg::RS256);
        let signer = self.keyring.signer(alg)?;
        let mut claims = serde_json::json!({
            "iss": self.config.issuer,
            "sub": user.id,
            "aud": app.client_id,
            "azp": app.client_id,
            "iat": self.now,
            "exp": self.now + self.config.id_token_ttl_seconds as i64,
            "auth_time": grant.auth_time,
            "at_hash": signer.at_hash(access_token),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(sid) = &grant.sid {
            claims["sid"] = sid.as_str().into();
        }
        // OIDC Core §2: how the user authenticated; `auth_time` above is its latest factor.
        let amr = Amr::parse(&grant.amr);
        if !amr.is_empty() {
            claims["amr"] = amr.claim().into();
            claims["acr"] = amr.acr().into();
        }
        if let Some(map) = claims.as_object_mut() {
            map.extend(crate::accounts::claims::user_claims(&user, scopes));
        }
        Ok(Some(signer.sign("JWT", &claims)?))
    }
}
