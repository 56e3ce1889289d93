-- Admin accounts can be disabled (their sessions and API tokens stop working, sign-in is
-- refused) and admin credentials record when they were last used (at most once a minute).
-- Kept in step with migrations/postgres.
ALTER TABLE admins ADD COLUMN disabled_at INTEGER;
ALTER TABLE admin_credentials ADD COLUMN last_used_at INTEGER;
CREATE INDEX admin_credentials_by_admin ON admin_credentials (admin_id, kind);
