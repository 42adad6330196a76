//! Discovery metadata (OIDC Discovery 1.0, RFC 8414), built from the same constants the
//! endpoints enforce, so it cannot advertise what logi does not do.

use serde_json::{json, Value};

use crate::{
    accounts::amr,
    config::Config,
    keys::Alg,
    oauth::{authorize, dpop, grants, pkce, policy::AuthMethod, scope},
};

pub fn document(config: &Config) -> Value {
    let url = |path: &str| format!("{}{}", config.issuer, path);
    json!({
        "issuer": config.issuer,
        "authorization_endpoint": url("/oauth/authorize"),
        "token_endpoint": url("/oauth/token"),
        "userinfo_endpoint": url("/oauth/userinfo"),
        "jwks_uri": url("/oauth/jwks"),
        "end_session_endpoint": url("/oauth/logout"),
        "revocation_endpoint": url("/oauth/revoke"),
        "introspection_endpoint": url("/oauth/introspect"),
        "device_authorization_endpoint": url("/oauth/device_authorization"),
        "pushed_authorization_request_endpoint": url("/oauth/par"),
        // Per client (`require_pushed_authorization_requests`), not for every client.
        "require_pushed_authorization_requests": false,
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": authorize::RESPONSE_TYPES,
        "response_modes_supported": ["query"],
        "grant_types_supported": grants::SUPPORTED,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": Alg::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_methods_supported": AuthMethod::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "revocation_endpoint_auth_methods_supported": AuthMethod::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        // Introspection needs a client secret: public clients (`none`) cannot call it.
        "introspection_endpoint_auth_methods_supported": [AuthMethod::ClientSecretBasic.as_str(), AuthMethod::ClientSecretPost.as_str(), AuthMethod::PrivateKeyJwt.as_str()],
        "token_endpoint_auth_signing_alg_values_supported": crate::oauth::client_assertion::alg_names(),
        "revocation_endpoint_auth_signing_alg_values_supported": crate::oauth::client_assertion::alg_names(),
        "introspection_endpoint_auth_signing_alg_values_supported": crate::oauth::client_assertion::alg_names(),
        "code_challenge_methods_supported": pkce::METHODS,
        "dpop_signing_alg_values_supported": dpop::ALGS,
        "claims_supported": crate::oidc::CLAIMS_SUPPORTED,
        // `acr_values=urn:logi:acr:mfa` demands the second step (SPEC "End users").
        "acr_values_supported": amr::ACR_VALUES,
        // The `claims` request parameter is ignored (allowed by OIDC Core §5.5).
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        // OIDC Back-Channel Logout 1.0 §2.1: logout tokens by POST, always with `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "prompt_values_supported": authorize::PROMPT_VALUES,
        "userinfo_signing_alg_values_supported": [],
        "ui_locales_supported": ["en"],
    })
}
