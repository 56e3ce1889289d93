//! The SQL both backends share. SQLite and PostgreSQL accept the same statements here
//! (`$N` placeholders, `RETURNING`, `ON CONFLICT DO NOTHING`), so one macro implements
//! [`Store`](super::Store) for each backend's pool type; the few backend-specific steps
//! (taking a per-instance write lock, resetting sequences after a copy) are inherent methods
//! each backend provides: `begin_exclusive` and `after_import`.

/// Columns of an instance row, aliased so joins can read them unambiguously.
macro_rules! instance_columns {
    () => {
        "i.id AS i_id, i.tenant_id AS i_tenant_id, i.name AS i_name, i.type AS i_type, \
         i.username AS i_username, i.password_expires_at AS i_password_expires_at, \
         i.disabled_at AS i_disabled_at, i.created_at AS i_created_at"
    };
}

/// Columns of a tenant row.
macro_rules! tenant_columns {
    () => {
        "t.id AS t_id, t.name AS t_name, t.environment AS t_environment, \
         t.tenant_hash AS t_tenant_hash, t.oauth_enabled AS t_oauth_enabled, \
         t.secret_generation AS t_secret_generation, t.token_format AS t_token_format, \
         t.created_at AS t_created_at"
    };
}

/// Columns of a token row.
macro_rules! token_columns {
    () => {
        "k.id AS k_id, k.kind AS k_kind, k.tenant_id AS k_tenant_id, \
         k.instance_id AS k_instance_id, k.sealed AS k_sealed, k.token_hash AS k_token_hash, \
         k.api AS k_api, k.scope AS k_scope, k.issued_at AS k_issued_at, \
         k.expires_at AS k_expires_at, k.last_used_at AS k_last_used_at, \
         k.dpop_jkt AS k_dpop_jkt"
    };
}

/// A token is active while it is neither revoked nor expired; `$now` is the placeholder
/// number holding the current time.
macro_rules! active {
    ($alias:literal, $now:literal) => {
        concat!(
            $alias,
            ".revoked_at IS NULL AND ",
            $alias,
            ".expires_at > $",
            $now
        )
    };
}

/// Whether the secureApi token `$k` is still honoured by its tenant `$t`: minted with the
/// tenant's current secret, or without a secret check while OAuth stays off. Rotating the
/// secret or turning OAuth on ends the others, whatever their revoked_at says (a token minted
/// by a request that checked the old secret just before the rotation committed included).
macro_rules! honoured {
    ($k:literal, $t:literal) => {
        concat!(
            "(",
            $k,
            ".kind <> 'secure_api' OR ",
            $k,
            ".secret_generation = ",
            $t,
            ".secret_generation OR (",
            $k,
            ".secret_generation IS NULL AND NOT ",
            $t,
            ".oauth_enabled))"
        )
    };
}

/// Implements `Store` for `$store` (a struct with a `pool: sqlx::Pool<$db>` field).
macro_rules! impl_sql_store {
    ($store:ident, $db:ty, $row:ty, $migrator:expr) => {
        fn unique_violation(error: sqlx::Error, what: &'static str) -> StoreError {
            match &error {
                sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
                _ => StoreError::Database(error),
            }
        }

        /// Gives each tenant and admin whose name has no comparison key (rows from before
        /// keys existed) or a stale one its key, oldest first. A key an older row already holds
        /// is left off with a warning: that row is then found by its exact name only, and no
        /// new name with that key can be created. Runs at every open; a no-op once keys are set.
        async fn fill_name_keys(pool: &sqlx::Pool<$db>) -> Result<(), StoreError> {
            let tables = [
                (
                    "tenants",
                    "SELECT id, name, name_key FROM tenants ORDER BY id",
                    "UPDATE tenants SET name_key = $1 WHERE id = $2",
                ),
                (
                    "admins",
                    "SELECT id, username AS name, name_key FROM admins ORDER BY id",
                    "UPDATE admins SET name_key = $1 WHERE id = $2",
                ),
            ];
            for (table, select, update) in tables {
                for row in query::<$db>(select).fetch_all(pool).await? {
                    let id: i64 = row.try_get("id")?;
                    let name: String = row.try_get("name")?;
                    let stored: Option<String> = row.try_get("name_key")?;
                    let key = crate::domain::names::name_key(&name);
                    if stored.as_deref() == Some(key.as_str()) {
                        continue;
                    }
                    let set = query::<$db>(update).bind(&key).bind(id).execute(pool).await;
                    match set.map_err(|e| unique_violation(e, "name key")) {
                        Ok(_) => {}
                        Err(StoreError::Conflict(_)) => tracing::warn!(
                            table,
                            id,
                            "an older row has a name equal to this one's ignoring case and \
                             Unicode compatibility forms; this row is found by its exact name only"
                        ),
                        Err(other) => return Err(other),
                    }
                }
            }
            Ok(())
        }

        fn signing_key_from(row: &$row) -> Result<SigningKeyRecord, StoreError> {
            Ok(SigningKeyRecord {
                kid: row.try_get("kid")?,
                generation: row.try_get("generation")?,
                algorithm: row.try_get("algorithm")?,
                sealed_private: row.try_get("sealed_private")?,
                public_jwk: row.try_get("public_jwk")?,
                created_at: row.try_get("created_at")?,
                active_from: row.try_get("active_from")?,
            })
        }

        /// Inserts a signing key; `false` when its generation (or kid) is already taken, by a
        /// replica that rotated at the same moment.
        async fn insert_signing_key(
            tx: &mut $crate::store::Tx<$db>,
            key: &SigningKeyRecord,
        ) -> Result<bool, StoreError> {
            let inserted = query::<$db>(
                "INSERT INTO signing_keys (kid, generation, algorithm, sealed_private, \
                 public_jwk, created_at, active_from) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&key.kid)
            .bind(key.generation)
            .bind(&key.algorithm)
            .bind(&key.sealed_private)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.active_from)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        }

        fn token_format_from(stored: Option<String>) -> Result<Option<TokenFormat>, StoreError> {
            stored
                .map(|word| word.parse().map_err(StoreError::Corrupt))
                .transpose()
        }

        fn tenant_from(row: &$row) -> Result<Tenant, StoreError> {
            let environment: String = row.try_get("t_environment")?;
            Ok(Tenant {
                id: row.try_get("t_id")?,
                name: row.try_get("t_name")?,
                environment: environment.parse().map_err(StoreError::Corrupt)?,
                tenant_hash: row.try_get("t_tenant_hash")?,
                oauth_enabled: row.try_get("t_oauth_enabled")?,
                secret_generation: row.try_get("t_secret_generation")?,
                token_format: token_format_from(row.try_get("t_token_format")?)?,
                created_at: row.try_get("t_created_at")?,
            })
        }

        fn instance_from(row: &$row) -> Result<Instance, StoreError> {
            let instance_type: String = row.try_get("i_type")?;
            Ok(Instance {
                id: row.try_get("i_id")?,
                tenant_id: row.try_get("i_tenant_id")?,
                name: row.try_get("i_name")?,
                instance_type: instance_type.parse().map_err(StoreError::Corrupt)?,
                username: row.try_get("i_username")?,
                password_expires_at: row.try_get("i_password_expires_at")?,
                disabled_at: row.try_get("i_disabled_at")?,
                created_at: row.try_get("i_created_at")?,
            })
        }

        fn token_from(row: &$row) -> Result<StoredToken, StoreError> {
            let kind: String = row.try_get("k_kind")?;
            Ok(StoredToken {
                id: row.try_get("k_id")?,
                kind: kind.parse().map_err(StoreError::Corrupt)?,
                tenant_id: row.try_get("k_tenant_id")?,
                instance_id: row.try_get("k_instance_id")?,
                sealed: row.try_get("k_sealed")?,
                token_hash: row.try_get("k_token_hash")?,
                api: row.try_get("k_api")?,
                scope: row.try_get("k_scope")?,
                issued_at: row.try_get("k_issued_at")?,
                expires_at: row.try_get("k_expires_at")?,
                last_used_at: row.try_get("k_last_used_at")?,
                dpop_jkt: row.try_get("k_dpop_jkt")?,
            })
        }

        /// Tells every process that tokens or credentials changed (a revoke, a new scope, a
        /// disabled or enabled instance, a new password or tenant secret): their verified
        /// caches drop what they hold. Runs in the change's transaction.
        async fn bump_token_epoch(
            tx: &mut $crate::store::Tx<$db>,
        ) -> Result<(), StoreError> {
            query::<$db>("UPDATE token_epoch SET epoch = epoch + 1 WHERE id = 1")
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        fn token_record_from(row: &$row) -> Result<TokenRecord, StoreError> {
            Ok(TokenRecord {
                id: row.try_get("id")?,
                token_hash: row.try_get("token_hash")?,
                kind: row.try_get("kind")?,
                tenant_id: row.try_get("tenant_id")?,
                instance_id: row.try_get("instance_id")?,
                sealed: row.try_get("sealed")?,
                api: row.try_get("api")?,
                scope: row.try_get("scope")?,
                issued_at: row.try_get("issued_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                last_used_at: row.try_get("last_used_at")?,
                prefix: row.try_get("prefix")?,
                secret_generation: row.try_get("secret_generation")?,
                dpop_jkt: row.try_get("dpop_jkt")?,
            })
        }

        #[async_trait]
        impl Store for $store {
            fn pool_usage(&self) -> Vec<$crate::store::PoolUsage> {
                self.pools()
            }

            async fn ready(&self) -> Result<bool, StoreError> {
                let applied: Option<i64> =
                    query::<$db>("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success")
                        .fetch_one(&self.pool)
                        .await?
                        .try_get("v")?;
                let latest = $migrator.iter().map(|m| m.version).max();
                if applied != latest {
                    return Ok(false);
                }
                self.probe_write().await?;
                Ok(true)
            }

            async fn key_record(&self) -> Result<Option<KeyRecord>, StoreError> {
                let rows = query::<$db>(
                    "SELECT name, value FROM settings \
                     WHERE name IN ('server_key_fingerprint', 'sealed_data_key')",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut fingerprint = None;
                let mut sealed_data_key = None;
                for row in rows {
                    let name: String = row.try_get("name")?;
                    let value: String = row.try_get("value")?;
                    if name == "server_key_fingerprint" {
                        fingerprint = Some(value);
                    } else {
                        sealed_data_key = Some(value);
                    }
                }
                Ok(fingerprint.map(|fingerprint| KeyRecord {
                    fingerprint,
                    sealed_data_key,
                }))
            }

            async fn init_key_record(&self, record: &KeyRecord) -> Result<(), StoreError> {
                let mut tx = self.writer.begin().await?;
                let inserted = query::<$db>(
                    "INSERT INTO settings (name, value) VALUES ('server_key_fingerprint', $1) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&record.fingerprint)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 1
                    && let Some(sealed) = &record.sealed_data_key
                {
                    query::<$db>(
                        "INSERT INTO settings (name, value) VALUES ('sealed_data_key', $1)",
                    )
                    .bind(sealed)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
                query::<$db>(
                    "SELECT kid, generation, algorithm, sealed_private, public_jwk, created_at, \
                     active_from FROM signing_keys ORDER BY generation",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(signing_key_from)
                .collect()
            }

            async fn add_signing_key(
                &self,
                key: &SigningKeyRecord,
                prune_before: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                if !insert_signing_key(&mut tx, key).await? {
                    return Ok(false);
                }
                query::<$db>("DELETE FROM signing_keys WHERE generation < $1")
                    .bind(prune_before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn activate_signing_keys(&self, now: UnixTime) -> Result<u64, StoreError> {
                Ok(
                    query::<$db>("UPDATE signing_keys SET active_from = $1 WHERE active_from > $1")
                        .bind(now)
                        .execute(&self.writer)
                        .await?
                        .rows_affected(),
                )
            }

            async fn first_uses(
                &self,
                batch: &[SeenJti],
                now: UnixTime,
            ) -> Result<Vec<bool>, StoreError> {
                // One statement for the batch: a key seen twice within it is a replay from
                // its second sighting on (and would make one row change twice, which
                // PostgreSQL refuses), so only each key's first sighting is sent.
                let mut first_at = std::collections::HashMap::with_capacity(batch.len());
                for (at, seen) in batch.iter().enumerate() {
                    first_at.entry(seen.key.as_slice()).or_insert(at);
                }
                let mut fresh = vec![false; batch.len()];
                if first_at.is_empty() {
                    return Ok(fresh);
                }
                let mut insert =
                    sqlx::QueryBuilder::<$db>::new("INSERT INTO seen_jtis (key, expires_at) ");
                insert.push_values(first_at.keys(), |mut row, key| {
                    row.push_bind(key.to_vec())
                        .push_bind(batch[first_at[key]].expires_at);
                });
                // A row still live is a replay (the WHERE leaves it, and it is not returned);
                // an expired one is taken over.
                insert
                    .push(
                        " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
                         WHERE seen_jtis.expires_at <= ",
                    )
                    .push_bind(now)
                    .push(" RETURNING key");
                for row in insert.build().fetch_all(&self.writer).await? {
                    let key: Vec<u8> = row.try_get("key")?;
                    if let Some(&at) = first_at.get(key.as_slice()) {
                        fresh[at] = true;
                    }
                }
                Ok(fresh)
            }

            async fn prune_seen_jtis(&self, now: UnixTime) -> Result<u64, StoreError> {
                Ok(query::<$db>("DELETE FROM seen_jtis WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.writer)
                    .await?
                    .rows_affected())
            }

            async fn set_tenant_token_format(
                &self,
                id: TenantId,
                format: Option<TokenFormat>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let set = query::<$db>("UPDATE tenants SET token_format = $1 WHERE id = $2")
                    .bind(format.map(TokenFormat::as_str))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if set != 1 {
                    return Ok(false);
                }
                // Verified client credentials are cached with their tenant: every process
                // reads it again, so the next token has the new format everywhere.
                bump_token_epoch(&mut tx).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn rotate_key_record(
                &self,
                expected_fingerprint: &str,
                record: &KeyRecord,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let updated = query::<$db>(
                    "UPDATE settings SET value = $1 \
                     WHERE name = 'server_key_fingerprint' AND value = $2",
                )
                .bind(&record.fingerprint)
                .bind(expected_fingerprint)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != 1 {
                    return Ok(false);
                }
                if let Some(sealed) = &record.sealed_data_key {
                    query::<$db>(
                        "INSERT INTO settings (name, value) VALUES ('sealed_data_key', $1) \
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    )
                    .bind(sealed)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn create_tenant(&self, tenant: NewTenant) -> Result<Tenant, StoreError> {
                let row = query::<$db>(
                    "INSERT INTO tenants (name, environment, tenant_hash, oauth_enabled, \
                     oauth_secret_hash, created_at, name_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(&tenant.name)
                .bind(tenant.environment.as_str())
                .bind(&tenant.tenant_hash)
                .bind(tenant.oauth_enabled)
                .bind(&tenant.oauth_secret_hash)
                .bind(tenant.created_at)
                .bind(crate::domain::names::name_key(&tenant.name))
                .fetch_one(&self.writer)
                .await
                .map_err(|e| unique_violation(e, "tenant name"))?;
                Ok(Tenant {
                    id: row.try_get("id")?,
                    name: tenant.name,
                    environment: tenant.environment,
                    tenant_hash: tenant.tenant_hash,
                    oauth_enabled: tenant.oauth_enabled,
                    secret_generation: 1,
                    token_format: None,
                    created_at: tenant.created_at,
                })
            }

            async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
                query::<$db>(concat!(
                    "SELECT ",
                    tenant_columns!(),
                    " FROM tenants t WHERE t.id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(tenant_from)
                .transpose()
            }

            async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
                query::<$db>(concat!(
                    "SELECT ",
                    tenant_columns!(),
                    " FROM tenants t WHERE t.name_key = $1 \
                     OR (t.name_key IS NULL AND t.name = $2) \
                     ORDER BY CASE WHEN t.name = $2 THEN 0 ELSE 1 END"
                ))
                .bind(crate::domain::names::name_key(name))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(tenant_from)
                .transpose()
            }

            async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
                query::<$db>(concat!(
                    "SELECT ",
                    tenant_columns!(),
                    " FROM tenants t ORDER BY t.id"
                ))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(tenant_from)
                .collect()
            }

            async fn tenant_credentials(
                &self,
                tenant_hash: &str,
            ) -> Result<Option<TenantCredentials>, StoreError> {
                let row = query::<$db>(concat!(
                    "SELECT ",
                    tenant_columns!(),
                    ", t.oauth_secret_hash AS t_oauth_secret_hash \
                     FROM tenants t WHERE t.tenant_hash = $1"
                ))
                .bind(tenant_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    Ok(TenantCredentials {
                        tenant: tenant_from(&row)?,
                        oauth_secret_hash: row.try_get("t_oauth_secret_hash")?,
                    })
                })
                .transpose()
            }

            async fn set_tenant_oauth(
                &self,
                id: TenantId,
                enabled: bool,
                secret_hash: Option<&str>,
                now: UnixTime,
            ) -> Result<Option<u64>, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>(
                    "UPDATE tenants SET oauth_enabled = $1, \
                     oauth_secret_hash = COALESCE($2, oauth_secret_hash), \
                     secret_generation = secret_generation + CASE WHEN $2 IS NULL THEN 0 ELSE 1 END \
                     WHERE id = $3",
                )
                .bind(enabled)
                .bind(secret_hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                // The tokens the new secret or switch no longer honours are refused by the
                // bearer check already; marking them revoked keeps listings and counts true.
                let revoked = query::<$db>(concat!(
                    "UPDATE tokens SET revoked_at = $1 WHERE tenant_id = $2 \
                     AND kind = 'secure_api' AND ",
                    active!("tokens", "1"),
                    " AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = tokens.tenant_id AND ",
                    honoured!("tokens", "t"),
                    ")"
                ))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                // Verified tenant credentials and tokens are cached: other processes must
                // forget them.
                bump_token_epoch(&mut tx).await?;
                tx.commit().await?;
                Ok(Some(revoked.rows_affected()))
            }

            async fn revoke_tenant_tokens(
                &self,
                tenant: TenantId,
                now: UnixTime,
            ) -> Result<u64, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>(concat!(
                    "UPDATE tokens SET revoked_at = $1 WHERE tenant_id = $2 \
                     AND kind = 'secure_api' AND ",
                    active!("tokens", "1")
                ))
                .bind(now)
                .bind(tenant)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    bump_token_epoch(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn tenant_has_secret(&self, id: TenantId) -> Result<bool, StoreError> {
                let row = query::<$db>(
                    "SELECT oauth_secret_hash IS NOT NULL AS has FROM tenants WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(match row {
                    Some(row) => row.try_get("has")?,
                    None => false,
                })
            }

            async fn create_instance(
                &self,
                instance: NewInstance,
                max_per_type: u32,
            ) -> Result<Instance, StoreError> {
                let mut tx = self.begin_exclusive(LockKey::Tenant(instance.tenant_id)).await?;
                let row = query::<$db>(
                    "INSERT INTO instances (tenant_id, name, type, username, password_hash, \
                     password_expires_at, created_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7 \
                     WHERE (SELECT COUNT(*) FROM instances WHERE tenant_id = $1 AND type = $3) \
                     < $8 RETURNING id",
                )
                .bind(instance.tenant_id)
                .bind(&instance.name)
                .bind(instance.instance_type.as_str())
                .bind(&instance.username)
                .bind(&instance.password_hash)
                .bind(instance.password_expires_at)
                .bind(instance.created_at)
                .bind(i64::from(max_per_type))
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "username"))?
                .ok_or(StoreError::LimitReached)?;
                let id = row.try_get("id")?;
                tx.commit().await?;
                Ok(Instance {
                    id,
                    tenant_id: instance.tenant_id,
                    name: instance.name,
                    instance_type: instance.instance_type,
                    username: instance.username,
                    password_expires_at: instance.password_expires_at,
                    disabled_at: None,
                    created_at: instance.created_at,
                })
            }

            async fn instance_by_id(
                &self,
                id: InstanceId,
            ) -> Result<Option<Instance>, StoreError> {
                query::<$db>(concat!(
                    "SELECT ",
                    instance_columns!(),
                    " FROM instances i WHERE i.id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(instance_from)
                .transpose()
            }

            async fn instance_by_username(
                &self,
                username: &str,
            ) -> Result<Option<Instance>, StoreError> {
                query::<$db>(concat!(
                    "SELECT ",
                    instance_columns!(),
                    " FROM instances i WHERE i.username = $1"
                ))
                .bind(username)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(instance_from)
                .transpose()
            }

            async fn instances(
                &self,
                tenant: Option<TenantId>,
            ) -> Result<Vec<Instance>, StoreError> {
                query::<$db>(concat!(
                    "SELECT ",
                    instance_columns!(),
                    " FROM instances i WHERE $1 IS NULL OR i.tenant_id = $1 ORDER BY i.id"
                ))
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(instance_from)
                .collect()
            }

            async fn credentials_by_username(
                &self,
                username: &str,
            ) -> Result<Option<InstanceCredentials>, StoreError> {
                let row = query::<$db>(concat!(
                    "SELECT ",
                    instance_columns!(),
                    ", ",
                    tenant_columns!(),
                    ", i.password_hash AS i_password_hash, i.client_jwks AS i_client_jwks \
                     FROM instances i JOIN tenants t ON t.id = i.tenant_id \
                     WHERE i.username = $1"
                ))
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    Ok(InstanceCredentials {
                        instance: instance_from(&row)?,
                        tenant: tenant_from(&row)?,
                        password_hash: row.try_get("i_password_hash")?,
                        client_jwks: row.try_get("i_client_jwks")?,
                    })
                })
                .transpose()
            }

            async fn set_instance_disabled(
                &self,
                id: InstanceId,
                disabled_at: Option<UnixTime>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>("UPDATE instances SET disabled_at = $1 WHERE id = $2")
                    .bind(disabled_at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() > 0 {
                    bump_token_epoch(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_client_jwks(
                &self,
                id: InstanceId,
                jwks: Option<&str>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>("UPDATE instances SET client_jwks = $1 WHERE id = $2")
                    .bind(jwks)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() > 0 {
                    bump_token_epoch(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn client_jwks(&self, id: InstanceId) -> Result<Option<String>, StoreError> {
                let row = query::<$db>("SELECT client_jwks FROM instances WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(row) => row.try_get("client_jwks")?,
                    None => None,
                })
            }

            async fn set_instance_password(
                &self,
                id: InstanceId,
                password_hash: &[u8],
                expires_at: UnixTime,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>(
                    "UPDATE instances SET password_hash = $1, password_expires_at = $2 \
                     WHERE id = $3",
                )
                .bind(password_hash)
                .bind(expires_at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                // Verified passwords are cached: other processes must forget the old one.
                bump_token_epoch(&mut tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_token_scope(
                &self,
                id: TokenId,
                scope: &str,
                now: UnixTime,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>(concat!(
                    "UPDATE tokens SET scope = $1 WHERE id = $2 AND ",
                    active!("tokens", "3")
                ))
                .bind(scope)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    bump_token_epoch(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn newest_active_token(
                &self,
                instance: InstanceId,
                now: UnixTime,
            ) -> Result<Option<StoredToken>, StoreError> {
                query::<$db>(concat!(
                    "SELECT ",
                    token_columns!(),
                    " FROM tokens k WHERE k.instance_id = $1 AND k.kind = 'a1user' AND ",
                    active!("k", "2"),
                    " ORDER BY k.issued_at DESC, k.id DESC LIMIT 1"
                ))
                .bind(instance)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(token_from)
                .transpose()
            }

            async fn insert_token_if_none_active(
                &self,
                token: &NewToken,
                now: UnixTime,
            ) -> Result<bool, StoreError> {
                let instance = token.instance_id.unwrap_or_default();
                let mut tx = self.begin_exclusive(LockKey::Instance(instance)).await?;
                let done = query::<$db>(concat!(
                    "INSERT INTO tokens (token_hash, kind, tenant_id, instance_id, sealed, \
                     issued_at, expires_at, prefix) SELECT $1, 'a1user', $2, $3, $4, $5, $6, $8 \
                     WHERE NOT EXISTS (SELECT 1 FROM tokens k WHERE k.instance_id = $3 \
                     AND k.kind = 'a1user' AND ",
                    active!("k", "7"),
                    ")"
                ))
                .bind(&token.token_hash)
                .bind(token.tenant_id)
                .bind(token.instance_id)
                .bind(&token.sealed)
                .bind(token.issued_at)
                .bind(token.expires_at)
                .bind(now)
                .bind(&token.prefix)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_tokens(&self, batch: &[TokenIssue]) -> Result<Vec<bool>, StoreError> {
                let mut locks: Vec<LockKey> = batch
                    .iter()
                    .filter(|issue| issue.limit.is_some())
                    .map(|issue| LockKey::Instance(issue.token.instance_id.unwrap_or_default()))
                    .collect();
                locks.sort_by_key(|key| key.advisory_key());
                locks.dedup_by_key(|key| key.advisory_key());
                let mut tx = self.begin_locked(&locks).await?;
                // The active a1user tokens of every instance with a limit, counted once for the
                // whole batch under the locks, then each token decided in order.
                let mut active: std::collections::HashMap<InstanceId, i64> =
                    std::collections::HashMap::new();
                let earliest = batch.iter().filter_map(|issue| issue.limit.map(|l| l.now)).min();
                if let Some(now) = earliest {
                    let mut count = sqlx::QueryBuilder::<$db>::new(
                        "SELECT instance_id, COUNT(*) AS active FROM tokens \
                         WHERE kind = 'a1user' AND revoked_at IS NULL AND expires_at > ",
                    );
                    count.push_bind(now).push(" AND instance_id IN (");
                    let mut ids = count.separated(", ");
                    for key in &locks {
                        if let LockKey::Instance(id) = key {
                            ids.push_bind(*id);
                        }
                    }
                    count.push(") GROUP BY instance_id");
                    for row in count.build().fetch_all(&mut *tx).await? {
                        active.insert(row.try_get("instance_id")?, row.try_get("active")?);
                    }
                }
                let inserted: Vec<bool> = batch
                    .iter()
                    .map(|issue| match issue.limit {
                        None => true,
                        Some(limit) => {
                            let held = active
                                .entry(issue.token.instance_id.unwrap_or_default())
                                .or_default();
                            let room = *held < i64::from(limit.max);
                            *held += i64::from(room);
                            room
                        }
                    })
                    .collect();
                // Every token inserted, in one statement.
                let tokens: Vec<&NewToken> = batch
                    .iter()
                    .zip(&inserted)
                    .filter(|(_, inserted)| **inserted)
                    .map(|(issue, _)| &issue.token)
                    .collect();
                if !tokens.is_empty() {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO tokens (token_hash, kind, tenant_id, instance_id, sealed, \
                         api, scope, issued_at, expires_at, prefix, secret_generation, dpop_jkt) ",
                    );
                    insert.push_values(tokens, |mut row, token| {
                        row.push_bind(&token.token_hash)
                            .push_bind(token.kind.as_str())
                            .push_bind(token.tenant_id)
                            .push_bind(token.instance_id)
                            .push_bind(&token.sealed)
                            .push_bind(&token.api)
                            .push_bind(&token.scope)
                            .push_bind(token.issued_at)
                            .push_bind(token.expires_at)
                            .push_bind(&token.prefix)
                            .push_bind(token.secret_generation)
                            .push_bind(&token.dpop_jkt);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                // The audit entries of the tokens written, in one statement.
                let entries: Vec<&NewAuditEntry> = batch
                    .iter()
                    .zip(&inserted)
                    .filter(|(_, inserted)| **inserted)
                    .map(|(issue, _)| &issue.audit)
                    .collect();
                if !entries.is_empty() {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO audit_log (at, actor, action, tenant_id, instance_id, \
                         source, detail) ",
                    );
                    insert.push_values(entries, |mut row, e| {
                        row.push_bind(e.at)
                            .push_bind(&e.actor)
                            .push_bind(&e.action)
                            .push_bind(e.tenant_id)
                            .push_bind(e.instance_id)
                            .push_bind(&e.source)
                            .push_bind(&e.detail);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(inserted)
            }

            async fn token_epoch(&self) -> Result<i64, StoreError> {
                Ok(query::<$db>("SELECT epoch FROM token_epoch WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("epoch")?)
            }

            async fn active_token_by_hash(
                &self,
                token_hash: &[u8],
                now: UnixTime,
            ) -> Result<Option<BearerContext>, StoreError> {
                let row = query::<$db>(concat!(
                    "SELECT ",
                    token_columns!(),
                    ", ",
                    instance_columns!(),
                    ", ",
                    tenant_columns!(),
                    " FROM tokens k JOIN tenants t ON t.id = k.tenant_id \
                     LEFT JOIN instances i ON i.id = k.instance_id WHERE k.token_hash = $1 AND ",
                    active!("k", "2"),
                    " AND ",
                    honoured!("k", "t")
                ))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    let token = token_from(&row)?;
                    let instance = match token.instance_id {
                        Some(_) => Some(instance_from(&row)?),
                        None => None,
                    };
                    Ok(BearerContext {
                        token,
                        instance,
                        tenant: tenant_from(&row)?,
                    })
                })
                .transpose()
            }

            async fn extend_token(
                &self,
                id: TokenId,
                expires_at: UnixTime,
                now: UnixTime,
            ) -> Result<bool, StoreError> {
                // No token epoch bump: a longer life needs no other process to forget
                // anything. Their cached copy expires at the old time and is read again then.
                let done = query::<$db>(concat!(
                    "UPDATE tokens SET expires_at = $1 WHERE id = $2 AND ",
                    active!("tokens", "3")
                ))
                .bind(expires_at)
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_token(&self, id: TokenId, now: UnixTime) -> Result<u64, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>(concat!(
                    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND ",
                    active!("tokens", "1")
                ))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    bump_token_epoch(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn revoke_instance_tokens(
                &self,
                instance: InstanceId,
                now: UnixTime,
            ) -> Result<u64, StoreError> {
                let mut tx = self.writer.begin().await?;
                let done = query::<$db>(concat!(
                    "UPDATE tokens SET revoked_at = $1 WHERE instance_id = $2 AND ",
                    active!("tokens", "1")
                ))
                .bind(now)
                .bind(instance)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    bump_token_epoch(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn count_active_tokens(
                &self,
                instance: InstanceId,
                now: UnixTime,
            ) -> Result<u64, StoreError> {
                let count: i64 = query::<$db>(concat!(
                    "SELECT COUNT(*) AS n FROM tokens k WHERE k.instance_id = $1 AND ",
                    active!("k", "2")
                ))
                .bind(instance)
                .bind(now)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn is_empty(&self) -> Result<bool, StoreError> {
                let rows: i64 = query::<$db>(
                    "SELECT (SELECT COUNT(*) FROM tenants) + (SELECT COUNT(*) FROM settings) \
                     + (SELECT COUNT(*) FROM admins) AS n",
                )
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
                Ok(rows == 0)
            }

            async fn export_head(&self) -> Result<Snapshot, StoreError> {
                let mut snapshot = Snapshot::default();
                for row in query::<$db>("SELECT name, value FROM settings ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?
                {
                    snapshot
                        .settings
                        .push((row.try_get("name")?, row.try_get("value")?));
                }
                for row in query::<$db>(
                    "SELECT id, name, environment, tenant_hash, oauth_enabled, \
                     oauth_secret_hash, secret_generation, token_format, created_at \
                     FROM tenants ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?
                {
                    snapshot.tenants.push(TenantRecord {
                        id: row.try_get("id")?,
                        name: row.try_get("name")?,
                        environment: row.try_get("environment")?,
                        tenant_hash: row.try_get("tenant_hash")?,
                        oauth_enabled: row.try_get("oauth_enabled")?,
                        oauth_secret_hash: row.try_get("oauth_secret_hash")?,
                        secret_generation: row.try_get("secret_generation")?,
                        token_format: row.try_get("token_format")?,
                        created_at: row.try_get("created_at")?,
                    });
                }
                for row in query::<$db>(
                    "SELECT id, tenant_id, name, type, username, password_hash, \
                     password_expires_at, disabled_at, created_at, client_jwks \
                     FROM instances ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?
                {
                    snapshot.instances.push(InstanceRecord {
                        id: row.try_get("id")?,
                        tenant_id: row.try_get("tenant_id")?,
                        name: row.try_get("name")?,
                        instance_type: row.try_get("type")?,
                        username: row.try_get("username")?,
                        password_hash: row.try_get("password_hash")?,
                        password_expires_at: row.try_get("password_expires_at")?,
                        disabled_at: row.try_get("disabled_at")?,
                        created_at: row.try_get("created_at")?,
                        client_jwks: row.try_get("client_jwks")?,
                    });
                }
                snapshot.signing_keys = self.signing_keys().await?;
                Ok(snapshot)
            }

            async fn export_tokens(
                &self,
                after: TokenId,
                limit: u32,
            ) -> Result<Vec<TokenRecord>, StoreError> {
                query::<$db>(
                    "SELECT id, token_hash, kind, tenant_id, instance_id, sealed, api, scope, \
                     issued_at, expires_at, revoked_at, last_used_at, prefix, secret_generation, \
                     dpop_jkt FROM tokens \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(token_record_from)
                .collect()
            }

            async fn import_head(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
                let mut tx = self.writer.begin().await?;
                for (name, value) in &snapshot.settings {
                    query::<$db>("INSERT INTO settings (name, value) VALUES ($1, $2)")
                        .bind(name)
                        .bind(value)
                        .execute(&mut *tx)
                        .await?;
                }
                for t in &snapshot.tenants {
                    query::<$db>(
                        "INSERT INTO tenants (id, name, environment, tenant_hash, oauth_enabled, \
                         oauth_secret_hash, secret_generation, created_at, name_key, token_format) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(t.id)
                    .bind(&t.name)
                    .bind(&t.environment)
                    .bind(&t.tenant_hash)
                    .bind(t.oauth_enabled)
                    .bind(&t.oauth_secret_hash)
                    .bind(t.secret_generation)
                    .bind(t.created_at)
                    .bind(crate::domain::names::name_key(&t.name))
                    .bind(&t.token_format)
                    .execute(&mut *tx)
                    .await?;
                }
                for key in &snapshot.signing_keys {
                    insert_signing_key(&mut tx, key).await?;
                }
                for i in &snapshot.instances {
                    query::<$db>(
                        "INSERT INTO instances (id, tenant_id, name, type, username, \
                         password_hash, password_expires_at, disabled_at, created_at, \
                         client_jwks) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(i.id)
                    .bind(i.tenant_id)
                    .bind(&i.name)
                    .bind(&i.instance_type)
                    .bind(&i.username)
                    .bind(&i.password_hash)
                    .bind(i.password_expires_at)
                    .bind(i.disabled_at)
                    .bind(i.created_at)
                    .bind(&i.client_jwks)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn import_tokens(&self, tokens: &[TokenRecord]) -> Result<(), StoreError> {
                let mut tx = self.writer.begin().await?;
                for k in tokens {
                    query::<$db>(
                        "INSERT INTO tokens (id, token_hash, kind, tenant_id, instance_id, sealed, \
                         api, scope, issued_at, expires_at, revoked_at, last_used_at, prefix, \
                         secret_generation, dpop_jkt) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    )
                    .bind(k.id)
                    .bind(&k.token_hash)
                    .bind(&k.kind)
                    .bind(k.tenant_id)
                    .bind(k.instance_id)
                    .bind(&k.sealed)
                    .bind(&k.api)
                    .bind(&k.scope)
                    .bind(k.issued_at)
                    .bind(k.expires_at)
                    .bind(k.revoked_at)
                    .bind(k.last_used_at)
                    .bind(&k.prefix)
                    .bind(k.secret_generation)
                    .bind(&k.dpop_jkt)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn finish_import(&self) -> Result<(), StoreError> {
                self.after_import().await
            }
        }
    };
}
