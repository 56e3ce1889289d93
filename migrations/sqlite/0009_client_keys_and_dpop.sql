-- Standards depth: client keys (private_key_jwt), sender-constrained tokens (DPoP) and the
-- one-time identifiers both rely on. Kept in step with migrations/postgres.

-- An instance's registered public keys (a JSON Web Key Set, RFC 7517), for private_key_jwt
-- client authentication (RFC 7523). NULL: the instance authenticates by password only.
ALTER TABLE instances ADD COLUMN client_jwks TEXT;

-- The JWK SHA-256 thumbprint (RFC 7638) of the DPoP key an OAuth token is bound to
-- (RFC 9449 cnf.jkt). NULL: a bearer token.
ALTER TABLE tokens ADD COLUMN dpop_jkt TEXT;

-- One-time identifiers seen (client assertion and DPoP proof jti values), as keyed hashes, so
-- that a replay is refused by every replica. A row may be reused once it has expired; expired
-- rows are pruned. A DPoP proof puts a row here on every request to a resource, so each
-- insert touches one B-tree only: WITHOUT ROWID (the key is the table's own order) and no index
-- on expires_at (pruning, once a minute, scans instead).
CREATE TABLE seen_jtis (
    key        BLOB   PRIMARY KEY,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
