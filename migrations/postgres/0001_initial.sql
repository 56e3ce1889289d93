-- Tenants, instances and the one token store of every dialect. Times are Unix seconds (UTC).
-- Kept in step with migrations/sqlite: same tables, columns and meanings.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id                BIGSERIAL PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    environment       TEXT    NOT NULL CHECK (environment IN ('cs', 'uat', 'prod')),
    tenant_hash       TEXT    NOT NULL UNIQUE,
    oauth_enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    oauth_secret_hash TEXT,
    created_at        BIGINT  NOT NULL
);

CREATE TABLE instances (
    id                  BIGSERIAL PRIMARY KEY,
    tenant_id           BIGINT NOT NULL REFERENCES tenants (id),
    name                TEXT   NOT NULL,
    type                TEXT   NOT NULL CHECK (type IN ('dw-tracker', 'profiles-360', 'webtag')),
    username            TEXT   NOT NULL UNIQUE,
    password_hash       BYTEA  NOT NULL,
    password_expires_at BIGINT NOT NULL,
    disabled_at         BIGINT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX instances_by_tenant_type ON instances (tenant_id, type);

CREATE TABLE tokens (
    id           BIGSERIAL PRIMARY KEY,
    token_hash   BYTEA  NOT NULL UNIQUE,
    kind         TEXT   NOT NULL CHECK (kind IN ('a1user', 'oauth', 'secure_api')),
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id),
    instance_id  BIGINT REFERENCES instances (id),
    sealed       BYTEA,
    api          TEXT,
    scope        TEXT,
    issued_at    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX tokens_by_instance ON tokens (instance_id, kind, revoked_at, expires_at);
