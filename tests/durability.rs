//! Every token a client was answered 200 for, and every push answered 202, survives `kill -9`
//! of the server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Deployment, http};

/// Waits until the clients have had answers (up to 30 s, however loaded the machine), then a
/// little longer, so the kill lands in the middle of the run.
async fn kill_once_under_way(progress: &AtomicUsize) {
    let start = std::time::Instant::now();
    while progress.load(Ordering::Relaxed) < 5 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn acknowledged_tokens_survive_kill_9() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_MAX_ACTIVE_TOKENS_CS", "1000")]);
    deployment.tenant("acme", "cs");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let mut server = deployment.serve();

    // Clients create tokens concurrently; the server dies mid-run.
    let progress = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = server.client.clone();
        let url = server.url("/token?scheme=a1user&action=create");
        let instance = instance.clone();
        let progress = progress.clone();
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
                progress.fetch_add(1, Ordering::Relaxed);
            }
            acknowledged
        }));
    }
    kill_once_under_way(&progress).await;
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

/// Every push answered 202 is in the customer data after `kill -9`: pushes commit before they
/// are acknowledged.
#[tokio::test]
async fn acknowledged_pushes_survive_kill_9() {
    let deployment = Deployment::new();
    let tenant = deployment.tenant("acme", "cs");
    let tenant_id = tenant["id"].as_str().expect("tenant id").to_owned();
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let profiles = deployment.instance("acme", "reader", "profiles-360");
    let mut server = deployment.serve();
    let token = http::a1user_token(&server, &tracker).await;

    let progress = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..4 {
        let client = server.client.clone();
        let url = server.url(&format!("/v2/{tenant_id}/dw/tracker?scheme=a1user"));
        let token = token.clone();
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for push in 0..500 {
                let records: Vec<serde_json::Value> = (0..20)
                    .map(|r| {
                        serde_json::json!({
                            "SourceCustomerNumber": format!("T{task}-P{push}-R{r}"),
                            "Type": "emailOpen",
                            "EventTimeStamp": "2026-11-20T10:00:00Z",
                        })
                    })
                    .collect();
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&records)
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status() == 202 => {
                        acknowledged.push(format!("T{task}-P{push}-R0"));
                        progress.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    kill_once_under_way(&progress).await;
    server.kill9();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "no push was acknowledged before the kill"
    );

    // Every customer of an acknowledged push is there, with its event.
    let server = deployment.serve();
    let reader = http::a1user_token(&server, &profiles).await;
    let mut seen = std::collections::HashSet::new();
    let mut next = Some(format!("/v2/{tenant_id}/dw/a360/customers?limit=1000"));
    while let Some(path) = next {
        let page = http::send_json_or_hal(server.get(&path).bearer_auth(&reader), "pull")
            .await
            .ok()
            .clone();
        for customer in page["_embedded"]["customers"]
            .as_array()
            .expect("customers")
        {
            assert_eq!(customer["events"].as_array().map(Vec::len), Some(1));
            seen.insert(
                customer["sourceRecords"][0]["sourceCustomerNumber"]
                    .as_str()
                    .expect("source number")
                    .to_owned(),
            );
        }
        next = page["_links"]["next"]["href"].as_str().map(str::to_owned);
    }
    for source in &acknowledged {
        assert!(
            seen.contains(source),
            "push of {source} was acknowledged, then lost"
        );
    }
    // A push is all or nothing: the records of any push are all there or all missing.
    assert_eq!(seen.len() % 20, 0, "a push was stored in part");
}
