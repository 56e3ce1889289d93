//! The OpenAPI document a live server serves at `GET /openapi.json`: valid against the official
//! OpenAPI 3.1 schema, naming exactly the operations the server answers, each with its
//! failures documented, every internal `$ref` resolvable, and every operation it names
//! actually routed (no 404 `not_found`, no 405).
//!
//! tests/data/openapi-3.1-schema.json is the OpenAPI Initiative's 3.1 schema
//! (`$id` https://spec.openapis.org/oas/3.1/schema/2022-10-07), Apache-2.0, as shipped in the
//! openapi-spec-validator 0.9.0 wheel (resources/schemas/v3.1/schema.json). It is the variant
//! that checks Schema Objects only as JSON objects or booleans (its `$dynamicRef: "#meta"`
//! resolves inside the file), so it needs nothing from the network; Schema Objects are checked
//! here against the JSON Schema 2020-12 meta-schema that the `jsonschema` crate bundles.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use support::{Deployment, Server, http};

const OPENAPI_31_SCHEMA: &str = include_str!("data/openapi-3.1-schema.json");

/// The operations the server serves: (method, path).
const EXPECTED_OPERATIONS: [(&str, &str); 58] = [
    ("POST", "/authentication"),
    ("GET", "/token"),
    ("POST", "/token"),
    ("DELETE", "/token"),
    ("POST", "/secureApi/token/{api}/create"),
    ("POST", "/secureApi/token/{api}/update"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/revoke"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-protected-resource"),
    ("GET", "/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/admin/api/tenants"),
    ("POST", "/admin/api/tenants"),
    ("POST", "/admin/api/tenants/{tenant}/rotate-secret"),
    ("PUT", "/admin/api/tenants/{tenant}/oauth"),
    ("PUT", "/admin/api/tenants/{tenant}/token-format"),
    ("DELETE", "/admin/api/tenants/{tenant}/tokens"),
    ("GET", "/admin/api/instances"),
    ("POST", "/admin/api/instances"),
    ("GET", "/admin/api/instances/{instance}"),
    ("GET", "/admin/api/instances/{instance}/tokens"),
    ("DELETE", "/admin/api/instances/{instance}/tokens"),
    ("DELETE", "/admin/api/instances/{instance}/tokens/{token}"),
    ("POST", "/admin/api/instances/{instance}/rotate-password"),
    ("POST", "/admin/api/instances/{instance}/disable"),
    ("POST", "/admin/api/instances/{instance}/enable"),
    ("GET", "/admin/api/audit"),
    ("GET", "/admin/api/admins"),
    ("POST", "/admin/api/admins"),
    ("DELETE", "/admin/api/admins/{username}"),
    ("POST", "/admin/api/admins/{username}/disable"),
    ("POST", "/admin/api/admins/{username}/enable"),
    ("POST", "/admin/api/admins/{username}/reset-password"),
    ("GET", "/admin/api/admins/{username}/tokens"),
    ("POST", "/admin/api/admins/{username}/tokens"),
    ("DELETE", "/admin/api/admins/{username}/tokens/{token}"),
    ("PUT", "/admin/api/instances/{instance}/origins"),
    ("GET", "/admin/api/instances/{instance}/jwks"),
    ("PUT", "/admin/api/instances/{instance}/jwks"),
    ("DELETE", "/admin/api/instances/{instance}/jwks"),
    ("GET", "/admin/api/tenants/{tenant}/segments"),
    ("PUT", "/admin/api/tenants/{tenant}/segments/{name}"),
    ("DELETE", "/admin/api/tenants/{tenant}/segments/{name}"),
    ("POST", "/v2/{tenantId}/dw/tracker"),
    ("GET", "/v2/{tenantId}/dw/tracker"),
    ("OPTIONS", "/v2/{tenantId}/dw/tracker"),
    ("GET", "/v2/{tenantId}/dw/a360/customers"),
    ("GET", "/v2/{tenantId}/dw/a360/customers/{gcrId}"),
    ("POST", "/api/v1/profile/b2b/{resource}"),
    ("POST", "/api/v1/gdpr/b2b/{action}"),
    ("GET", "/postman/{instance}/collection.json"),
    ("GET", "/postman/{instance}/environment.json"),
    ("GET", "/forward-auth"),
];

/// Operations that cannot fail and so need no 4xx response.
const CANNOT_FAIL: [(&str, &str); 6] = [
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/.well-known/oauth-protected-resource"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
];

/// The HTTP methods a Path Item Object may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn expected() -> BTreeSet<(String, String)> {
    EXPECTED_OPERATIONS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

/// Fetches the document from a live server.
async fn fetch(server: &Server) -> Value {
    http::send(server.get("/openapi.json"), "GET /openapi.json")
        .await
        .ok()
        .clone()
}

/// Every (method, path) the document describes.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    let mut found = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// A validator for the official OpenAPI 3.1 schema that never touches the network.
fn openapi_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(OPENAPI_31_SCHEMA).expect("the vendored schema");
    jsonschema::options()
        .offline()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the OpenAPI 3.1 schema compiles offline")
}

/// Every violation, one per line.
fn violations(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Calls `visit(path, key, value)` for every object member in `value`, depth first.
fn walk<'a>(
    value: &'a Value,
    path: &mut Vec<String>,
    visit: &mut dyn FnMut(&[String], &str, &'a Value),
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                visit(path, key, child);
                path.push(key.clone());
                walk(child, path, visit);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(i.to_string());
                walk(child, path, visit);
                path.pop();
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let deployment = Deployment::new();
    let server = deployment.serve();
    let document = fetch(&server).await;

    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "openapi is {}",
        document["openapi"]
    );
    let validator = openapi_validator();
    let errors = violations(&validator, &document);
    assert!(
        errors.is_empty(),
        "not valid OpenAPI 3.1:\n{}",
        errors.join("\n")
    );

    // Schema Objects are JSON Schema 2020-12 (the document's default dialect).
    let mut bad_schemas = Vec::new();
    let mut check = |at: String, schema: &Value| {
        if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
            bad_schemas.push(format!("{at}: {e}"));
        }
    };
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            check(format!("components/schemas/{name}"), schema);
        }
    }
    let mut inline = Vec::new();
    walk(&document["paths"], &mut vec![], &mut |path, key, value| {
        if key == "schema" {
            inline.push((format!("paths/{}/schema", path.join("/")), value.clone()));
        }
    });
    for (at, schema) in inline {
        check(at, &schema);
    }
    assert!(bad_schemas.is_empty(), "{}", bad_schemas.join("\n"));

    // Every internal reference resolves, and every security requirement names a scheme.
    let mut dangling = Vec::new();
    walk(&document, &mut vec![], &mut |path, key, value| {
        if key == "$ref" {
            let target = value.as_str().unwrap_or("");
            let resolved = target
                .strip_prefix('#')
                .and_then(|pointer| document.pointer(pointer));
            if resolved.is_none() {
                dangling.push(format!("{}: $ref {target:?}", path.join("/")));
            }
        }
    });
    assert!(
        dangling.is_empty(),
        "dangling references:\n{}",
        dangling.join("\n")
    );
    let schemes = &document["components"]["securitySchemes"];
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_ascii_lowercase()];
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for name in requirement.as_object().into_iter().flat_map(|r| r.keys()) {
                assert!(
                    schemes.get(name).is_some(),
                    "{method} {path}: unknown security scheme {name:?}"
                );
            }
        }
    }
}

/// The validator is not vacuous: it refuses documents that break the 3.1 schema, including a
/// Schema Object that is neither an object nor a boolean (reached through `$dynamicRef`).
#[tokio::test]
async fn the_validator_refuses_broken_documents() {
    let deployment = Deployment::new();
    let server = deployment.serve();
    let document = fetch(&server).await;
    let validator = openapi_validator();

    let mut broken = Vec::new();
    let mut without_info = document.clone();
    without_info.as_object_mut().unwrap().remove("info");
    broken.push(("no info", without_info));
    let mut old_version = document.clone();
    old_version["openapi"] = json!("3.0.3");
    broken.push(("openapi 3.0.3", old_version));
    let mut bad_schema = document.clone();
    bad_schema["components"]["schemas"]["Broken"] = json!(5);
    broken.push(("schema 5", bad_schema));
    let mut bad_response = document.clone();
    bad_response["paths"]["/oauth/token"]["post"]["responses"]["400"] = json!("oops");
    broken.push(("response as a string", bad_response));
    let mut bad_parameter = document.clone();
    bad_parameter["paths"]["/token"]["get"]["parameters"] =
        json!([{"name": "scheme", "in": "body"}]);
    broken.push(("parameter in body", bad_parameter));

    for (what, document) in broken {
        assert!(
            !validator.is_valid(&document),
            "the validator accepted a document with {what}"
        );
    }
}

#[tokio::test]
async fn the_document_names_exactly_the_served_operations_and_their_failures() {
    let deployment = Deployment::new();
    let server = deployment.serve();
    let document = fetch(&server).await;

    let found = operations(&document);
    let expected = expected();
    assert_eq!(
        found,
        expected,
        "missing from the document: {:?}; not expected: {:?}",
        expected.difference(&found).collect::<Vec<_>>(),
        found.difference(&expected).collect::<Vec<_>>()
    );

    for (method, path) in &found {
        let operation = &document["paths"][path][method.to_ascii_lowercase()];
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no responses"));
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no 2xx documented"
        );
        let can_fail = !CANNOT_FAIL.iter().any(|(m, p)| m == method && p == path);
        if can_fail {
            assert!(
                responses.keys().any(|s| s.starts_with('4')),
                "{method} {path}: no 4xx documented ({:?})",
                responses.keys().collect::<Vec<_>>()
            );
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let deployment = Deployment::new();
    let server = deployment.serve();
    let document = fetch(&server).await;

    for (method, path) in operations(&document) {
        let concrete = path
            .replace("{api}", "profile")
            .replace("{tenant}", "1")
            .replace("{instance}", "1")
            .replace("{token}", "1")
            .replace("{tenantId}", "1")
            .replace("{gcrId}", "gcr_x")
            .replace("{resource}", "basic")
            .replace("{action}", "gdprRequestStatus")
            .replace("{name}", "vip")
            .replace("{username}", "ops");
        assert!(
            !concrete.contains('{'),
            "unexpected path parameter in {path}"
        );
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let what = format!("{method} {concrete}");
        let request = server.request(method, &concrete);
        let reply = if path == "/.well-known/jwks.json" {
            http::send_typed(request, what, "application/jwk-set+json").await
        } else if path == "/metrics" {
            // The Prometheus text format, not JSON.
            let answer = request.send().await.expect("scrape");
            assert_eq!(answer.status(), 200, "{what}");
            continue;
        } else {
            http::send(request, what).await
        };
        assert_ne!(reply.status, 405, "{reply:?}");
        assert!(
            !(reply.status == 404 && reply.error() == "not_found"),
            "documented but not routed: {reply:?}"
        );
    }
    // The probe tells a routed path from an unrouted one.
    http::send(
        server.post("/oauth/nothing-here"),
        "POST /oauth/nothing-here",
    )
    .await
    .expect_error(404, "not_found");
}
