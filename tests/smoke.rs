//! The seed's walk-through, end to end: the harness itself works.

mod support;

use support::{Deployment, http};

#[tokio::test]
async fn seed_walk_through() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let reply = http::login(&server, &instance).await;
    let login = reply.ok();
    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["tenantId"], instance.tenant_id.as_str());
}
