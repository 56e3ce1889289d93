//! The OAuth 2.0 endpoints over HTTP, against the real binary on a real SQLite file: the
//! client_credentials grant (RFC 6749 §4.4, §5) with both client authentication methods,
//! introspection (RFC 7662) of tokens of all three dialects, revocation (RFC 7009) and the
//! server metadata (RFC 8414), with every error a client can provoke.
//!
//! Every response goes through [`send`], which refuses a 5xx and checks the JSON error shape.
//! Each server sees fewer than 10 failed credential checks, under SPEC's throttling default.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};

use support::http::{
    Client, Reply, a1user_token, extend, introspect, post_form, post_raw_form, revoke, send,
};
use support::{Deployment, Instance, Server};

// ---------------------------------------------------------------------------------------------
// Setting up

/// Creates a tenant in `uat` through the real CLI and returns its `--json` answer.
fn tenant(deployment: &Deployment, name: &str, oauth: bool) -> Value {
    deployment.tenant_with_oauth(name, "uat", oauth)
}

/// A served deployment with tenant `acme` (OAuth off unless asked), a dw-tracker instance and
/// a profiles-360 instance.
struct Setup {
    deployment: Deployment,
    server: Server,
    tenant: Value,
    tracker: Instance,
    a360: Instance,
}

fn setup(oauth: bool) -> Setup {
    let deployment = Deployment::new();
    let tenant = tenant(&deployment, "acme", oauth);
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let a360 = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    Setup {
        deployment,
        server,
        tenant,
        tracker,
        a360,
    }
}

// ---------------------------------------------------------------------------------------------
// Sending and what came back

/// `POST /oauth/token` with `grant_type=client_credentials` and optional extra parameters.
async fn token(server: &Server, client: Client<'_>, extra: &[(&str, &str)]) -> Reply {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend_from_slice(extra);
    post_form(server, "/oauth/token", client, &pairs).await
}

/// Asserts an RFC 6749 §5.1 answer with the given scope and returns the access token.
#[track_caller]
fn granted(reply: &Reply, scope: &str) -> String {
    let json = reply.ok();
    let access_token = json["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("no access_token: {reply:?}"));
    assert_eq!(json["token_type"], "Bearer", "{reply:?}");
    assert!(
        json["expires_in"].as_i64().is_some_and(|s| s > 0),
        "expires_in is not a positive integer: {reply:?}"
    );
    assert_eq!(json["scope"], scope, "{reply:?}");
    assert_eq!(reply.header(CACHE_CONTROL), "no-store", "{reply:?}");
    access_token.to_owned()
}

/// RFC 7662 §2.2: all an inactive token gets.
fn inactive() -> Value {
    json!({"active": false})
}

// ---------------------------------------------------------------------------------------------
// The token endpoint

/// Many clients at once: tokens are written many to a transaction, and every client still
/// gets its own token, active at once, each with its audit entry.
#[tokio::test]
async fn simultaneous_grants_each_get_a_working_token_and_an_audit_entry() {
    let setup = setup(false);
    let server = &setup.server;
    let mut grants = tokio::task::JoinSet::new();
    for i in 0..64 {
        let request = server
            .post("/oauth/token")
            .basic_auth(&setup.tracker.username, Some(&setup.tracker.password))
            .form(&[("grant_type", "client_credentials")]);
        grants.spawn(send(request, format!("grant #{i}")));
    }
    let tokens: Vec<String> = grants
        .join_all()
        .await
        .iter()
        .map(|reply| granted(reply, "dw:tracker"))
        .collect();
    let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
    assert_eq!(
        distinct.len(),
        tokens.len(),
        "two clients got the same token"
    );
    for access_token in &tokens {
        let found = introspect(server, Client::basic(&setup.a360), access_token).await;
        assert_eq!(found.ok()["active"], true, "{found:?}");
    }

    let admin = setup.deployment.admin("ops");
    let admin_token = setup.deployment.admin_api_token(&admin.username);
    let entries = support::http::send_admin(
        server
            .get("/admin/api/audit?action=token.issued&limit=500")
            .bearer_auth(admin_token),
        "audit",
    )
    .await;
    let issued = entries.ok().as_array().map_or(0, Vec::len);
    assert_eq!(issued, tokens.len(), "one audit entry per token issued");
}

#[tokio::test]
async fn client_credentials_by_basic_and_by_post_answer_rfc_6749_tokens() {
    let setup = setup(false);
    let server = &setup.server;
    let by_basic = token(server, Client::basic(&setup.tracker), &[]).await;
    let by_basic = granted(&by_basic, "dw:tracker");
    let by_post = token(server, Client::post(&setup.tracker), &[]).await;
    let expires_in = by_post.json["expires_in"].as_i64().unwrap();
    let by_post = granted(&by_post, "dw:tracker");
    assert_ne!(by_basic, by_post, "each grant mints a new token");

    for access_token in [&by_basic, &by_post] {
        let found = introspect(server, Client::basic(&setup.a360), access_token).await;
        let found = found.ok();
        assert_eq!(found["active"], true, "{found}");
        assert_eq!(
            found["username"],
            setup.tracker.username.as_str(),
            "{found}"
        );
        let lifetime = found["exp"].as_i64().unwrap() - found["iat"].as_i64().unwrap();
        assert!(
            (expires_in - 1..=expires_in).contains(&lifetime),
            "exp - iat = {lifetime}, expires_in = {expires_in}"
        );
    }
}

#[tokio::test]
async fn the_scope_must_be_the_instance_types_own() {
    let setup = setup(false);
    let server = &setup.server;
    let tracker = Client::post(&setup.tracker);
    let a360 = Client::basic(&setup.a360);
    granted(
        &token(server, tracker, &[("scope", "dw:tracker")]).await,
        "dw:tracker",
    );
    granted(
        &token(server, a360, &[("scope", "dw:a360")]).await,
        "dw:a360",
    );
    granted(&token(server, a360, &[]).await, "dw:a360");
    for (client, scope) in [
        (tracker, "dw:a360"),
        (a360, "dw:tracker"),
        (tracker, "dw:tracker dw:a360"),
        (tracker, "admin"),
        (a360, "dw:webtag"),
    ] {
        let reply = token(server, client, &[("scope", scope)]).await;
        reply.expect_error(400, "invalid_scope");
    }
}

#[tokio::test]
async fn a_wrong_password_or_unknown_client_is_invalid_client_with_a_challenge() {
    let setup = setup(false);
    let server = &setup.server;
    let user = setup.tracker.username.as_str();
    let wrong = "A".repeat(24);
    let unknown = "tracker_zzzzzz";

    let replies = [
        token(server, Client::Basic(user, &wrong), &[]).await,
        token(server, Client::Basic(unknown, &wrong), &[]).await,
        token(server, Client::Post(user, &wrong), &[]).await,
        token(server, Client::Post(unknown, &wrong), &[]).await,
    ];
    for reply in &replies {
        reply.expect_error(401, "invalid_client");
        assert!(
            reply.challenges().iter().any(|c| c.starts_with("Basic ")),
            "RFC 6749 §5.2: a Basic challenge: {reply:?}"
        );
        assert!(!String::from_utf8_lossy(&reply.body).contains(&wrong));
    }
    assert_eq!(
        replies[0].body, replies[1].body,
        "unknown username and wrong password answer identically"
    );
    assert_eq!(replies[2].body, replies[3].body);

    // No client authentication at all.
    token(server, Client::None, &[])
        .await
        .expect_error(401, "invalid_client");

    // The right password still works afterwards.
    granted(
        &token(server, Client::basic(&setup.tracker), &[]).await,
        "dw:tracker",
    );
}

#[tokio::test]
async fn malformed_token_requests_are_refused_with_rfc_6749_codes() {
    let setup = setup(false);
    let server = &setup.server;
    let tracker = &setup.tracker;
    let (user, pass) = (tracker.username.as_str(), tracker.password.as_str());

    // Both client authentication methods at once.
    let both = server.post("/oauth/token").basic_auth(user, Some(pass));
    let body = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", user),
        ("client_secret", pass),
    ])
    .unwrap();
    post_raw_form(both, body, "both methods".into())
        .await
        .expect_error(400, "invalid_request");

    // No grant_type.
    post_form(server, "/oauth/token", Client::basic(tracker), &[])
        .await
        .expect_error(400, "invalid_request");
    post_form(
        server,
        "/oauth/token",
        Client::basic(tracker),
        &[("scope", "dw:tracker")],
    )
    .await
    .expect_error(400, "invalid_request");

    // Grants we do not support.
    for grant in [
        "password",
        "authorization_code",
        "refresh_token",
        "CLIENT_CREDENTIALS",
    ] {
        post_form(
            server,
            "/oauth/token",
            Client::basic(tracker),
            &[("grant_type", grant)],
        )
        .await
        .expect_error(400, "unsupported_grant_type");
    }

    // A repeated parameter (RFC 6749 §3.2).
    for body in [
        "grant_type=client_credentials&grant_type=client_credentials".to_owned(),
        "grant_type=client_credentials&scope=dw:tracker&scope=dw:tracker".to_owned(),
        format!(
            "grant_type=client_credentials&client_id={user}&client_id={user}&client_secret={pass}"
        ),
    ] {
        let mut request = server.post("/oauth/token");
        if !body.contains("client_id") {
            request = request.basic_auth(user, Some(pass));
        }
        let reply = post_raw_form(request, body, "repeated".into()).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        assert_eq!(reply.error(), "invalid_request", "{reply:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection

#[tokio::test]
async fn introspection_describes_tokens_of_all_three_dialects() {
    // OAuth on: the secureApi create checks the oauth_key_secret.
    let setup = setup(true);
    let server = &setup.server;
    let tenant_id = setup.tenant["id"].as_str().unwrap();
    let tenant_hash = setup.tenant["tenant_hash"].as_str().unwrap();
    let secret = setup.tenant["oauth_key_secret"].as_str().unwrap();

    let a1user = a1user_token(server, &setup.tracker).await;
    let oauth = granted(
        &token(server, Client::basic(&setup.a360), &[]).await,
        "dw:a360",
    );
    let secure = send(
        server
            .post("/secureApi/token/profile/create")
            .header("tenant_hash", tenant_hash)
            .header("oauth_key_secret", secret)
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"resource": ["basic", "segments"], "validity": 30}).to_string()),
        "secureApi create",
    )
    .await;
    let secure = secure.ok()["token"].as_str().unwrap().to_owned();

    // (token, owner instance, scope, exp - iat) — a1user in uat lives 180 days.
    let cases = [
        (
            &a1user,
            Some(&setup.tracker),
            "dw:tracker",
            Some(180 * 86_400),
        ),
        (&oauth, Some(&setup.a360), "dw:a360", None),
        (&secure, None, "basic segments", Some(30 * 60)),
    ];
    for caller in [Client::basic(&setup.tracker), Client::post(&setup.a360)] {
        for (token, owner, scope, lifetime) in &cases {
            let reply = introspect(server, caller, token).await;
            assert_eq!(reply.header(CACHE_CONTROL), "no-store", "{reply:?}");
            let found = reply.ok();
            assert_eq!(found["active"], true, "{found}");
            assert_eq!(found["tenant_id"], tenant_id, "{found}");
            assert_eq!(found["scope"], *scope, "{found}");
            assert!(
                found["token_type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
                "{found}"
            );
            assert!(
                found["client_id"].as_str().is_some_and(|c| !c.is_empty()),
                "{found}"
            );
            let (exp, iat) = (found["exp"].as_i64(), found["iat"].as_i64());
            let (Some(exp), Some(iat)) = (exp, iat) else {
                panic!("exp and iat must be integers: {found}");
            };
            assert!(exp > iat, "{found}");
            if let Some(lifetime) = lifetime {
                assert_eq!(exp - iat, *lifetime, "{found}");
            }
            match owner {
                Some(owner) => {
                    assert_eq!(found["username"], owner.username.as_str(), "{found}");
                    assert_eq!(found["client_id"], owner.username.as_str(), "{found}");
                }
                None => assert!(found.get("username").is_none(), "{found}"),
            }
        }
    }
}

#[tokio::test]
async fn foreign_and_unknown_tokens_are_inactive() {
    let setup = setup(false);
    let server = &setup.server;
    tenant(&setup.deployment, "globex", false);
    let stranger = setup.deployment.instance("globex", "other", "dw-tracker");

    let ours = granted(
        &token(server, Client::basic(&setup.tracker), &[]).await,
        "dw:tracker",
    );
    let theirs = granted(
        &token(server, Client::basic(&stranger), &[]).await,
        "dw:tracker",
    );
    let their_a1user = a1user_token(server, &stranger).await;

    for (caller, token) in [
        (Client::basic(&setup.tracker), &theirs),
        (Client::basic(&setup.a360), &their_a1user),
        (Client::basic(&stranger), &ours),
    ] {
        assert_eq!(introspect(server, caller, token).await.ok(), &inactive());
    }
    for unknown in [
        "f265e508-c599-44e3-ab60-60a040a9154a",
        "A".repeat(48).as_str(),
        "",
        "x".repeat(600).as_str(),
    ] {
        let reply = introspect(server, Client::basic(&setup.tracker), unknown).await;
        assert_eq!(reply.ok(), &inactive(), "{reply:?}");
    }
    // Each token is still active to its own tenant.
    for (caller, token) in [(&setup.a360, &ours), (&stranger, &theirs)] {
        let reply = introspect(server, Client::basic(caller), token).await;
        assert_eq!(reply.ok()["active"], true, "{reply:?}");
    }
}

#[tokio::test]
async fn introspection_and_revocation_need_an_authenticated_client() {
    let setup = setup(false);
    let server = &setup.server;
    let access_token = granted(
        &token(server, Client::basic(&setup.tracker), &[]).await,
        "dw:tracker",
    );
    let wrong = "B".repeat(24);
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        for client in [Client::None, Client::Basic(&setup.tracker.username, &wrong)] {
            let reply = post_form(server, path, client, &[("token", &access_token)]).await;
            reply.expect_error(401, "invalid_client");
        }
        // A bearer token is not client authentication.
        let request = server.post(path).bearer_auth(&access_token);
        let body = serde_urlencoded::to_string([("token", access_token.as_str())]).unwrap();
        post_raw_form(request, body, format!("{path} with Bearer"))
            .await
            .expect_error(401, "invalid_client");
        // The token parameter is required.
        post_form(server, path, Client::basic(&setup.tracker), &[])
            .await
            .expect_error(400, "invalid_request");
    }
    // Nothing above revoked it.
    let reply = introspect(server, Client::basic(&setup.tracker), &access_token).await;
    assert_eq!(reply.ok()["active"], true, "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// Revocation

#[tokio::test]
async fn revocation_kills_oauth_and_a1user_tokens_and_accepts_unknown_ones() {
    let setup = setup(false);
    let server = &setup.server;
    let tracker = Client::basic(&setup.tracker);

    // Unknown tokens: 200 (RFC 7009 §2.2).
    for unknown in ["f265e508-c599-44e3-ab60-60a040a9154a", "nope", ""] {
        revoke(server, tracker, unknown).await.ok();
    }

    // An OAuth token, revoked by client_secret_post: introspects inactive, and again 200.
    let oauth = granted(&token(server, tracker, &[]).await, "dw:tracker");
    revoke(server, Client::post(&setup.tracker), &oauth)
        .await
        .ok();
    assert_eq!(introspect(server, tracker, &oauth).await.ok(), &inactive());
    revoke(server, tracker, &oauth).await.ok();

    // An a1user token extends before and not after.
    let a1user = a1user_token(server, &setup.tracker).await;
    extend(server, &a1user).await.ok();
    revoke(server, tracker, &a1user).await.ok();
    extend(server, &a1user)
        .await
        .expect_error(401, "invalid_token");
    assert_eq!(introspect(server, tracker, &a1user).await.ok(), &inactive());
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_token() {
    let setup = setup(false);
    let server = &setup.server;
    tenant(&setup.deployment, "globex", false);
    let stranger = setup.deployment.instance("globex", "other", "dw-tracker");
    let ours = granted(
        &token(server, Client::basic(&setup.tracker), &[]).await,
        "dw:tracker",
    );
    // Another tenant's client learns nothing: the answer is the one for an unknown token.
    let reply = revoke(server, Client::basic(&stranger), &ours).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // Another client of the same tenant is refused (RFC 7009 §2.1).
    revoke(server, Client::basic(&setup.a360), &ours)
        .await
        .expect_error(400, "unauthorized_client");
    let reply = introspect(server, Client::basic(&setup.tracker), &ours).await;
    assert_eq!(reply.ok()["active"], true, "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// Server metadata

/// Asserts RFC 8414 metadata whose endpoints live under `base`.
#[track_caller]
fn assert_metadata(metadata: &Value, base: &str) {
    assert_eq!(metadata["issuer"], base, "{metadata}");
    for (field, path) in [
        ("token_endpoint", "/oauth/token"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
    ] {
        assert_eq!(
            metadata[field],
            format!("{base}{path}"),
            "{field}: {metadata}"
        );
    }
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["client_credentials"])
    );
    let algorithms = json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"]);
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(
            metadata[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ]),
            "{endpoint}: {metadata}"
        );
        assert_eq!(
            metadata[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            algorithms,
            "{endpoint}: {metadata}"
        );
    }
    assert_eq!(metadata["dpop_signing_alg_values_supported"], algorithms);
    // No authorization endpoint, so no response type: present (RFC 8414 §2) and empty.
    assert_eq!(metadata["response_types_supported"], json!([]));
    assert_eq!(
        metadata["jwks_uri"],
        format!("{base}/.well-known/jwks.json")
    );
}

/// RFC 9728 protected resource metadata of the CDP API, naming the issuer.
#[tokio::test]
async fn the_api_publishes_protected_resource_metadata() {
    let deployment = Deployment::with_env(&[
        ("CDP_AUTH_API_HOST_URL", "https://api.example.test"),
        ("CDP_AUTH_AUTH_HOST_URL", "https://auth.example.test"),
    ]);
    let server = deployment.serve();
    let reply = send(
        server.get("/.well-known/oauth-protected-resource"),
        "GET protected resource metadata",
    )
    .await;
    let found = reply.ok();
    assert_eq!(found["resource"], "https://api.example.test", "{found}");
    assert_eq!(
        found["authorization_servers"],
        json!(["https://auth.example.test"])
    );
    assert_eq!(found["bearer_methods_supported"], json!(["header"]));
    assert_eq!(
        found["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
    );
    let issuer = metadata(&server).await;
    assert_eq!(issuer["issuer"], "https://auth.example.test");
}

async fn metadata(server: &Server) -> Value {
    let reply = send(
        server.get("/.well-known/oauth-authorization-server"),
        "metadata",
    )
    .await;
    reply.ok().clone()
}

#[tokio::test]
async fn metadata_points_at_the_server_it_came_from() {
    let deployment = Deployment::new();
    let server = deployment.serve();
    let found = metadata(&server).await;
    assert_metadata(&found, &server.base);
    // And the endpoints it names answer.
    let token_endpoint = found["token_endpoint"].as_str().unwrap();
    let reply = send(
        server
            .client
            .post(token_endpoint)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
        "POST token_endpoint",
    )
    .await;
    reply.expect_error(401, "invalid_client");
}

#[tokio::test]
async fn metadata_uses_the_configured_public_url() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_PUBLIC_URL", "https://auth.example.test/")]);
    let server = deployment.serve();
    assert_metadata(&metadata(&server).await, "https://auth.example.test");
}

#[tokio::test]
async fn a_json_body_is_415_saying_the_body_must_be_form_encoded() {
    let setup = setup(false);
    let tracker = &setup.tracker;
    let body = json!({"grant_type": "client_credentials"}).to_string();
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let request = setup
            .server
            .post(path)
            .basic_auth(&tracker.username, Some(&tracker.password))
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        let reply = send(request, format!("JSON to {path}")).await;
        reply.expect_error(415, "unsupported_media_type");
        let description = reply.json["error_description"].as_str().unwrap_or("");
        assert!(
            description.contains("application/x-www-form-urlencoded"),
            "{reply:?}"
        );
    }
    // Without a Content-Type, the JSON is read as a form that lacks grant_type: the answer
    // still says how the body must be sent.
    let bare = setup
        .server
        .post("/oauth/token")
        .basic_auth(&tracker.username, Some(&tracker.password))
        .body(body);
    let reply = send(bare, "JSON without a Content-Type").await;
    reply.expect_error(400, "invalid_request");
    assert!(
        reply.json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("form-encoded"),
        "{reply:?}"
    );
}

/// RFC 6749 §2.3.1: a client id and secret are form-urlencoded before Basic encoding, so a
/// strict client sends `tracker_abc` as `tracker%5Fabc`; the OAuth endpoints decode it. The
/// a1user dialect's vendor clients do not encode, so its Basic is taken as sent.
#[tokio::test]
async fn client_secret_basic_is_form_decoded_on_the_oauth_endpoints_only() {
    let setup = setup(false);
    let server = &setup.server;
    let (user, password) = (&setup.tracker.username, &setup.tracker.password);
    assert!(
        user.contains('_'),
        "usernames have a prefix with `_`: {user}"
    );
    let encoded = user.replace('_', "%5F");
    let every_byte: String = user.bytes().map(|b| format!("%{b:02X}")).collect();
    let password_encoded: String = password.bytes().map(|b| format!("%{b:02x}")).collect();

    let access_token = granted(
        &token(server, Client::Basic(&encoded, password), &[]).await,
        "dw:tracker",
    );
    granted(
        &token(server, Client::Basic(&every_byte, &password_encoded), &[]).await,
        "dw:tracker",
    );
    let found = introspect(server, Client::Basic(&encoded, password), &access_token).await;
    assert_eq!(found.ok()["active"], true, "{found:?}");
    revoke(server, Client::Basic(&encoded, password), &access_token)
        .await
        .ok();
    // The form-encoded `client_secret_post` was always decoded by the form reader.
    granted(
        &token(server, Client::Post(user, password), &[]).await,
        "dw:tracker",
    );

    // Malformed percent-encoding is a failed authentication, answered like a wrong password.
    let wrong = token(server, Client::Basic(user, &"A".repeat(24)), &[]).await;
    wrong.expect_error(401, "invalid_client");
    for (bad_user, bad_password) in [
        (format!("{user}%5"), password.clone()),
        (user.replace('_', "%zz"), password.clone()),
        (user.clone(), format!("{password}%")),
        ("%ff%fe".to_owned(), password.clone()),
    ] {
        let reply = token(server, Client::Basic(&bad_user, &bad_password), &[]).await;
        reply.expect_error(401, "invalid_client");
        assert_eq!(reply.body, wrong.body, "{bad_user}: {reply:?}");
        assert!(
            reply.challenges().iter().any(|c| c.starts_with("Basic ")),
            "{reply:?}"
        );
    }

    // The a1user dialect takes Basic as sent: the encoded name is no username there.
    support::http::login_as(server, user, password).await.ok();
    let vendor = support::http::login_as(server, &encoded, password).await;
    assert_eq!(vendor.status, 401, "{vendor:?}");
}
