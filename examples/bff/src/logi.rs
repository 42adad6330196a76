//! The OpenID Connect side of the BFF: discovery, the authorization URL (code + PKCE S256), the
//! code exchange and refresh with the client secret (HTTP Basic), ID-token verification against
//! logi's JWKS, userinfo, revocation (RFC 7009) and the RP-initiated logout URL.

use std::{fmt, time::Duration};

use aws_lc_rs::{digest, rand};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use jsonwebtoken::{jwk::JwkSet, DecodingKey, Validation};
use reqwest::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

/// What the BFF asks for: an ID token with the email, and a refresh token.
const SCOPE: &str = "openid profile email offline_access";

/// The endpoints and algorithms logi announces at `/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
    pub id_token_signing_alg_values_supported: Vec<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

/// The ID-token claims the BFF uses (OpenID Connect Core §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(skip_serializing)]
    pub nonce: Option<String>,
    #[serde(skip_serializing)]
    pub azp: Option<String>,
}

#[derive(Debug)]
pub enum Error {
    /// logi answered with an OAuth error (RFC 6749 §5.2), e.g. `invalid_grant`.
    OAuth { error: String, description: String },
    /// Anything else: network, an unexpected answer, a token that does not verify.
    Other(String),
}

impl Error {
    fn other(e: impl fmt::Display) -> Self {
        Error::Other(e.to_string())
    }

    /// The refresh token is dead (used, revoked or expired): the session is over.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Error::OAuth { error, .. } if error == "invalid_grant")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OAuth { error, description } => write!(f, "{error}: {description}"),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error::other(e)
    }
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// logi as seen by one registered confidential application.
pub struct Logi {
    pub metadata: Metadata,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    http: reqwest::Client,
    /// logi's signing keys, fetched again when a token names an unknown `kid` (key rotation).
    jwks: RwLock<JwkSet>,
}

impl Logi {
    pub async fn discover(
        issuer: &str,
        client_id: String,
        client_secret: String,
        redirect_uri: String,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let url = format!("{issuer}/.well-known/openid-configuration");
        let metadata: Metadata = http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        // OpenID Connect Discovery §4.3: the document must name the issuer we asked.
        if metadata.issuer != issuer {
            return Err(Error::Other(format!(
                "discovery names issuer {} instead of {issuer}",
                metadata.issuer
            )));
        }
        let jwks = http
            .get(&metadata.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(Logi {
            metadata,
            client_id,
            client_secret,
            redirect_uri,
            http,
            jwks: RwLock::new(jwks),
        })
    }

    /// Where to send the browser to sign in.
    pub fn authorization_url(&self, state: &str, nonce: &str, code_verifier: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", SCOPE)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce_challenge(code_verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{}?{query}", self.metadata.authorization_endpoint)
    }

    pub async fn exchange_code(&self, code: &str, verifier: &str) -> Result<TokenResponse, Error> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// Every refresh returns a new refresh token: the one presented is dead from now on.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, Error> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, Error> {
        let response = self
            .http
            .post(&self.metadata.token_endpoint)
            .header(AUTHORIZATION, self.basic_auth())
            .form(form)
            .send()
            .await?;
        json_or_oauth_error(response).await
    }

    /// RFC 7009: revoking a refresh token ends its whole family at logi.
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), Error> {
        let response = self
            .http
            .post(&self.metadata.revocation_endpoint)
            .header(AUTHORIZATION, self.basic_auth())
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(oauth_error(response).await)
        }
    }

    pub async fn userinfo(&self, access_token: &str) -> Result<serde_json::Value, Error> {
        let response = self
            .http
            .get(&self.metadata.userinfo_endpoint)
            .bearer_auth(access_token)
            .send()
            .await?;
        json_or_oauth_error(response).await
    }

    /// Verifies an ID token: signature with a key of logi's JWKS, `iss`, `aud`, `exp`, and the
    /// `nonce` of the sign-in that asked for it (none is expected from a refresh).
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<IdClaims, Error> {
        let header = jsonwebtoken::decode_header(id_token).map_err(Error::other)?;
        let alg = serde_json::to_value(header.alg).map_err(Error::other)?;
        if !self
            .metadata
            .id_token_signing_alg_values_supported
            .iter()
            .any(|a| alg.as_str() == Some(a))
        {
            return Err(Error::Other(format!("ID token signed with {alg}")));
        }
        let kid = header
            .kid
            .ok_or_else(|| Error::Other("ID token without kid".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.metadata.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|e| Error::Other(format!("ID token rejected: {e}")))?
            .claims;
        if let Some(nonce) = expected_nonce {
            if claims.nonce.as_deref() != Some(nonce) {
                return Err(Error::Other("ID token nonce does not match".into()));
            }
        }
        if claims
            .azp
            .as_ref()
            .is_some_and(|azp| *azp != self.client_id)
        {
            return Err(Error::Other("ID token azp is another client".into()));
        }
        Ok(claims)
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, Error> {
        if let Some(jwk) = self.jwks.read().await.find(kid) {
            return DecodingKey::from_jwk(jwk).map_err(Error::other);
        }
        // An unknown key id: logi may have rotated its keys since we last looked.
        let fresh: JwkSet = self
            .http
            .get(&self.metadata.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let key = fresh.find(kid).map(DecodingKey::from_jwk);
        *self.jwks.write().await = fresh;
        match key {
            Some(key) => key.map_err(Error::other),
            None => Err(Error::Other(format!("no key {kid} in logi's JWKS"))),
        }
    }

    /// RP-initiated logout: the browser goes there to end its logi session too, and comes back
    /// to `post_logout_redirect_uri` (registered with the application).
    pub fn end_session_url(&self, id_token_hint: &str, post_logout_redirect_uri: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", id_token_hint)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .finish();
        format!("{}?{query}", self.metadata.end_session_endpoint)
    }

    /// `client_secret_basic` (RFC 6749 §2.3.1: both parts form-encoded before base64).
    fn basic_auth(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(&self.client_id), enc(&self.client_secret));
        format!("Basic {}", STANDARD.encode(pair))
    }
}

async fn json_or_oauth_error<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, Error> {
    if response.status().is_success() {
        Ok(response.json().await?)
    } else {
        Err(oauth_error(response).await)
    }
}

async fn oauth_error(response: reqwest::Response) -> Error {
    let status = response.status();
    match response.json::<OAuthErrorBody>().await {
        Ok(body) => Error::OAuth {
            error: body.error,
            description: body.error_description,
        },
        Err(_) => Error::Other(format!("logi answered {status}")),
    }
}

/// 256 random bits, base64url: state, nonce, PKCE verifier, session ids.
pub fn random_string() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes).expect("the system's random number generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(code_verifier))`.
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// A short, non-secret name for a token, to show which one is in use without showing it.
pub fn fingerprint(token: &str) -> String {
    let hash = digest::digest(&digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.as_ref()[..9])
}
