-- The account page and operator commands (SPEC "End users: verification, recovery, account
-- page, second factors"; issue 14 items 3 and 6).

-- An operator can disable an account (`logi user disable`): it cannot sign in, and sessions
-- and grants of a disabled user are refused wherever they are read.
ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;

-- What the account page shows of each session: the browser (User-Agent, trimmed), the client
-- IP at sign-in and at the latest use, and when it was last used (updated at most once a minute).
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
