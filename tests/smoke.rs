//! The seed's walk-through, end to end: the harness itself works.

mod support;

use support::Deployment;

#[tokio::test]
async fn seed_walk_through() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let login: serde_json::Value = server
        .client
        .post(server.url("/authentication?action=login"))
        .basic_auth(&instance.username, Some(&instance.password))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["tenantId"], instance.tenant_id.as_str());
}
