-- Version of grant revocations, for processes that cache active grants in memory.
INSERT INTO change_log (name, version) VALUES ('grants', 0);
