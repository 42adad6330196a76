//! Developer-facing capabilities: API tokens and application registration (RFC 7591 names).

pub mod applications;
pub mod tokens;
