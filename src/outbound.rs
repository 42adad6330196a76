//! Outbound HTTP: the one client logi uses to call out, for a `private_key_jwt` client's
//! `jwks_uri` and for back-channel logout deliveries.
//!
//! Every URL it is given was registered by a developer, so it is treated as hostile:
//! - redirects are never followed (a 3xx is a failure like any other non-2xx answer);
//! - the connection and the whole exchange (body included) have time limits
//!   (`outbound_connect_timeout_ms`, `outbound_timeout_ms`);
//! - a response body is read chunk by chunk and abandoned past a size cap, so a peer that sends
//!   an endless body costs at most that many bytes;
//! - no proxy from the environment: logi calls the registered host directly;
//! - TLS is rustls over aws-lc-rs, the one crypto library (the provider is named explicitly, so
//!   no other provider can be picked up), with the Mozilla root set (`webpki-roots`).
//!
//! Errors say what happened in a few words (timeout, connection refused, HTTP 500, too large),
//! never what the peer sent, so they can be shown to the developer who registered the URL.

use std::{sync::Arc, time::Duration};

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("timed out")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    #[error("request failed")]
    Other,
}

/// The outbound client; cheap to clone (one connection pool inside).
#[derive(Clone, Debug)]
pub struct Outbound {
    client: reqwest::Client,
}

impl Outbound {
    pub fn new(config: &Config) -> Result<Outbound, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_millis(config.outbound_connect_timeout_ms))
            .timeout(Duration::from_millis(config.outbound_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("logi/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("outbound HTTP client: {e}"))?;
        Ok(Outbound { client })
    }

    /// `GET url` accepting `accept`; the body of a 2xx answer, at most `max_bytes` long.
    pub async fn get(
        &self,
        url: &str,
        accept: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, OutboundError> {
        let response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(OutboundError::Status(status.as_u16()));
        }
        read_capped(response, max_bytes).await
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body; `Ok` on a 2xx answer (whose
    /// body is read, at most `max_bytes`, and dropped).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        max_bytes: usize,
    ) -> Result<(), OutboundError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(OutboundError::Status(status.as_u16()));
        }
        read_capped(response, max_bytes).await.map(|_| ())
    }
}

/// Reads the body chunk by chunk, giving up as soon as it exceeds `max_bytes` (a declared
/// `Content-Length` above it is refused before reading anything).
async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, OutboundError> {
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(OutboundError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(OutboundError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        OutboundError::Timeout
    } else if e.is_connect() {
        OutboundError::Connect
    } else {
        OutboundError::Other
    }
}
