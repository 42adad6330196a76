//! Offline validation of logi's access tokens (RFC 9068 JWTs) against logi's JWKS: `typ`,
//! algorithm, signature, `iss`, `aud`, `exp`, and the scope the API requires. Nothing is asked
//! of logi per request; the JWKS is fetched at start and again for an unknown `kid` (logi
//! publishes a new key before it signs with it, so a rotation is seen in time).

use std::time::{Duration, Instant};

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::problem::Problem;

/// RFC 9068 §2.2 (the claims this API uses).
#[derive(Debug, Clone, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub client_id: String,
    #[serde(default)]
    pub scope: String,
    pub jti: String,
    /// RFC 9449 §6.1: the DPoP key the token is bound to.
    pub cnf: Option<Confirmation>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl AccessClaims {
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}

/// How long to wait before fetching the JWKS again for an unknown `kid` (a flood of tokens
/// with made-up key ids must not become a flood of requests to logi).
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Algorithms logi signs access tokens with; never `none`, never `HS*`.
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

pub struct Validator {
    issuer: String,
    /// This API's identifier: the `aud` its tokens must carry.
    audience: String,
    jwks_uri: String,
    http: reqwest::Client,
    jwks: RwLock<(JwkSet, Instant)>,
}

impl Validator {
    pub async fn new(
        http: reqwest::Client,
        issuer: String,
        audience: String,
        jwks_uri: String,
    ) -> Result<Self, reqwest::Error> {
        let jwks = fetch(&http, &jwks_uri).await?;
        Ok(Validator {
            issuer,
            audience,
            jwks_uri,
            http,
            jwks: RwLock::new((jwks, Instant::now())),
        })
    }

    pub async fn validate(&self, token: &str) -> Result<AccessClaims, Problem> {
        let invalid = |d: &str| Problem::invalid_token(d);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("not a JWT"))?;
        // RFC 9068 §4: the type tells an access token from an ID token or anything else
        // logi signs with the same keys.
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(invalid("not an access token (typ)"));
        }
        if !ALGORITHMS.contains(&header.alg) {
            return Err(invalid("algorithm not accepted"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no kid"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| invalid(&format!("token rejected: {e}")))
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, Problem> {
        let unusable = |_| Problem::invalid_token("unusable key");
        {
            let jwks = self.jwks.read().await;
            if let Some(jwk) = jwks.0.find(kid) {
                return DecodingKey::from_jwk(jwk).map_err(unusable);
            }
            if jwks.1.elapsed() < JWKS_REFETCH_INTERVAL {
                return Err(Problem::invalid_token("unknown key"));
            }
        }
        let mut jwks = self.jwks.write().await;
        if jwks.1.elapsed() >= JWKS_REFETCH_INTERVAL {
            let fresh = fetch(&self.http, &self.jwks_uri)
                .await
                .map_err(|_| Problem::unavailable("logi's JWKS could not be fetched"))?;
            *jwks = (fresh, Instant::now());
        }
        match jwks.0.find(kid) {
            Some(jwk) => DecodingKey::from_jwk(jwk).map_err(unusable),
            None => Err(Problem::invalid_token("unknown key")),
        }
    }
}

async fn fetch(http: &reqwest::Client, uri: &str) -> Result<JwkSet, reqwest::Error> {
    http.get(uri).send().await?.error_for_status()?.json().await
}
