//! OpenID Connect on top of the OAuth core: claims, discovery, userinfo, back-channel logout.

pub mod backchannel;
pub mod discovery;
pub mod userinfo;

/// What an account discloses per scope lives with the accounts (the ID token, signed in
/// `oauth::tokens`, needs it too).
pub use crate::accounts::claims::user_claims;

/// Every claim logi can return, for discovery.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "sid",
    "acr",
    "amr",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
];
