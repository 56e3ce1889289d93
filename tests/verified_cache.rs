//! The verified cache never outlives a change to a token. Each process keeps the tokens it has
//! verified in memory; SPEC: a revoke is honoured at once by the process that made it and
//! within 1 s by every other process sharing the database (replicas, or the CLI). These tests
//! check tokens first, so that they sit in the cache, then change them and ask again.
//!
//! Two `serve` processes share one database here: a SQLite file, or PostgreSQL when
//! `CDP_AUTH_TEST_POSTGRES` is set.

mod support;

use std::time::Duration;

use support::http::{self, Client, a1user_token};
use support::{Deployment, Instance, Server};

/// Whether `token` is active, as `server` sees it (introspection is a bearer check).
async fn active(server: &Server, caller: &Instance, token: &str) -> bool {
    http::introspect(server, Client::basic(caller), token)
        .await
        .ok()["active"]
        == true
}

/// Polls until `server` no longer accepts `token`; how long that took. Fails after 1 s.
async fn refused_within_a_second(server: &Server, caller: &Instance, token: &str) -> Duration {
    support::within_a_second("a token changed elsewhere is refused", || async {
        !active(server, caller, token).await
    })
    .await
}

#[tokio::test]
async fn a_revoke_is_honoured_at_once_by_the_process_that_made_it() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let token = a1user_token(&server, &instance).await;
    for _ in 0..3 {
        assert!(active(&server, &instance, &token).await);
    }

    let revoke = server.delete("/token?scheme=a1user").bearer_auth(&token);
    http::send(revoke, "revoke").await.ok();
    assert!(
        !active(&server, &instance, &token).await,
        "the very next check after a revoke must refuse the token"
    );

    // Revoke-all and OAuth revocation likewise.
    let first = a1user_token(&server, &instance).await;
    assert!(active(&server, &instance, &first).await);
    let revoke_all = server
        .delete("/token?scheme=a1user")
        .basic_auth(&instance.username, Some(&instance.password));
    http::send(revoke_all, "revoke all").await.ok();
    assert!(!active(&server, &instance, &first).await);

    let second = a1user_token(&server, &instance).await;
    assert!(active(&server, &instance, &second).await);
    http::revoke(&server, Client::basic(&instance), &second)
        .await
        .ok();
    assert!(!active(&server, &instance, &second).await);
}

#[tokio::test]
async fn a_revoke_on_another_process_is_honoured_within_a_second() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let a = deployment.serve();
    let b = deployment.serve();
    let token = a1user_token(&a, &instance).await;
    // Both processes have verified (and cached) the token.
    assert!(active(&a, &instance, &token).await);
    assert!(active(&b, &instance, &token).await);

    let revoke = b.delete("/token?scheme=a1user").bearer_auth(&token);
    http::send(revoke, "revoke on b").await.ok();
    assert!(!active(&b, &instance, &token).await);
    let took = refused_within_a_second(&a, &instance, &token).await;
    eprintln!("the other process refused the revoked token after {took:?}");
}

#[tokio::test]
async fn a_disable_made_by_the_cli_stops_cached_tokens_within_a_second() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let caller = deployment.instance("acme", "auditor", "profiles-360");
    let server = deployment.serve();
    let token = a1user_token(&server, &instance).await;
    assert!(active(&server, &caller, &token).await);

    deployment.cli_json(&["instance", "disable", &instance.username, "--json"]);
    refused_within_a_second(&server, &caller, &token).await;

    // Enabled again, the token works at once: refusals are never cached.
    deployment.cli_json(&["instance", "enable", &instance.username, "--json"]);
    support::within_a_second("an enabled instance's token is accepted", || async {
        active(&server, &caller, &token).await
    })
    .await;
}

/// The daily retrieve answers the newest token. A token minted by the process answering is
/// the answer at once; one minted by another process within a second (until then the older
/// token answered is still valid).
#[tokio::test]
async fn a_new_token_is_retrieved_at_once_here_and_within_a_second_elsewhere() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "cs");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let (a, b) = (deployment.serve(), deployment.serve());
    let retrieve = |server: &Server| {
        let request = server
            .get("/token?scheme=a1user")
            .header("Authorization", http::basic(&instance));
        async move { http::send(request, "retrieve").await.access_token() }
    };
    let first = a1user_token(&a, &instance).await;
    assert_eq!(retrieve(&a).await, first);
    assert_eq!(retrieve(&b).await, first);

    let create = a
        .post("/token?scheme=a1user&action=create")
        .header("Authorization", http::basic(&instance));
    let second = http::send(create, "create on a").await.access_token();
    assert_ne!(second, first);
    assert_eq!(
        retrieve(&a).await,
        second,
        "the process that minted it answers it at once"
    );
    let took = support::within_a_second("the other process answers the new token", || async {
        retrieve(&b).await == second
    })
    .await;
    eprintln!("the other process answered the new token after {took:?}");
}

/// An extend moves no token epoch (nothing is taken away): another process that cached the
/// token with its old expiry reads it again once that passes, and keeps accepting it.
#[tokio::test]
async fn a_token_extended_elsewhere_outlives_its_old_expiry_everywhere() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_TOKEN_LIFETIME_CS", "4s")]);
    deployment.tenant("acme", "cs");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let caller = deployment.instance("acme", "auditor", "profiles-360");
    let (a, b) = (deployment.serve(), deployment.serve());
    let token = a1user_token(&a, &instance).await;
    let first = http::introspect(&a, Client::basic(&caller), &token).await;
    let old_expiry = first.ok()["exp"].as_i64().expect("exp");

    tokio::time::sleep(Duration::from_secs(2)).await;
    http::extend(&b, &token).await.ok();
    // Past the old expiry: `a` held the token with it, and must not refuse it now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = http::introspect(&a, Client::basic(&caller), &token).await;
    assert_eq!(
        later.ok()["active"],
        true,
        "refused after an extend elsewhere: {later:?}"
    );
    assert!(later.ok()["exp"].as_i64().expect("exp") > old_expiry);
}
