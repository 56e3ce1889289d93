//! Brute-force protection over HTTP: failed attempts are limited per username and address
//! and per address, a credential that verified recently is never refused, and one address's
//! failures do not lock the same username out from other addresses. Requests come from
//! different loopback addresses (127.0.0.x) to play different clients.

mod support;

use std::net::{IpAddr, Ipv4Addr};

use reqwest::StatusCode;
use support::{Deployment, Instance, Server};

fn from(last: u8) -> reqwest::Client {
    cdp_auth_client::install_tls_provider();
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

async fn retrieve(
    server: &Server,
    client: &reqwest::Client,
    user: &str,
    password: &str,
) -> reqwest::Response {
    client
        .get(server.url("/token?scheme=a1user"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

async fn login_status(
    server: &Server,
    client: &reqwest::Client,
    instance: &Instance,
) -> StatusCode {
    client
        .post(server.url("/authentication?action=login"))
        .basic_auth(&instance.username, Some(&instance.password))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_eleventh_wrong_password_is_throttled_but_the_integration_keeps_working() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let integration = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let (office, attacker, elsewhere) = (from(1), from(3), from(4));

    // The integration logs in as usual: its credential has verified.
    assert_eq!(
        login_status(&server, &office, &integration).await,
        StatusCode::OK
    );

    for attempt in 1..=10 {
        let response = retrieve(&server, &attacker, &integration.username, "wrong-password").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let refused = retrieve(&server, &attacker, &integration.username, "wrong-password").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=300).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_attempts");

    // The right password still works from another address, and even from the attacker's,
    // since it verified recently: the attacker cannot lock the integration out.
    assert_eq!(
        login_status(&server, &office, &integration).await,
        StatusCode::OK
    );
    assert_eq!(
        login_status(&server, &attacker, &integration).await,
        StatusCode::OK
    );
    // Other addresses are not throttled for that username.
    let other = retrieve(&server, &elsewhere, &integration.username, "wrong-password").await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_address_that_failed_too_often_is_refused_even_the_right_password() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let victim = deployment.instance("acme", "fresh", "dw-tracker");
    let server = deployment.serve();
    let (guesser, colleague) = (from(5), from(6));
    for _ in 0..10 {
        retrieve(&server, &guesser, &victim.username, "guess").await;
    }
    // A guess that happens to be right is refused too: the limiter does not verify.
    assert_eq!(
        login_status(&server, &guesser, &victim).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_status(&server, &colleague, &victim).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn spraying_many_usernames_from_one_address_is_throttled() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let server = deployment.serve();
    let sprayer = from(7);
    for n in 0..10 {
        let response = retrieve(&server, &sprayer, &format!("tracker_{n:06}"), "x").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = retrieve(&server, &sprayer, "tracker_zzzzzz", "x").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn wrong_oauth_key_secrets_are_throttled() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_MAX_FAILED_ATTEMPTS", "3")]);
    let tenant = deployment.tenant("acme", "uat");
    let server = deployment.serve();
    let hash = tenant["tenant_hash"].as_str().unwrap();
    let attacker = from(8);
    let create = |secret: &'static str| {
        attacker
            .post(server.url("/secureApi/token/profile/create"))
            .header("tenant_hash", hash)
            .header("oauth_key_secret", secret)
            .json(&serde_json::json!({"resource": ["basic"]}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            create("0000000000000000").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let refused = create("0000000000000000").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
}

/// A refused credential waits the failure delay before its answer, so a client that waits for
/// answers can try only a few times a second per connection; a right password never waits.
#[tokio::test]
async fn refused_credentials_wait_the_failure_delay_and_right_ones_do_not() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_FAILURE_DELAY", "400ms")]);
    deployment.tenant("acme", "uat");
    let integration = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let client = from(1);
    assert_eq!(
        login_status(&server, &client, &integration).await,
        StatusCode::OK
    );

    let timed = |user: String, password: String| {
        let (server, client) = (&server, &client);
        async move {
            let start = std::time::Instant::now();
            let status = retrieve(server, client, &user, &password).await.status();
            (status, start.elapsed())
        }
    };
    let (status, took) = timed(integration.username.clone(), "wrong".into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        took >= std::time::Duration::from_millis(400),
        "a wrong password answered in {took:?}"
    );
    let (status, took) = timed("tracker_nobody".into(), "wrong".into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        took >= std::time::Duration::from_millis(400),
        "an unknown user answered in {took:?}"
    );
    let (status, took) = timed(integration.username.clone(), integration.password.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        took < std::time::Duration::from_millis(400),
        "a right password waited {took:?}"
    );
}
