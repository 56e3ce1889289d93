//! Postman v2.1 exports of an instance: the collection of the seed's walk-through (login, daily
//! retrieve, extend, create, revoke one, revoke all), each request with test scripts that check
//! its status and fields, and an environment with every host and credential variable. Run in
//! order (`newman run collection.json -e environment.json`) they pass against a live server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admin::ApiAdmin;
use super::error::{ApiError, ErrorBody};
use super::{AppState, no_store};
use crate::domain::model::{Instance, Tenant};

const SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

/// Checks every a1user token response shares, as Postman test-script lines.
const TOKEN_RESPONSE_TESTS: &[&str] = &[
    "pm.test('Status: 200 OK', function () { pm.response.to.have.status(200); });",
    "const body = pm.response.json();",
    "pm.test('access_token is UUID-shaped', function () { pm.expect(body.access_token).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/); });",
    "pm.test('token_type is bearer', function () { pm.expect(body.token_type).to.eql('bearer'); });",
    "pm.test('expires_in is positive', function () { pm.expect(body.expires_in).to.be.a('number').above(0); });",
    "pm.test('tenantId and username match the environment', function () { pm.expect(body.tenantId).to.eql(pm.environment.get('tenant_id')); pm.expect(body.username).to.eql(pm.environment.get('username')); });",
    "pm.test('userType is CLIENT', function () { pm.expect(body.userType).to.eql('CLIENT'); });",
    "pm.test('passwordExpiryDate is ISO 8601', function () { pm.expect(body.passwordExpiryDate).to.match(/^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$/); });",
];

fn basic_auth() -> Value {
    json!({"type": "basic", "basic": [
        {"key": "username", "value": "{{username}}", "type": "string"},
        {"key": "password", "value": "{{password}}", "type": "string"}
    ]})
}

fn bearer_auth(variable: &str) -> Value {
    json!({"type": "bearer", "bearer": [
        {"key": "token", "value": format!("{{{{{variable}}}}}"), "type": "string"}
    ]})
}

/// One request of the walk-through against `{{auth_host_url}}`.
fn item(
    name: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    auth: Value,
    tests: Vec<String>,
) -> Value {
    let query_string: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let raw = format!("{{{{auth_host_url}}}}/{path}?{}", query_string.join("&"));
    json!({
        "name": name,
        "event": [{"listen": "test", "script": {"type": "text/javascript", "exec": tests}}],
        "request": {
            "method": method,
            "auth": auth,
            "header": [{"key": "Content-Type", "value": "application/json"}],
            "url": {
                "raw": raw,
                "host": ["{{auth_host_url}}"],
                "path": [path],
                "query": query.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()
            }
        }
    })
}

fn token_tests(extra: &[&str]) -> Vec<String> {
    TOKEN_RESPONSE_TESTS
        .iter()
        .chain(extra)
        .map(|line| (*line).to_owned())
        .collect()
}

fn revoke_tests(expectation: &str) -> Vec<String> {
    vec![
        "pm.test('Status: 200 OK', function () { pm.response.to.have.status(200); });".into(),
        format!(
            "pm.test('revoked count', function () {{ pm.expect(pm.response.json().revoked).to.be.a('number'){expectation}; }});"
        ),
    ]
}

/// The collection for one instance.
pub fn collection(instance: &Instance, tenant: &Tenant) -> Value {
    let scheme = [("scheme", "a1user")];
    json!({
        "info": {
            "_postman_id": format!("cdp-auth-collection-{}", instance.id),
            "name": format!("CDP Authentication — {} ({})", instance.name, instance.username),
            "description": format!(
                "The a1user token requests for instance {} of tenant {} ({}). Run them in order; \
                 the environment carries the hosts and credentials.",
                instance.username, tenant.id, tenant.name
            ),
            "schema": SCHEMA
        },
        "item": [
            item("Step 1 - Authenticate with Username and Password (One Time)", "POST",
                "authentication", &[("action", "login")], basic_auth(),
                token_tests(&["pm.environment.set('access_token', body.access_token);"])),
            item("Step 2 - Request Access Token (Daily)", "GET", "token", &scheme, basic_auth(),
                token_tests(&["pm.test('the same token as the login', function () { pm.expect(body.access_token).to.eql(pm.environment.get('access_token')); });"])),
            item("Extend - Current Token", "POST", "token",
                &[("scheme", "a1user"), ("action", "extend")], bearer_auth("access_token"),
                token_tests(&["pm.test('the same token, extended', function () { pm.expect(body.access_token).to.eql(pm.environment.get('access_token')); });"])),
            item("Create - Token", "POST", "token",
                &[("scheme", "a1user"), ("action", "create")], basic_auth(),
                token_tests(&[
                    "pm.test('a new token', function () { pm.expect(body.access_token).to.not.eql(pm.environment.get('access_token')); });",
                    "pm.environment.set('created_token', body.access_token);",
                ])),
            item("Revoke - A Token", "DELETE", "token", &scheme, bearer_auth("created_token"),
                revoke_tests(".eql(1)")),
            item("Revoke All Access Tokens", "DELETE", "token", &scheme, basic_auth(),
                revoke_tests(".at.least(1)")),
        ]
    })
}

/// The environment for one instance; `password` is empty unless it is being shown once.
pub fn environment(
    instance: &Instance,
    tenant: &Tenant,
    api_host_url: &str,
    auth_host_url: &str,
    password: &str,
) -> Value {
    let value = |key: &str, value: &str, kind: &str| json!({"key": key, "value": value, "type": kind, "enabled": true});
    json!({
        "id": format!("cdp-auth-environment-{}", instance.id),
        "name": format!("cdp-auth {} ({})", instance.username, tenant.name),
        "values": [
            value("auth_host_url", auth_host_url, "default"),
            value("api_host_url", api_host_url, "default"),
            value("tenant_id", &tenant.id.to_string(), "default"),
            value("username", &instance.username, "default"),
            value("password", password, "secret"),
            value("access_token", "", "secret"),
            value("created_token", "", "secret"),
        ],
        "_postman_variable_scope": "environment"
    })
}

/// The file name a download of `kind` gets.
pub fn file_name(instance: &Instance, kind: &str) -> String {
    format!("cdp-auth-{}.postman_{kind}.json", instance.username)
}

fn attachment(body: Value, file_name: &str) -> Response {
    let mut response = no_store(Json(body).into_response());
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn instance_and_tenant(state: &AppState, id: &str) -> Result<(Instance, Tenant), ApiError> {
    let admin = &state.services.admin;
    let instance = admin.instance(id).await?;
    let tenant = admin.tenant(&instance.tenant_id.to_string()).await?;
    Ok((instance, tenant))
}

/// The Postman collection of an instance.
#[utoipa::path(get, path = "/postman/{instance}/collection.json", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "Postman v2.1 collection", content_type = "application/json"),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn collection_json(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Response, ApiError> {
    let (instance, tenant) = instance_and_tenant(&state, &instance).await?;
    Ok(attachment(
        collection(&instance, &tenant),
        &file_name(&instance, "collection"),
    ))
}

/// The Postman environment of an instance, with an empty password to fill in.
#[utoipa::path(get, path = "/postman/{instance}/environment.json", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "Postman environment", content_type = "application/json"),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn environment_json(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Response, ApiError> {
    let (instance, tenant) = instance_and_tenant(&state, &instance).await?;
    let body = environment(
        &instance,
        &tenant,
        &state.api_host_url,
        &state.auth_host_url,
        "",
    );
    Ok(attachment(body, &file_name(&instance, "environment")))
}
