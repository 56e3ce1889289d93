//! `/v2/{tenantId}/dw/tracker`: upstream pushes. `scheme=a1user` takes a DW Tracker
//! instance's bearer token; `scheme=a1webtag` takes a WebTag `accessKey` from a browser on one
//! of the instance's allowed origins (CORS), for events only.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::cdp::PushError;
use crate::domain::cdp::model::Channel;
use crate::domain::cdp::records::{self, RecordError};
use crate::domain::model::InstanceType;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, ErrorCode};
use crate::http::guard::{RequestLine, authorize_instance, single_header};
use crate::http::media_type::{Reads, require_readable};
use crate::store::cdp::WebTagContext;

/// `202 {"accepted": N}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Records accepted (for a retried `Idempotency-Key`, those of the first push).
    accepted: usize,
}

/// The query string as pairs; a repeated parameter is an error, since which copy to believe
/// would be a guess.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = match raw {
        None => Vec::new(),
        Some(raw) => serde_urlencoded::from_str(raw)
            .map_err(|_| ApiError::invalid_request("The query string is malformed."))?,
    };
    for (at, (name, _)) in pairs.iter().enumerate() {
        if pairs[..at].iter().any(|(earlier, _)| earlier == name) && name != "fq" {
            return Err(ApiError::invalid_request(format!(
                "The query parameter {name} is repeated."
            )));
        }
    }
    Ok(pairs)
}

/// The first value of a query parameter.
pub fn param<'p>(pairs: &'p [(String, String)], name: &str) -> Option<&'p str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn unsupported_scheme() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::UnsupportedScheme,
        "Use scheme=a1user with a Bearer token, or scheme=a1webtag with an accessKey.",
    )
}

fn push_error(error: PushError) -> ApiError {
    match error {
        PushError::Rejected(rejected) => {
            let mut error = ApiError::invalid_request(rejected.summary());
            error.details = serde_json::to_value::<&[RecordError]>(&rejected.errors)
                .ok()
                .map(Box::new);
            error
        }
        PushError::KeyReused => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            "This Idempotency-Key was used before with a different body; use a new key.",
        ),
        PushError::BadKey => ApiError::invalid_request(
            "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
        ),
        PushError::Domain(error) => error.into(),
    }
}

fn accepted(count: usize) -> Response {
    (StatusCode::ACCEPTED, Json(Accepted { accepted: count })).into_response()
}

/// A transparent 1×1 GIF: what an `<img>` pixel is answered with. Browsers block a JSON
/// answer to an image load (opaque response blocking) and log an error in the shop's page.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Whether the request is an image load: its `Accept` puts an `image/…` type first, as
/// browsers do for `<img>`. Scripts and curl (`*/*`, JSON) get the JSON answer.
fn wants_image(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .and_then(|accept| accept.split(',').next())
        .and_then(|first| first.trim().parse::<mime::Mime>().ok())
        .is_some_and(|media| media.type_() == mime::IMAGE)
}

/// The pixel's success: the GIF for an image load, else the usual JSON.
fn pixel_accepted(count: usize, headers: &HeaderMap) -> Response {
    if !wants_image(headers) {
        return accepted(count);
    }
    (
        StatusCode::ACCEPTED,
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PIXEL_GIF,
    )
        .into_response()
}

/// `POST /v2/{tenantId}/dw/tracker`: a push of records (JSON array, one object, or NDJSON).
#[utoipa::path(
    post,
    path = "/v2/{tenantId}/dw/tracker",
    tag = "cdp",
    params(
        ("tenantId" = String, Path, description = "The token's tenant"),
        ("scheme" = String, Query, description = "`a1user` (Bearer token of a DW Tracker instance) or `a1webtag` (with `accessKey`)"),
        ("accessKey" = Option<String>, Query, description = "WebTag browser key (`scheme=a1webtag`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of the same body store nothing"),
    ),
    request_body(content = Vec<serde_json::Value>, content_type = "application/json", description = "Records: a JSON array, one object, or NDJSON"),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, description = "Invalid records (`invalid_request`, with `errors` naming record and field) or `unsupported_scheme`", body = ErrorBody),
        (status = 401, description = "No token or a dead one (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "Another tenant, another instance type, or a disallowed origin (`insufficient_scope`)", body = ErrorBody),
        (status = 413, description = "Body over the push limit (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 429, description = "WebTag key over its rate (`too_many_attempts`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("access_key" = []))
)]
pub async fn push(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The body (up to `max_push_body`) is read only once the credentials in the head are
    // known good: an unauthenticated client gets its answer before sending a byte of it.
    let pairs = query_pairs(raw.as_deref())?;
    let cdp = &state.services.cdp;
    match param(&pairs, "scheme") {
        Some("a1user") => {
            let grant = authorize_instance(
                &state.services.authn,
                &headers,
                RequestLine::of(&method, &uri),
                Some(&tenant),
                InstanceType::DwTracker,
            )
            .await?;
            let body = read_body(body).await?;
            require_readable(&headers, &body, Reads::Records)?;
            let instance = grant.instance.map_or(0, |i| i.id);
            let key = single_header(&headers, "idempotency-key")?;
            let count = cdp
                .push(grant.tenant.id, instance, Channel::Tracker, &body, key)
                .await
                .map_err(push_error)?;
            Ok(accepted(count))
        }
        Some("a1webtag") => {
            let (context, origin) =
                webtag(&state, &tenant, &pairs, &headers, SentBy::Script).await?;
            let body = match read_body(body).await {
                Ok(body) => body,
                Err(error) => return Ok(with_cors(error.into_response(), &origin)),
            };
            if let Err(error) = require_readable(&headers, &body, Reads::Records) {
                return Ok(with_cors(error.into_response(), &origin));
            }
            let outcome = cdp
                .push(
                    context.tenant.id,
                    context.instance.id,
                    Channel::WebTag,
                    &body,
                    None,
                )
                .await
                .map_err(push_error);
            Ok(with_cors(into_response(outcome.map(accepted)), &origin))
        }
        _ => Err(unsupported_scheme()),
    }
}

/// `GET /v2/{tenantId}/dw/tracker?scheme=a1webtag&accessKey=…&Type=…`: one browser event, its
/// fields in the query string (a tracking pixel can send it).
#[utoipa::path(
    get,
    path = "/v2/{tenantId}/dw/tracker",
    tag = "cdp",
    params(
        ("tenantId" = String, Path, description = "The key's tenant"),
        ("scheme" = String, Query, description = "`a1webtag`"),
        ("accessKey" = String, Query, description = "WebTag browser key"),
        ("SourceCustomerNumber" = String, Query, description = "The visitor's id"),
        ("Type" = String, Query, description = "Event type"),
        ("Subtype" = Option<String>, Query, description = "Product, category, campaign…"),
        ("EventTimeStamp" = String, Query, description = "RFC 3339"),
    ),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, description = "Invalid event", body = ErrorBody),
        (status = 401, description = "Unknown or dead key", body = ErrorBody),
        (status = 403, description = "Disallowed origin or another tenant", body = ErrorBody),
        (status = 429, description = "Over the key's rate", body = ErrorBody),
    ),
    security(("access_key" = []))
)]
pub async fn webtag_get(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    if param(&pairs, "scheme") != Some("a1webtag") {
        return Err(unsupported_scheme());
    }
    let (context, origin) = webtag(&state, &tenant, &pairs, &headers, SentBy::Pixel).await?;
    let outcome = match records::record_from_query(&pairs) {
        Ok(record) => state
            .services
            .cdp
            .store_records(
                context.tenant.id,
                context.instance.id,
                Channel::WebTag,
                std::slice::from_ref(&record),
                None,
            )
            .await
            .map_err(push_error)
            .map(|count| pixel_accepted(count, &headers)),
        Err(rejected) => Err(push_error(PushError::Rejected(rejected))),
    };
    Ok(with_cors(into_response(outcome), &origin))
}

/// `OPTIONS /v2/{tenantId}/dw/tracker?scheme=a1webtag&accessKey=…`: the CORS preflight.
#[utoipa::path(
    options,
    path = "/v2/{tenantId}/dw/tracker",
    tag = "cdp",
    params(
        ("tenantId" = String, Path, description = "The key's tenant"),
        ("scheme" = String, Query, description = "`a1webtag`"),
        ("accessKey" = String, Query, description = "WebTag browser key"),
    ),
    responses(
        (status = 204, description = "The origin may send events with this key"),
        (status = 400, description = "`scheme` is not `a1webtag` (`unsupported_scheme`), or a malformed query or Origin", body = ErrorBody),
        (status = 401, description = "Unknown or dead key", body = ErrorBody),
        (status = 403, description = "Disallowed origin", body = ErrorBody),
        (status = 429, description = "Over the key's rate", body = ErrorBody),
    ),
    security(("access_key" = []))
)]
pub async fn preflight(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    if param(&pairs, "scheme") != Some("a1webtag") {
        return Err(unsupported_scheme());
    }
    let (_, origin) = webtag(&state, &tenant, &pairs, &headers, SentBy::Script).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    Ok(with_cors(response, &origin))
}

/// The key's context and the request's allowed origin (from `Origin`, or for a pixel from
/// `Referer`); refuses a dead key (401), another
/// tenant or a disallowed origin (403), or a key over its rate (429).
async fn webtag(
    state: &AppState,
    tenant: &str,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    sent_by: SentBy,
) -> Result<(WebTagContext, HeaderValue), ApiError> {
    let key = param(pairs, "accessKey").unwrap_or_default();
    let cdp = &state.services.cdp;
    let context = cdp.webtag(key).await?;
    if tenant.parse::<i64>().ok() != Some(context.tenant.id) {
        return Err(crate::domain::DomainError::InsufficientScope(
            "The access key belongs to another tenant.".into(),
        )
        .into());
    }
    let origin = match single_header(headers, "origin")? {
        Some(origin) => Some(origin.to_owned()),
        None if sent_by == SentBy::Pixel => referer_origin(headers)?,
        None => None,
    };
    cdp.admit_webtag(&context, origin.as_deref())?;
    let origin = HeaderValue::from_str(origin.as_deref().unwrap_or_default())
        .map_err(|_| ApiError::invalid_request("The Origin header is malformed."))?;
    Ok((context, origin))
}

/// How a WebTag request reached us, which decides where its page's origin is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SentBy {
    /// `fetch`, `sendBeacon` or a preflight: browsers always send `Origin` with these.
    Script,
    /// An `<img>` pixel (`GET`): browsers send no `Origin` for images, only `Referer`.
    Pixel,
}

/// The origin (`scheme://host[:port]`) of the page named by `Referer`, for a pixel. A page
/// whose referrer policy sends no `Referer` gets nothing here and is refused; it can send
/// its events by `fetch` or `sendBeacon` instead, which carry `Origin`.
fn referer_origin(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(referer) = single_header(headers, "referer")?.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let origin = url::Url::parse(referer)
        .ok()
        .map(|url| url.origin())
        .filter(url::Origin::is_tuple)
        .ok_or_else(|| ApiError::invalid_request("The Referer header is not a URL."))?;
    Ok(Some(origin.ascii_serialization()))
}

/// Reads a push body whose head has been authorized. The route's body limit wraps it, so a
/// body over `max_push_body` (declared or streamed) ends as 413; one the client breaks off
/// or sends too slowly is a 400.
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|error| {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            let mut too_large = false;
            while let Some(error) = cause {
                too_large |= error.is::<http_body_util::LengthLimitError>();
                cause = error.source();
            }
            if too_large {
                ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::invalid_request("The request body could not be read to its end.")
            }
        })
}

fn into_response(outcome: Result<Response, ApiError>) -> Response {
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// Lets the allowed origin's page read the answer.
fn with_cors(mut response: Response, origin: &HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}
