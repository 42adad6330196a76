//! Scopes: parsing and comparison (RFC 6749 §3.3).

/// The standard scopes logi knows (applications may register their own on top).
pub const SUPPORTED: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Scopes that only make sense for a user (never for `client_credentials`).
pub const USER_ONLY: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Parses a space-delimited scope string; `None` when a token is malformed.
pub fn parse(s: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for token in s.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return None;
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
    Some(out)
}

pub fn is_subset(requested: &[String], allowed: &[String]) -> bool {
    requested.iter().all(|s| allowed.contains(s))
}

/// Canonical form for storage and comparison: sorted, space-separated.
pub fn canonical(scopes: &[String]) -> String {
    let mut v = scopes.to_vec();
    v.sort();
    v.join(" ")
}

/// The words shown on the consent page for a scope.
pub fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Sign you in with your logi account".into(),
        "profile" => "See your name (your email address is sent as your username)".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Keep access while you are not using the application".into(),
        other => format!("Use the permission “{other}”"),
    }
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests;
