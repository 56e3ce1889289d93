//! The customer data the tokens unlock: pushes of source records, their unification into
//! customers, downstream pulls, profile derivations for secureApi, segments, WebTag keys and
//! GDPR requests. HTTP checks the token (see `http::guard`); this module is handed the tenant
//! and instance it acts for.

pub mod document;
pub mod gdpr;
pub mod model;
pub mod profile;
pub mod records;
pub mod segments;
pub mod unify;
pub mod webtag;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use self::model::{Channel, CustomerData, IncomingRecord, Segment, UnixMicros};
use self::records::PushRejected;
use super::audit::{Actor, AuditAction, AuditEvent, AuditLog};
use super::clock;
use super::error::DomainError;
use super::model::{InstanceId, TenantId};
use super::secrets::ServerKeys;
use crate::store::cdp::{CustomerKey, CustomerQuery, PushBatch, PushOutcome};
use crate::store::{DynStore, StoreError};

/// When GDPR requests are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GdprSchedule {
    /// As soon as they are registered (within a second).
    Immediate,
    /// At the next midnight in the tenant's time zone, as the vendor does.
    Daily,
}

/// The CDP's limits and schedules, resolved from configuration.
#[derive(Debug, Clone)]
pub struct CdpSettings {
    /// Largest push body, in bytes (default 10 MiB).
    pub max_push_body: usize,
    /// Most records in one push (default 10,000).
    pub max_push_records: usize,
    /// When GDPR requests are processed.
    pub gdpr_schedule: GdprSchedule,
    /// The time zone of tenants not named in `gdpr_time_zones` (default `UTC`).
    pub gdpr_time_zone: String,
    /// Time zones by tenant name.
    pub gdpr_time_zones: BTreeMap<String, String>,
    /// Requests per second one WebTag key may send (default 50).
    pub webtag_rate: u32,
    /// Requests a WebTag key may send at once (default 100).
    pub webtag_burst: u32,
}

impl Default for CdpSettings {
    fn default() -> Self {
        CdpSettings {
            max_push_body: 10 * 1024 * 1024,
            max_push_records: 10_000,
            gdpr_schedule: GdprSchedule::Immediate,
            gdpr_time_zone: "UTC".into(),
            gdpr_time_zones: BTreeMap::new(),
            webtag_rate: 50,
            webtag_burst: 100,
        }
    }
}

/// Why a push was refused.
#[derive(Debug)]
pub enum PushError {
    /// The body or some of its records are invalid; nothing was stored.
    Rejected(PushRejected),
    /// The `Idempotency-Key` was used before with a different body.
    KeyReused,
    /// The `Idempotency-Key` header is not 1 to 255 printable ASCII characters.
    BadKey,
    /// Anything else.
    Domain(DomainError),
}

impl From<StoreError> for PushError {
    fn from(error: StoreError) -> Self {
        PushError::Domain(error.into())
    }
}

/// Now in Unix microseconds.
pub fn now_us() -> UnixMicros {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
    UnixMicros::try_from(now).unwrap_or(UnixMicros::MAX)
}

/// The customer data service, cheap to clone.
#[derive(Clone)]
pub struct Cdp {
    store: DynStore,
    keys: Arc<ServerKeys>,
    audit: AuditLog,
    settings: Arc<CdpSettings>,
    webtag_limiter: Arc<webtag::KeyLimiter>,
    gdpr_wakeup: Arc<Notify>,
}

impl Cdp {
    /// Builds the service.
    pub fn new(
        store: DynStore,
        keys: Arc<ServerKeys>,
        audit: AuditLog,
        settings: CdpSettings,
    ) -> Self {
        let webtag_limiter = Arc::new(webtag::KeyLimiter::new(
            settings.webtag_rate,
            settings.webtag_burst,
        ));
        Cdp {
            store,
            keys,
            audit,
            settings: Arc::new(settings),
            webtag_limiter,
            gdpr_wakeup: Arc::new(Notify::new()),
        }
    }

    /// The limits in force.
    pub fn settings(&self) -> &CdpSettings {
        &self.settings
    }

    /// Validates and stores a push body for `instance` of `tenant`. With an idempotency key, a
    /// retry of the same body stores nothing and answers as the first push did.
    pub async fn push(
        &self,
        tenant: TenantId,
        instance: InstanceId,
        channel: Channel,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<usize, PushError> {
        let key = match idempotency_key {
            Some(key)
                if key.is_empty()
                    || key.len() > 255
                    || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
            {
                return Err(PushError::BadKey);
            }
            other => other,
        };
        let records = records::parse_push_body(body, channel, self.settings.max_push_records)
            .map_err(PushError::Rejected)?;
        let body_hash = Sha256::digest(body);
        self.store_records(
            tenant,
            instance,
            channel,
            &records,
            key.map(|k| (k, &body_hash[..])),
        )
        .await
    }

    /// Stores records already validated (the WebTag query-string form).
    pub async fn store_records(
        &self,
        tenant: TenantId,
        instance: InstanceId,
        channel: Channel,
        records: &[IncomingRecord],
        idempotency: Option<(&str, &[u8])>,
    ) -> Result<usize, PushError> {
        let outcome = self
            .store
            .push(PushBatch {
                tenant_id: tenant,
                instance_id: instance,
                channel,
                idempotency,
                records,
                now: clock::now(),
                now_us: now_us(),
            })
            .await?;
        match outcome {
            PushOutcome::Stored(n) | PushOutcome::Replayed(n) => Ok(n),
            PushOutcome::KeyReused => Err(PushError::KeyReused),
        }
    }

    /// A page of customers with their records and events, and whether more follow.
    pub async fn customers(
        &self,
        tenant: TenantId,
        query: &CustomerQuery,
    ) -> Result<(Vec<CustomerData>, bool), DomainError> {
        let mut probe = query.clone();
        probe.limit = query.limit + 1;
        let mut customers = self.store.customers(tenant, &probe).await?;
        let more = customers.len() as i64 > query.limit;
        customers.truncate(usize::try_from(query.limit).unwrap_or(0));
        Ok((customers, more))
    }

    /// The customer a key names (the most recently updated, when a phone number is shared).
    pub async fn customer(
        &self,
        tenant: TenantId,
        key: &CustomerKey,
    ) -> Result<Option<CustomerData>, DomainError> {
        Ok(self.store.find_customers(tenant, key, 1).await?.pop())
    }

    /// A tenant's segments.
    pub async fn segments(&self, tenant: TenantId) -> Result<Vec<Segment>, DomainError> {
        Ok(self.store.segments(tenant).await?)
    }

    /// Creates or replaces a segment after checking its rule.
    pub async fn put_segment(
        &self,
        tenant: TenantId,
        name: &str,
        rule: Value,
        actor: &Actor,
    ) -> Result<Segment, DomainError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(DomainError::InvalidRequest(
                "A segment name is 1 to 100 printable characters.".into(),
            ));
        }
        segments::parse_rule(&rule)
            .map_err(|e| DomainError::InvalidRequest(format!("Invalid segment rule: {e}")))?;
        let segment = Segment {
            name: name.to_owned(),
            rule,
            created_at: clock::now(),
        };
        self.store.put_segment(tenant, &segment).await?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::SegmentSet, actor)
                    .tenant(tenant)
                    .detail(format!("segment {name}")),
            )
            .await?;
        Ok(segment)
    }

    /// Deletes a segment.
    pub async fn delete_segment(
        &self,
        tenant: TenantId,
        name: &str,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        if !self.store.delete_segment(tenant, name).await? {
            return Err(DomainError::NotFound(format!("Segment {name:?}")));
        }
        self.audit
            .record(
                AuditEvent::new(AuditAction::SegmentDeleted, actor)
                    .tenant(tenant)
                    .detail(format!("segment {name}")),
            )
            .await
    }

    /// The `data` of a secureApi profile resource for the customer `key` names.
    pub async fn profile(
        &self,
        tenant: TenantId,
        key: &CustomerKey,
        resource: &str,
        body: &Value,
    ) -> Result<Value, DomainError> {
        let data = self
            .customer(tenant, key)
            .await?
            .ok_or_else(|| DomainError::NotFound("Customer".into()))?;
        let now = now_us();
        let segments_of = || async { self.segments(tenant).await };
        Ok(match resource {
            "basic" => profile::basic(&data),
            "segments" => {
                let names = segments::memberships(&segments_of().await?, &data, now);
                serde_json::json!({ "segments": names })
            }
            "searchSegments" => {
                let query = optional_str(body, "query")?
                    .unwrap_or_default()
                    .to_lowercase();
                let all = segments_of().await?;
                let member = segments::memberships(&all, &data, now);
                let found: Vec<Value> = all
                    .iter()
                    .filter(|s| s.name.to_lowercase().contains(&query))
                    .map(
                        |s| serde_json::json!({"name": s.name, "member": member.contains(&s.name)}),
                    )
                    .collect();
                serde_json::json!({ "segments": found })
            }
            "isCustomerInSegment" => {
                let name = optional_str(body, "segment")?.ok_or_else(|| {
                    DomainError::InvalidRequest("The body must name a \"segment\".".into())
                })?;
                let all = segments_of().await?;
                if !all.iter().any(|s| s.name == name) {
                    return Err(DomainError::NotFound(format!("Segment {name:?}")));
                }
                let member = segments::memberships(&all, &data, now).contains(&name);
                serde_json::json!({ "segment": name, "inSegment": member })
            }
            "campaigns" => profile::campaigns(&data),
            "userActivity" => {
                let page_size = match body.get("pageSize") {
                    None | Some(Value::Null) => 20,
                    Some(v) => v
                        .as_u64()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            DomainError::InvalidRequest(
                                "pageSize must be a whole number from 1 to 1000.".into(),
                            )
                        })? as usize,
                };
                profile::user_activity(&data, page_size)
            }
            "affinity" => profile::affinity(&data),
            "recommendedProducts" => profile::recommended_products(&data),
            other => return Err(DomainError::NotFound(format!("Resource {other:?}"))),
        })
    }
}

/// A string field of a JSON body, if present.
fn optional_str(body: &Value, field: &str) -> Result<Option<String>, DomainError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DomainError::InvalidRequest(format!(
            "{field} must be a string."
        ))),
    }
}
