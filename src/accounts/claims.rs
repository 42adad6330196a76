//! What an account discloses to an application, per granted scope (OIDC Core §5.4). Used by the
//! ID token and by userinfo.

use serde_json::{json, Map, Value};

use crate::store::users::User;

/// Claims per scope (OIDC Core §5.4): `profile` → `name`, `preferred_username`, `updated_at`;
/// `email` → `email`, `email_verified` (true once the current address was proven by a
/// verification link, or by a password reset link sent to it).
pub fn user_claims(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    if scopes.iter().any(|s| s == "profile") {
        let name = if user.name.is_empty() {
            user.email.clone()
        } else {
            user.name.clone()
        };
        claims.insert("name".into(), json!(name));
        claims.insert("preferred_username".into(), json!(user.email));
        claims.insert("updated_at".into(), json!(user.updated_at));
    }
    if scopes.iter().any(|s| s == "email") {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(user.email_verified != 0));
    }
    claims
}
