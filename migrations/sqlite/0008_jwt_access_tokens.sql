-- The keys that sign JWT access tokens. Every replica signs with the same set, so they live
-- here, each private key sealed under the data key (a dump alone yields nothing usable).
-- Rows are only ever inserted (and pruned): the key that signs is the one of highest
-- generation whose active_from has come; a key stops signing when the next one becomes active
-- and stays published until the last token it can have signed has expired. A key may be
-- inserted ahead of its active_from, so that verifiers see it before any token carries it.
-- Two replicas rotating at once both try the next generation; the unique index lets one win.
-- Kept in step with migrations/postgres.
CREATE TABLE signing_keys (
    kid            TEXT   PRIMARY KEY,
    generation     BIGINT NOT NULL UNIQUE,
    algorithm      TEXT   NOT NULL,
    sealed_private BLOB  NOT NULL,
    public_jwk     TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    active_from    BIGINT NOT NULL
);
-- Per-tenant access token format for /oauth/token: 'opaque' or 'jwt'; NULL follows the
-- deployment's oauth_token_format.
ALTER TABLE tenants ADD COLUMN token_format TEXT;
