//! The token check in front of every protected CDP route, as a tower [`Layer`]: it takes the
//! token from `Authorization: Bearer` or the vendor's `access_token` header (or, for a token
//! bound to a DPoP key, `Authorization: DPoP` with a proof for this request), resolves it
//! through a [`TokenVerifier`], checks that it may make this request (its tenant, its instance
//! type, or its secureApi api and resource), and hands the handler a [`Grant`] in the request
//! extensions. Refusals follow RFC 6750: 401 with `WWW-Authenticate` when there is no valid
//! token, 403 `insufficient_scope` when the token is valid but not for this.
//!
//! The layer knows nothing of the CDP behind it: another Rust service can put it in front of
//! its own routes with any verifier (ours is [`Authenticator`]).
//!
//! ```ignore
//! let routes = Router::new()
//!     .route("/v2/{tenantId}/dw/a360/customers", get(pull))
//!     .route_layer(RequireToken::instance(verifier, InstanceType::Profiles360));
//! // handlers: `Extension(grant): Extension<Grant>`
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::credentials::{Presented, SourceAddress, presented};
use super::error::{ApiError, Challenge};
use crate::domain::DomainError;
use crate::domain::authn::Authenticator;
use crate::domain::clock;
use crate::domain::dpop::{Dpop, DpopRefusal, ProofTarget};
use crate::domain::model::{Instance, InstanceType, Tenant, TokenId, TokenKind};
use crate::domain::secrets::Secret;

/// What a verified token grants, as the handler behind the layer sees it.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The token's row id.
    pub token_id: TokenId,
    /// Its tenant.
    pub tenant: Tenant,
    /// The instance it acts for (a1user and OAuth tokens).
    pub instance: Option<Instance>,
    /// The secureApi api it was created for.
    pub api: Option<String>,
    /// The secureApi resources it holds.
    pub resources: Vec<String>,
    /// OAuth tokens bound to a DPoP key: its thumbprint.
    pub dpop_jkt: Option<String>,
}

/// Resolves a bearer token to what it grants: `InvalidToken` when it is unknown, expired or
/// revoked, `InstanceDisabled` when its instance is disabled.
pub trait TokenVerifier: Clone + Send + Sync + 'static {
    /// Verifies one token.
    fn verify(&self, token: Secret) -> impl Future<Output = Result<Grant, DomainError>> + Send;

    /// Checks the DPoP proofs of bound tokens; `None` when this verifier binds no tokens
    /// (then a DPoP-scheme request is refused).
    fn dpop(&self) -> Option<&Dpop> {
        None
    }
}

impl TokenVerifier for Authenticator {
    async fn verify(&self, token: Secret) -> Result<Grant, DomainError> {
        let context = self.bearer(&token).await?;
        let secure_api = context.token.kind == TokenKind::SecureApi;
        Ok(Grant {
            token_id: context.token.id,
            tenant: context.tenant.clone(),
            instance: context.instance.clone(),
            api: context.token.api.clone().filter(|_| secure_api),
            resources: match (secure_api, &context.token.scope) {
                (true, Some(scope)) => scope.split(' ').map(str::to_owned).collect(),
                _ => Vec::new(),
            },
            dpop_jkt: context.token.dpop_jkt.clone(),
        })
    }

    fn dpop(&self) -> Option<&Dpop> {
        Some(Authenticator::dpop(self))
    }
}

/// The request a token came with, as a DPoP proof must name it.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    /// The method (a gateway's original one, for forward auth).
    pub method: &'a str,
    /// The path (query and fragment play no part).
    pub path: &'a str,
    /// The origin (`https://host`) a gateway said the original request went to; `None`: the
    /// API Host URL.
    pub origin: Option<&'a str>,
}

impl<'a> RequestLine<'a> {
    /// The line of a request made to this server.
    pub fn of(method: &'a axum::http::Method, uri: &'a axum::http::Uri) -> Self {
        RequestLine {
            method: method.as_str(),
            path: uri.path(),
            origin: None,
        }
    }
}

/// A token as the request presented it.
pub struct PresentedToken {
    /// The token.
    pub token: Secret,
    /// Whether it came as `Authorization: DPoP`.
    pub dpop: bool,
}

/// Checks that a token's binding and the way it came agree: an unbound token comes as Bearer
/// (or `access_token`); a bound one as DPoP, with a proof for this request signed by the key
/// it is bound to (RFC 9449 §7).
pub async fn check_binding(
    dpop: Option<&Dpop>,
    headers: &HeaderMap,
    presented: &PresentedToken,
    bound_to: Option<&str>,
    line: RequestLine<'_>,
) -> Result<(), ApiError> {
    let Some(bound_to) = bound_to else {
        if presented.dpop {
            return Err(ApiError::dpop_scheme_mismatch(
                "This token is not bound to a DPoP key: send it as Authorization: Bearer <token>.",
            ));
        }
        return Ok(());
    };
    if !presented.dpop {
        return Err(ApiError::dpop_scheme_mismatch(
            "This token is bound to a DPoP key: send it as Authorization: DPoP <token>, with a DPoP proof for this request.",
        ));
    }
    let (Some(dpop), Some(proof)) = (dpop, single_header(headers, "dpop")?) else {
        return Err(ApiError::dpop_proof_required(
            "This token is bound to a DPoP key: send a DPoP proof for this request in the DPoP header.",
        ));
    };
    let urls = dpop.resource_urls(line.path, line.origin);
    let target = ProofTarget {
        method: line.method,
        urls: &urls,
        access_token: Some(presented.token.expose()),
        now: clock::now(),
    };
    match dpop.check(proof, &target).await {
        Ok(jkt) if jkt == bound_to => Ok(()),
        Ok(_) => Err(ApiError::dpop_proof_required(
            "The DPoP proof is not signed by the key this token is bound to.",
        )),
        Err(DpopRefusal::Proof(why)) => Err(ApiError::dpop_proof_required(why.0)),
        Err(DpopRefusal::Unavailable(error)) => Err(error.into()),
    }
}

/// Verifies the request's token and checks its DPoP binding.
async fn verified_grant<V: TokenVerifier>(
    verifier: &V,
    headers: &HeaderMap,
    line: RequestLine<'_>,
) -> Result<Grant, ApiError> {
    let presented = presented_token(headers)?;
    let grant = verifier.verify(presented.token.clone()).await?;
    check_binding(
        verifier.dpop(),
        headers,
        &presented,
        grant.dpop_jkt.as_deref(),
        line,
    )
    .await?;
    Ok(grant)
}

/// What a route asks of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// An instance token (a1user or OAuth) of this type, whose tenant is the path's
    /// `{tenantId}`.
    Instance(InstanceType),
    /// A secureApi token of this api holding this resource, whose tenant the `tenant_hash`
    /// header names.
    Resource {
        /// The api (`profile`, `gdpr`).
        api: &'static str,
        /// The resource the route serves.
        resource: &'static str,
    },
}

impl Requirement {
    /// How refusals are written: the secureApi side answers in the vendor's shape.
    pub fn style(self) -> ErrorStyle {
        match self {
            Requirement::Instance(_) => ErrorStyle::OAuth,
            Requirement::Resource { .. } => ErrorStyle::SecureApi,
        }
    }
}

/// The two error shapes of the protected API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error", "error_description"}`.
    OAuth,
    /// The secureApi vendor's `{"status":"ERROR","message","error"}`.
    SecureApi,
}

impl ErrorStyle {
    /// The style of the endpoint at `path`: the secureApi CDP routes (`/api/v1/…`) answer in
    /// the vendor's shape, every other route in the OAuth one. Used for errors raised before
    /// any handler ran (unknown route, wrong method, oversized body, bad path encoding).
    pub fn for_path(path: &str) -> Self {
        if path.starts_with("/api/v1/") {
            ErrorStyle::SecureApi
        } else {
            ErrorStyle::OAuth
        }
    }

    /// Writes an error in this style; status and headers (`WWW-Authenticate`,
    /// `Retry-After`) are the same in both.
    pub fn render(self, error: ApiError) -> Response {
        match self {
            ErrorStyle::OAuth => error.into_response(),
            ErrorStyle::SecureApi => {
                let body = serde_json::json!({
                    "status": "ERROR",
                    "message": error.description,
                    "error": error.code,
                });
                let mut response = error.into_response();
                *response.body_mut() = axum::body::Body::from(body.to_string());
                response.headers_mut().remove(header::CONTENT_LENGTH);
                response
            }
        }
    }
}

/// The layer: put it on protected routes with `route_layer`, so path parameters are known.
#[derive(Clone)]
pub struct RequireToken<V> {
    verifier: V,
    requirement: Requirement,
}

impl<V: TokenVerifier> RequireToken<V> {
    /// Tokens of instances of `instance_type`, for the path's `{tenantId}`.
    pub fn instance(verifier: V, instance_type: InstanceType) -> Self {
        RequireToken {
            verifier,
            requirement: Requirement::Instance(instance_type),
        }
    }

    /// secureApi tokens of `api` holding `resource`.
    pub fn resource(verifier: V, api: &'static str, resource: &'static str) -> Self {
        RequireToken {
            verifier,
            requirement: Requirement::Resource { api, resource },
        }
    }

    /// Checks a request's token; the grant, or the refusal to send.
    async fn check(&self, request: Request) -> Result<(Grant, Request), ApiError> {
        match self.requirement {
            Requirement::Instance(required) => {
                let (mut parts, body) = request.into_parts();
                // A parameter that is not UTF-8 once percent-decoded names no tenant and no
                // customer: say so, rather than "another tenant".
                let params = RawPathParams::from_request_parts(&mut parts, &())
                    .await
                    .map_err(|_| {
                        ApiError::invalid_request(
                            "The path is not valid UTF-8 once percent-decoded.",
                        )
                    })?;
                let tenant = params
                    .iter()
                    .find(|(name, _)| *name == "tenantId")
                    .map(|(_, value)| value);
                let line = RequestLine::of(&parts.method, &parts.uri);
                let grant =
                    authorize_instance(&self.verifier, &parts.headers, line, tenant, required)
                        .await?;
                Ok((grant, Request::from_parts(parts, body)))
            }
            Requirement::Resource { api, resource } => {
                let line = RequestLine::of(request.method(), request.uri());
                let grant =
                    authorize_resource(&self.verifier, request.headers(), line, api, resource)
                        .await?;
                Ok((grant, request))
            }
        }
    }
}

fn refuse(why: &str) -> ApiError {
    ApiError::from(DomainError::InsufficientScope(format!(
        "The token may not make this request: {why}."
    )))
}

/// Checks that the request's token is an instance token of `required` type whose tenant is
/// `tenant_in_path` (the path's `{tenantId}`).
pub async fn authorize_instance<V: TokenVerifier>(
    verifier: &V,
    headers: &HeaderMap,
    line: RequestLine<'_>,
    tenant_in_path: Option<&str>,
    required: InstanceType,
) -> Result<Grant, ApiError> {
    let grant = verified_grant(verifier, headers, line).await?;
    match &grant.instance {
        Some(instance) if instance.instance_type == required => {}
        Some(_) => return Err(refuse("it belongs to another type of instance")),
        None => return Err(refuse("it is not an instance token")),
    }
    if tenant_in_path.and_then(|t| t.parse::<i64>().ok()) != Some(grant.tenant.id) {
        return Err(refuse("it belongs to another tenant"));
    }
    Ok(grant)
}

/// Checks that the request's token is a secureApi token of `api` holding `resource`, for the
/// tenant the `tenant_hash` header names.
pub async fn authorize_resource<V: TokenVerifier>(
    verifier: &V,
    headers: &HeaderMap,
    line: RequestLine<'_>,
    api: &str,
    resource: &str,
) -> Result<Grant, ApiError> {
    let grant = verified_grant(verifier, headers, line).await?;
    if grant.api.as_deref() != Some(api) {
        return Err(refuse(&format!("it is not a secureApi token of api {api}")));
    }
    if !grant.resources.iter().any(|r| r == resource) {
        return Err(refuse(&format!("it does not hold resource {resource}")));
    }
    let tenant_hash = single_header(headers, "tenant_hash")?
        .ok_or_else(|| ApiError::invalid_request("The tenant_hash header is required."))?;
    if tenant_hash != grant.tenant.tenant_hash {
        return Err(refuse("it belongs to another tenant"));
    }
    Ok(grant)
}

/// One header's value as text; two copies of it are an error.
pub fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_request(format!(
            "Send exactly one {name} header."
        )));
    }
    value.to_str().map(|v| Some(v.trim())).map_err(|_| {
        ApiError::invalid_request(format!("The {name} header must be printable ASCII."))
    })
}

/// The token from `Authorization: Bearer` (or `DPoP`) or the `access_token` header (not
/// both); also what `/forward-auth` reads, so that a gateway takes credentials exactly as the
/// CDP API does.
pub(crate) fn presented_token(headers: &HeaderMap) -> Result<PresentedToken, ApiError> {
    let from_header = single_header(headers, "access_token")?.filter(|t| !t.is_empty());
    let bearer = |token| PresentedToken { token, dpop: false };
    match (presented(headers, SourceAddress(None))?, from_header) {
        (Presented::Bearer(_) | Presented::Dpop(_), Some(_)) => Err(ApiError::invalid_request(
            "Send the token once: in Authorization or in access_token, not both.",
        )),
        (Presented::Bearer(token), None) => Ok(bearer(token)),
        (Presented::Dpop(token), None) => Ok(PresentedToken { token, dpop: true }),
        (Presented::Missing, Some(token)) => Ok(bearer(Secret::new(token))),
        (Presented::Missing, None) => Err(ApiError::bearer_required(
            "This request needs a token: send it as Authorization: Bearer <token>, or (secureApi) in the access_token header.",
            Challenge::BearerMissing,
        )),
        (Presented::Basic(_) | Presented::Other, _) => Err(ApiError::bearer_required(
            "This request needs a Bearer token, not a username and password.",
            Challenge::BearerInvalid,
        )),
    }
}

impl<S, V: Clone> Layer<S> for RequireToken<V> {
    type Service = TokenCheck<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenCheck {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service [`RequireToken`] wraps a route in.
#[derive(Clone)]
pub struct TokenCheck<S, V> {
    inner: S,
    guard: RequireToken<V>,
}

impl<S, V> Service<Request> for TokenCheck<S, V>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    V: TokenVerifier,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            match guard.check(request).await {
                Ok((grant, mut request)) => {
                    request.extensions_mut().insert(grant);
                    inner.call(request).await
                }
                Err(error) => Ok(guard.requirement.style().render(error)),
            }
        })
    }
}
