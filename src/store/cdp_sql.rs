//! The SQL of [`CdpStore`](super::cdp::CdpStore), shared by both backends like `sql.rs`.
//! Pushes are applied with a handful of multi-row statements per batch (lookups by `IN`
//! lists, one upsert per table), inside a transaction that holds the tenant's customer-data
//! lock, so that each update gets a strictly later `updated_us` than every committed one.

/// Rows per multi-row statement: at most 10 columns each, well inside both databases' limits
/// on bound parameters.
pub const CHUNK: usize = 1000;

/// Columns of a customer row.
macro_rules! customer_columns {
    () => {
        "c.id, c.tenant_id, c.gcr_id, c.email, c.first_name, c.last_name, c.phone, \
         c.attributes, c.created_at, c.updated_us"
    };
}

/// The two columns that carry a customer's source records and events as JSON arrays of
/// arrays, so that a page of customers with all their data is one statement and one row per
/// customer. (Three statements and a row per record and event spent most of an a360 read in
/// hand-offs to and from the database thread.) `$agg` is the backend's ordered JSON array
/// aggregate, `$array` its JSON array constructor, `$empty` the text for no rows.
macro_rules! customer_data_columns {
    ($agg:literal, $array:literal, $empty:literal) => {
        concat!(
            "CAST(COALESCE((SELECT ",
            $agg,
            "(",
            $array,
            "(r.source_customer_number, r.email, \
             r.first_name, r.last_name, r.phone, r.attributes, r.instance_id, r.received_at) \
             ORDER BY r.id) FROM cdp_records r WHERE r.customer_id = c.id), ",
            $empty,
            ") \
             AS TEXT) AS records_json, \
             CAST(COALESCE((SELECT ",
            $agg,
            "(",
            $array,
            "(e.id, e.source_customer_number, e.type, \
             e.subtype, e.occurred_us, e.channel, e.received_at) \
             ORDER BY e.occurred_us DESC, e.id DESC) FROM cdp_events e \
             WHERE e.customer_id = c.id), ",
            $empty,
            ") AS TEXT) AS events_json"
        )
    };
}

/// Implements `CdpStore` for `$store` (a struct with a `pool: sqlx::Pool<$db>` field and the
/// inherent `begin_exclusive` and `after_erase`); `$data_columns` is its
/// `customer_data_columns!`.
macro_rules! impl_cdp_sql_store {
    ($store:ident, $db:ty, $row:ty, $data_columns:expr) => {
        mod cdp_impl {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use serde_json::{Map, Value};
            use sqlx::{QueryBuilder, Row, query};

            #[allow(unused_imports)]
            use super::*;
            use crate::domain::cdp::model::{
                Channel, Customer, CustomerData, Event, Segment, SourceRecord, UnixMicros,
            };
            use crate::domain::cdp::unify::{self, Known};
            use crate::domain::clock::UnixTime;
            use crate::domain::model::{InstanceId, TenantId, TokenId};
            use crate::store::cdp::{
                CdpStore, CustomerKey, CustomerQuery, GdprRequest, NewGdprRequest, PushBatch,
                PushOutcome, WebTagContext,
            };
            use crate::store::cdp_sql::CHUNK;
            use crate::store::{LockKey, StoreError};

            fn attributes_from(text: Option<String>) -> Result<Option<Map<String, Value>>, StoreError> {
                text.map(|text| {
                    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .transpose()
            }

            fn attributes_text(attributes: &Option<Map<String, Value>>) -> Option<String> {
                attributes.as_ref().map(|a| Value::Object(a.clone()).to_string())
            }

            fn customer_from(row: &$row) -> Result<Customer, StoreError> {
                Ok(Customer {
                    id: row.try_get("id")?,
                    tenant_id: row.try_get("tenant_id")?,
                    gcr_id: row.try_get("gcr_id")?,
                    email: row.try_get("email")?,
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                    phone: row.try_get("phone")?,
                    attributes: attributes_from(row.try_get("attributes")?)?,
                    created_at: row.try_get("created_at")?,
                    updated_us: row.try_get("updated_us")?,
                })
            }

            /// A source record as the records column carries it.
            type RecordTuple = (
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<InstanceId>,
                UnixTime,
            );
            /// An event as the events column carries it.
            type EventTuple = (i64, String, String, Option<String>, UnixMicros, String, UnixTime);

            fn json_column<T: serde::de::DeserializeOwned>(
                row: &$row,
                column: &str,
            ) -> Result<T, StoreError> {
                let text: String = row.try_get(column)?;
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
            }

            /// A customer row with its `records_json` and `events_json` columns.
            fn customer_data_from(row: &$row) -> Result<CustomerData, StoreError> {
                let customer = customer_from(row)?;
                let records = json_column::<Vec<RecordTuple>>(row, "records_json")?
                    .into_iter()
                    .map(|r| {
                        Ok(SourceRecord {
                            customer_id: customer.id,
                            source_customer_number: r.0,
                            email: r.1,
                            first_name: r.2,
                            last_name: r.3,
                            phone: r.4,
                            attributes: attributes_from(r.5)?,
                            instance_id: r.6,
                            received_at: r.7,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                let events = json_column::<Vec<EventTuple>>(row, "events_json")?
                    .into_iter()
                    .map(|e| Event {
                        id: e.0,
                        customer_id: customer.id,
                        source_customer_number: e.1,
                        event_type: e.2,
                        subtype: e.3,
                        occurred_us: e.4,
                        channel: e.5,
                        received_at: e.6,
                    })
                    .collect();
                Ok(CustomerData {
                    customer,
                    records,
                    events,
                })
            }

            fn gdpr_from(row: &$row) -> Result<GdprRequest, StoreError> {
                Ok(GdprRequest {
                    id: row.try_get("id")?,
                    request_id: row.try_get("request_id")?,
                    tenant_id: row.try_get("tenant_id")?,
                    req_type: row.try_get("req_type")?,
                    req_param: row.try_get("req_param")?,
                    req_value: row.try_get("req_value")?,
                    req_source: row.try_get("req_source")?,
                    status: row.try_get("status")?,
                    export: row.try_get("export")?,
                    created_at: row.try_get("created_at")?,
                    due_at: row.try_get("due_at")?,
                    processed_at: row.try_get("processed_at")?,
                })
            }

            fn new_gcr_id(now_us: UnixMicros) -> Result<String, StoreError> {
                unify::new_gcr_id(now_us).map_err(|e| StoreError::Corrupt(e.to_string()))
            }

            /// One placeholder per value and the closing parenthesis, for `IN (…)` lists.
            fn push_in_list<T>(builder: &mut QueryBuilder<$db>, values: &[T])
            where
                for<'t> &'t T: sqlx::Encode<'t, $db> + sqlx::Type<$db>,
            {
                let mut separated = builder.separated(", ");
                for value in values {
                    separated.push_bind(value);
                }
                separated.push_unseparated(")");
            }

            /// Keyed lookups of the customers that hold `emails` and `sources` now.
            async fn lookups(
                tx: &mut $crate::store::Tx<$db>,
                tenant: TenantId,
                emails: &[String],
                sources: &[String],
            ) -> Result<(HashMap<String, Known>, HashMap<String, Known>), StoreError> {
                let mut by_email = HashMap::new();
                for chunk in emails.chunks(CHUNK) {
                    let mut builder = QueryBuilder::<$db>::new(
                        "SELECT id, gcr_id, email FROM cdp_customers WHERE tenant_id = ",
                    );
                    builder.push_bind(tenant).push(" AND email IN (");
                    push_in_list(&mut builder, chunk);
                    for row in builder.build().fetch_all(&mut **tx).await? {
                        let email: String = row.try_get("email")?;
                        by_email.insert(
                            email,
                            Known { id: row.try_get("id")?, gcr_id: row.try_get("gcr_id")? },
                        );
                    }
                }
                let mut by_source = HashMap::new();
                for chunk in sources.chunks(CHUNK) {
                    let mut builder = QueryBuilder::<$db>::new(
                        "SELECT r.source_customer_number, c.id, c.gcr_id FROM cdp_records r \
                         JOIN cdp_customers c ON c.id = r.customer_id WHERE r.tenant_id = ",
                    );
                    builder.push_bind(tenant).push(" AND r.source_customer_number IN (");
                    push_in_list(&mut builder, chunk);
                    for row in builder.build().fetch_all(&mut **tx).await? {
                        let source: String = row.try_get("source_customer_number")?;
                        by_source.insert(
                            source,
                            Known { id: row.try_get("id")?, gcr_id: row.try_get("gcr_id")? },
                        );
                    }
                }
                Ok((by_email, by_source))
            }

            #[async_trait]
            impl CdpStore for $store {
                async fn push(&self, batch: PushBatch<'_>) -> Result<PushOutcome, StoreError> {
                    let mut tx = self.begin_exclusive(LockKey::Customers(batch.tenant_id)).await?;
                    if let Some((key, body_hash)) = batch.idempotency {
                        let earlier = query::<$db>(
                            "SELECT body_hash, accepted FROM cdp_push_keys \
                             WHERE instance_id = $1 AND idem_key = $2",
                        )
                        .bind(batch.instance_id)
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some(row) = earlier {
                            let hash: Vec<u8> = row.try_get("body_hash")?;
                            let accepted: i64 = row.try_get("accepted")?;
                            return Ok(if hash == body_hash {
                                PushOutcome::Replayed(usize::try_from(accepted).unwrap_or(0))
                            } else {
                                PushOutcome::KeyReused
                            });
                        }
                    }

                    let mut emails: Vec<String> = batch
                        .records
                        .iter()
                        .filter_map(|r| r.email.as_deref())
                        .map(crate::domain::cdp::records::normalise_email)
                        .collect();
                    emails.sort_unstable();
                    emails.dedup();
                    let mut sources: Vec<String> = batch
                        .records
                        .iter()
                        .map(|r| r.source_customer_number.clone())
                        .collect();
                    sources.sort_unstable();
                    sources.dedup();
                    let (by_email, by_source) =
                        lookups(&mut tx, batch.tenant_id, &emails, &sources).await?;
                    let plan = unify::plan(batch.records, &by_email, &by_source);

                    // Each changed customer gets a distinct time after every committed one.
                    let latest: Option<i64> = query::<$db>(
                        "SELECT MAX(updated_us) AS latest FROM cdp_customers WHERE tenant_id = $1",
                    )
                    .bind(batch.tenant_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("latest")?;
                    let first_us: UnixMicros =
                        batch.now_us.max(latest.map_or(i64::MIN, |l| l + 1));

                    let mut gcr_ids = Vec::with_capacity(plan.customers.len());
                    for patch in &plan.customers {
                        gcr_ids.push(match &patch.existing {
                            Some(known) => known.gcr_id.clone(),
                            None => new_gcr_id(batch.now_us)?,
                        });
                    }
                    let mut ids: HashMap<String, i64> = HashMap::with_capacity(gcr_ids.len());
                    let numbered: Vec<_> = plan.customers.iter().zip(&gcr_ids).enumerate().collect();
                    for chunk in numbered.chunks(CHUNK) {
                        let mut builder = QueryBuilder::<$db>::new(
                            "INSERT INTO cdp_customers (tenant_id, gcr_id, email, first_name, \
                             last_name, phone, attributes, created_at, updated_us) ",
                        );
                        builder.push_values(chunk, |mut row, (at, (patch, gcr_id))| {
                            row.push_bind(batch.tenant_id)
                                .push_bind(gcr_id.as_str())
                                .push_bind(patch.email.as_deref())
                                .push_bind(patch.first_name.as_deref())
                                .push_bind(patch.last_name.as_deref())
                                .push_bind(patch.phone.as_deref())
                                .push_bind(attributes_text(&patch.attributes))
                                .push_bind(batch.now)
                                .push_bind(first_us + *at as i64);
                        });
                        builder.push(
                            " ON CONFLICT (gcr_id) DO UPDATE SET \
                             email = COALESCE(excluded.email, cdp_customers.email), \
                             first_name = COALESCE(excluded.first_name, cdp_customers.first_name), \
                             last_name = COALESCE(excluded.last_name, cdp_customers.last_name), \
                             phone = COALESCE(excluded.phone, cdp_customers.phone), \
                             attributes = COALESCE(excluded.attributes, cdp_customers.attributes), \
                             updated_us = excluded.updated_us \
                             RETURNING id, gcr_id",
                        );
                        for row in builder.build().fetch_all(&mut *tx).await? {
                            ids.insert(row.try_get("gcr_id")?, row.try_get("id")?);
                        }
                    }
                    let customer_id = |slot: usize| -> Result<i64, StoreError> {
                        ids.get(&gcr_ids[slot])
                            .copied()
                            .ok_or_else(|| StoreError::Corrupt("customer upsert lost a row".into()))
                    };

                    let mut records = Vec::with_capacity(plan.records.len());
                    for (slot, record) in &plan.records {
                        records.push((customer_id(*slot)?, *record));
                    }
                    for chunk in records.chunks(CHUNK) {
                        let mut builder = QueryBuilder::<$db>::new(
                            "INSERT INTO cdp_records (tenant_id, customer_id, \
                             source_customer_number, email, first_name, last_name, phone, \
                             attributes, instance_id, received_at) ",
                        );
                        builder.push_values(chunk, |mut row, (customer, record)| {
                            row.push_bind(batch.tenant_id)
                                .push_bind(*customer)
                                .push_bind(record.source_customer_number.as_str())
                                .push_bind(record.email.as_deref())
                                .push_bind(record.first_name.as_deref())
                                .push_bind(record.last_name.as_deref())
                                .push_bind(record.phone.as_deref())
                                .push_bind(attributes_text(&record.attributes))
                                .push_bind(batch.instance_id)
                                .push_bind(batch.now);
                        });
                        builder.push(match batch.channel {
                            // A browser event names its customer; it never replaces what the
                            // source system said about them.
                            Channel::WebTag => {
                                " ON CONFLICT (tenant_id, source_customer_number) DO NOTHING"
                            }
                            Channel::Tracker => {
                                " ON CONFLICT (tenant_id, source_customer_number) DO UPDATE SET \
                                 customer_id = excluded.customer_id, email = excluded.email, \
                                 first_name = excluded.first_name, last_name = excluded.last_name, \
                                 phone = excluded.phone, attributes = excluded.attributes, \
                                 instance_id = excluded.instance_id, received_at = excluded.received_at"
                            }
                        });
                        builder.build().execute(&mut *tx).await?;
                    }

                    let mut events = Vec::with_capacity(plan.events.len());
                    for (slot, source, event) in &plan.events {
                        events.push((customer_id(*slot)?, *source, *event));
                    }
                    for chunk in events.chunks(CHUNK) {
                        let mut builder = QueryBuilder::<$db>::new(
                            "INSERT INTO cdp_events (tenant_id, customer_id, \
                             source_customer_number, type, subtype, occurred_us, channel, \
                             received_at) ",
                        );
                        builder.push_values(chunk, |mut row, (customer, source, event)| {
                            row.push_bind(batch.tenant_id)
                                .push_bind(*customer)
                                .push_bind(*source)
                                .push_bind(event.event_type.as_str())
                                .push_bind(event.subtype.as_deref())
                                .push_bind(event.occurred_us)
                                .push_bind(batch.channel.as_str())
                                .push_bind(batch.now);
                        });
                        builder.build().execute(&mut *tx).await?;
                    }

                    if let Some((key, body_hash)) = batch.idempotency {
                        query::<$db>(
                            "INSERT INTO cdp_push_keys (instance_id, idem_key, body_hash, \
                             accepted, created_at) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(batch.instance_id)
                        .bind(key)
                        .bind(body_hash)
                        .bind(batch.records.len() as i64)
                        .bind(batch.now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(PushOutcome::Stored(batch.records.len()))
                }

                async fn customers(
                    &self,
                    tenant: TenantId,
                    filter: &CustomerQuery,
                ) -> Result<Vec<CustomerData>, StoreError> {
                    let mut builder = QueryBuilder::<$db>::new("SELECT ");
                    builder
                        .push(customer_columns!())
                        .push(", ")
                        .push($data_columns)
                        .push(" FROM cdp_customers c WHERE c.tenant_id = ")
                        .push_bind(tenant);
                    if let Some(email) = &filter.email {
                        builder.push(" AND c.email = ").push_bind(email.as_str());
                    }
                    if let Some(after) = filter.updated_after_us {
                        builder.push(" AND c.updated_us > ").push_bind(after);
                    }
                    if let Some((updated, id)) = filter.after {
                        builder
                            .push(" AND (c.updated_us > ")
                            .push_bind(updated)
                            .push(" OR (c.updated_us = ")
                            .push_bind(updated)
                            .push(" AND c.id > ")
                            .push_bind(id)
                            .push("))");
                    }
                    builder
                        .push(" ORDER BY c.updated_us, c.id LIMIT ")
                        .push_bind(filter.limit)
                        .push(" OFFSET ")
                        .push_bind(filter.offset);
                    builder
                        .build()
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(customer_data_from)
                        .collect()
                }

                async fn find_customers(
                    &self,
                    tenant: TenantId,
                    key: &CustomerKey,
                    limit: i64,
                ) -> Result<Vec<CustomerData>, StoreError> {
                    let (condition, value) = match key {
                        CustomerKey::Gcr(v) => ("c.gcr_id = $2", v),
                        CustomerKey::Email(v) => ("c.email = $2", v),
                        // The customer's phone is the newest one pushed for them.
                        CustomerKey::Phone(v) => ("c.phone = $2", v),
                        CustomerKey::SourceNumber(v) => (
                            "c.id IN (SELECT customer_id FROM cdp_records \
                             WHERE tenant_id = $1 AND source_customer_number = $2)",
                            v,
                        ),
                    };
                    // Only the fixed conditions above are spliced in; values are bound.
                    let sql = format!(
                        "SELECT {}, {} FROM cdp_customers c WHERE c.tenant_id = $1 AND {condition} \
                         ORDER BY c.updated_us DESC LIMIT $3",
                        customer_columns!(),
                        $data_columns,
                    );
                    query::<$db>(sqlx::AssertSqlSafe(sql))
                        .bind(tenant)
                        .bind(value.as_str())
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(customer_data_from)
                        .collect()
                }

                async fn segments(&self, tenant: TenantId) -> Result<Vec<Segment>, StoreError> {
                    let rows = query::<$db>(
                        "SELECT name, rule, created_at FROM cdp_segments WHERE tenant_id = $1 \
                         ORDER BY name",
                    )
                    .bind(tenant)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|row| {
                            let rule: String = row.try_get("rule")?;
                            Ok(Segment {
                                name: row.try_get("name")?,
                                rule: serde_json::from_str(&rule)
                                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                                created_at: row.try_get("created_at")?,
                            })
                        })
                        .collect()
                }

                async fn put_segment(
                    &self,
                    tenant: TenantId,
                    segment: &Segment,
                ) -> Result<(), StoreError> {
                    query::<$db>(
                        "INSERT INTO cdp_segments (tenant_id, name, rule, created_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, name) \
                         DO UPDATE SET rule = excluded.rule",
                    )
                    .bind(tenant)
                    .bind(&segment.name)
                    .bind(segment.rule.to_string())
                    .bind(segment.created_at)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn delete_segment(
                    &self,
                    tenant: TenantId,
                    name: &str,
                ) -> Result<bool, StoreError> {
                    let done = query::<$db>(
                        "DELETE FROM cdp_segments WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(tenant)
                    .bind(name)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn insert_gdpr_request(
                    &self,
                    request: &NewGdprRequest,
                ) -> Result<(), StoreError> {
                    query::<$db>(
                        "INSERT INTO gdpr_requests (request_id, tenant_id, req_type, req_param, \
                         req_value, req_source, status, created_at, due_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
                    )
                    .bind(&request.request_id)
                    .bind(request.tenant_id)
                    .bind(&request.req_type)
                    .bind(&request.req_param)
                    .bind(&request.req_value)
                    .bind(&request.req_source)
                    .bind(request.created_at)
                    .bind(request.due_at)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn gdpr_request(
                    &self,
                    tenant: TenantId,
                    request_id: &str,
                ) -> Result<Option<GdprRequest>, StoreError> {
                    query::<$db>(
                        "SELECT * FROM gdpr_requests WHERE tenant_id = $1 AND request_id = $2",
                    )
                    .bind(tenant)
                    .bind(request_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(gdpr_from)
                    .transpose()
                }

                async fn revoke_gdpr_request(
                    &self,
                    tenant: TenantId,
                    request_id: &str,
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    let done = query::<$db>(
                        "UPDATE gdpr_requests SET status = 'revoked', req_value = NULL, \
                         processed_at = $1 \
                         WHERE tenant_id = $2 AND request_id = $3 AND status = 'pending'",
                    )
                    .bind(now)
                    .bind(tenant)
                    .bind(request_id)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn due_gdpr_requests(
                    &self,
                    now: UnixTime,
                    limit: i64,
                ) -> Result<Vec<GdprRequest>, StoreError> {
                    query::<$db>(
                        "SELECT * FROM gdpr_requests WHERE status = 'pending' AND due_at <= $1 \
                         ORDER BY id LIMIT $2",
                    )
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(gdpr_from)
                    .collect()
                }

                async fn finish_access(
                    &self,
                    id: i64,
                    subjects: &[String],
                    export: &str,
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    let done = query::<$db>(
                        "UPDATE gdpr_requests SET status = 'done', req_value = NULL, \
                         subjects = $1, export = $2, processed_at = $3 \
                         WHERE id = $4 AND status = 'pending'",
                    )
                    .bind(subjects.join("\n"))
                    .bind(export)
                    .bind(now)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn finish_forget(
                    &self,
                    id: i64,
                    tenant: TenantId,
                    customers: &[Customer],
                    now: UnixTime,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_exclusive(LockKey::Customers(tenant)).await?;
                    let done = query::<$db>(
                        "UPDATE gdpr_requests SET status = 'done', req_value = NULL, \
                         processed_at = $1 WHERE id = $2 AND status = 'pending'",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    for customer in customers {
                        for statement in [
                            "DELETE FROM cdp_events WHERE customer_id = $1",
                            "DELETE FROM cdp_records WHERE customer_id = $1",
                            "DELETE FROM cdp_customers WHERE id = $1",
                        ] {
                            query::<$db>(statement).bind(customer.id).execute(&mut *tx).await?;
                        }
                        // Earlier access exports about the person go too.
                        let pattern = format!("%{}%", customer.gcr_id);
                        query::<$db>(
                            "UPDATE gdpr_requests SET export = NULL, subjects = NULL \
                             WHERE tenant_id = $1 AND subjects LIKE $2",
                        )
                        .bind(tenant)
                        .bind(pattern)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    self.after_erase().await?;
                    Ok(true)
                }

                async fn prune_push_keys(&self, before: UnixTime) -> Result<u64, StoreError> {
                    let done = query::<$db>("DELETE FROM cdp_push_keys WHERE created_at < $1")
                        .bind(before)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn insert_webtag_key(
                    &self,
                    token: TokenId,
                    key_hash: &[u8],
                ) -> Result<(), StoreError> {
                    query::<$db>("INSERT INTO webtag_keys (key_hash, token_id) VALUES ($1, $2)")
                        .bind(key_hash)
                        .bind(token)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn webtag_key(
                    &self,
                    key_hash: &[u8],
                    now: UnixTime,
                ) -> Result<Option<WebTagContext>, StoreError> {
                    let row = query::<$db>(concat!(
                        "SELECT w.token_id, i.allowed_origins AS i_allowed_origins, ",
                        instance_columns!(),
                        ", ",
                        tenant_columns!(),
                        " FROM webtag_keys w JOIN tokens k ON k.id = w.token_id \
                         JOIN instances i ON i.id = k.instance_id \
                         JOIN tenants t ON t.id = i.tenant_id \
                         WHERE w.key_hash = $1 AND ",
                        active!("k", 2)
                    ))
                    .bind(key_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(|row| {
                        let origins: Option<String> = row.try_get("i_allowed_origins")?;
                        Ok(WebTagContext {
                            token_id: row.try_get("token_id")?,
                            instance: super::instance_from(&row)?,
                            tenant: super::tenant_from(&row)?,
                            allowed_origins: split_origins(origins),
                        })
                    })
                    .transpose()
                }

                async fn set_allowed_origins(
                    &self,
                    instance: InstanceId,
                    origins: &[String],
                ) -> Result<bool, StoreError> {
                    let done = query::<$db>(
                        "UPDATE instances SET allowed_origins = $1 WHERE id = $2",
                    )
                    .bind(origins.join("\n"))
                    .bind(instance)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn allowed_origins(
                    &self,
                    instance: InstanceId,
                ) -> Result<Vec<String>, StoreError> {
                    let row = query::<$db>("SELECT allowed_origins FROM instances WHERE id = $1")
                        .bind(instance)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(match row {
                        Some(row) => split_origins(row.try_get("allowed_origins")?),
                        None => Vec::new(),
                    })
                }
            }

            fn split_origins(text: Option<String>) -> Vec<String> {
                text.unwrap_or_default()
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
        }
    };
}
