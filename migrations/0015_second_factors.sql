-- Second factors (SPEC "End users: … second factors"): TOTP, recovery codes and passkeys, and the
-- authentication methods (RFC 8176 `amr`) that sessions and grants remember.

-- One TOTP authenticator per account. The secret is AES-256-GCM sealed under a key derived from
-- the master key (bound to the user id); `last_step` is the 30-second step of the last accepted
-- code: a code of that step or an earlier one is never accepted again (RFC 6238 §5.2).
CREATE TABLE totp_factors (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc TEXT NOT NULL,
    last_step  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Single-use recovery codes, stored only as HMACs keyed from the master key.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- WebAuthn credentials. `passkey` is the library's JSON of the credential: public key, counter,
-- flags; nothing secret.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,   -- base64url
    name          TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- How a session was authenticated: RFC 8176 method values, space-separated (`pwd`, `otp`,
-- `hwk`, `swk`); `mfa` and the `acr` follow from them. Sessions from before: a password.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
-- Copied from the session when the grant is made: what its ID tokens say. Empty: no user.
ALTER TABLE grants ADD COLUMN amr TEXT NOT NULL DEFAULT '';
UPDATE grants SET amr = 'pwd' WHERE user_id IS NOT NULL;
-- Copied from the session that approved a device code.
ALTER TABLE device_codes ADD COLUMN amr TEXT;
