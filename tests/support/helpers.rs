//! Helpers shared by the integration tests (`tests/it`) and the load benchmark
//! (`benches/load`), both of which include this file with `#[path]`. Plain functions over
//! strings: nothing here starts a server or reads the time.
#![allow(dead_code)]

/// The `value` of the form input named `name` in an HTML page (minijinja's escaping undone for
/// the characters random tokens and URLs contain).
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#x3d;", "="),
    )
}

/// `postgres://host/db?x` → `postgres://host/{name}?x`: the same server, another database.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map(|(h, q)| (h, format!("?{q}")))
        .unwrap_or((url, String::new()));
    let base = match head.rsplit_once('/') {
        Some((b, _)) if b.contains("//") && !b.ends_with('/') => b.to_string(),
        _ => head.trim_end_matches('/').to_string(),
    };
    format!("{base}/{name}{query}")
}

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};

/// A client key that signs compact JWS by hand (ES256 or EdDSA).
pub enum ClientKey {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl ClientKey {
    pub fn es256() -> ClientKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        ClientKey::Es256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap(),
        )
    }

    pub fn ed25519() -> ClientKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        ClientKey::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            ClientKey::Es256(_) => "ES256",
            ClientKey::Ed25519(_) => "EdDSA",
        }
    }

    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            ClientKey::Es256(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                       "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
            }
            ClientKey::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA",
                       "x": URL_SAFE_NO_PAD.encode(k.public_key().as_ref())})
            }
        }
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            ClientKey::Es256(k) => k
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            ClientKey::Ed25519(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}
