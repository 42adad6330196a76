-- OpenID Connect: a session id (`sid`) per browser session, carried by the grants it created.
ALTER TABLE sessions ADD COLUMN sid TEXT;
ALTER TABLE grants ADD COLUMN sid TEXT;
