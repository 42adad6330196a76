//! Developer API tokens: `logi_dev_` + 256 random bits, stored only as an HMAC.

use crate::{
    crypto::{random_token, ServerKeys},
    store::{self, developer_tokens::DeveloperToken, Store},
};

pub const PREFIX: &str = "logi_dev_";

/// Mints a token for `user_id`; the clear token is returned once and never stored.
pub async fn mint(
    store: &Store,
    keys: &ServerKeys,
    user_id: &str,
    name: &str,
    now: i64,
) -> store::Result<(DeveloperToken, String)> {
    let token = format!("{PREFIX}{}", random_token(32));
    let row = DeveloperToken {
        id: format!("dt_{}", random_token(12)),
        user_id: user_id.to_string(),
        name: name.to_string(),
        token_hash: keys.hash_secret(&token),
        created_at: now,
        revoked_at: None,
    };
    store::developer_tokens::insert(store, &row).await?;
    Ok((row, token))
}

/// The live token behind a presented bearer value.
pub async fn authenticate(
    store: &Store,
    keys: &ServerKeys,
    presented: &str,
) -> store::Result<Option<DeveloperToken>> {
    if !presented.starts_with(PREFIX) || presented.len() > 200 {
        return Ok(None);
    }
    store::developer_tokens::active_by_hash(store, &keys.hash_secret(presented)).await
}
