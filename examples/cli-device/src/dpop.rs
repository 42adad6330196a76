//! DPoP (RFC 9449): a P-256 key that only this CLI holds, and the proofs it signs for each
//! request. logi binds the access token (`cnf.jkt`) and, for a public client, the refresh token
//! to this key: a copied token is useless without it.

use std::{
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    digest, rand,
    signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{jwk::Jwk, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::Error;

pub struct DpopKey {
    pkcs8: Vec<u8>,
    public_jwk: Jwk,
    /// The last `DPoP-Nonce` logi sent: later proofs carry it (RFC 9449 §8).
    nonce: Mutex<Option<String>>,
}

impl DpopKey {
    pub fn generate() -> Result<Self, Error> {
        let rng = rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "could not generate a key")?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, Error> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|e| format!("stored DPoP key: {e}"))?;
        // An uncompressed P-256 point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = pair.public_key().as_ref();
        let public_jwk = serde_json::from_value(json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }))?;
        Ok(DpopKey {
            pkcs8: pkcs8.to_vec(),
            public_jwk,
            nonce: Mutex::new(None),
        })
    }

    /// The private key as PKCS#8, to store beside the refresh token it is bound to.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A proof for one request: `htm`/`htu` name it, `ath` the access token it carries.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.public_jwk.clone());
        let iat = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let mut jti = [0u8; 16];
        rand::fill(&mut jti).map_err(|_| "no randomness")?;
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": url,
            "iat": iat,
        });
        if let Some(token) = access_token {
            let hash = digest::digest(&digest::SHA256, token.as_bytes());
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(hash));
        }
        if let Some(nonce) = self.nonce.lock().expect("lock").clone() {
            claims["nonce"] = json!(nonce);
        }
        Ok(jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(&self.pkcs8),
        )?)
    }

    /// Keeps the nonce of a response; `true` when it is a new one (worth a retry after a
    /// `use_dpop_nonce` error).
    pub fn remember_nonce(&self, response: &reqwest::Response) -> bool {
        let Some(nonce) = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let mut current = self.nonce.lock().expect("lock");
        let fresh = current.as_deref() != Some(nonce);
        *current = Some(nonce.to_string());
        fresh
    }
}
