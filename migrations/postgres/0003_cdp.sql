-- Kept in step with migrations/sqlite/0003_cdp.sql.
-- The customer data the tokens unlock: source records pushed upstream, the customers they
-- unify into, their events, segments, GDPR requests, and WebTag browser keys.
-- Times are Unix seconds unless the column name ends in _us (microseconds).

ALTER TABLE instances ADD COLUMN allowed_origins TEXT; -- WebTag: newline-separated origins

CREATE TABLE cdp_customers (
    id         BIGSERIAL PRIMARY KEY,
    tenant_id  BIGINT  NOT NULL REFERENCES tenants (id),
    gcr_id     TEXT    NOT NULL UNIQUE,
    email      TEXT,
    first_name TEXT,
    last_name  TEXT,
    phone      TEXT,
    attributes TEXT,
    created_at BIGINT  NOT NULL,
    updated_us BIGINT  NOT NULL
);
CREATE UNIQUE INDEX cdp_customers_by_email ON cdp_customers (tenant_id, email) WHERE email IS NOT NULL;
CREATE INDEX cdp_customers_by_update ON cdp_customers (tenant_id, updated_us, id);
CREATE INDEX cdp_customers_by_phone ON cdp_customers (tenant_id, phone) WHERE phone IS NOT NULL;

CREATE TABLE cdp_records (
    id                     BIGSERIAL PRIMARY KEY,
    tenant_id              BIGINT  NOT NULL REFERENCES tenants (id),
    customer_id            BIGINT  NOT NULL REFERENCES cdp_customers (id),
    source_customer_number TEXT    NOT NULL,
    email                  TEXT,
    first_name             TEXT,
    last_name              TEXT,
    phone                  TEXT,
    attributes             TEXT,
    instance_id            BIGINT  REFERENCES instances (id),
    received_at            BIGINT  NOT NULL,
    UNIQUE (tenant_id, source_customer_number)
);
CREATE INDEX cdp_records_by_customer ON cdp_records (customer_id);

CREATE TABLE cdp_events (
    id                     BIGSERIAL PRIMARY KEY,
    tenant_id              BIGINT  NOT NULL REFERENCES tenants (id),
    customer_id            BIGINT  NOT NULL REFERENCES cdp_customers (id),
    source_customer_number TEXT    NOT NULL,
    type                   TEXT    NOT NULL,
    subtype                TEXT,
    occurred_us            BIGINT  NOT NULL,
    channel                TEXT    NOT NULL,
    received_at            BIGINT  NOT NULL
);
CREATE INDEX cdp_events_by_customer ON cdp_events (customer_id, occurred_us);

CREATE TABLE cdp_push_keys (
    instance_id BIGINT  NOT NULL REFERENCES instances (id),
    idem_key    TEXT    NOT NULL,
    body_hash   BYTEA    NOT NULL,
    accepted    BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, idem_key)
);

CREATE TABLE cdp_segments (
    id         BIGSERIAL PRIMARY KEY,
    tenant_id  BIGINT  NOT NULL REFERENCES tenants (id),
    name       TEXT    NOT NULL,
    rule       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE gdpr_requests (
    id           BIGSERIAL PRIMARY KEY,
    request_id   TEXT    NOT NULL UNIQUE,
    tenant_id    BIGINT  NOT NULL REFERENCES tenants (id),
    req_type     TEXT    NOT NULL CHECK (req_type IN ('access', 'forget')),
    req_param    TEXT    NOT NULL CHECK (req_param IN ('gcrid', 'email', 'mobile')),
    req_value    TEXT,
    req_source   TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'revoked')),
    subjects     TEXT,
    export       TEXT,
    created_at   BIGINT  NOT NULL,
    due_at       BIGINT  NOT NULL,
    processed_at BIGINT
);
CREATE INDEX gdpr_requests_due ON gdpr_requests (status, due_at);

CREATE TABLE webtag_keys (
    key_hash BYTEA    PRIMARY KEY NOT NULL,
    token_id BIGINT  NOT NULL UNIQUE REFERENCES tokens (id)
);
