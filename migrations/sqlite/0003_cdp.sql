-- The customer data the tokens unlock: source records pushed upstream, the customers they
-- unify into, their events, segments, GDPR requests, and WebTag browser keys.
-- Times are Unix seconds unless the column name ends in _us (microseconds).

ALTER TABLE instances ADD COLUMN allowed_origins TEXT; -- WebTag: newline-separated origins

CREATE TABLE cdp_customers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    gcr_id     TEXT    NOT NULL UNIQUE,
    email      TEXT,
    first_name TEXT,
    last_name  TEXT,
    phone      TEXT,
    attributes TEXT,
    created_at INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX cdp_customers_by_email ON cdp_customers (tenant_id, email) WHERE email IS NOT NULL;
CREATE INDEX cdp_customers_by_update ON cdp_customers (tenant_id, updated_us, id);
CREATE INDEX cdp_customers_by_phone ON cdp_customers (tenant_id, phone) WHERE phone IS NOT NULL;

CREATE TABLE cdp_records (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id              INTEGER NOT NULL REFERENCES tenants (id),
    customer_id            INTEGER NOT NULL REFERENCES cdp_customers (id),
    source_customer_number TEXT    NOT NULL,
    email                  TEXT,
    first_name             TEXT,
    last_name              TEXT,
    phone                  TEXT,
    attributes             TEXT,
    instance_id            INTEGER REFERENCES instances (id),
    received_at            INTEGER NOT NULL,
    UNIQUE (tenant_id, source_customer_number)
);
CREATE INDEX cdp_records_by_customer ON cdp_records (customer_id);

CREATE TABLE cdp_events (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id              INTEGER NOT NULL REFERENCES tenants (id),
    customer_id            INTEGER NOT NULL REFERENCES cdp_customers (id),
    source_customer_number TEXT    NOT NULL,
    type                   TEXT    NOT NULL,
    subtype                TEXT,
    occurred_us            INTEGER NOT NULL,
    channel                TEXT    NOT NULL,
    received_at            INTEGER NOT NULL
);
CREATE INDEX cdp_events_by_customer ON cdp_events (customer_id, occurred_us);

CREATE TABLE cdp_push_keys (
    instance_id INTEGER NOT NULL REFERENCES instances (id),
    idem_key    TEXT    NOT NULL,
    body_hash   BLOB    NOT NULL,
    accepted    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, idem_key)
);

CREATE TABLE cdp_segments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    name       TEXT    NOT NULL,
    rule       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE gdpr_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   TEXT    NOT NULL UNIQUE,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    req_type     TEXT    NOT NULL CHECK (req_type IN ('access', 'forget')),
    req_param    TEXT    NOT NULL CHECK (req_param IN ('gcrid', 'email', 'mobile')),
    req_value    TEXT,
    req_source   TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'revoked')),
    subjects     TEXT,
    export       TEXT,
    created_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    processed_at INTEGER
);
CREATE INDEX gdpr_requests_due ON gdpr_requests (status, due_at);

CREATE TABLE webtag_keys (
    key_hash BLOB    PRIMARY KEY NOT NULL,
    token_id INTEGER NOT NULL UNIQUE REFERENCES tokens (id)
);
