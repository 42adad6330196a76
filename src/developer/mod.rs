//! Developer-facing capabilities: API tokens, application registration (RFC 7591 names) and the
//! protected APIs applications call.

pub mod apis;
pub mod applications;
pub mod tokens;
