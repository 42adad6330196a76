//! The OAuth 2.0 protocol, free of HTTP types.

pub mod policy;
