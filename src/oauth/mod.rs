//! The OAuth 2.0 protocol, free of HTTP types; functions take the current time as an argument.

pub mod audience;
pub mod authorize;
pub mod bearer;
pub mod client_assertion;
pub mod client_keys;
pub mod dpop;
pub mod error;
pub mod grants;
pub mod params;
pub mod pkce;
pub mod policy;
pub mod revocation;
pub mod scope;
pub mod tokens;
