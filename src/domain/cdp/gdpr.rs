//! GDPR requests over secureApi: registered by a caller, processed by a background worker (at
//! once, or at the next midnight in the tenant's time zone, as the vendor does), and answered
//! through the status request. `access` leaves a JSON export of everything held on the person;
//! `forget` erases them. The value naming the person is erased once the request is processed,
//! and neither the value nor the person's data ever reaches the audit log.

use std::time::Duration;

use serde_json::{Value, json};

use super::document::customer_json;
use super::records::normalise_email;
use super::{Cdp, GdprSchedule};
use crate::domain::DomainError;
use crate::domain::audit::{Actor, AuditAction, AuditEvent};
use crate::domain::clock::{self, UnixTime};
use crate::domain::model::Tenant;
use crate::store::cdp::{CustomerKey, GdprRequest, NewGdprRequest};

/// The most customers one GDPR request reaches. Only a phone number can name more than one
/// (an email and a source number name one customer each), and a phone shared by more than
/// this many people is not one person's.
const MAX_SUBJECTS: i64 = 100;

/// Longest `reqSource` the vendor accepts.
const MAX_SOURCE_LEN: usize = 10;

/// Requests the worker takes per round.
const BATCH: i64 = 50;

/// The next local midnight after `now` in `zone` (an IANA name), as Unix seconds. An unknown
/// zone counts as UTC (configuration is checked at start-up, so this is a fallback only).
pub fn next_midnight(now: UnixTime, zone: &str) -> UnixTime {
    let zone = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let next = jiff::Timestamp::from_second(now)
        .ok()
        .map(|t| t.to_zoned(zone.clone()))
        .and_then(|local| local.date().tomorrow().ok())
        .and_then(|date| date.to_zoned(zone).ok());
    next.map_or(now + 86_400, |z| z.timestamp().as_second())
}

/// Whether `zone` names a time zone this build knows.
pub fn known_time_zone(zone: &str) -> bool {
    jiff::tz::TimeZone::get(zone).is_ok()
}

fn field<'b>(body: &'b Value, name: &str) -> Result<&'b str, DomainError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| DomainError::InvalidRequest(format!("The body must carry {name:?}.")))
}

/// The store key a request's parameter and value name.
fn customer_key(param: &str, value: &str) -> CustomerKey {
    match param {
        "gcrid" => CustomerKey::Gcr(value.to_owned()),
        "email" => CustomerKey::Email(normalise_email(value)),
        _ => CustomerKey::Phone(value.trim().to_owned()),
    }
}

impl Cdp {
    /// `registerGdprRequest`: checks the body and the `reqParamValue` header and stores a
    /// pending request; returns its id.
    pub async fn register_gdpr(
        &self,
        tenant: &Tenant,
        body: &Value,
        value: Option<&str>,
        actor: &Actor,
    ) -> Result<String, DomainError> {
        let req_type = field(body, "reqType")?;
        if !matches!(req_type, "access" | "forget") {
            return Err(DomainError::InvalidRequest(
                "reqType must be \"access\" or \"forget\".".into(),
            ));
        }
        let req_param = field(body, "reqParam")?;
        if !matches!(req_param, "gcrid" | "email" | "mobile") {
            return Err(DomainError::InvalidRequest(
                "reqParam must be \"gcrid\", \"email\" or \"mobile\".".into(),
            ));
        }
        let req_source = field(body, "reqSource")?.trim();
        if req_source.is_empty()
            || req_source.chars().count() > MAX_SOURCE_LEN
            || req_source.chars().any(char::is_control)
        {
            return Err(DomainError::InvalidRequest(
                "reqSource must be 1 to 10 printable characters.".into(),
            ));
        }
        let value = value
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 320 && !v.chars().any(char::is_control))
            .ok_or_else(|| {
                DomainError::InvalidRequest(
                    "The reqParamValue header must name the person (1 to 320 characters).".into(),
                )
            })?;
        let now = clock::now();
        let due_at = match self.settings.gdpr_schedule {
            GdprSchedule::Immediate => now,
            GdprSchedule::Daily => {
                let zone = self
                    .settings
                    .gdpr_time_zones
                    .get(&tenant.name)
                    .unwrap_or(&self.settings.gdpr_time_zone);
                next_midnight(now, zone)
            }
        };
        let request_id = uuid::Builder::from_random_bytes(random_16()?)
            .into_uuid()
            .to_string();
        self.store
            .insert_gdpr_request(&NewGdprRequest {
                request_id: request_id.clone(),
                tenant_id: tenant.id,
                req_type: req_type.to_owned(),
                req_param: req_param.to_owned(),
                req_value: value.to_owned(),
                req_source: req_source.to_owned(),
                created_at: now,
                due_at,
            })
            .await?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::GdprRegistered, actor)
                    .tenant(tenant.id)
                    .detail(format!("{req_type} request {request_id} by {req_param}")),
            )
            .await?;
        self.gdpr_wakeup.notify_one();
        Ok(request_id)
    }

    /// `gdprRequestStatus`: the request's state, with the export once an access request is
    /// done.
    pub async fn gdpr_status(
        &self,
        tenant: &Tenant,
        request_id: &str,
    ) -> Result<Value, DomainError> {
        let request = self.find_gdpr(tenant, request_id).await?;
        let export = match request.export.as_deref() {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| DomainError::Internal(format!("stored export unreadable: {e}")))?,
            None => Value::Null,
        };
        Ok(json!({
            "requestId": request.request_id,
            "reqType": request.req_type,
            "reqParam": request.req_param,
            "reqSource": request.req_source,
            "status": request.status,
            "registeredAt": clock::rfc3339(request.created_at),
            "dueAt": clock::rfc3339(request.due_at),
            "processedAt": request.processed_at.map(clock::rfc3339),
            "export": export,
        }))
    }

    /// `revokeGdprActions`: cancels a pending request; a done or revoked one is a conflict.
    pub async fn revoke_gdpr(
        &self,
        tenant: &Tenant,
        request_id: &str,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        let request = self.find_gdpr(tenant, request_id).await?;
        if !self
            .store
            .revoke_gdpr_request(tenant.id, &request.request_id, clock::now())
            .await?
        {
            return Err(DomainError::Conflict(
                "Only a pending request can be revoked; this one is no longer pending.".into(),
            ));
        }
        self.audit
            .record(
                AuditEvent::new(AuditAction::GdprRevoked, actor)
                    .tenant(tenant.id)
                    .detail(format!("request {}", request.request_id)),
            )
            .await
    }

    async fn find_gdpr(
        &self,
        tenant: &Tenant,
        request_id: &str,
    ) -> Result<GdprRequest, DomainError> {
        if request_id.is_empty()
            || request_id.len() > 64
            || request_id.chars().any(char::is_control)
        {
            return Err(DomainError::NotFound("The GDPR request".into()));
        }
        self.store
            .gdpr_request(tenant.id, request_id)
            .await?
            .ok_or_else(|| DomainError::NotFound("The GDPR request".into()))
    }

    /// Processes every request that is due; returns how many were done.
    pub async fn process_due_gdpr(&self) -> Result<usize, DomainError> {
        let mut done = 0;
        loop {
            let due = self.store.due_gdpr_requests(clock::now(), BATCH).await?;
            if due.is_empty() {
                return Ok(done);
            }
            let round = due.len();
            for request in due {
                if self.process_gdpr(&request).await? {
                    done += 1;
                }
            }
            if round < BATCH as usize {
                return Ok(done);
            }
        }
    }

    async fn process_gdpr(&self, request: &GdprRequest) -> Result<bool, DomainError> {
        let value = request.req_value.as_deref().unwrap_or_default();
        let key = customer_key(&request.req_param, value);
        let data = self
            .store
            .find_customers(request.tenant_id, &key, MAX_SUBJECTS)
            .await?;
        let now = clock::now();
        let worker = Actor::new("gdpr-worker", None);
        let (finished, action, detail) = if request.req_type == "access" {
            let subjects: Vec<String> = data.iter().map(|d| d.customer.gcr_id.clone()).collect();
            let export = json!({
                "requestId": request.request_id,
                "generatedAt": clock::rfc3339(now),
                "customers": data.iter().map(customer_json).collect::<Vec<_>>(),
            });
            let finished = self
                .store
                .finish_access(request.id, &subjects, &export.to_string(), now)
                .await?;
            let detail = format!(
                "request {}: {} customers exported",
                request.request_id,
                data.len()
            );
            (finished, AuditAction::GdprAccess, detail)
        } else {
            let customers: Vec<_> = data.into_iter().map(|d| d.customer).collect();
            let count = customers.len();
            let finished = self
                .store
                .finish_forget(request.id, request.tenant_id, &customers, now)
                .await?;
            let detail = format!("request {}: {count} customers erased", request.request_id);
            (finished, AuditAction::GdprForget, detail)
        };
        if finished {
            self.audit
                .record(
                    AuditEvent::new(action, &worker)
                        .tenant(request.tenant_id)
                        .detail(detail),
                )
                .await?;
        }
        Ok(finished)
    }

    /// Runs the background work of the CDP until the process ends: due GDPR requests (woken
    /// at once by a registration, and checked every few seconds for scheduled ones), expired
    /// idempotency keys, idle WebTag rate buckets.
    pub fn spawn_worker(&self) -> tokio::task::JoinHandle<()> {
        let cdp = self.clone();
        tokio::spawn(async move {
            let mut last_prune = 0;
            loop {
                if let Err(error) = cdp.process_due_gdpr().await {
                    tracing::warn!(%error, "GDPR worker round failed; retrying");
                }
                let now = clock::now();
                if now - last_prune >= 3600 {
                    last_prune = now;
                    cdp.forget_idle_webtag_buckets();
                    if let Err(error) = cdp.store.prune_push_keys(now - 86_400).await {
                        tracing::warn!(%error, "could not prune idempotency keys");
                    }
                }
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), cdp.gdpr_wakeup.notified()).await;
            }
        })
    }
}

fn random_16() -> Result<[u8; 16], DomainError> {
    let mut bytes = [0u8; 16];
    crate::domain::secrets::fill_random(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_is_local_to_the_tenant() {
        // 2026-11-23T14:00:00Z.
        let now = 1_795_442_400;
        assert_eq!(
            clock::rfc3339(next_midnight(now, "UTC")),
            "2026-11-24T00:00:00Z"
        );
        // Berlin is UTC+1 in November: its midnight is 23:00 UTC.
        assert_eq!(
            clock::rfc3339(next_midnight(now, "Europe/Berlin")),
            "2026-11-23T23:00:00Z"
        );
        assert!(known_time_zone("America/New_York"));
        assert!(!known_time_zone("Mars/Olympus"));
    }
}
