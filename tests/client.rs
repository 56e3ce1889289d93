//! The client crate against a live server: every call of both dialects, OAuth and the CDP
//! calls; every documented error it can meet surfaced as the right `ErrorCode`; and the token
//! and grant managers keeping tokens fresh on short lifetimes.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdp_auth_client::{
    ClientAuth, Credentials, Error, ErrorCode, GrantManager, GrantOptions, PullQuery, Record,
    Secret, TenantCredentials, TokenManager, TokenManagerOptions,
};
use serde_json::{Value, json};
use support::{Deployment, Instance, Server, within_a_second};

/// A served deployment with one `cs` tenant and a client of it.
struct Setup {
    deployment: Deployment,
    server: Server,
    tenant: Value,
    client: cdp_auth_client::Client,
    admin_token: std::sync::OnceLock<String>,
}

impl Setup {
    fn new(env: &[(&str, &str)]) -> Self {
        let deployment = Deployment::with_env(env);
        let tenant = deployment.tenant("acme", "cs");
        let server = deployment.serve();
        let client = cdp_auth_client::Client::new(&server.base).expect("client");
        Setup {
            deployment,
            server,
            tenant,
            client,
            admin_token: std::sync::OnceLock::new(),
        }
    }

    fn instance(&self, name: &str, instance_type: &str) -> Instance {
        self.deployment.instance("acme", name, instance_type)
    }

    fn tenant_credentials(&self) -> TenantCredentials {
        TenantCredentials::new(
            self.tenant["tenant_hash"].as_str().expect("tenant_hash"),
            self.tenant["oauth_key_secret"]
                .as_str()
                .expect("oauth_key_secret"),
        )
    }

    /// How many audit entries with this action the log holds, read with an admin API token.
    async fn audit_count(&self, action: &str) -> usize {
        let token = self.admin_token.get_or_init(|| {
            let admin = self.deployment.admin("ops");
            self.deployment.admin_api_token(&admin.username)
        });
        let entries: Vec<Value> = self
            .server
            .get(&format!("/admin/api/audit?action={action}&limit=500"))
            .bearer_auth(token)
            .send()
            .await
            .expect("audit request")
            .json()
            .await
            .expect("audit JSON");
        entries.len()
    }
}

fn credentials(instance: &Instance) -> Credentials {
    Credentials::new(&instance.username, instance.password.as_str())
}

/// The server's error, asserting its status and code.
fn api_error(outcome: Result<impl std::fmt::Debug, Error>, status: u16, code: ErrorCode) {
    match outcome {
        Err(Error::Api(e)) => {
            assert_eq!((e.status, &e.code), (status, &code), "{e:?}");
            assert!(!e.description.is_empty(), "no error_description: {e:?}");
            if status == 401 {
                assert!(e.www_authenticate.is_some(), "401 without a challenge");
            }
        }
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[tokio::test]
async fn a1user_walk_through_and_its_errors() {
    let s = Setup::new(&[
        ("CDP_AUTH_MAX_ACTIVE_TOKENS_CS", "2"),
        ("CDP_AUTH_MAX_FAILED_ATTEMPTS", "3"),
    ]);
    let tracker = s.instance("Orders feed", "dw-tracker");
    let me = credentials(&tracker);
    let c = &s.client;

    let login = c.login(&me).await.expect("login");
    assert_eq!(login.token_type, "bearer");
    assert_eq!(login.username, tracker.username);
    assert_eq!(login.tenant_id, tracker.tenant_id);
    assert_eq!(login.user_type, "CLIENT");
    assert!(login.expires_in > 0);
    assert!(login.password_expires_at().is_some());
    assert_eq!(
        c.login(&me).await.expect("login again").access_token,
        login.access_token
    );
    let named = c
        .login_to_tenant(&me, "acme")
        .await
        .expect("login naming the tenant");
    assert_eq!(named.access_token, login.access_token);
    assert_eq!(
        c.retrieve(&me).await.expect("retrieve").access_token,
        login.access_token
    );
    let extended = c.extend(&login.access_token).await.expect("extend");
    assert_eq!(extended.access_token, login.access_token);

    let created = c.create(&me).await.expect("create");
    assert_ne!(created.access_token, login.access_token);
    api_error(c.create(&me).await, 409, ErrorCode::TokenLimitReached);
    assert_eq!(
        c.revoke(&created.access_token)
            .await
            .expect("revoke")
            .revoked,
        1
    );
    api_error(
        c.extend(&created.access_token).await,
        401,
        ErrorCode::InvalidToken,
    );
    api_error(
        c.revoke(&created.access_token).await,
        401,
        ErrorCode::InvalidToken,
    );
    assert_eq!(c.revoke_all(&me).await.expect("revoke all").revoked, 1);
    api_error(c.retrieve(&me).await, 404, ErrorCode::NoActiveToken);

    let wrong = Credentials::new(&tracker.username, "not-the-password-at-all");
    api_error(c.login(&wrong).await, 401, ErrorCode::InvalidClient);
    let stranger = Credentials::new("tracker_nobody", "not-the-password-at-all");
    for _ in 0..3 {
        let _ = c.login(&stranger).await;
    }
    match c.login(&stranger).await {
        Err(Error::Api(e)) => {
            assert_eq!(e.code, ErrorCode::TooManyAttempts);
            assert_eq!(e.status, 429);
            assert!(e.retry_after.is_some(), "429 without Retry-After");
        }
        other => panic!("expected too_many_attempts, got {other:?}"),
    }

    s.deployment
        .cli_json(&["instance", "disable", &tracker.username, "--json"]);
    // The CLI is another process: the server learns of the change within a second.
    within_a_second("the disabled instance's login is refused", || async {
        matches!(c.login(&me).await, Err(Error::Api(e)) if e.status == 403)
    })
    .await;
    api_error(c.login(&me).await, 403, ErrorCode::InstanceDisabled);
}

#[tokio::test]
async fn expired_passwords_and_tokens_past_their_maximum_age() {
    // Times are whole seconds: a token's lifetime longer than its maximum age makes any
    // extend pass that age, without waiting on a clock that may tick just after the login.
    let s = Setup::new(&[
        ("CDP_AUTH_TOKEN_LIFETIME_CS", "10s"),
        ("CDP_AUTH_MAX_TOKEN_AGE", "5s"),
        ("CDP_AUTH_PASSWORD_LIFETIME", "5s"),
    ]);
    let tracker = s.instance("Orders feed", "dw-tracker");
    let me = credentials(&tracker);
    let token = s.client.login(&me).await.expect("login").access_token;
    api_error(
        s.client.extend(&token).await,
        400,
        ErrorCode::ExtensionLimitReached,
    );
    tokio::time::sleep(Duration::from_millis(5100)).await;
    api_error(s.client.login(&me).await, 401, ErrorCode::PasswordExpired);
}

#[tokio::test]
async fn secure_api_create_update_and_errors() {
    let s = Setup::new(&[]);
    let tenant = s.tenant_credentials();
    let c = &s.client;

    let created = c
        .secure_create(&tenant, "profile", &strings(&["basic"]), Some(300))
        .await
        .expect("create");
    assert!(created.token.expose().len() >= 43);
    assert!(
        created
            .token
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    );
    let updated = c
        .secure_update(
            &tenant,
            "profile",
            &created.token,
            &strings(&["basic", "segments"]),
        )
        .await
        .expect("update");
    assert_eq!(updated.message, "Token updated successfully");
    assert_eq!(updated.token, created.token);
    assert_eq!(updated.resource, strings(&["basic", "segments"]));
    let default_validity = c
        .secure_create(&tenant, "gdpr", &strings(&["registerGdprRequest"]), None)
        .await
        .expect("create with the default validity");
    assert!(!default_validity.token.is_empty());

    let wrong_secret = TenantCredentials::new(tenant.tenant_hash.clone(), "0000000000000000");
    api_error(
        c.secure_create(&wrong_secret, "profile", &strings(&["basic"]), None)
            .await,
        401,
        ErrorCode::InvalidClient,
    );
    api_error(
        c.secure_create(&tenant, "profile", &strings(&["nope"]), None)
            .await,
        400,
        ErrorCode::InvalidResource,
    );
    api_error(
        c.secure_create(&tenant, "profile", &strings(&["basic"]), Some(0))
            .await,
        400,
        ErrorCode::InvalidRequest,
    );
    api_error(
        c.secure_create(&tenant, "nope", &strings(&["basic"]), None)
            .await,
        404,
        ErrorCode::NotFound,
    );
    api_error(
        c.secure_update(
            &tenant,
            "profile",
            &Secret::new("A".repeat(43)),
            &strings(&["basic"]),
        )
        .await,
        401,
        ErrorCode::InvalidToken,
    );

    // A tenant with OAuth off needs no oauth_key_secret.
    let open = s.deployment.tenant_without_oauth("globex", "prod");
    let open = TenantCredentials::without_secret(open["tenant_hash"].as_str().expect("hash"));
    c.secure_create(&open, "profile", &strings(&["basic"]), None)
        .await
        .expect("create without a secret");
}

#[tokio::test]
async fn oauth_token_introspect_revoke_and_metadata() {
    let s = Setup::new(&[]);
    let tracker = s.instance("Orders feed", "dw-tracker");
    let me = credentials(&tracker);
    let c = &s.client;

    let basic = c
        .oauth_token(&me, ClientAuth::Basic, None)
        .await
        .expect("client_secret_basic");
    assert_eq!(basic.token_type, "Bearer");
    assert_eq!(basic.scope.as_deref(), Some("dw:tracker"));
    let post = c
        .oauth_token(&me, ClientAuth::Post, Some("dw:tracker"))
        .await
        .expect("client_secret_post");
    assert_ne!(post.access_token, basic.access_token);

    let active = c
        .introspect(&me, &basic.access_token)
        .await
        .expect("introspect");
    assert!(active.active);
    assert_eq!(active.username.as_deref(), Some(tracker.username.as_str()));
    assert_eq!(
        active.tenant_id.as_deref(),
        Some(tracker.tenant_id.as_str())
    );
    assert!(active.exp.is_some() && active.iat.is_some());
    c.oauth_revoke(&me, &basic.access_token)
        .await
        .expect("revoke");
    c.oauth_revoke(&me, &Secret::new("unknown"))
        .await
        .expect("revoke of an unknown token");
    assert!(
        !c.introspect(&me, &basic.access_token)
            .await
            .expect("introspect")
            .active
    );

    api_error(
        c.oauth_token(&me, ClientAuth::Basic, Some("dw:a360")).await,
        400,
        ErrorCode::InvalidScope,
    );
    let wrong = Credentials::new(&tracker.username, "not-the-password-at-all");
    api_error(
        c.oauth_token(&wrong, ClientAuth::Post, None).await,
        401,
        ErrorCode::InvalidClient,
    );

    let metadata = c.metadata().await.expect("metadata");
    assert_eq!(
        metadata.token_endpoint,
        format!("{}/oauth/token", metadata.issuer)
    );
    assert!(
        metadata
            .grant_types_supported
            .contains(&"client_credentials".to_owned())
    );
}

#[tokio::test]
async fn push_and_pull_with_paging_and_their_errors() {
    let s = Setup::new(&[("CDP_AUTH_MAX_PUSH_BODY", "4096")]);
    let tracker = s.instance("Orders feed", "dw-tracker");
    let profiles = s.instance("Profiles", "profiles-360");
    let c = &s.client;
    let push_token = c
        .login(&credentials(&tracker))
        .await
        .expect("login")
        .access_token;
    let pull_token = c
        .login(&credentials(&profiles))
        .await
        .expect("login")
        .access_token;
    let tenant = &tracker.tenant_id;

    let records: Vec<Record> = (0..5)
        .map(|i| {
            Record::new(format!("C-{i}"))
                .email(format!("person{i}@example.com"))
                .name("Ann", "Lee")
                .attributes(json!({"tier": "gold"}))
                .event("productBrowsed", Some("SKU-42"), "2026-11-20T10:00:00Z")
        })
        .collect();
    let accepted = c
        .push(&push_token, tenant, &records, Some("batch-1"))
        .await
        .expect("push");
    assert_eq!(accepted.accepted, 5);
    let again = c.push(&push_token, tenant, &records, Some("batch-1")).await;
    assert_eq!(again.expect("retried push").accepted, 5);
    match c
        .push(&push_token, tenant, &records[..1], Some("batch-1"))
        .await
    {
        Err(Error::Api(e)) => {
            assert_eq!((e.status, e.code), (422, ErrorCode::InvalidRequest));
        }
        other => panic!("expected 422, got {other:?}"),
    }
    let empty = [Record::new("C-9").email("")];
    match c.push(&push_token, tenant, &empty, None).await {
        Err(Error::Api(e)) => {
            assert_eq!((e.status, &e.code), (400, &ErrorCode::InvalidRequest));
            assert!(e.description.contains("Email"), "{}", e.description);
            assert!(e.body["errors"].is_array());
        }
        other => panic!("expected 400, got {other:?}"),
    }
    let huge: Vec<Record> = (0..100)
        .map(|i| Record::new(format!("C-{i}")).email(format!("person{i}@example.com")))
        .collect();
    api_error(
        c.push(&push_token, tenant, &huge, None).await,
        413,
        ErrorCode::PayloadTooLarge,
    );
    api_error(
        c.push(&pull_token, tenant, &records, None).await,
        403,
        ErrorCode::InsufficientScope,
    );

    let query = PullQuery {
        limit: Some(2),
        ..PullQuery::default()
    };
    let first = c
        .customers(&pull_token, tenant, &query)
        .await
        .expect("pull");
    assert_eq!(first.customers.len(), 2);
    assert!(first.next.is_some());
    let all = c
        .all_customers(&pull_token, tenant, &query)
        .await
        .expect("pull all");
    assert_eq!(all.len(), 5);
    let customer = &all[0];
    assert!(customer.gcr_id.starts_with("gcr_"));
    assert_eq!(customer.first_name.as_deref(), Some("Ann"));
    assert_eq!(customer.events.len(), 1);
    assert_eq!(customer.source_records.len(), 1);

    let by_email = PullQuery {
        email: Some("PERSON3@example.com".into()),
        ..PullQuery::default()
    };
    let found = c
        .customers(&pull_token, tenant, &by_email)
        .await
        .expect("by email");
    assert_eq!(found.customers.len(), 1);
    assert!(found.next.is_none());
    let since = PullQuery {
        updated_since: Some(all[3].updated_at.clone()),
        ..PullQuery::default()
    };
    let delta = c
        .all_customers(&pull_token, tenant, &since)
        .await
        .expect("delta");
    assert_eq!(delta.len(), 1);

    api_error(
        c.customers(&push_token, tenant, &query).await,
        403,
        ErrorCode::InsufficientScope,
    );
    api_error(
        c.customers(&Secret::new("not-a-token"), tenant, &query)
            .await,
        401,
        ErrorCode::InvalidToken,
    );
}

#[tokio::test]
async fn transport_failures_are_not_server_errors() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let client = cdp_auth_client::Client::new(&format!("http://127.0.0.1:{port}")).expect("client");
    let me = Credentials::new("tracker_abc123", "password");
    match client.login(&me).await {
        Err(e @ Error::Transport(_)) => assert!(e.code().is_none()),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(matches!(
        cdp_auth_client::Client::new("ftp://example.com"),
        Err(Error::InvalidArgument(_))
    ));
}

/// A tracing subscriber that writes into a buffer the test can read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("buffer")).into_owned()
    }
}

fn manager(s: &Setup, instance: &Instance, options: TokenManagerOptions) -> TokenManager {
    TokenManager::with_options(s.client.clone(), credentials(instance), options)
}

#[tokio::test]
async fn token_manager_extends_near_expiry_and_warns_of_the_password() {
    let s = Setup::new(&[("CDP_AUTH_TOKEN_LIFETIME_CS", "3s")]);
    let tracker = s.instance("Orders feed", "dw-tracker");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let tokens = manager(
        &s,
        &tracker,
        TokenManagerOptions {
            refresh_below: 0.5,
            // The default password lifetime is 365 days: well within this.
            password_warning: Duration::from_secs(400 * 24 * 3600),
            ..TokenManagerOptions::default()
        },
    );
    let first = tokens.current().await.expect("first token");
    assert_eq!(first.tenant_id, tracker.tenant_id);
    assert_eq!(tokens.token().await.expect("cached"), first.access_token);
    assert_eq!(s.audit_count("token.extended").await, 0);

    tokio::time::sleep(Duration::from_millis(1800)).await;
    let second = tokens.current().await.expect("extended token");
    assert_eq!(
        second.access_token, first.access_token,
        "an extend keeps the token"
    );
    assert!(second.expires_at > first.expires_at);
    assert_eq!(s.audit_count("token.extended").await, 1);
    let logged = captured.text();
    assert!(logged.contains("password expires soon"), "{logged}");
    assert!(
        !logged.contains(tracker.password.as_str()),
        "the password was logged"
    );
}

#[tokio::test]
async fn token_manager_creates_a_token_when_extension_is_refused() {
    let s = Setup::new(&[
        ("CDP_AUTH_TOKEN_LIFETIME_CS", "3s"),
        ("CDP_AUTH_MAX_TOKEN_AGE", "3s"),
    ]);
    let tracker = s.instance("Orders feed", "dw-tracker");
    let tokens = manager(
        &s,
        &tracker,
        TokenManagerOptions {
            refresh_below: 0.5,
            ..TokenManagerOptions::default()
        },
    );
    let first = tokens.token().await.expect("first token");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let second = tokens.token().await.expect("created token");
    assert_ne!(second, first, "a refused extend is followed by a create");
    let newest = s
        .client
        .retrieve(&credentials(&tracker))
        .await
        .expect("retrieve");
    assert_eq!(newest.access_token, second);

    // A revoked token is replaced by logging in again.
    s.client
        .revoke_all(&credentials(&tracker))
        .await
        .expect("revoke all");
    tokens.invalidate(&second).await;
    let third = tokens.token().await.expect("token after revocation");
    assert_ne!(third, second);
}

#[tokio::test]
async fn fifty_tasks_asking_at_once_cause_one_refresh() {
    let s = Setup::new(&[("CDP_AUTH_TOKEN_LIFETIME_CS", "3s")]);
    let tracker = s.instance("Orders feed", "dw-tracker");
    let tokens = manager(
        &s,
        &tracker,
        TokenManagerOptions {
            refresh_below: 0.5,
            ..TokenManagerOptions::default()
        },
    );
    let first = tokens.token().await.expect("first token");
    tokio::time::sleep(Duration::from_millis(1800)).await;

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await })
        })
        .collect();
    for task in tasks {
        let token = task.await.expect("task").expect("token");
        assert_eq!(token, first);
    }
    assert_eq!(s.audit_count("token.extended").await, 1);
    assert_eq!(s.audit_count("token.issued").await, 1);
}

#[tokio::test]
async fn grant_manager_recreates_before_validity_ends_and_updates_resources() {
    let s = Setup::new(&[]);
    let grant = GrantManager::with_options(
        s.client.clone(),
        s.tenant_credentials(),
        "profile",
        strings(&["basic"]),
        GrantOptions {
            validity_minutes: 1,
            // Renew once less than 58 s of the minute remain: after two seconds.
            renew_before: Duration::from_secs(58),
        },
    );
    let first = grant.token().await.expect("token");
    assert_eq!(grant.token().await.expect("cached"), first);

    grant
        .set_resources(strings(&["basic", "segments"]))
        .await
        .expect("update");
    assert_eq!(grant.resources().await, strings(&["basic", "segments"]));
    assert_eq!(grant.token().await.expect("same token"), first);
    assert_eq!(s.audit_count("token.updated").await, 1);

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let second = grant.token().await.expect("re-created token");
    assert_ne!(second, first);
    // The new token was created with the updated resources: updating it to them again
    // changes nothing and succeeds.
    let updated = s
        .client
        .secure_update(
            &s.tenant_credentials(),
            "profile",
            &second,
            &strings(&["basic", "segments"]),
        )
        .await
        .expect("update of the new token");
    assert_eq!(updated.resource, strings(&["basic", "segments"]));
}
