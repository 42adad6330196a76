-- RFC 9700 §4.11.2: anyone may register an application, so an application is unverified until an
-- operator runs `logi apps verify <client_id>`. Before sign-in, authorization errors of an
-- unverified application are shown on a page with a link instead of being redirected.
-- Existing applications start unverified too.
ALTER TABLE applications ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;
