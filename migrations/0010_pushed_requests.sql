-- Pushed authorization requests (RFC 9126): a request validated at push time, waiting for the
-- browser to arrive with its request_uri (stored only as an HMAC), single use, 60 s.
CREATE TABLE pushed_requests (
    uri_hash       TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    params         TEXT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);

ALTER TABLE applications ADD COLUMN require_pushed_authorization_requests BIGINT NOT NULL DEFAULT 0;
