//! The SQL of [`AdminStore`](super::AdminStore), shared by both backends like `sql.rs`: admin
//! accounts and credentials, the audit log, and token listings for the admin pages.

/// Implements `AdminStore` for `$store` (a struct with a `pool: sqlx::Pool<$db>` field).
macro_rules! impl_admin_sql_store {
    ($store:ident, $db:ty, $row:ty) => {
        fn admin_from(row: &$row) -> Result<AdminAccount, StoreError> {
            Ok(AdminAccount {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                created_at: row.try_get("created_at")?,
                disabled_at: row.try_get("disabled_at")?,
            })
        }

        fn audit_from(row: &$row) -> Result<AuditRecord, StoreError> {
            Ok(AuditRecord {
                id: row.try_get("id")?,
                entry: NewAuditEntry {
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    tenant_id: row.try_get("tenant_id")?,
                    instance_id: row.try_get("instance_id")?,
                    source: row.try_get("source")?,
                    detail: row.try_get("detail")?,
                },
            })
        }

        /// Why a guarded admin change touched no row: no such admin, or the last enabled one.
        async fn admin_change_refused(
            tx: &mut $crate::store::Tx<$db>,
            admin: AdminId,
        ) -> Result<AdminChange, StoreError> {
            let exists = query::<$db>("SELECT id FROM admins WHERE id = $1")
                .bind(admin)
                .fetch_optional(&mut **tx)
                .await?
                .is_some();
            Ok(if exists {
                AdminChange::LastEnabled
            } else {
                AdminChange::NotFound
            })
        }

        /// Ends every live browser session of an admin.
        async fn end_admin_sessions(
            tx: &mut $crate::store::Tx<$db>,
            admin: AdminId,
            now: UnixTime,
        ) -> Result<(), StoreError> {
            query::<$db>(
                "UPDATE admin_credentials SET revoked_at = $1 \
                 WHERE admin_id = $2 AND kind = 'session' AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(admin)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        #[async_trait]
        impl AdminStore for $store {
            async fn create_admin(
                &self,
                username: &str,
                password_hash: &str,
                now: UnixTime,
            ) -> Result<AdminAccount, StoreError> {
                let row = query::<$db>(
                    "INSERT INTO admins (username, password_hash, created_at, name_key) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(username)
                .bind(password_hash)
                .bind(now)
                .bind(crate::domain::names::name_key(username))
                .fetch_one(&self.writer)
                .await
                .map_err(|e| unique_violation(e, "admin username"))?;
                Ok(AdminAccount {
                    id: row.try_get("id")?,
                    username: username.to_owned(),
                    created_at: now,
                    disabled_at: None,
                })
            }

            async fn admin_password(
                &self,
                username: &str,
            ) -> Result<Option<(AdminAccount, String)>, StoreError> {
                let row = query::<$db>(
                    "SELECT id, username, created_at, disabled_at, password_hash FROM admins \
                     WHERE name_key = $1 OR (name_key IS NULL AND username = $2) \
                     ORDER BY CASE WHEN username = $2 THEN 0 ELSE 1 END",
                )
                .bind(crate::domain::names::name_key(username))
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| Ok((admin_from(&row)?, row.try_get("password_hash")?)))
                    .transpose()
            }

            async fn insert_admin_credential(
                &self,
                admin: AdminId,
                kind: AdminCredentialKind,
                token_hash: &[u8],
                now: UnixTime,
                expires_at: UnixTime,
            ) -> Result<AdminCredentialId, StoreError> {
                let row = query::<$db>(
                    "INSERT INTO admin_credentials (token_hash, admin_id, kind, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(token_hash)
                .bind(admin)
                .bind(kind.as_str())
                .bind(now)
                .bind(expires_at)
                .fetch_one(&self.writer)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn admin_by_credential(
                &self,
                kind: AdminCredentialKind,
                token_hash: &[u8],
                now: UnixTime,
            ) -> Result<Option<AdminCredentialMatch>, StoreError> {
                query::<$db>(
                    "SELECT a.id AS id, a.username AS username, a.created_at AS created_at, \
                     a.disabled_at AS disabled_at, c.id AS credential_id, \
                     c.last_used_at AS last_used_at \
                     FROM admin_credentials c JOIN admins a ON a.id = c.admin_id \
                     WHERE c.token_hash = $1 AND c.kind = $2 AND c.revoked_at IS NULL \
                     AND c.expires_at > $3 AND a.disabled_at IS NULL",
                )
                .bind(token_hash)
                .bind(kind.as_str())
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(|row| {
                    Ok(AdminCredentialMatch {
                        admin: admin_from(row)?,
                        id: row.try_get("credential_id")?,
                        last_used_at: row.try_get("last_used_at")?,
                    })
                })
                .transpose()
            }

            async fn touch_admin_credential(
                &self,
                credential: AdminCredentialId,
                now: UnixTime,
            ) -> Result<(), StoreError> {
                query::<$db>(
                    "UPDATE admin_credentials SET last_used_at = $1 WHERE id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(now)
                .bind(credential)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn admins(&self) -> Result<Vec<AdminAccount>, StoreError> {
                query::<$db>(
                    "SELECT id, username, created_at, disabled_at FROM admins ORDER BY username",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(admin_from)
                .collect()
            }

            async fn admin_api_tokens(
                &self,
                admin: AdminId,
                now: UnixTime,
            ) -> Result<Vec<AdminTokenListing>, StoreError> {
                query::<$db>(
                    "SELECT id, created_at, expires_at, last_used_at FROM admin_credentials \
                     WHERE admin_id = $1 AND kind = 'api' AND revoked_at IS NULL \
                     AND expires_at > $2 ORDER BY created_at DESC, id DESC",
                )
                .bind(admin)
                .bind(now)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| {
                    Ok(AdminTokenListing {
                        id: row.try_get("id")?,
                        created_at: row.try_get("created_at")?,
                        expires_at: row.try_get("expires_at")?,
                        last_used_at: row.try_get("last_used_at")?,
                    })
                })
                .collect()
            }

            async fn revoke_admin_api_token(
                &self,
                token: AdminCredentialId,
                admin: Option<AdminId>,
                now: UnixTime,
            ) -> Result<Option<AdminId>, StoreError> {
                let row = query::<$db>(
                    "UPDATE admin_credentials SET revoked_at = $1 WHERE id = $2 \
                     AND kind = 'api' AND revoked_at IS NULL AND expires_at > $1 \
                     AND ($3 IS NULL OR admin_id = $3) RETURNING admin_id",
                )
                .bind(now)
                .bind(token)
                .bind(admin)
                .fetch_optional(&self.writer)
                .await?;
                row.map(|row| row.try_get("admin_id"))
                    .transpose()
                    .map_err(Into::into)
            }

            async fn set_admin_disabled(
                &self,
                admin: AdminId,
                disabled: bool,
                now: UnixTime,
            ) -> Result<AdminChange, StoreError> {
                let mut tx = self.writer.begin().await?;
                let changed = if disabled {
                    // Another enabled admin must remain; disabling a disabled one is a no-op.
                    query::<$db>(
                        "UPDATE admins SET disabled_at = COALESCE(disabled_at, $1) \
                         WHERE id = $2 AND (disabled_at IS NOT NULL OR EXISTS \
                         (SELECT 1 FROM admins o WHERE o.disabled_at IS NULL AND o.id <> $2))",
                    )
                    .bind(now)
                    .bind(admin)
                    .execute(&mut *tx)
                    .await?
                } else {
                    query::<$db>("UPDATE admins SET disabled_at = NULL WHERE id = $1")
                        .bind(admin)
                        .execute(&mut *tx)
                        .await?
                };
                if changed.rows_affected() == 0 {
                    return admin_change_refused(&mut tx, admin).await;
                }
                if disabled {
                    end_admin_sessions(&mut tx, admin, now).await?;
                }
                tx.commit().await?;
                Ok(AdminChange::Done)
            }

            async fn delete_admin(&self, admin: AdminId) -> Result<AdminChange, StoreError> {
                let mut tx = self.writer.begin().await?;
                query::<$db>("DELETE FROM admin_credentials WHERE admin_id = $1")
                    .bind(admin)
                    .execute(&mut *tx)
                    .await?;
                let deleted = query::<$db>(
                    "DELETE FROM admins WHERE id = $1 AND (disabled_at IS NOT NULL OR EXISTS \
                     (SELECT 1 FROM admins o WHERE o.disabled_at IS NULL AND o.id <> $1))",
                )
                .bind(admin)
                .execute(&mut *tx)
                .await?;
                if deleted.rows_affected() == 0 {
                    // Dropping the transaction keeps the credentials.
                    return admin_change_refused(&mut tx, admin).await;
                }
                tx.commit().await?;
                Ok(AdminChange::Done)
            }

            async fn set_admin_password(
                &self,
                admin: AdminId,
                password_hash: &str,
                now: UnixTime,
            ) -> Result<(), StoreError> {
                let mut tx = self.writer.begin().await?;
                query::<$db>("UPDATE admins SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(admin)
                    .execute(&mut *tx)
                    .await?;
                end_admin_sessions(&mut tx, admin, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_admin_credential(
                &self,
                token_hash: &[u8],
                now: UnixTime,
            ) -> Result<(), StoreError> {
                query::<$db>(
                    "UPDATE admin_credentials SET revoked_at = $1 \
                     WHERE token_hash = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(token_hash)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<(), StoreError> {
                let mut tx = self.writer.begin().await?;
                for e in entries {
                    query::<$db>(
                        "INSERT INTO audit_log (at, actor, action, tenant_id, instance_id, \
                         source, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(e.at)
                    .bind(&e.actor)
                    .bind(&e.action)
                    .bind(e.tenant_id)
                    .bind(e.instance_id)
                    .bind(&e.source)
                    .bind(&e.detail)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn audit_entries(
                &self,
                filter: &AuditFilter,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                query::<$db>(
                    "SELECT id, at, actor, action, tenant_id, instance_id, source, detail \
                     FROM audit_log WHERE ($1 IS NULL OR action = $1) \
                     AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR tenant_id = $3) \
                     AND ($4 IS NULL OR instance_id = $4) AND ($5 IS NULL OR id < $5) \
                     ORDER BY id DESC LIMIT $6",
                )
                .bind(&filter.action)
                .bind(&filter.actor)
                .bind(filter.tenant_id)
                .bind(filter.instance_id)
                .bind(filter.before)
                .bind(i64::from(filter.limit))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(audit_from)
                .collect()
            }

            async fn instance_tokens(
                &self,
                instance: InstanceId,
                now: UnixTime,
            ) -> Result<Vec<TokenListing>, StoreError> {
                let rows = query::<$db>(concat!(
                    "SELECT k.id AS id, k.kind AS kind, k.prefix AS prefix, \
                     k.issued_at AS issued_at, k.expires_at AS expires_at, \
                     k.last_used_at AS last_used_at FROM tokens k \
                     WHERE k.instance_id = $1 AND ",
                    active!("k", "2"),
                    " ORDER BY k.issued_at DESC, k.id DESC"
                ))
                .bind(instance)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        let kind: String = row.try_get("kind")?;
                        Ok(TokenListing {
                            id: row.try_get("id")?,
                            kind: kind.parse().map_err(StoreError::Corrupt)?,
                            prefix: row.try_get("prefix")?,
                            issued_at: row.try_get("issued_at")?,
                            expires_at: row.try_get("expires_at")?,
                            last_used_at: row.try_get("last_used_at")?,
                        })
                    })
                    .collect()
            }

            async fn revoke_instance_token(
                &self,
                instance: InstanceId,
                token: TokenId,
                now: UnixTime,
            ) -> Result<u64, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>(concat!(
                    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND instance_id = $3 AND ",
                    active!("tokens", "1")
                ))
                .bind(now)
                .bind(token)
                .bind(instance)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    bump_token_epoch(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn touch_token(&self, token: TokenId, now: UnixTime) -> Result<(), StoreError> {
                query::<$db>(
                    "UPDATE tokens SET last_used_at = $1 WHERE id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(now)
                .bind(token)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn instance_last_used(
                &self,
                instance: InstanceId,
            ) -> Result<Option<UnixTime>, StoreError> {
                Ok(query::<$db>(
                    "SELECT MAX(last_used_at) AS last FROM tokens WHERE instance_id = $1",
                )
                .bind(instance)
                .fetch_one(&self.pool)
                .await?
                .try_get("last")?)
            }

            async fn export_admin(&self) -> Result<AdminSnapshot, StoreError> {
                let mut snapshot = AdminSnapshot::default();
                for row in query::<$db>(
                    "SELECT id, username, password_hash, created_at, disabled_at FROM admins \
                     ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?
                {
                    snapshot.admins.push(AdminRecord {
                        id: row.try_get("id")?,
                        username: row.try_get("username")?,
                        password_hash: row.try_get("password_hash")?,
                        created_at: row.try_get("created_at")?,
                        disabled_at: row.try_get("disabled_at")?,
                    });
                }
                for row in query::<$db>(
                    "SELECT id, token_hash, admin_id, kind, created_at, expires_at, revoked_at, \
                     last_used_at FROM admin_credentials ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?
                {
                    snapshot.credentials.push(AdminCredentialRecord {
                        id: row.try_get("id")?,
                        token_hash: row.try_get("token_hash")?,
                        admin_id: row.try_get("admin_id")?,
                        kind: row.try_get("kind")?,
                        created_at: row.try_get("created_at")?,
                        expires_at: row.try_get("expires_at")?,
                        revoked_at: row.try_get("revoked_at")?,
                        last_used_at: row.try_get("last_used_at")?,
                    });
                }
                for row in query::<$db>(
                    "SELECT id, at, actor, action, tenant_id, instance_id, source, detail \
                     FROM audit_log ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?
                {
                    snapshot.audit.push(audit_from(&row)?);
                }
                Ok(snapshot)
            }

            async fn import_admin(&self, snapshot: &AdminSnapshot) -> Result<(), StoreError> {
                let mut tx = self.writer.begin().await?;
                for a in &snapshot.admins {
                    query::<$db>(
                        "INSERT INTO admins (id, username, password_hash, created_at, disabled_at, name_key) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(a.id)
                    .bind(&a.username)
                    .bind(&a.password_hash)
                    .bind(a.created_at)
                    .bind(a.disabled_at)
                    .bind(crate::domain::names::name_key(&a.username))
                    .execute(&mut *tx)
                    .await?;
                }
                for c in &snapshot.credentials {
                    query::<$db>(
                        "INSERT INTO admin_credentials (id, token_hash, admin_id, kind, \
                         created_at, expires_at, revoked_at, last_used_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(c.id)
                    .bind(&c.token_hash)
                    .bind(c.admin_id)
                    .bind(&c.kind)
                    .bind(c.created_at)
                    .bind(c.expires_at)
                    .bind(c.revoked_at)
                    .bind(c.last_used_at)
                    .execute(&mut *tx)
                    .await?;
                }
                for r in &snapshot.audit {
                    let e = &r.entry;
                    query::<$db>(
                        "INSERT INTO audit_log (id, at, actor, action, tenant_id, instance_id, \
                         source, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(r.id)
                    .bind(e.at)
                    .bind(&e.actor)
                    .bind(&e.action)
                    .bind(e.tenant_id)
                    .bind(e.instance_id)
                    .bind(&e.source)
                    .bind(&e.detail)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
