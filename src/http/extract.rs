//! Request parsing shared by the handlers: form and JSON bodies, cookies, the client IP.
//! Everything here fails with a 4xx, never a panic.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::ConnectInfo,
    http::{header, HeaderMap, StatusCode},
};

use crate::config::Config;

/// A parse failure with the status it deserves (400, 413, 415).
#[derive(Debug)]
pub struct BadInput {
    pub status: StatusCode,
    pub description: String,
}

impl BadInput {
    fn new(status: StatusCode, description: impl Into<String>) -> Self {
        BadInput {
            status,
            description: description.into(),
        }
    }
}

pub use crate::oauth::params::{Params, ParamsError};

impl From<ParamsError> for BadInput {
    fn from(e: ParamsError) -> Self {
        BadInput::new(StatusCode::BAD_REQUEST, e.0)
    }
}

/// A form body: requires the form content type.
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, BadInput> {
    if !content_type_is(headers, "application/x-www-form-urlencoded") {
        return Err(BadInput::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/x-www-form-urlencoded",
        ));
    }
    Ok(Params::parse(body)?)
}

/// The fields of an HTML form: requires the form content type; a textarea's line breaks are
/// kept, other control characters refused ([`Params::parse_form_fields`]).
pub fn form_fields(headers: &HeaderMap, body: &[u8]) -> Result<Params, BadInput> {
    if !content_type_is(headers, "application/x-www-form-urlencoded") {
        return Err(BadInput::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/x-www-form-urlencoded",
        ));
    }
    Ok(Params::parse_form_fields(body)?)
}

/// Parses a JSON body into a `serde_json::Value`; turning it into a type is the caller's step,
/// so that type errors can carry the caller's error code. A string (or member name) holding NUL
/// or another control character other than tab and line breaks is refused: such text would
/// reach the database (PostgreSQL cannot store NUL).
pub fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, BadInput> {
    if !content_type_is(headers, "application/json") {
        return Err(BadInput::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| BadInput::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))?;
    if json_has_control_characters(&value) {
        return Err(BadInput::new(
            StatusCode::BAD_REQUEST,
            "a string contains a control character",
        ));
    }
    Ok(value)
}

fn json_has_control_characters(value: &serde_json::Value) -> bool {
    use crate::oauth::params::has_control_characters;
    match value {
        serde_json::Value::String(s) => has_control_characters(s),
        serde_json::Value::Array(items) => items.iter().any(json_has_control_characters),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| has_control_characters(k) || json_has_control_characters(v)),
        _ => false,
    }
}

/// A percent-decoded path segment (`{id}`) holding a control character: refused like any
/// other text that would reach the database.
pub fn path_text(segment: &str) -> Result<&str, BadInput> {
    if crate::oauth::params::has_control_characters(segment) {
        return Err(BadInput::new(
            StatusCode::BAD_REQUEST,
            "the path contains a control character",
        ));
    }
    Ok(segment)
}

fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// The value of cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
}

/// The client address used for throttling: the TCP peer; behind reverse proxies (with
/// `client_ip_header` set and the peer in `trusted_proxies`), the right-most address of the
/// header that is not a trusted proxy. Addresses to the left of it were written by the client
/// (or by hops nobody vouches for) and are never believed.
pub struct ClientIp(pub String);

impl axum::extract::FromRequestParts<super::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &super::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientIp(client_ip(&state.config, &parts.headers, peer)))
    }
}

fn client_ip(config: &Config, headers: &HeaderMap, peer: Option<IpAddr>) -> String {
    let Some(peer) = peer.map(|p| p.to_canonical()) else {
        return "unknown".into();
    };
    if config.client_ip_header.is_empty() || !config.is_trusted_proxy(peer) {
        return peer.to_string();
    }
    // Every occurrence of the header, in order, as one list (RFC 9110 §5.3).
    let hops: Vec<&str> = headers
        .get_all(config.client_ip_header.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    // Walk from the right while the hops are trusted proxies; the first other address is the
    // client. Something that is not an address ends the walk: the last trusted hop is used.
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            break;
        };
        client = ip;
        if !config.is_trusted_proxy(ip) {
            break;
        }
    }
    client.to_string()
}

/// The `Bearer` credential of an `Authorization` header (RFC 6750 §2.1).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests;
