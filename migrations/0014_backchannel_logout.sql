-- OIDC Back-Channel Logout 1.0 (SPEC "Pushed authorization requests, key-based client
-- authentication, back-channel logout"; issue 13 item 3).

-- Per application: where logout tokens go, and whether its sessions need `sid` (logi always
-- sends it).
ALTER TABLE applications ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE applications ADD COLUMN backchannel_logout_session_required BIGINT NOT NULL DEFAULT 0;

-- The applications that received an ID token in a browser session (by the session's public
-- `sid`), recorded in the transaction that redeems the code; read and deleted in the
-- transaction that ends the session. `expires_at` is the session's, for housekeeping.
CREATE TABLE session_clients (
    sid            TEXT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (sid, application_id)
);
CREATE INDEX session_clients_expiry ON session_clients (expires_at);
CREATE INDEX sessions_sid ON sessions (sid);

-- A durable outbox of deliveries to the outside world, generic by `kind` (back-channel logout
-- tokens now, end-user mail later). Rows are written in the transaction that decides them,
-- claimed by one process at a time with a lease (`locked_until`, `lease_owner`), retried with
-- backoff (`attempts`, `next_attempt_at`), and end delivered or given up. `payload` is JSON and
-- holds nothing that lets anyone mint a token (logout tokens are signed at delivery time).
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    last_attempt_at BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    gave_up_at      BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_done ON outbox (created_at);

-- The last back-channel logout delivery attempt per application, for its developer.
CREATE TABLE backchannel_logout_status (
    application_id  TEXT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    last_attempt_at BIGINT NOT NULL,
    last_result     TEXT NOT NULL,
    last_error      TEXT
);

-- FAPI 2.0 Security Profile §5.3.2.1 item 13 (RFC 9449 §10, Authorization Code Binding to DPoP
-- Key): the thumbprint of the DPoP key a code may only be redeemed with (`dpop_jkt` at the
-- authorization request, or the proof sent to /oauth/par). In this migration because it ships
-- with the FAPI 2.0 work of issue 13.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
