-- Protected APIs (SPEC "Protected APIs (resource servers) and resource indicators"): a developer's
-- API has an identifier that becomes the `aud` of access tokens issued for it (RFC 8707), and
-- scopes with a human description shown on the consent page.
CREATE TABLE apis (
    id                       TEXT PRIMARY KEY,
    owner_id                 TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    identifier               TEXT NOT NULL UNIQUE,
    access_token_ttl_seconds BIGINT,          -- NULL: the server's access_token_ttl_seconds
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);
CREATE INDEX apis_owner ON apis (owner_id);

-- One row per scope of an API, in the order the developer listed them.
CREATE TABLE api_scopes (
    api_id      TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    owner_id    TEXT NOT NULL,                -- copied from apis, to find another owner's scope
    position    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (api_id, name)
);
CREATE INDEX api_scopes_name ON api_scopes (name);

-- The API identifiers an authorization covers (space-separated; empty: none, `aud` = issuer).
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
