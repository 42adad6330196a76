//! What a registered OAuth client *is*: its type (RFC 6749 §2.1) and how it authenticates
//! (RFC 7591 `token_endpoint_auth_method`), as data. The rules that decide what each kind may do
//! live in [`crate::oauth::policy`]; this leaf module only names the kinds, so that the store can
//! load them without depending on the protocol.
//!
//! [`ClientAuth`] carries only the data valid for its kind: a public client has no secret by
//! construction, and a secret-holding client always has one.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Cannot keep a secret (SPA without a backend, mobile app, CLI). RFC 6749 §2.1.
    Public,
    /// Has a backend that keeps a secret.
    Confidential,
}

impl ClientType {
    pub fn parse(s: &str) -> Option<ClientType> {
        match s {
            "public" => Some(ClientType::Public),
            "confidential" => Some(ClientType::Confidential),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }
}

/// `token_endpoint_auth_method` (RFC 7591 §2), as registered and advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 §2.2 / OIDC Core §9: a JWT signed with one of the client's registered keys.
    PrivateKeyJwt,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ];

    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "none" => Some(AuthMethod::None),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// Where a secret-holding client presents its secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretMethod {
    /// `client_secret_basic`: the `Authorization: Basic` header (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_post`: `client_secret` in the form body.
    Post,
}

impl SecretMethod {
    pub fn auth_method(self) -> AuthMethod {
        match self {
            SecretMethod::Basic => AuthMethod::ClientSecretBasic,
            SecretMethod::Post => AuthMethod::ClientSecretPost,
        }
    }
}

/// What a key-based client stores in `secret_hash`: the schema (migration 0002) requires a
/// non-NULL value for every confidential client, and this one is no HMAC output (those are 43
/// base64url characters), so no secret ever matches it. It never leaves the store.
pub const NO_SECRET_MARKER: &str = "-";

/// Where a `private_key_jwt` client's public keys are: exactly one of `jwks` and `jwks_uri`
/// (RFC 7591 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKeys {
    /// A JWK Set registered inline (JSON text).
    Inline(String),
    /// The URL of the client's JWK Set, fetched and cached by logi.
    Uri(String),
}

/// How a registered client authenticates, with exactly the data its kind needs.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: it identifies with `client_id` alone and has no secret.
    Public,
    /// A confidential client with a shared secret, of which logi keeps only an HMAC.
    Secret { method: SecretMethod, hash: String },
    /// A confidential client that signs assertions with its own keys (`private_key_jwt`): logi
    /// keeps its public JWK Set, or where to fetch it, and no secret.
    PrivateKeyJwt { keys: ClientKeys },
}

impl std::fmt::Debug for ClientAuth {
    // The hash is not a secret, but it has no business in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Public => f.write_str("Public"),
            ClientAuth::Secret { method, .. } => write!(f, "Secret({method:?})"),
            ClientAuth::PrivateKeyJwt { .. } => f.write_str("PrivateKeyJwt"),
        }
    }
}

impl ClientAuth {
    pub fn client_type(&self) -> ClientType {
        match self {
            ClientAuth::Public => ClientType::Public,
            ClientAuth::Secret { .. } | ClientAuth::PrivateKeyJwt { .. } => {
                ClientType::Confidential
            }
        }
    }

    pub fn method(&self) -> AuthMethod {
        match self {
            ClientAuth::Public => AuthMethod::None,
            ClientAuth::Secret { method, .. } => method.auth_method(),
            ClientAuth::PrivateKeyJwt { .. } => AuthMethod::PrivateKeyJwt,
        }
    }

    pub fn secret_hash(&self) -> Option<&str> {
        match self {
            ClientAuth::Secret { hash, .. } => Some(hash),
            ClientAuth::Public | ClientAuth::PrivateKeyJwt { .. } => None,
        }
    }

    /// The JWK Set a `private_key_jwt` client registered inline.
    pub fn jwks(&self) -> Option<&str> {
        match self {
            ClientAuth::PrivateKeyJwt {
                keys: ClientKeys::Inline(jwks),
            } => Some(jwks),
            _ => None,
        }
    }

    /// The `jwks_uri` of a `private_key_jwt` client that registered one.
    pub fn jwks_uri(&self) -> Option<&str> {
        match self {
            ClientAuth::PrivateKeyJwt {
                keys: ClientKeys::Uri(uri),
            } => Some(uri),
            _ => None,
        }
    }

    /// The `secret_hash` column: the HMAC of a secret client, the marker for a key-based one.
    pub fn secret_hash_column(&self) -> Option<&str> {
        match self {
            ClientAuth::PrivateKeyJwt { .. } => Some(NO_SECRET_MARKER),
            other => other.secret_hash(),
        }
    }

    /// Rebuilds the value from its stored columns; `None` when they contradict each other (a
    /// public client with a secret, a confidential one without, keys beside a secret, both or
    /// neither of `jwks` and `jwks_uri` for a key-based client, an unknown name).
    pub fn from_columns(
        client_type: &str,
        method: &str,
        secret_hash: Option<String>,
        jwks: Option<String>,
        jwks_uri: Option<String>,
    ) -> Option<ClientAuth> {
        let keys = match (jwks, jwks_uri) {
            (None, None) => None,
            (Some(jwks), None) => Some(ClientKeys::Inline(jwks)),
            (None, Some(uri)) => Some(ClientKeys::Uri(uri)),
            (Some(_), Some(_)) => return None,
        };
        let no_keys = keys.is_none();
        match (
            ClientType::parse(client_type)?,
            AuthMethod::parse(method)?,
            secret_hash,
        ) {
            (ClientType::Public, AuthMethod::None, None) if no_keys => Some(ClientAuth::Public),
            (ClientType::Confidential, AuthMethod::PrivateKeyJwt, Some(marker))
                if marker == NO_SECRET_MARKER =>
            {
                keys.map(|keys| ClientAuth::PrivateKeyJwt { keys })
            }
            (ClientType::Confidential, AuthMethod::ClientSecretBasic, Some(hash)) if no_keys => {
                Some(ClientAuth::Secret {
                    method: SecretMethod::Basic,
                    hash,
                })
            }
            (ClientType::Confidential, AuthMethod::ClientSecretPost, Some(hash)) if no_keys => {
                Some(ClientAuth::Secret {
                    method: SecretMethod::Post,
                    hash,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_columns_round_trip_and_contradictions_are_refused() {
        let secret = |m| ClientAuth::Secret {
            method: m,
            hash: "h".into(),
        };
        let cases: &[(&str, &str, Option<&str>, Option<ClientAuth>)] = &[
            ("public", "none", None, Some(ClientAuth::Public)),
            (
                "confidential",
                "client_secret_basic",
                Some("h"),
                Some(secret(SecretMethod::Basic)),
            ),
            (
                "confidential",
                "client_secret_post",
                Some("h"),
                Some(secret(SecretMethod::Post)),
            ),
            // A public client with a secret cannot be loaded.
            ("public", "none", Some("h"), None),
            ("public", "client_secret_basic", Some("h"), None),
            // A confidential client without one either.
            ("confidential", "client_secret_basic", None, None),
            ("confidential", "none", None, None),
            ("confidential", "none", Some("h"), None),
            ("other", "none", None, None),
            ("public", "private_key_jwt", None, None),
        ];
        for (t, m, h, expected) in cases {
            let got = ClientAuth::from_columns(t, m, h.map(String::from), None, None);
            assert_eq!(&got, expected, "{t} {m} {h:?}");
            if let Some(auth) = got {
                assert_eq!(auth.client_type().as_str(), *t);
                assert_eq!(auth.method().as_str(), *m);
                assert_eq!(auth.secret_hash(), *h);
            }
        }
    }

    #[test]
    fn a_key_based_client_has_keys_and_no_secret() {
        let jwks = Some(r#"{"keys":[]}"#.to_string());
        let marker = Some(NO_SECRET_MARKER.to_string());
        let auth = ClientAuth::from_columns(
            "confidential",
            "private_key_jwt",
            marker.clone(),
            jwks.clone(),
            None,
        );
        assert_eq!(
            auth,
            Some(ClientAuth::PrivateKeyJwt {
                keys: ClientKeys::Inline(r#"{"keys":[]}"#.into())
            })
        );
        let auth = auth.unwrap();
        assert_eq!(auth.client_type(), ClientType::Confidential);
        assert_eq!(auth.secret_hash(), None);
        assert_eq!(auth.secret_hash_column(), Some(NO_SECRET_MARKER));
        // Keys without the method, the method without keys, or keys beside a secret: refused.
        assert_eq!(
            ClientAuth::from_columns(
                "confidential",
                "private_key_jwt",
                marker.clone(),
                None,
                None
            ),
            None
        );
        assert_eq!(
            ClientAuth::from_columns(
                "confidential",
                "private_key_jwt",
                Some("h".into()),
                jwks.clone(),
                None
            ),
            None
        );
        assert_eq!(
            ClientAuth::from_columns(
                "confidential",
                "client_secret_basic",
                Some("h".into()),
                jwks.clone(),
                None
            ),
            None
        );
        assert_eq!(
            ClientAuth::from_columns("public", "none", None, jwks.clone(), None),
            None
        );
        // A URI instead of inline keys; never both, and never on another kind of client.
        let uri = Some("https://rp.example/jwks".to_string());
        let by_uri = ClientAuth::from_columns(
            "confidential",
            "private_key_jwt",
            marker.clone(),
            None,
            uri.clone(),
        )
        .unwrap();
        assert_eq!(by_uri.jwks_uri(), uri.as_deref());
        assert_eq!(by_uri.jwks(), None);
        assert_eq!(
            ClientAuth::from_columns("confidential", "private_key_jwt", marker, jwks, uri.clone()),
            None
        );
        assert_eq!(
            ClientAuth::from_columns("public", "none", None, None, uri.clone()),
            None
        );
        assert_eq!(
            ClientAuth::from_columns(
                "confidential",
                "client_secret_post",
                Some("h".into()),
                None,
                uri
            ),
            None
        );
    }

    #[test]
    fn names_parse_back() {
        for m in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        for t in [ClientType::Public, ClientType::Confidential] {
            assert_eq!(ClientType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ClientType::parse("Public"), None);
    }
}
