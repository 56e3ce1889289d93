//! The admin CLI as a script sees it: the real binary, its `--json` output parsed, its exit
//! codes and error messages, its configuration layers, the server key file, and `serve`'s
//! shutdown on SIGTERM.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use support::{Deployment, http, json_of, listening_url, within_a_second};

// ---- helpers ---------------------------------------------------------------------------------

/// Runs a command that must fail: non-zero exit, nothing on stdout, a message on stderr.
/// Returns the message.
fn fails(output: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{what} should fail but succeeded: {stdout}"
    );
    assert!(
        stdout.trim().is_empty(),
        "{what} failed but printed on stdout: {stdout}"
    );
    assert!(
        !stderr.trim().is_empty(),
        "{what} failed without a message on stderr"
    );
    stderr
}

fn str_of<'a>(json: &'a Value, key: &str) -> &'a str {
    json[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {json}"))
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// `api_host_url` as `instance create` shows it, with extra arguments and environment.
fn shown_api_host_url(deployment: &Deployment, name: &str, env: &[(&str, &str)]) -> String {
    let args = [
        "instance",
        "create",
        "--tenant",
        "acme",
        "--name",
        name,
        "--type",
        "dw-tracker",
        "--json",
    ];
    let mut command = deployment.command(&args);
    command.envs(env.iter().copied());
    let output = command.output().expect("run cdp-auth");
    str_of(&json_of(&output, "instance create"), "api_host_url").to_owned()
}

/// Runs a command that must succeed and print one JSON value, for this deployment but with
/// no database configured by the environment.
fn json_without_database_env(deployment: &Deployment, args: &[&str], what: &str) -> Value {
    let mut command = deployment.command(args);
    command.env_remove("CDP_AUTH_DATABASE");
    json_of(&command.output().expect("run cdp-auth"), what)
}

/// `tenant create` of `acme` in `uat`.
const CREATE_ACME: [&str; 7] = [
    "tenant",
    "create",
    "--name",
    "acme",
    "--environment",
    "uat",
    "--json",
];

/// Waits for a child to exit, killing it (and failing) after `limit`.
fn wait_at_most(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `serve` on an ephemeral port, expecting it to refuse to start: returns its stderr.
fn serve_refuses(deployment: &Deployment) -> String {
    let mut child = deployment
        .serve_command()
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cdp-auth serve");
    let status = wait_at_most(&mut child, Duration::from_secs(30), "serve");
    let output = child.wait_with_output().expect("collect serve output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !status.success(),
        "serve should have refused to start: {stdout}"
    );
    assert!(
        !stdout.contains("listening on"),
        "serve listened although it should refuse: {stdout}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that an error message names the key (file).
#[track_caller]
fn assert_names_the_key(message: &str, whose: &str) {
    assert!(
        message.contains("key"),
        "{whose} does not name the key: {message}"
    );
}

fn key_file(deployment: &Deployment) -> std::path::PathBuf {
    deployment.dir().join("cdp-auth.key")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// ---- tenants -------------------------------------------------------------------------------

#[test]
fn tenant_create_prints_one_json_object_with_the_shown_once_secret() {
    let deployment = Deployment::new();
    let output = deployment.cli(&[
        "tenant",
        "create",
        "--name",
        "acme",
        "--environment",
        "uat",
        "--json",
    ]);
    let tenant = json_of(&output, "tenant create");
    assert!(tenant.is_object(), "not an object: {tenant}");
    let id = str_of(&tenant, "id");
    assert!(
        id.parse::<u64>().is_ok_and(|n| n > 0),
        "id is not a positive integer as a string: {id}"
    );
    assert_eq!(tenant["name"], "acme");
    assert_eq!(tenant["environment"], "uat");
    let hash = str_of(&tenant, "tenant_hash");
    assert!(is_lower_hex(hash, 32), "tenant_hash {hash:?}");
    let secret = str_of(&tenant, "oauth_key_secret");
    assert!(is_lower_hex(secret, 16), "oauth_key_secret {secret:?}");

    let second = deployment.tenant("globex", "cs");
    let second_id: u64 = str_of(&second, "id").parse().unwrap();
    assert!(
        second_id > id.parse::<u64>().unwrap(),
        "ids are allocated in order"
    );
    assert_ne!(second["tenant_hash"], tenant["tenant_hash"]);
    assert_ne!(second["oauth_key_secret"], tenant["oauth_key_secret"]);
}

#[test]
fn tenant_without_oauth_has_a_null_secret() {
    let deployment = Deployment::new();
    let tenant = deployment.tenant_without_oauth("open", "prod");
    assert!(
        tenant
            .as_object()
            .expect("object")
            .contains_key("oauth_key_secret"),
        "oauth_key_secret key missing: {tenant}"
    );
    assert!(tenant["oauth_key_secret"].is_null(), "{tenant}");
    assert_eq!(tenant["environment"], "prod");
    let shown = deployment.cli_json(&["tenant", "show", "open", "--json"]);
    assert_eq!(shown["oauth_enabled"], false);
}

#[test]
fn tenant_list_and_show_never_reveal_the_secret() {
    let deployment = Deployment::new();
    let empty = deployment.cli_json(&["tenant", "list", "--json"]);
    assert_eq!(
        empty,
        Value::Array(vec![]),
        "a new deployment has no tenant"
    );

    let acme = deployment.tenant("acme", "uat");
    let globex = deployment.tenant("globex", "cs");
    let list = deployment.cli_json(&["tenant", "list", "--json"]);
    let list = list.as_array().expect("tenant list --json is an array");
    assert_eq!(list.len(), 2);
    let names: Vec<&str> = list.iter().map(|t| str_of(t, "name")).collect();
    assert!(names.contains(&"acme") && names.contains(&"globex"));
    for tenant in list {
        assert!(
            tenant.get("oauth_key_secret").is_none(),
            "a listing shows the secret: {tenant}"
        );
    }

    let by_id = deployment.cli_json(&["tenant", "show", str_of(&acme, "id"), "--json"]);
    let by_name = deployment.cli_json(&["tenant", "show", "acme", "--json"]);
    assert_eq!(by_id, by_name);
    assert_eq!(by_id["id"], acme["id"]);
    assert_eq!(by_id["name"], "acme");
    assert_eq!(by_id["environment"], "uat");
    assert_eq!(by_id["tenant_hash"], acme["tenant_hash"]);
    assert_eq!(by_id["oauth_enabled"], true);
    assert!(by_id.get("oauth_key_secret").is_none(), "{by_id}");
    let other = deployment.cli_json(&["tenant", "show", "globex", "--json"]);
    assert_eq!(other["id"], globex["id"]);
}

#[test]
fn duplicate_tenant_name_is_refused() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let message = fails(
        deployment.cli(&[
            "tenant",
            "create",
            "--name",
            "acme",
            "--environment",
            "prod",
            "--json",
        ]),
        "a second tenant named acme",
    );
    assert!(
        message.contains("acme") && message.contains("already exists"),
        "unclear message: {message}"
    );
    let list = deployment.cli_json(&["tenant", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn names_are_compared_ignoring_case_and_compatibility_forms() {
    let deployment = Deployment::new();
    let create = |name: &str| {
        deployment.cli(&[
            "tenant",
            "create",
            "--name",
            name,
            "--environment",
            "cs",
            "--no-oauth",
            "--json",
        ])
    };
    let acme = json_of(&create("acme"), "tenant acme");
    json_of(&create("full"), "tenant full");
    for (name, expected) in [
        ("ACME", "already exists"),
        ("ｆｕｌｌ", "already exists"),
        // A Cyrillic а among Latin letters.
        ("\u{430}cme", "mixes scripts"),
    ] {
        let message = fails(create(name), name);
        assert!(message.contains(expected), "{name}: {message}");
    }
    for name in ["Ελλάδα", "東京"] {
        let created = json_of(&create(name), name);
        assert_eq!(created["name"], name);
    }
    let list = deployment.cli_json(&["tenant", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(4), "{list}");
    // A name finds its tenant whatever its case or width.
    for key in ["ACME", "ａｃｍｅ"] {
        let shown = deployment.cli_json(&["tenant", "show", key, "--json"]);
        assert_eq!(shown["id"], acme["id"], "{key}");
    }

    deployment.admin("ops");
    let message = fails(
        deployment.cli(&["admin", "create", "--username", "OPS", "--json"]),
        "admin OPS beside ops",
    );
    assert!(message.contains("already exists"), "{message}");
    // The API token is issued to the one admin, named in any case.
    let token = deployment.cli_json(&["admin", "api-token", "--username", "Ops", "--json"]);
    assert!(token["token"].is_string(), "{token}");
}

/// Runs one SQL statement on the deployment's database, as an older release might have left it.
async fn execute(deployment: &Deployment, sql: &'static str) {
    if deployment.is_postgres() {
        let pool = sqlx::PgPool::connect(deployment.database_url())
            .await
            .expect("connect");
        sqlx::query(sql).execute(&pool).await.expect(sql);
    } else {
        let pool = sqlx::SqlitePool::connect(deployment.database_url())
            .await
            .expect("connect");
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
}

#[tokio::test]
async fn names_from_before_name_keys_that_now_collide_still_open() {
    let deployment = Deployment::new();
    let acme = deployment.tenant_without_oauth("acme", "cs");
    let other = deployment.tenant_without_oauth("globex", "cs");
    // Two names that are one name ignoring case, as a database from before keys may hold.
    execute(
        &deployment,
        "UPDATE tenants SET name = 'ACME', name_key = NULL WHERE name = 'globex'",
    )
    .await;
    let list = deployment.cli_json(&["tenant", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    // The older keeps the key; the newer is found by its exact name.
    let shown = deployment.cli_json(&["tenant", "show", "ACME", "--json"]);
    assert_eq!(shown["id"], other["id"]);
    let shown = deployment.cli_json(&["tenant", "show", "Acme", "--json"]);
    assert_eq!(shown["id"], acme["id"]);
    let message = fails(
        deployment.cli(&["tenant", "create", "--name", "Acme", "--environment", "cs"]),
        "a third acme",
    );
    assert!(message.contains("already exists"), "{message}");
}

#[tokio::test]
async fn revoke_tokens_ends_the_tenants_secure_api_tokens_on_the_server() {
    let deployment = Deployment::new();
    let acme = deployment.tenant_without_oauth("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let reply = http::send(
            server
                .post("/secureApi/token/profile/create")
                .header("tenant_hash", str_of(&acme, "tenant_hash"))
                .json(&serde_json::json!({"resource": ["basic"]})),
            "secureApi create",
        )
        .await;
        tokens.push(str_of(reply.ok(), "token").to_owned());
    }
    let active = |token: String| {
        let (server, instance) = (&server, &instance);
        async move {
            let reply = http::introspect(server, http::Client::basic(instance), &token).await;
            reply.ok()["active"] == true
        }
    };
    assert!(active(tokens[0].clone()).await);

    let revoked = deployment.cli_json(&["tenant", "revoke-tokens", "--tenant", "acme", "--json"]);
    assert_eq!(
        revoked,
        serde_json::json!({"tenant": str_of(&acme, "id"), "revoked": 2})
    );
    // The CLI is another process: the server learns of it within a second.
    for token in &tokens {
        within_a_second("the revoked token introspects inactive", || {
            let active = active(token.clone());
            async move { !active.await }
        })
        .await;
    }
    let text = deployment.cli(&["tenant", "revoke-tokens", "acme"]);
    assert!(text.status.success());
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Revoked 0 secureApi tokens of tenant acme"),
        "{text:?}"
    );
}

#[test]
fn bad_environment_is_refused_with_the_allowed_values() {
    let deployment = Deployment::new();
    let message = fails(
        deployment.cli(&[
            "tenant",
            "create",
            "--name",
            "acme",
            "--environment",
            "qa",
            "--json",
        ]),
        "environment qa",
    );
    for word in ["qa", "cs", "uat", "prod"] {
        assert!(message.contains(word), "message lacks {word}: {message}");
    }
}

#[test]
fn unknown_tenant_is_refused() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let message = fails(
        deployment.instance_output("nobody", "loader", "dw-tracker"),
        "an instance in an unknown tenant",
    );
    assert!(
        message.contains("nobody") && message.contains("not found"),
        "unclear message: {message}"
    );
    let message = fails(
        deployment.instance_output("999", "loader", "dw-tracker"),
        "an instance in tenant 999",
    );
    assert!(message.contains("999"), "unclear message: {message}");
    let message = fails(
        deployment.cli(&["tenant", "show", "nobody", "--json"]),
        "tenant show nobody",
    );
    assert!(message.contains("nobody"), "unclear message: {message}");
}

// ---- instances -----------------------------------------------------------------------------

#[test]
fn instance_create_prints_the_credentials_once() {
    let deployment = Deployment::new();
    let tenant = deployment.tenant("acme", "uat");
    let now = time::OffsetDateTime::now_utc();
    let mut usernames = Vec::new();
    for (kind, prefix) in [
        ("dw-tracker", "tracker_"),
        ("profiles-360", "profiles_"),
        ("webtag", "webtag_"),
    ] {
        let output = deployment.instance_output("acme", &format!("{kind} one"), kind);
        let instance = json_of(&output, "instance create");
        assert!(instance.is_object(), "{instance}");
        let id = str_of(&instance, "id");
        assert!(id.parse::<u64>().is_ok(), "id {id:?}");
        assert_eq!(instance["name"], format!("{kind} one").as_str());
        assert_eq!(instance["type"], kind);
        assert_eq!(instance["api_host_url"], "http://127.0.0.1:8080");
        assert_eq!(instance["auth_host_url"], "http://127.0.0.1:8080");
        if let Some(tenant_id) = instance.get("tenant_id") {
            assert_eq!(tenant_id, &tenant["id"]);
        }

        let username = str_of(&instance, "username");
        let suffix = username
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{kind} username {username:?} lacks {prefix}"));
        assert!(
            suffix.len() == 6
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "username suffix {suffix:?}"
        );
        usernames.push(username.to_owned());

        let password = str_of(&instance, "password");
        assert!(
            password.len() >= 24 && password.chars().all(|c| c.is_ascii_alphanumeric()),
            "password of {} chars is not 24+ of [A-Za-z0-9]",
            password.len()
        );

        let expiry = str_of(&instance, "password_expiry_date");
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        let expiry = time::PrimitiveDateTime::parse(expiry, format)
            .unwrap_or_else(|e| panic!("password_expiry_date {expiry:?}: {e}"))
            .assume_utc();
        let ahead = expiry - now;
        assert!(
            ahead > time::Duration::days(364) && ahead < time::Duration::days(366),
            "password expires {ahead} from now, not about 365 days"
        );
    }
    usernames.sort();
    usernames.dedup();
    assert_eq!(usernames.len(), 3, "usernames are unique");
}

#[test]
fn bad_instance_type_is_refused_with_the_allowed_values() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let message = fails(
        deployment.instance_output("acme", "loader", "tracker"),
        "type tracker",
    );
    for word in ["tracker", "dw-tracker", "profiles-360", "webtag"] {
        assert!(message.contains(word), "message lacks {word}: {message}");
    }
    let list = deployment.cli_json(&["instance", "list", "--json"]);
    assert_eq!(list, Value::Array(vec![]));
}

#[test]
fn a_tenant_holds_at_most_five_instances_of_each_type() {
    let deployment = Deployment::new();
    let acme = deployment.tenant("acme", "uat");
    deployment.tenant("globex", "uat");
    for n in 1..=5 {
        deployment.instance_json("acme", &format!("loader {n}"), "dw-tracker");
    }
    let message = fails(
        deployment.instance_output(str_of(&acme, "id"), "loader 6", "dw-tracker"),
        "a sixth dw-tracker instance",
    );
    assert!(
        message.contains('5') && message.contains("dw-tracker"),
        "unclear message: {message}"
    );
    // Another type in the same tenant, and the same type in another tenant, still work.
    let other_type = deployment.instance_json("acme", "reader", "profiles-360");
    assert_eq!(other_type["type"], "profiles-360");
    let other_tenant = deployment.instance_json("globex", "loader", "dw-tracker");
    assert_eq!(other_tenant["type"], "dw-tracker");
    let listed = deployment.cli_json(&["instance", "list", "--tenant", "acme", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 6);
}

#[test]
fn instance_limit_is_configurable_by_the_environment() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let limited = |name: &str| {
        let mut command = deployment.command(&[
            "instance", "create", "--tenant", "acme", "--name", name, "--type", "webtag", "--json",
        ]);
        command.env("CDP_AUTH_MAX_INSTANCES_PER_TYPE", "2");
        command.output().expect("run cdp-auth")
    };
    json_of(&limited("one"), "first webtag");
    json_of(&limited("two"), "second webtag");
    let message = fails(limited("three"), "a third webtag with a limit of 2");
    assert!(message.contains('2'), "unclear message: {message}");
}

#[test]
fn instance_list_show_disable_enable_and_rotate() {
    let deployment = Deployment::new();
    let acme = deployment.tenant("acme", "uat");
    deployment.tenant("globex", "cs");
    let loader = deployment.instance_json("acme", "loader", "dw-tracker");
    let reader = deployment.instance_json("acme", "reader", "profiles-360");
    let foreign = deployment.instance_json("globex", "tag", "webtag");
    let id = str_of(&loader, "id");
    let username = str_of(&loader, "username");

    let all = deployment.cli_json(&["instance", "list", "--json"]);
    let all = all.as_array().expect("instance list --json is an array");
    assert_eq!(all.len(), 3);
    for instance in all {
        assert!(
            instance.get("password").is_none(),
            "a listing shows a password: {instance}"
        );
    }
    let of_acme = deployment.cli_json(&["instance", "list", "--tenant", "acme", "--json"]);
    let mut names: Vec<&str> = of_acme
        .as_array()
        .expect("array")
        .iter()
        .map(|i| str_of(i, "name"))
        .collect();
    names.sort();
    assert_eq!(names, ["loader", "reader"]);
    let of_globex = deployment.cli_json(&[
        "instance",
        "list",
        "--tenant",
        str_of(&foreign, "tenant_id"),
        "--json",
    ]);
    assert_eq!(of_globex.as_array().unwrap().len(), 1);
    assert_eq!(of_globex[0]["username"], foreign["username"]);

    let by_id = deployment.cli_json(&["instance", "show", id, "--json"]);
    let by_username = deployment.cli_json(&["instance", "show", username, "--json"]);
    assert_eq!(by_id, by_username);
    assert_eq!(by_id["id"], loader["id"]);
    assert_eq!(by_id["name"], "loader");
    assert_eq!(by_id["type"], "dw-tracker");
    assert_eq!(by_id["username"], username);
    assert_eq!(by_id["tenant_id"], acme["id"]);
    assert_eq!(
        by_id["password_expiry_date"],
        loader["password_expiry_date"]
    );
    assert_eq!(by_id["disabled"], false);
    assert!(by_id.get("password").is_none(), "show reveals: {by_id}");

    let disabled = deployment.cli_json(&["instance", "disable", username, "--json"]);
    assert_eq!(disabled["id"], loader["id"]);
    assert_eq!(disabled["disabled"], true);
    let shown = deployment.cli_json(&["instance", "show", id, "--json"]);
    assert_eq!(shown["disabled"], true);
    let untouched = deployment.cli_json(&["instance", "show", str_of(&reader, "id"), "--json"]);
    assert_eq!(untouched["disabled"], false);
    let enabled = deployment.cli_json(&["instance", "enable", id, "--json"]);
    assert_eq!(enabled["disabled"], false);

    let rotated = deployment.cli_json(&["instance", "rotate-password", id, "--json"]);
    assert_eq!(rotated["id"], loader["id"]);
    assert_eq!(rotated["username"], username);
    let password = str_of(&rotated, "password");
    assert!(password.len() >= 24 && password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(rotated["password"], loader["password"]);
    assert!(rotated["password_expiry_date"].is_string(), "{rotated}");

    for (verb, what) in [
        ("show", "an unknown instance"),
        ("disable", "disabling an unknown instance"),
        ("enable", "enabling an unknown instance"),
        ("rotate-password", "rotating an unknown instance"),
    ] {
        let message = fails(
            deployment.cli(&["instance", verb, "tracker_nobody", "--json"]),
            what,
        );
        assert!(
            message.contains("tracker_nobody"),
            "unclear message: {message}"
        );
    }
}

/// What the CLI does, the server honours: disable stops logins, rotation retires the old
/// password.
#[tokio::test]
async fn disable_and_rotate_take_effect_on_the_server() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let login = |password: String| {
        let (server, username) = (&server, instance.username.clone());
        async move { http::login_as(server, &username, &password).await }
    };

    login(instance.password.clone()).await.ok();
    // The CLI is another process: the server learns of each change within a second.
    deployment.cli_json(&["instance", "disable", &instance.username, "--json"]);
    within_a_second("the disabled instance's login is refused", || {
        let login = login(instance.password.clone());
        async move { login.await.status == 403 }
    })
    .await;
    login(instance.password.clone())
        .await
        .expect_error(403, "instance_disabled");
    deployment.cli_json(&["instance", "enable", &instance.username, "--json"]);
    login(instance.password.clone()).await.ok();

    let rotated =
        deployment.cli_json(&["instance", "rotate-password", &instance.username, "--json"]);
    within_a_second("the old password is refused", || {
        let login = login(instance.password.clone());
        async move { login.await.status == 401 }
    })
    .await;
    login(str_of(&rotated, "password").to_owned()).await.ok();
}

// ---- configuration -------------------------------------------------------------------------

#[test]
fn database_flag_alone_creates_and_uses_the_sqlite_file() {
    let deployment = Deployment::new();
    let _ = std::fs::remove_file(deployment.database_file());
    let database = deployment.dir().join("by-flag").join("auth.db");
    std::fs::create_dir_all(database.parent().unwrap()).unwrap();
    let url = format!("sqlite://{}", database.display());
    let migrated = deployment
        .command(&["migrate", "--database", &url])
        .output()
        .unwrap();
    assert!(migrated.status.success(), "migrate --database failed");

    let created = json_without_database_env(
        &deployment,
        &[
            "tenant",
            "create",
            "--name",
            "acme",
            "--environment",
            "cs",
            "--json",
            "--database",
            &url,
        ],
        "tenant create --database",
    );
    assert!(database.exists(), "the SQLite file was not created");
    let key = database.with_extension("key");
    assert!(key.exists(), "the key file is not beside the database");
    assert_eq!(mode_of(&key), 0o600);

    let shown = json_without_database_env(
        &deployment,
        &["tenant", "show", "acme", "--json", "--database", &url],
        "tenant show --database",
    );
    assert_eq!(shown["id"], created["id"]);
    assert!(
        !deployment.database_file().exists(),
        "the default database was used instead of the flag's"
    );
}

#[test]
fn database_flag_beats_the_environment() {
    let deployment = Deployment::new();
    let other = deployment.dir().join("other.db");
    let url = format!("sqlite://{}", other.display());
    assert!(
        deployment
            .cli(&["migrate", "--database", &url])
            .status
            .success()
    );
    deployment.cli_json(&[
        "tenant",
        "create",
        "--name",
        "flagged",
        "--environment",
        "uat",
        "--database",
        &url,
        "--json",
    ]);
    assert!(other.exists());
    // The environment's database (the harness's) knows nothing of it.
    let from_env = deployment.cli_json(&["tenant", "list", "--json"]);
    assert_eq!(from_env, Value::Array(vec![]));
    let from_flag = deployment.cli_json(&["tenant", "list", "--database", &url, "--json"]);
    assert_eq!(from_flag.as_array().unwrap().len(), 1);
}

#[test]
fn database_from_the_config_file_when_nothing_else_says() {
    let deployment = Deployment::new();
    let _ = std::fs::remove_file(deployment.database_file());
    std::fs::write(
        deployment.dir().join("cdp-auth.toml"),
        "database = \"sqlite://from-file.db\"\n",
    )
    .unwrap();
    let mut migrate = deployment.command(&["migrate"]);
    migrate.env_remove("CDP_AUTH_DATABASE");
    assert!(migrate.output().unwrap().status.success());
    json_without_database_env(
        &deployment,
        &CREATE_ACME,
        "tenant create with the file's database",
    );
    assert!(deployment.dir().join("from-file.db").exists());
    assert!(deployment.dir().join("from-file.key").exists());
    assert!(!deployment.database_file().exists());
}

#[test]
fn default_database_is_cdp_auth_db_in_the_working_folder() {
    let deployment = Deployment::new();
    // The harness migrated its own database there: start from an empty folder.
    let _ = std::fs::remove_file(deployment.database_file());
    let mut migrate = deployment.command(&["migrate"]);
    migrate.env_remove("CDP_AUTH_DATABASE");
    assert!(migrate.output().unwrap().status.success());
    json_without_database_env(
        &deployment,
        &CREATE_ACME,
        "tenant create with the default database",
    );
    assert!(deployment.database_file().exists());
    assert_eq!(mode_of(&key_file(&deployment)), 0o600);
}

#[test]
fn api_host_url_env_beats_file_beats_default() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");

    assert_eq!(
        shown_api_host_url(&deployment, "default", &[]),
        "http://127.0.0.1:8080"
    );

    std::fs::write(
        deployment.dir().join("cdp-auth.toml"),
        "api_host_url = \"https://file.example\"\n",
    )
    .unwrap();
    assert_eq!(
        shown_api_host_url(&deployment, "file", &[]),
        "https://file.example"
    );

    let env = [("CDP_AUTH_API_HOST_URL", "https://env.example")];
    assert_eq!(
        shown_api_host_url(&deployment, "env", &env),
        "https://env.example"
    );
    // Server settings are flags of `serve` only; other commands refuse them.
    let output = deployment.cli(&[
        "instance",
        "create",
        "--tenant",
        "acme",
        "--name",
        "f",
        "--type",
        "dw-tracker",
        "--api-host-url",
        "https://flag.example",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn host_urls_default_to_the_public_url_and_the_listen_address() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    std::fs::write(
        deployment.dir().join("cdp-auth.toml"),
        "listen = \"127.0.0.1:9999\"\nauth_host_url = \"https://auth.file.example\"\n",
    )
    .unwrap();
    let instance = deployment.instance_json("acme", "derived", "dw-tracker");
    assert_eq!(instance["api_host_url"], "http://127.0.0.1:9999");
    assert_eq!(instance["auth_host_url"], "https://auth.file.example");

    let mut command = deployment.command(&[
        "instance", "create", "--tenant", "acme", "--name", "public", "--type", "webtag", "--json",
    ]);
    command.env("CDP_AUTH_PUBLIC_URL", "https://cdp.example/");
    let instance = json_of(&command.output().unwrap(), "instance create");
    assert_eq!(instance["api_host_url"], "https://cdp.example");
    assert_eq!(
        instance["auth_host_url"], "https://auth.file.example",
        "the file's auth_host_url still beats the env's public URL, which only sets defaults"
    );
}

#[test]
fn a_broken_config_file_is_refused() {
    let deployment = Deployment::new();
    std::fs::write(
        deployment.dir().join("cdp-auth.toml"),
        "api_hostURL = \"https://typo.example\"\n",
    )
    .unwrap();
    let message = fails(
        deployment.cli(&["tenant", "list", "--json"]),
        "a config file with an unknown key",
    );
    assert!(
        message.contains("cdp-auth.toml"),
        "message does not name the file: {message}"
    );
}

// ---- the server key ------------------------------------------------------------------------

#[test]
fn key_file_is_created_private_beside_the_database() {
    let deployment = Deployment::new();
    assert!(!key_file(&deployment).exists());
    deployment.tenant("acme", "uat");
    let key = key_file(&deployment);
    assert!(key.exists(), "no cdp-auth.key beside cdp-auth.db");
    assert_eq!(mode_of(&key), 0o600, "key file mode");
    let text = std::fs::read_to_string(&key).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("key file holds base64");
    assert_eq!(bytes.len(), 32);
    // Later commands reuse it.
    deployment.tenant("globex", "cs");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
}

#[test]
fn a_deleted_key_file_is_not_silently_replaced() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    std::fs::remove_file(key_file(&deployment)).unwrap();

    let message = fails(
        deployment.cli(&["tenant", "list", "--json"]),
        "a command without its key file",
    );
    assert_names_the_key(&message, "message");
    let message = fails(
        deployment.instance_output("acme", "loader", "dw-tracker"),
        "instance create without the key file",
    );
    assert_names_the_key(&message, "message");
    let message = serve_refuses(&deployment);
    assert_names_the_key(&message, "serve's message");
    assert!(
        !key_file(&deployment).exists(),
        "a new key file was made in place of the lost one"
    );
}

#[test]
fn a_wrong_key_is_refused() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let key = key_file(&deployment);
    let original = std::fs::read_to_string(&key).unwrap();
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    assert_ne!(original.trim(), wrong);
    std::fs::write(&key, format!("{wrong}\n")).unwrap();

    let message = fails(
        deployment.cli(&["tenant", "list", "--json"]),
        "a command with the wrong key",
    );
    assert_names_the_key(&message, "message");
    let message = serve_refuses(&deployment);
    assert_names_the_key(&message, "serve's message");

    // The right key brings the deployment back.
    std::fs::write(&key, original).unwrap();
    let list = deployment.cli_json(&["tenant", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn a_malformed_key_file_is_refused() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    std::fs::write(key_file(&deployment), "not a key\n").unwrap();
    let message = fails(
        deployment.cli(&["tenant", "list", "--json"]),
        "a command with a malformed key file",
    );
    assert_names_the_key(&message, "message");
}

// ---- serve ---------------------------------------------------------------------------------

/// Starts `serve` on an ephemeral port; returns the child and its `host:port` once it has
/// printed its `listening on` line.
fn spawn_serve(deployment: &Deployment) -> (Child, String) {
    let mut child = deployment
        .serve_command()
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cdp-auth serve");
    let address =
        listening_url(&mut child).and_then(|url| url.strip_prefix("http://").map(str::to_owned));
    match address {
        Some(address) => (child, address),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve exited before listening");
        }
    }
}

fn sigterm(child: &Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM failed");
}

#[test]
fn serve_exits_cleanly_on_sigterm() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let (mut child, address) = spawn_serve(&deployment);
    // One whole request first, so the server is surely up and running.
    let mut stream = std::net::TcpStream::connect(&address).expect("connect to the server");
    write!(
        stream,
        "GET /token?scheme=a1user HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 "),
        "no HTTP answer: {response}"
    );

    sigterm(&child);
    let status = wait_at_most(&mut child, Duration::from_secs(15), "serve after SIGTERM");
    assert!(status.success(), "serve exited with {status} on SIGTERM");
}

/// A supervisor may stop a server as soon as it reports it is listening: by then SIGTERM must
/// already mean a graceful stop, not the default action that kills the process.
#[test]
fn serve_honours_sigterm_as_soon_as_it_says_it_is_listening() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let (mut child, _) = spawn_serve(&deployment);
    sigterm(&child);
    let status = wait_at_most(&mut child, Duration::from_secs(15), "serve after SIGTERM");
    assert!(status.success(), "serve exited with {status} on SIGTERM");
}

#[test]
fn commands_other_than_serve_and_migrate_refuse_a_folder_without_a_database() {
    let deployment = Deployment::new();
    let empty = deployment.dir().join("elsewhere");
    std::fs::create_dir_all(&empty).unwrap();
    for args in [
        &["instance", "show", "1"][..],
        &["tenant", "list", "--json"],
        &["admin", "create", "--username", "ops"],
        &["key", "rotate", "--json"],
    ] {
        let mut command = deployment.command(args);
        command.env_remove("CDP_AUTH_DATABASE").current_dir(&empty);
        let output = command.output().expect("run cdp-auth");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&empty.join("cdp-auth.db").display().to_string())
                && stderr.contains("--database")
                && stderr.contains("CDP_AUTH_DATABASE"),
            "{args:?} does not name the path and how to point elsewhere: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(&empty).unwrap().collect();
        assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
    }
}

#[test]
fn help_shows_each_command_its_own_flags_and_variables() {
    let deployment = Deployment::new();
    let help = |args: &[&str]| succeeded_text(&deployment, args);
    let serve = help(&["serve", "--help"]);
    assert!(
        serve.contains("--listen") && serve.contains("--max-push-body"),
        "{serve}"
    );
    let instance = help(&["instance", "create", "--help"]);
    assert!(
        instance.contains("--database") && instance.contains("--type"),
        "{instance}"
    );
    assert!(
        !instance.contains("--listen") && !instance.contains("--token-lifetime-cs"),
        "{instance}"
    );
    let login = help(&["token", "login", "--help"]);
    for wanted in [
        "--auth-url",
        "CDP_AUTH_AUTH_URL",
        "CDP_AUTH_PASSWORD",
        "--json",
    ] {
        assert!(
            login.contains(wanted),
            "token login --help lacks {wanted}: {login}"
        );
    }
    assert!(
        !login.contains("--database") && !login.contains("--listen"),
        "{login}"
    );
    let secure = help(&["secure-token", "create", "--help"]);
    for wanted in [
        "CDP_AUTH_API_URL",
        "CDP_AUTH_TENANT_HASH",
        "CDP_AUTH_OAUTH_KEY_SECRET",
    ] {
        assert!(
            secure.contains(wanted),
            "secure-token create --help lacks {wanted}: {secure}"
        );
    }
    assert!(
        login.lines().count() < 30,
        "token login --help is {} lines",
        login.lines().count()
    );
}

#[test]
fn plain_text_lists_line_their_columns_up_under_the_headers() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "cs");
    deployment.instance("acme", "Orders feed", "webtag");
    let text = |args: &[&str]| succeeded_text(&deployment, args);
    let tenants = text(&["tenant", "list"]);
    let (header, row) = (
        tenants.lines().next().unwrap(),
        tenants.lines().nth(1).unwrap(),
    );
    assert_eq!(header.find("env"), row.find("cs"), "{tenants}");
    assert_eq!(header.rfind("name"), row.find("acme"), "{tenants}");
    let instances = text(&["instance", "list"]);
    let (header, row) = (
        instances.lines().next().unwrap(),
        instances.lines().nth(1).unwrap(),
    );
    assert_eq!(header.find("type"), row.find("webtag "), "{instances}");
    assert_eq!(header.find("username"), row.find("webtag_"), "{instances}");
    assert_eq!(header.rfind("name"), row.find("Orders feed"), "{instances}");
}

/// The stdout of a command that must succeed.
fn succeeded_text(deployment: &Deployment, args: &[&str]) -> String {
    let output = deployment.cli(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn the_database_and_its_log_files_are_private_whatever_the_umask() {
    let deployment = Deployment::new();
    if deployment.is_postgres() {
        return;
    }
    let database = deployment.dir().join("private").join("cdp-auth.db");
    std::fs::create_dir_all(database.parent().unwrap()).unwrap();
    let url = format!("sqlite://{}", database.display());
    // A shell's usual umask (022) would make new files world-readable.
    let mut migrate = deployment.command(&["migrate", "--database", &url]);
    under_umask_022(&mut migrate);
    assert!(migrate.output().unwrap().status.success());
    let mut create = deployment.command(&[
        "tenant",
        "create",
        "--name",
        "acme",
        "--environment",
        "cs",
        "--database",
        &url,
    ]);
    under_umask_022(&mut create);
    assert!(create.output().unwrap().status.success());
    for suffix in ["db", "db-wal", "db-shm"] {
        let file = database.with_extension(suffix);
        if file.exists() {
            assert_eq!(mode_of(&file), 0o600, "{} is not private", file.display());
        }
    }
    assert_eq!(mode_of(&database), 0o600);
}

/// Runs the command under umask 022 through `sh`, so the test does not depend on the umask
/// of whoever runs it.
fn under_umask_022(command: &mut std::process::Command) {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut shell = std::process::Command::new("sh");
    shell
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(program)
        .args(args);
    shell.current_dir(command.get_current_dir().unwrap());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    *command = shell;
}

#[tokio::test]
async fn admin_tokens_are_listed_revoked_and_expire_and_admins_are_managed() {
    let deployment = Deployment::new();
    deployment.admin("ops");
    let issued = deployment.cli_json(&["admin", "api-token", "--username", "ops", "--json"]);
    let token = str_of(&issued, "token").to_owned();
    let id = issued["id"].as_i64().expect("a numeric id");
    assert!(str_of(&issued, "expires_at").ends_with('Z'), "{issued}");
    let short = deployment.cli_json(&[
        "admin",
        "api-token",
        "--username",
        "ops",
        "--expires-in",
        "1s",
        "--json",
    ]);
    let short = str_of(&short, "token").to_owned();

    let listed = deployment.cli_json(&["admin", "tokens", "--username", "ops", "--json"]);
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let text = serde_json::to_string(listed).expect("json");
    assert!(!text.contains(&token) && !text.contains(&short), "{text}");
    for entry in listed {
        let mut keys: Vec<_> = entry.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "expires_at", "id", "last_used_at"]);
    }

    let server = deployment.serve();
    let tenants = |token: String| {
        let request = server
            .get("/admin/api/tenants")
            .header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
        async move { request.send().await.expect("tenants").status().as_u16() }
    };
    assert_eq!(tenants(token.clone()).await, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(tenants(short).await, 401, "an expired token");

    let revoked = deployment.cli(&["admin", "revoke-token", "--id", &id.to_string()]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(tenants(token).await, 401, "a revoked token");
    fails(
        deployment.cli(&["admin", "revoke-token", "--id", &id.to_string()]),
        "revoking twice",
    );

    let message = fails(
        deployment.cli(&["admin", "disable", "--username", "ops"]),
        "disabling the last admin",
    );
    assert!(message.contains("last enabled admin"), "{message}");
    let message = fails(
        deployment.cli(&["admin", "delete", "--username", "ops"]),
        "deleting the last admin",
    );
    assert!(message.contains("last enabled admin"), "{message}");

    deployment.admin("dev");
    let dev_token = deployment.admin_api_token("dev");
    assert!(
        deployment
            .cli(&["admin", "disable", "--username", "dev"])
            .status
            .success()
    );
    assert_eq!(
        tenants(dev_token.clone()).await,
        401,
        "a disabled admin's token"
    );
    let admins = deployment.cli_json(&["admin", "list", "--json"]);
    assert_eq!(admins[0]["username"], "dev");
    assert_eq!(admins[0]["enabled"], false);
    assert!(
        deployment
            .cli(&["admin", "enable", "--username", "dev"])
            .status
            .success()
    );
    assert_eq!(tenants(dev_token.clone()).await, 200, "enabled again");

    let reset = deployment.cli_json(&["admin", "reset-password", "--username", "dev", "--json"]);
    assert_eq!(reset["username"], "dev");
    assert_eq!(str_of(&reset, "password").len(), 24);

    assert!(
        deployment
            .cli(&["admin", "delete", "--username", "dev"])
            .status
            .success()
    );
    assert_eq!(tenants(dev_token).await, 401, "a deleted admin's token");
    fails(
        deployment.cli(&["admin", "tokens", "--username", "dev", "--json"]),
        "tokens of a deleted admin",
    );
}
