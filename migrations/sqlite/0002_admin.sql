-- Admin accounts, their sign-in sessions and API tokens, the audit log, and the display prefix
-- of tokens. Kept in step with migrations/postgres.

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Browser sessions (kind 'session') and API tokens (kind 'api'), stored as keyed hashes.
CREATE TABLE admin_credentials (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  BLOB    NOT NULL UNIQUE,
    admin_id    INTEGER NOT NULL REFERENCES admins (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('session', 'api')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    tenant_id   INTEGER,
    instance_id INTEGER,
    source      TEXT,
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_instance ON audit_log (instance_id, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);

-- The first characters of a token, so an operator can tell tokens apart; the rest stays secret.
ALTER TABLE tokens ADD COLUMN prefix TEXT;
