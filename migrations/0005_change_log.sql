-- Versions of data that processes cache in memory (applications); bumped on every change so
-- that every process notices (PostgreSQL also sends NOTIFY logi_changes).
CREATE TABLE change_log (
    name    TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_log (name, version) VALUES ('applications', 0);
