-- Refresh token reuse interval (SPEC "Tokens"): an application may let a just-rotated refresh
-- token be presented again for a few seconds, getting the same successor back. The successor is
-- kept for that time only encrypted under a key derived from the rotated token itself, so the
-- database alone still reveals no token.
ALTER TABLE applications ADD COLUMN refresh_token_reuse_interval_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN successor_enc TEXT;
-- Housekeeping clears sealed successors once every interval has passed; this keeps that cheap.
CREATE INDEX refresh_tokens_successor_enc ON refresh_tokens (used_at) WHERE successor_enc IS NOT NULL;
