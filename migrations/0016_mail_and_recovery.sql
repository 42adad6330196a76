-- End users: email verification and password recovery (SPEC "End users: verification,
-- recovery, account page, second factors"; issue 14 items 1 and 2). Mail itself goes through
-- the generic `outbox` of migration 0014 (kind `mail`, payload sealed with the master key).

-- Whether the account's current address was proven by a verification link (0/1); a new
-- address starts unverified.
ALTER TABLE users ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;

-- Single-use links mailed to an address: `verify_email` (24 h) and `reset_password` (30 min).
-- Only the HMAC of the token (crypto::ServerKeys::hash_secret) is stored; the link itself
-- exists only in the mail. `email` is the address the link was sent to: a verification link
-- verifies that address only, so a link for an address the account no longer has is void.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);
CREATE INDEX email_tokens_expiry ON email_tokens (expires_at);
