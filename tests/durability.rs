//! Every token a client was answered 200 for survives `kill -9` of the server.

mod support;

use support::{Deployment, http};

#[tokio::test]
async fn acknowledged_tokens_survive_kill_9() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_MAX_ACTIVE_TOKENS_CS", "1000")]);
    deployment.tenant("acme", "cs");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let mut server = deployment.serve();

    // Clients create tokens concurrently; the server dies mid-run.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = server.client.clone();
        let url = server.url("/token?scheme=a1user&action=create");
        let instance = instance.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for _ in 0..200 {
                let response = client
                    .post(&url)
                    .basic_auth(&instance.username, Some(&instance.password))
                    .send()
                    .await;
                let Ok(response) = response else { break };
                if response.status() != 200 {
                    break;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    break;
                };
                acknowledged.push(body["access_token"].as_str().unwrap().to_owned());
            }
            acknowledged
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.kill9();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "no token was created before the kill"
    );

    let server = deployment.serve();
    for token in &acknowledged {
        let request = server
            .post("/token?scheme=a1user&action=extend")
            .bearer_auth(token);
        http::send(
            request,
            format!("extend of {token}, acknowledged before kill -9"),
        )
        .await
        .ok();
    }
}
