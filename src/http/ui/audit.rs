//! The audit log page: newest first, filtered by action, actor or instance (its id or its
//! username), paged by id.

use axum::extract::{Query, State};
use axum::response::Response;

use super::pages::{AuditPage, AuditRow};
use super::{UiAdmin, UiError, render};
use crate::domain::audit::AuditAction;
use crate::http::AppState;
use crate::http::admin::api::AuditQuery;

/// Entries per page.
const PAGE: u32 = 100;

/// The filtered log.
pub async fn list(
    State(state): State<AppState>,
    admin: UiAdmin,
    Query(mut query): Query<AuditQuery>,
) -> Result<Response, UiError> {
    query.limit = Some(PAGE);
    let admin_service = &state.services.admin;
    let filter = query
        .filter(admin_service)
        .await
        .map_err(|e| UiError::from(e).back_to("/ui/audit"))?;
    let unknown_instance = filter.is_none();
    let records = match filter {
        Some(filter) => admin_service.audit().entries(filter).await?,
        None => Vec::new(),
    };
    let next_page = match records.last() {
        Some(last) if records.len() == PAGE as usize => {
            let filters = serde_urlencoded::to_string([
                ("action", query.action.clone().unwrap_or_default()),
                ("actor", query.actor.clone().unwrap_or_default()),
                (
                    "instance",
                    query.instance_key().unwrap_or_default().to_owned(),
                ),
                ("before", last.id.to_string()),
            ])
            .unwrap_or_default();
            Some(format!("/ui/audit?{filters}"))
        }
        _ => None,
    };
    let rows = records
        .into_iter()
        .map(|r| {
            let e = r.entry;
            AuditRow {
                at: super::display_time(e.at),
                actor: e.actor,
                action: e.action,
                tenant: e.tenant_id.map(|id| id.to_string()).unwrap_or_default(),
                instance: e.instance_id.map(|id| id.to_string()).unwrap_or_default(),
                source: e.source.unwrap_or_default(),
                detail: e.detail,
            }
        })
        .collect();
    let instance = query.instance_key().unwrap_or_default().to_owned();
    Ok(render(&AuditPage {
        instance,
        chrome: admin.chrome("Audit log", "audit"),
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        action: query.action.unwrap_or_default(),
        actor: query.actor.unwrap_or_default(),
        unknown_instance,
        rows,
        next_page,
    }))
}
