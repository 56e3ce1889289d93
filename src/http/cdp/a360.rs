//! `/v2/{tenantId}/dw/a360/customers`: downstream pulls of unified customers for 360 Profiles
//! instances, as HAL. Pages are ordered by (update time, id); `_links.next` carries a keyset
//! cursor rather than an offset, so a delta pull pages through every customer once even while
//! pushes move customers to the end of the order.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

use super::tracker::{param, query_pairs};
use crate::domain::cdp::document::{CustomerDocument, Link, SelfLink};
use crate::domain::cdp::model::CustomerData;
use crate::domain::cdp::profile::parse_rfc3339_micros;
use crate::domain::cdp::records::normalise_email;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::guard::Grant;
use crate::store::cdp::{CustomerKey, CustomerQuery};

/// Customers per page unless `limit` says otherwise.
const DEFAULT_LIMIT: i64 = 100;
/// Most customers per page.
const MAX_LIMIT: i64 = 1000;

fn hal(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/hal+json"),
    );
    response
}

fn customer_hal(tenant: i64, data: &CustomerData) -> CustomerDocument<'_> {
    CustomerDocument::new(data).with_links(SelfLink {
        this: Link {
            href: format!("/v2/{tenant}/dw/a360/customers/{}", data.customer.gcr_id),
        },
    })
}

/// A page of customers as HAL.
#[derive(Serialize)]
struct Page<'a> {
    #[serde(rename = "_links")]
    links: PageLinks,
    count: usize,
    #[serde(rename = "_embedded")]
    embedded: Embedded<'a>,
}

/// Where this page is, and the next one while more remain.
#[derive(Serialize)]
struct PageLinks {
    #[serde(rename = "self")]
    this: Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<Link>,
}

#[derive(Serialize)]
struct Embedded<'a> {
    customers: Vec<CustomerDocument<'a>>,
}

fn number(pairs: &[(String, String)], name: &str, default: i64, max: i64) -> Result<i64, ApiError> {
    match param(pairs, name) {
        None => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_request(format!("{name} must be a whole number from 0 to {max}."))
            }),
    }
}

/// Reads `offset`, `limit`, `fq` and `after` into a store query.
fn customer_query(pairs: &[(String, String)]) -> Result<CustomerQuery, ApiError> {
    let limit = number(pairs, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    if limit == 0 {
        return Err(ApiError::invalid_request(
            "limit must be a whole number from 1 to 1000.",
        ));
    }
    let mut query = CustomerQuery {
        offset: number(pairs, "offset", 0, i64::MAX)?,
        limit,
        ..CustomerQuery::default()
    };
    for (_, filter) in pairs.iter().filter(|(name, _)| name == "fq") {
        match filter.split_once(':') {
            Some(("email", email)) if !email.trim().is_empty() && !email.contains('\0') => {
                query.email = Some(normalise_email(email));
            }
            Some(("updatedSince", since)) => {
                let since = parse_rfc3339_micros(since.trim()).ok_or_else(|| {
                    ApiError::invalid_request(
                        "fq=updatedSince: takes an RFC 3339 time, e.g. 2026-11-23T10:00:00Z.",
                    )
                })?;
                query.updated_after_us = Some(since);
            }
            _ => {
                return Err(ApiError::invalid_request(
                    "fq must be email:<address> or updatedSince:<RFC 3339 time>.",
                ));
            }
        }
    }
    if let Some(after) = param(pairs, "after") {
        let cursor = after
            .split_once('.')
            .and_then(|(updated, id)| Some((updated.parse().ok()?, id.parse().ok()?)))
            .ok_or_else(|| ApiError::invalid_request("after must be a cursor from _links.next."))?;
        query.after = Some(cursor);
    }
    Ok(query)
}

/// The query string of a link: the request's `fq`s and `limit`, plus `extra`.
fn link(tenant: i64, pairs: &[(String, String)], extra: &[(&str, String)]) -> String {
    let mut kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(name, _)| matches!(name.as_str(), "fq" | "limit"))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    kept.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let path = format!("/v2/{tenant}/dw/a360/customers");
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

/// `GET /v2/{tenantId}/dw/a360/customers`: a page of unified customers.
#[utoipa::path(
    get,
    path = "/v2/{tenantId}/dw/a360/customers",
    tag = "cdp",
    params(
        ("tenantId" = String, Path, description = "The token's tenant"),
        ("offset" = Option<i64>, Query, description = "Customers to skip (default 0)"),
        ("limit" = Option<i64>, Query, description = "Customers per page, 1 to 1000 (default 100)"),
        ("fq" = Option<String>, Query, description = "`email:<address>` or `updatedSince:<RFC 3339>` (strictly after); may repeat"),
        ("after" = Option<String>, Query, description = "Cursor from `_links.next`"),
    ),
    responses(
        (status = 200, description = "HAL page: `_embedded.customers`, `_links.next` while more remain", body = Object, content_type = "application/hal+json"),
        (status = 400, description = "Bad offset, limit, fq or cursor", body = ErrorBody),
        (status = 401, description = "No token or a dead one", body = ErrorBody),
        (status = 403, description = "Not a 360 Profiles token of this tenant", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn customers(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    let query = customer_query(&pairs)?;
    let tenant = grant.tenant.id;
    let (page, more) = state.services.cdp.customers(tenant, &query).await?;
    let next = page.last().filter(|_| more).map(|last| {
        let cursor = format!("{}.{}", last.customer.updated_us, last.customer.id);
        Link {
            href: link(tenant, &pairs, &[("after", cursor)]),
        }
    });
    let links = PageLinks {
        this: Link {
            href: link(tenant, &pairs, &self_extra(&pairs)),
        },
        next,
    };
    let customers: Vec<_> = page.iter().map(|c| customer_hal(tenant, c)).collect();
    Ok(hal(Page {
        links,
        count: customers.len(),
        embedded: Embedded { customers },
    }))
}

fn self_extra(pairs: &[(String, String)]) -> Vec<(&'static str, String)> {
    ["offset", "after"]
        .into_iter()
        .filter_map(|name| param(pairs, name).map(|v| (name, v.to_owned())))
        .collect()
}

/// `GET /v2/{tenantId}/dw/a360/customers/{gcrId}`: one unified customer.
#[utoipa::path(
    get,
    path = "/v2/{tenantId}/dw/a360/customers/{gcrId}",
    tag = "cdp",
    params(
        ("tenantId" = String, Path, description = "The token's tenant"),
        ("gcrId" = String, Path, description = "The unified id"),
    ),
    responses(
        (status = 200, description = "The customer with source records and events", body = Object, content_type = "application/hal+json"),
        (status = 401, description = "No token or a dead one", body = ErrorBody),
        (status = 403, description = "Not a 360 Profiles token of this tenant", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn customer(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    Path(path): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let gcr_id = path.1;
    let tenant = grant.tenant.id;
    let found = if gcr_id.len() <= 64 && !gcr_id.chars().any(char::is_control) {
        state
            .services
            .cdp
            .customer(tenant, &CustomerKey::Gcr(gcr_id))
            .await?
    } else {
        None
    };
    let data = found
        .ok_or_else(|| ApiError::from(crate::domain::DomainError::NotFound("Customer".into())))?;
    Ok(hal(customer_hal(tenant, &data)))
}
