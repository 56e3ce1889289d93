//! `cdp-auth key rotate`: the server key changes, every password, token and secret stays
//! valid, and the old key no longer opens the deployment.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::Deployment;
use support::http::{Client, a1user_token, introspect, post_form, send};

#[tokio::test]
async fn rotating_the_server_key_keeps_every_credential_and_token() {
    let deployment = Deployment::new();
    let tenant = deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let key_file = deployment.dir().join("cdp-auth.key");
    let secret_headers = [
        (
            "tenant_hash",
            tenant["tenant_hash"].as_str().unwrap().to_owned(),
        ),
        (
            "oauth_key_secret",
            tenant["oauth_key_secret"].as_str().unwrap().to_owned(),
        ),
    ];

    let (a1user, oauth, secure) = {
        let server = deployment.serve();
        let a1user = a1user_token(&server, &instance).await;
        let oauth = post_form(
            &server,
            "/oauth/token",
            Client::basic(&instance),
            &[("grant_type", "client_credentials")],
        )
        .await
        .access_token();
        let mut create = server
            .post("/secureApi/token/profile/create")
            .json(&serde_json::json!({"resource": ["basic"]}));
        for (name, value) in &secret_headers {
            create = create.header(*name, value);
        }
        let secure = send(create, "secureApi create").await.ok()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (a1user, oauth, secure)
    };

    let old_key = std::fs::read(&key_file).unwrap();
    let rotated = deployment.cli_json(&["key", "rotate", "--json"]);
    let new_key = std::fs::read(&key_file).unwrap();
    assert_ne!(old_key, new_key, "the key file was not replaced");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The key file is named as configured: relative to the working folder or absolute.
    assert_eq!(
        deployment
            .dir()
            .join(rotated["key_file"].as_str().expect("key_file")),
        key_file
    );

    // Under the new key: every token verifies, the password logs in (and gets the same
    // token back), and the tenant secret still works.
    let server = deployment.serve();
    for token in [&a1user, &oauth, &secure] {
        let reply = introspect(&server, Client::basic(&instance), token).await;
        assert_eq!(reply.ok()["active"], true, "token lost in the rotation");
    }
    assert_eq!(a1user_token(&server, &instance).await, a1user);
    let mut create = server
        .post("/secureApi/token/profile/create")
        .json(&serde_json::json!({"resource": ["basic"]}));
    for (name, value) in &secret_headers {
        create = create.header(*name, value);
    }
    send(create, "secureApi create after rotation").await.ok();
    drop(server);

    // The old key no longer opens the deployment.
    std::fs::write(&key_file, &old_key).unwrap();
    let refused = deployment.cli(&["tenant", "list", "--json"]);
    assert!(
        !refused.status.success(),
        "the old key still opens the database"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("server key"));
}

#[test]
fn rotation_with_an_environment_key_needs_a_target_file() {
    let deployment = Deployment::with_env(&[(
        "CDP_AUTH_SERVER_KEY",
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    )]);
    deployment.tenant("acme", "cs");
    let refused = deployment.cli(&["key", "rotate"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--new-key-file"));

    let target = deployment.dir().join("next.key");
    let target_text = target.display().to_string();
    deployment.cli_json(&["key", "rotate", "--new-key-file", &target_text, "--json"]);
    let new_key = std::fs::read_to_string(&target).unwrap();
    let opened = deployment
        .command(&["tenant", "show", "acme", "--json"])
        .env("CDP_AUTH_SERVER_KEY", new_key.trim())
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
}
