-- OAuth core: signing keys, grants, consents, pending authorization requests, codes, refresh tokens.
-- Portable SQL (see src/store/mod.rs).

-- Private keys are AES-256-GCM encrypted with a key derived from the master key.
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,   -- base64url(nonce || ciphertext || tag) of the PKCS#8 document
    public_jwk      TEXT NOT NULL,   -- JSON
    created_at      BIGINT NOT NULL,
    activates_at    BIGINT NOT NULL, -- published from created_at, signs from activates_at
    retired_at      BIGINT,          -- stops signing
    expires_at      BIGINT           -- leaves the JWKS (every token it signed has expired)
);

-- One authorization of one client by one user (or by itself, for client_credentials). Codes,
-- refresh tokens and access tokens (claim `gid`) point to it: revoking it is one update.
-- The refresh-token family of an authorization is its grant.
CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id        TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX grants_application ON grants (application_id);
CREATE INDEX grants_user ON grants (user_id);

-- Remembered consent per user, client and scope set (scopes sorted, space-separated).
CREATE TABLE consents (
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, application_id, scope)
);

-- Validated authorization requests waiting for a login or a consent decision. The login page
-- returns to /oauth/authorize?request_id=…, a URL the server built itself.
CREATE TABLE authorization_requests (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    params         TEXT NOT NULL,     -- JSON of the validated request
    user_id        TEXT,              -- set once a consent page was shown to this user
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    scope          TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash     TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT            -- set when rotated: presenting it again is reuse
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
