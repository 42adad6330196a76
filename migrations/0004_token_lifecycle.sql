-- Token lifecycle: revocation of grant-less access tokens, DPoP binding and replay cache,
-- device authorization grant.

-- Access tokens without a grant (client_credentials) revoked one by one, by jti, until they expire.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- DPoP proof `jti`s seen recently (RFC 9449 §11.1), shared by every process.
CREATE TABLE dpop_proofs (
    key        TEXT PRIMARY KEY,     -- SHA-256 of (key thumbprint, jti)
    expires_at BIGINT NOT NULL
);

-- Refresh tokens of public clients are bound to the DPoP key of the request that got them.
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;

CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,    -- normalised: 8 letters, no dash
    application_id   TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    status           TEXT NOT NULL,           -- pending, approved, denied, redeemed
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    auth_time        BIGINT,
    sid              TEXT,
    poll_interval    BIGINT NOT NULL,
    last_polled_at   BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
