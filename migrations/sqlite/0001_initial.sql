-- Tenants, instances and the one token store of every dialect. Times are Unix seconds (UTC).

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL UNIQUE,
    environment       TEXT    NOT NULL CHECK (environment IN ('cs', 'uat', 'prod')),
    tenant_hash       TEXT    NOT NULL UNIQUE,
    oauth_enabled     INTEGER NOT NULL DEFAULT 1,
    oauth_secret_hash TEXT,
    created_at        INTEGER NOT NULL
);

CREATE TABLE instances (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id           INTEGER NOT NULL REFERENCES tenants (id),
    name                TEXT    NOT NULL,
    type                TEXT    NOT NULL CHECK (type IN ('dw-tracker', 'profiles-360', 'webtag')),
    username            TEXT    NOT NULL UNIQUE,
    password_hash       BLOB    NOT NULL,
    password_expires_at INTEGER NOT NULL,
    disabled_at         INTEGER,
    created_at          INTEGER NOT NULL
);
CREATE INDEX instances_by_tenant_type ON instances (tenant_id, type);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   BLOB    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL CHECK (kind IN ('a1user', 'oauth', 'secure_api')),
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    instance_id  INTEGER REFERENCES instances (id),
    sealed       BLOB,
    api          TEXT,
    scope        TEXT,
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX tokens_by_instance ON tokens (instance_id, kind, revoked_at, expires_at);
