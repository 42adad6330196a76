-- Portable SQL: runs unchanged on PostgreSQL and SQLite (see src/store/mod.rs).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,   -- lower-cased
    password_hash TEXT NOT NULL,          -- argon2id PHC string
    name          TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Browser sessions: the cookie holds a random id, the table only its SHA-256.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed-login counters, per account ('account:<email>') and per client IP ('ip:<addr>').
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE developer_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,      -- HMAC-SHA256 keyed from the master key
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX developer_tokens_user ON developer_tokens (user_id);

CREATE TABLE applications (
    id                           TEXT PRIMARY KEY,
    client_id                    TEXT NOT NULL UNIQUE,
    owner_id                     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_name                  TEXT NOT NULL,
    client_type                  TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
    token_endpoint_auth_method   TEXT NOT NULL,
    secret_hash                  TEXT,    -- HMAC-SHA256; NULL exactly for public clients
    redirect_uris                TEXT NOT NULL,   -- JSON array
    post_logout_redirect_uris    TEXT NOT NULL,   -- JSON array
    grant_types                  TEXT NOT NULL,   -- JSON array
    scope                        TEXT NOT NULL,
    id_token_signed_response_alg TEXT NOT NULL,
    dpop_bound_access_tokens     BIGINT NOT NULL,
    created_at                   BIGINT NOT NULL,
    updated_at                   BIGINT NOT NULL,
    CHECK ((client_type = 'public') = (secret_hash IS NULL))
);
CREATE INDEX applications_owner ON applications (owner_id);
