//! The few OpenID Connect pieces a public native client needs: discovery, PKCE, the code
//! exchange (no secret: `client_id` and the PKCE verifier prove it is the same app), ID-token
//! verification against logi's JWKS, and userinfo.

use std::time::Duration;

use aws_lc_rs::{digest, rand};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{jwk::JwkSet, DecodingKey, Validation};
use serde::Deserialize;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub id_token_signing_alg_values_supported: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub nonce: Option<String>,
}

pub struct Client {
    pub metadata: Metadata,
    pub client_id: String,
    http: reqwest::Client,
}

impl Client {
    pub async fn discover(issuer: &str, client_id: String) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let metadata: Metadata = http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if metadata.issuer != issuer {
            return Err(format!("discovery names issuer {}", metadata.issuer).into());
        }
        Ok(Client {
            metadata,
            client_id,
            http,
        })
    }

    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_verifier: &str,
    ) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce_challenge(code_verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{}?{query}", self.metadata.authorization_endpoint)
    }

    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, Error> {
        let response = self
            .http
            .post(&self.metadata.token_endpoint)
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", &self.client_id),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("token endpoint: {}", response.text().await?).into());
        }
        Ok(response.json().await?)
    }

    /// Signature (a key of logi's JWKS, an algorithm logi announces), `iss`, `aud`, `exp`, and
    /// the `nonce` this sign-in sent.
    pub async fn verify_id_token(&self, id_token: &str, nonce: &str) -> Result<IdClaims, Error> {
        let header = jsonwebtoken::decode_header(id_token)?;
        let alg = serde_json::to_value(header.alg)?;
        if !self
            .metadata
            .id_token_signing_alg_values_supported
            .iter()
            .any(|a| alg.as_str() == Some(a))
        {
            return Err(format!("ID token signed with {alg}").into());
        }
        let jwks: JwkSet = self
            .http
            .get(&self.metadata.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let kid = header.kid.ok_or("ID token without kid")?;
        let jwk = jwks
            .find(&kid)
            .ok_or("ID token signed with an unknown key")?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.metadata.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims =
            jsonwebtoken::decode::<IdClaims>(id_token, &DecodingKey::from_jwk(jwk)?, &validation)?
                .claims;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err("ID token nonce does not match".into());
        }
        Ok(claims)
    }

    pub async fn userinfo(&self, access_token: &str) -> Result<serde_json::Value, Error> {
        Ok(self
            .http
            .get(&self.metadata.userinfo_endpoint)
            .bearer_auth(access_token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

/// 256 random bits, base64url.
pub fn random_string() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes).expect("the system's random number generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(code_verifier))`.
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}
