-- secureApi tokens remember which generation of their tenant's oauth_key_secret they were
-- minted with (NULL: minted without a secret check, while OAuth was off). The bearer check
-- honours a secureApi token only while its generation is the tenant's current one (or, for
-- NULL, while OAuth stays off), so rotating the secret or turning OAuth on ends them.
-- Kept in step with migrations/sqlite.
ALTER TABLE tenants ADD COLUMN secret_generation BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tokens ADD COLUMN secret_generation BIGINT;
-- Tokens minted before this migration: those of tenants with OAuth on were minted with the
-- current secret; those of tenants with OAuth off may not have been, so they end when OAuth
-- is turned on.
UPDATE tokens SET secret_generation = 1
 WHERE kind = 'secure_api' AND tenant_id IN (SELECT id FROM tenants WHERE oauth_enabled);
CREATE INDEX tokens_by_tenant ON tokens (tenant_id, kind, revoked_at);

-- Tenant names and admin usernames are unique by their comparison key (Unicode NFKC, then
-- lowercase). SQL cannot compute NFKC, so the server fills the keys when it opens the
-- database (rows without one, oldest first); a row whose key an older row already holds
-- keeps none (a warning names it) and is found by its exact name only.
ALTER TABLE tenants ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX tenants_by_name_key ON tenants (name_key);
ALTER TABLE admins ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX admins_by_name_key ON admins (name_key);
