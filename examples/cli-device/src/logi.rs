//! logi for a public CLI: the device authorization grant (RFC 8628), refresh, userinfo and
//! revocation, every token request carrying a DPoP proof.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::{dpop::DpopKey, Error};

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub device_authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub revocation_endpoint: String,
}

/// RFC 8628 §3.2.
#[derive(Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

#[derive(Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub refresh_token: Option<String>,
}

/// An answer of the token endpoint: the tokens, or the OAuth error code.
pub enum TokenAnswer {
    Tokens(Tokens),
    Error(String, String),
}

pub struct Logi {
    pub metadata: Metadata,
    pub client_id: String,
    pub dpop: DpopKey,
    http: reqwest::Client,
}

impl Logi {
    pub async fn discover(issuer: &str, client_id: String, dpop: DpopKey) -> Result<Self, Error> {
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
        Ok(Logi {
            metadata,
            client_id,
            dpop,
            http,
        })
    }

    pub async fn start_device_flow(&self, scope: &str) -> Result<DeviceAuthorization, Error> {
        let response = self
            .http
            .post(&self.metadata.device_authorization_endpoint)
            .form(&[("client_id", self.client_id.as_str()), ("scope", scope)])
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("device authorization: {}", response.text().await?).into());
        }
        Ok(response.json().await?)
    }

    /// Polls until the user allows or denies, or the code expires (RFC 8628 §3.4, §3.5).
    pub async fn poll(&self, device: &DeviceAuthorization) -> Result<Tokens, Error> {
        let mut interval = device.interval.max(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(device.expires_in);
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            if tokio::time::Instant::now() > deadline {
                return Err("the code expired before access was allowed".into());
            }
            let answer = self
                .token_request(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", &device.device_code),
                    ("client_id", &self.client_id),
                ])
                .await?;
            match answer {
                TokenAnswer::Tokens(tokens) => return Ok(tokens),
                TokenAnswer::Error(error, _) if error == "authorization_pending" => {}
                TokenAnswer::Error(error, _) if error == "slow_down" => interval += 5,
                TokenAnswer::Error(error, description) => {
                    return Err(format!("{error}: {description}").into())
                }
            }
        }
    }

    /// Rotates the refresh token: the answer holds the new one, the old one is dead.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Error> {
        let answer = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", &self.client_id),
            ])
            .await?;
        match answer {
            TokenAnswer::Tokens(tokens) => Ok(tokens),
            TokenAnswer::Error(error, description) => Err(format!(
                "refresh refused ({error}: {description}); sign in again with `login`"
            )
            .into()),
        }
    }

    /// A token request with a DPoP proof, sent again once with logi's nonce if it asks for one.
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, Error> {
        let url = &self.metadata.token_endpoint;
        let mut retried = false;
        loop {
            let response = self
                .http
                .post(url)
                .header("DPoP", self.dpop.proof("POST", url, None)?)
                .form(form)
                .send()
                .await?;
            let new_nonce = self.dpop.remember_nonce(&response);
            if response.status().is_success() {
                return Ok(TokenAnswer::Tokens(response.json().await?));
            }
            let body: Value = response.json().await.unwrap_or_default();
            let error = body["error"].as_str().unwrap_or("server_error").to_string();
            if error == "use_dpop_nonce" && new_nonce && !retried {
                retried = true;
                continue;
            }
            let description = body["error_description"].as_str().unwrap_or_default();
            return Ok(TokenAnswer::Error(error, description.to_string()));
        }
    }

    /// `Authorization: DPoP <token>` with a proof naming the token (`ath`).
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, Error> {
        let url = &self.metadata.userinfo_endpoint;
        let mut retried = false;
        loop {
            let response = self
                .http
                .get(url)
                .header("Authorization", format!("DPoP {access_token}"))
                .header("DPoP", self.dpop.proof("GET", url, Some(access_token))?)
                .send()
                .await?;
            let new_nonce = self.dpop.remember_nonce(&response);
            if response.status() == StatusCode::UNAUTHORIZED && new_nonce && !retried {
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if challenge.contains("use_dpop_nonce") {
                    retried = true;
                    continue;
                }
            }
            return Ok(response.error_for_status()?.json().await?);
        }
    }

    /// RFC 7009: a public client names itself with `client_id`; the whole family ends.
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), Error> {
        let response = self
            .http
            .post(&self.metadata.revocation_endpoint)
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", &self.client_id),
            ])
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("revocation: {}", response.text().await?).into());
        }
        Ok(())
    }
}
