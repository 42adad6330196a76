//! JWS compact serialization with cached aws-lc-rs keys.
//!
//! jsonwebtoken re-parses the private key from DER on every `encode` call (costly for RSA and
//! measurable for ECDSA on the token hot path), so signing is done here with key objects parsed
//! once; jsonwebtoken is used for verification.

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    },
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{jwk::Jwk, DecodingKey};
use serde::Serialize;
use serde_json::{json, Value};

use super::KeyError;
use crate::crypto::random_token;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::RS256 => jsonwebtoken::Algorithm::RS256,
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A signing key ready to use, with its public half for verification.
pub struct Signer {
    pub kid: String,
    pub alg: Alg,
    key: PrivateKey,
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}, {})", self.kid, self.alg.as_str())
    }
}

/// A new key: (kid, PKCS#8 document, public JWK).
pub fn generate(alg: Alg) -> Result<(String, Vec<u8>, Value), KeyError> {
    let kid = random_token(12);
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let rng = SystemRandom::new();
    match alg {
        Alg::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                .map_err(|_| KeyError::Generate)?;
            let public = pair.public_key();
            let jwk = json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero())});
            Ok((kid, der.as_ref().to_vec(), jwk))
        }
        Alg::ES256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Generate)?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .map_err(|_| KeyError::Generate)?;
            let point = pair.public_key().as_ref(); // 0x04 || X || Y
            if point.len() != 65 {
                return Err(KeyError::Generate);
            }
            let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..65])});
            Ok((kid, pkcs8.as_ref().to_vec(), jwk))
        }
        Alg::EdDSA => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?;
            let pair =
                Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Generate)?;
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                "x": b64(pair.public_key().as_ref())});
            Ok((kid, pkcs8.as_ref().to_vec(), jwk))
        }
    }
}

impl Signer {
    pub fn from_pkcs8(kid: String, alg: Alg, der: &[u8], public_jwk: Value) -> Option<Signer> {
        let key = match alg {
            Alg::RS256 => PrivateKey::Rsa(RsaKeyPair::from_pkcs8(der).ok()?),
            Alg::ES256 => PrivateKey::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).ok()?,
            ),
            Alg::EdDSA => PrivateKey::Ed(Ed25519KeyPair::from_pkcs8(der).ok()?),
        };
        let jwk: Jwk = serde_json::from_value(public_jwk).ok()?;
        let decoding = DecodingKey::from_jwk(&jwk).ok()?;
        Some(Signer {
            kid,
            alg,
            key,
            decoding,
        })
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ, kid}`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let header = json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.kid});
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let mut out = String::with_capacity(512);
        URL_SAFE_NO_PAD.encode_string(header.to_string().as_bytes(), &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let signature = self.raw_sign(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
        Ok(out)
    }

    fn raw_sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.key {
            PrivateKey::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            PrivateKey::Ec(pair) => Ok(pair
                .sign(&SystemRandom::new(), msg)
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec()),
            PrivateKey::Ed(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }

    /// Left half of the hash of an access token (OIDC Core §3.1.3.6 `at_hash`): SHA-256 for
    /// RS256 and ES256, SHA-512 for EdDSA with Ed25519 (as the OpenID Foundation's suite expects).
    pub fn at_hash(&self, access_token: &str) -> String {
        use sha2::Digest;
        let digest: Vec<u8> = match self.alg {
            Alg::RS256 | Alg::ES256 => sha2::Sha256::digest(access_token.as_bytes()).to_vec(),
            Alg::EdDSA => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
        };
        URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
    }
}
