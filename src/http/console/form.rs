//! The console's application form: what the developer typed (kept as typed when it is refused),
//! and its translation into the developer API's [`MetadataInput`], so the console and the JSON
//! API share one registration and one PATCH path (`developer::applications`).

use serde::Serialize;

use super::super::extract::Params;
use crate::{
    developer::applications::{MetadataInput, MAX_REFRESH_TOKEN_REUSE_INTERVAL},
    keys::Alg,
    oauth::policy::{self, MetadataError},
    store::applications::Application,
};

/// A grant type as a checkbox: its value, a plain-language label and a help text.
#[derive(Serialize)]
pub struct GrantChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub help: &'static str,
}

pub const GRANTS: [GrantChoice; 4] = [
    GrantChoice {
        value: policy::GRANT_AUTHORIZATION_CODE,
        label: "Sign in with a browser redirect (authorization code)",
        help: "People sign in on logi and are sent back to your redirect URI. Web apps, SPAs, \
               mobile and desktop apps.",
    },
    GrantChoice {
        value: policy::GRANT_REFRESH_TOKEN,
        label: "Stay signed in (refresh tokens)",
        help: "Renews access without asking again. Needs one of the sign-in grants; ask for the \
               offline_access scope.",
    },
    GrantChoice {
        value: policy::GRANT_DEVICE_CODE,
        label: "Sign in on a TV or command-line tool (device code)",
        help: "The device shows a short code; the person types it at /device on their phone or \
               computer.",
    },
    GrantChoice {
        value: policy::GRANT_CLIENT_CREDENTIALS,
        label: "Machine to machine (client credentials)",
        help: "Your backend gets tokens for itself, with no person involved. Confidential \
               applications only.",
    },
];

/// The form's fields as text, exactly as shown in the page.
#[derive(Serialize, Default)]
pub struct AppForm {
    pub client_name: String,
    pub client_type: String,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub allowed_cors_origins: String,
    pub grant_types: Vec<String>,
    pub scope: String,
    pub jwks: String,
    pub jwks_uri: String,
    pub backchannel_logout_uri: String,
    pub backchannel_logout_session_required: bool,
    pub refresh_token_reuse_interval_seconds: String,
    pub require_pushed_authorization_requests: bool,
    pub dpop_bound_access_tokens: bool,
    pub id_token_signed_response_alg: String,
    /// Whether the grant checkboxes were on the posted form (a script posting without them
    /// gets the default grant, as in the JSON API).
    #[serde(skip)]
    grants_posted: bool,
}

/// The algorithms an ID token may be signed with, for the form's select.
pub fn algorithms() -> Vec<&'static str> {
    Alg::ALL.iter().map(|a| a.as_str()).collect()
}

fn lines(list: &[String]) -> String {
    list.join("\n")
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl AppForm {
    /// A new application's form: a confidential web app signing people in.
    pub fn defaults() -> AppForm {
        AppForm {
            client_type: "confidential".into(),
            grant_types: vec![
                policy::GRANT_AUTHORIZATION_CODE.into(),
                policy::GRANT_REFRESH_TOKEN.into(),
            ],
            scope: "openid profile email offline_access".into(),
            refresh_token_reuse_interval_seconds: "0".into(),
            id_token_signed_response_alg: "RS256".into(),
            ..AppForm::default()
        }
    }

    /// An existing application, for its edit form.
    pub fn of(app: &Application) -> AppForm {
        AppForm {
            client_name: app.client_name.clone(),
            client_type: app.auth.client_type().as_str().into(),
            token_endpoint_auth_method: app.auth.method().as_str().into(),
            redirect_uris: lines(&app.redirect_uris),
            post_logout_redirect_uris: lines(&app.post_logout_redirect_uris),
            allowed_cors_origins: app
                .allowed_cors_origins
                .as_deref()
                .map(lines)
                .unwrap_or_default(),
            grant_types: app.grant_types.clone(),
            scope: app.scope.clone(),
            jwks: app.auth.jwks().map(String::from).unwrap_or_default(),
            jwks_uri: app.auth.jwks_uri().map(String::from).unwrap_or_default(),
            backchannel_logout_uri: app.backchannel_logout_uri.clone().unwrap_or_default(),
            backchannel_logout_session_required: app.backchannel_logout_session_required,
            refresh_token_reuse_interval_seconds: app
                .refresh_token_reuse_interval_seconds
                .to_string(),
            require_pushed_authorization_requests: app.require_pushed_authorization_requests,
            dpop_bound_access_tokens: app.dpop_bound_access_tokens,
            id_token_signed_response_alg: app.id_token_signed_response_alg.clone(),
            grants_posted: true,
        }
    }

    /// What was posted. The grant checkboxes repeat `grant_types`; a value holding several
    /// space-separated grants (a script's text field) counts as each of them.
    pub fn posted(params: &Params) -> AppForm {
        let text = |name: &str| params.get(name).unwrap_or_default().to_string();
        let checked = |name: &str| params.get(name) == Some("yes");
        AppForm {
            client_name: text("client_name"),
            client_type: text("client_type"),
            token_endpoint_auth_method: text("token_endpoint_auth_method"),
            redirect_uris: text("redirect_uris"),
            post_logout_redirect_uris: text("post_logout_redirect_uris"),
            allowed_cors_origins: text("allowed_cors_origins"),
            grant_types: params
                .get_all("grant_types")
                .iter()
                .flat_map(|v| words(v))
                .collect(),
            scope: text("scope"),
            jwks: text("jwks"),
            jwks_uri: text("jwks_uri"),
            backchannel_logout_uri: text("backchannel_logout_uri"),
            backchannel_logout_session_required: checked("backchannel_logout_session_required"),
            refresh_token_reuse_interval_seconds: text("refresh_token_reuse_interval_seconds"),
            require_pushed_authorization_requests: checked("require_pushed_authorization_requests"),
            dpop_bound_access_tokens: checked("dpop_bound_access_tokens"),
            id_token_signed_response_alg: text("id_token_signed_response_alg"),
            grants_posted: params.contains("grant_types") || params.contains("grant_types_shown"),
        }
    }

    /// The metadata the form asks for. An empty text field means "not given": at registration
    /// the default applies; in an edit the form always shows every field, so only the
    /// optional URLs are cleared by emptying them.
    pub fn to_input(&self) -> Result<MetadataInput, MetadataError> {
        let bad = |m: String| MetadataError::InvalidClientMetadata(m);
        let jwks = match optional(&self.jwks) {
            None => None,
            Some(t) => Some(
                serde_json::from_str::<serde_json::Value>(&t)
                    .map_err(|_| bad("jwks must be a JSON JWK Set: {\"keys\": [...]}".into()))?,
            ),
        };
        let reuse = match optional(&self.refresh_token_reuse_interval_seconds) {
            None => None,
            Some(t) => Some(t.parse::<i64>().map_err(|_| {
                bad(format!(
                    "refresh_token_reuse_interval_seconds must be a whole number of seconds \
                     between 0 and {MAX_REFRESH_TOKEN_REUSE_INTERVAL}"
                ))
            })?),
        };
        if self.grants_posted && self.grant_types.is_empty() {
            return Err(bad("grant_types: choose at least one grant type".into()));
        }
        Ok(MetadataInput {
            client_name: Some(self.client_name.clone()),
            client_type: optional(&self.client_type),
            token_endpoint_auth_method: optional(&self.token_endpoint_auth_method),
            redirect_uris: Some(words(&self.redirect_uris)),
            post_logout_redirect_uris: Some(words(&self.post_logout_redirect_uris)),
            grant_types: self.grants_posted.then(|| self.grant_types.clone()),
            scope: optional(&self.scope),
            id_token_signed_response_alg: optional(&self.id_token_signed_response_alg),
            dpop_bound_access_tokens: Some(self.dpop_bound_access_tokens),
            // Left empty, the default applies (the origins of the redirect URIs).
            allowed_cors_origins: Some(words(&self.allowed_cors_origins)).filter(|v| !v.is_empty()),
            require_pushed_authorization_requests: Some(self.require_pushed_authorization_requests),
            refresh_token_reuse_interval_seconds: reuse,
            jwks,
            jwks_uri: optional(&self.jwks_uri),
            backchannel_logout_uri: Some(optional(&self.backchannel_logout_uri)),
            backchannel_logout_session_required: Some(self.backchannel_logout_session_required),
        })
    }

    /// Whether the CORS field was left empty (in an edit: back to the derived default).
    pub fn cors_empty(&self) -> bool {
        self.allowed_cors_origins.trim().is_empty()
    }
}

/// The field a refusal is about, so the page can show it next to that field.
pub fn field_of(error: &MetadataError) -> &'static str {
    let (MetadataError::InvalidRedirectUri(m) | MetadataError::InvalidClientMetadata(m)) = error;
    let m = m.to_ascii_lowercase();
    const BY_WORD: [(&str, &str); 12] = [
        ("post_logout", "post_logout_redirect_uris"),
        ("cors", "allowed_cors_origins"),
        ("origin", "allowed_cors_origins"),
        ("backchannel", "backchannel_logout_uri"),
        ("jwks_uri", "jwks_uri"),
        ("jwk", "jwks"),
        ("reuse_interval", "refresh_token_reuse_interval_seconds"),
        ("grant", "grant_types"),
        ("id_token_signed", "id_token_signed_response_alg"),
        ("token_endpoint_auth_method", "token_endpoint_auth_method"),
        ("client_name", "client_name"),
        ("scope", "scope"),
    ];
    if let Some((_, field)) = BY_WORD.iter().find(|(word, _)| m.contains(word)) {
        return field;
    }
    match error {
        MetadataError::InvalidRedirectUri(_) => "redirect_uris",
        MetadataError::InvalidClientMetadata(_) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_point_at_their_field() {
        let meta = |m: &str| MetadataError::InvalidClientMetadata(m.into());
        assert_eq!(
            field_of(&MetadataError::InvalidRedirectUri(
                "plain http is only allowed for loopback".into()
            )),
            "redirect_uris"
        );
        assert_eq!(
            field_of(&MetadataError::InvalidRedirectUri(
                "post_logout_redirect_uri `x` is invalid".into()
            )),
            "post_logout_redirect_uris"
        );
        assert_eq!(
            field_of(&meta(
                "refresh_token needs authorization_code or the device_code grant"
            )),
            "grant_types"
        );
        assert_eq!(field_of(&meta("something else")), "");
    }
}
