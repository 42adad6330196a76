-- private_key_jwt (RFC 7523 §2.2): the public JWK Set a key-based client signs its assertions
-- with (NULL for every other client). Assertion `jti`s share the replay cache of DPoP proofs.
ALTER TABLE applications ADD COLUMN jwks TEXT;
