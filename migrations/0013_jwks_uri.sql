-- private_key_jwt with a jwks_uri (RFC 7591 §2): where logi fetches the client's public JWK Set
-- (https, or loopback http). A key-based client has exactly one of `jwks` and `jwks_uri`.
ALTER TABLE applications ADD COLUMN jwks_uri TEXT;
