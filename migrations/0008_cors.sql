-- Browser applications (SPEC "Browser applications (CORS)"): the origins a public client
-- registered (NULL: the default, derived from its redirect URIs) and the effective list, kept
-- current by every write so that the set of origins some application allows is one query.
ALTER TABLE applications ADD COLUMN allowed_cors_origins TEXT;
ALTER TABLE applications ADD COLUMN cors_origins TEXT NOT NULL DEFAULT '[]';
