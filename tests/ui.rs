//! The web UI at `/ui/` over HTTP, as a browser without scripts uses it (a [`Browser`] that
//! keeps cookies and shows each redirect): who gets in, the cookies that carry a session, the
//! forms that refuse to act without their anti-CSRF token, and credentials that are shown once
//! and then never again. Admins are created with the real CLI; what a form did is checked
//! through the CLI, the admin API or the a1user API, not through the page alone.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use reqwest::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, RETRY_AFTER,
};
use serde_json::Value;

use support::browser::{
    Browser, LOGIN_COOKIE, SESSION_COOKIE, csrf_field, input_by_id, input_value,
    input_values_named, label_for, link_href, unescape,
};
use support::http::{self, Reply, bearer, send, send_admin};
use support::{Admin, Deployment, Instance, Server};

/// Every page of the UI that needs a session.
const PAGES: [&str; 8] = [
    "/ui/",
    "/ui/admins",
    "/ui/instances",
    "/ui/instances/new",
    "/ui/tenants",
    "/ui/audit",
    "/ui/audit?action=token.issued",
    "/ui/instances/1",
];

const CREATE: &str = "/token?scheme=a1user&action=create";

// ---------------------------------------------------------------------------------------------
// Setting up

/// A served deployment with one admin (`ops`) and one tenant (`acme`, OAuth off).
struct Ui {
    deployment: Deployment,
    server: Server,
    admin: Admin,
}

fn setup() -> Ui {
    setup_with(&[])
}

fn setup_with(env: &[(&str, &str)]) -> Ui {
    let deployment = Deployment::with_env(env);
    let admin = deployment.admin("ops");
    deployment.tenant_without_oauth("acme", "uat");
    let server = deployment.serve();
    Ui {
        deployment,
        server,
        admin,
    }
}

impl Ui {
    async fn browser(&self) -> Browser<'_> {
        Browser::signed_in(&self.server, &self.admin).await
    }

    /// `acme`'s tenantId.
    fn tenant_id(&self) -> String {
        let tenants = self.deployment.cli_json(&["tenant", "list", "--json"]);
        tenants[0]["id"].as_str().expect("tenant id").to_owned()
    }

    /// Every instance, as `instance list --json` shows it.
    fn instances(&self) -> Value {
        self.deployment.cli_json(&["instance", "list", "--json"])
    }
}

/// The `Set-Cookie` attributes of a cookie, lowercased, without its value.
fn cookie_attributes(reply: &Reply, name: &str) -> Vec<String> {
    let cookie = reply
        .set_cookie(name)
        .unwrap_or_else(|| panic!("no {name} cookie set: {reply:?}"));
    cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// The `Max-Age` of a cookie, in seconds.
fn max_age(reply: &Reply, name: &str) -> i64 {
    cookie_attributes(reply, name)
        .iter()
        .find_map(|a| a.strip_prefix("max-age="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name} has no Max-Age: {reply:?}"))
}

/// Asserts an HTML page with this status.
#[track_caller]
fn assert_page(reply: &Reply, status: u16) -> String {
    assert_eq!(reply.status, status, "{reply:?}");
    assert!(
        reply.header(CONTENT_TYPE).starts_with("text/html"),
        "not a page: {reply:?}"
    );
    reply.text()
}

/// The id in a page's "Go to the instance" link.
fn instance_id_linked(html: &str) -> String {
    link_href(html, "Go to the instance")
        .and_then(|href| href.strip_prefix("/ui/instances/").map(str::to_owned))
        .expect("a link to the instance")
}

/// Posts the Add Instance form as the signed-in admin filled it in, and follows its 303 to the
/// page that shows the credentials.
async fn add_instance(browser: &mut Browser<'_>, name: &str) -> Reply {
    let posted = post_new_instance(browser, name).await;
    assert!(
        posted
            .header(LOCATION)
            .starts_with("/ui/instances/created/"),
        "{posted:?}"
    );
    browser.follow(&posted).await
}

/// Posts the Add Instance form, without following its answer.
async fn post_new_instance(browser: &mut Browser<'_>, name: &str) -> Reply {
    let form = browser.get("/ui/instances/new").await;
    let html = assert_page(&form, 200);
    let csrf = csrf_field(&html).expect("csrf");
    let tenant = input_values_named(&html, "tenant")
        .pop()
        .expect("the only tenant, preselected");
    browser
        .post_form(
            "/ui/instances",
            &[
                ("csrf", &csrf),
                ("name", name),
                ("instance_type", "dw-tracker"),
                ("tenant", &tenant),
            ],
        )
        .await
}

/// An a1user token for these credentials.
async fn a1user_login(server: &Server, username: &str, password: &str) -> String {
    http::login_as(server, username, password)
        .await
        .access_token()
}

// ---------------------------------------------------------------------------------------------
// Who gets in

#[tokio::test]
async fn an_anonymous_browser_sees_only_the_sign_in_page() {
    let ui = setup();
    let mut browser = Browser::new(&ui.server);

    for page in PAGES {
        browser.get(page).await.expect_see_other("/ui/login");
    }
    let bare = browser.get("/ui").await;
    assert_eq!((bare.status, bare.header(LOCATION)), (308, "/ui/"));
    // Forms posted without a session do nothing but send the browser to sign in.
    for form in [
        "/ui/instances",
        "/ui/instances/1/disable",
        "/ui/tenants",
        "/ui/logout",
    ] {
        browser
            .post_form(form, &[("csrf", "x"), ("name", "sneaky")])
            .await
            .expect_see_other("/ui/login");
    }
    // A made-up session cookie is no better than none; an admin API token is for scripts.
    browser.set_cookie(SESSION_COOKIE, "made-up-session");
    browser
        .get("/ui/instances")
        .await
        .expect_see_other("/ui/login");
    let api_token = ui.deployment.admin_api_token("ops");
    let mut script = Browser::new(&ui.server);
    let request = script
        .request(Method::GET, "/ui/instances")
        .header(AUTHORIZATION, bearer(&api_token));
    script
        .send(request, "GET /ui/instances with an API token".into())
        .await
        .expect_see_other("/ui/login");

    let login = browser.get("/ui/login").await;
    let html = assert_page(&login, 200);
    assert_eq!(label_for(&html, "username").as_deref(), Some("Username"));
    assert_eq!(label_for(&html, "password").as_deref(), Some("Password"));
    assert!(
        input_by_id(&html, "password").is_some_and(|tag| tag.contains("type=\"password\"")),
        "the password field hides what is typed: {html}"
    );
    let csrf = csrf_field(&html).expect("the sign-in form carries a token");
    assert_eq!(browser.cookie(LOGIN_COOKIE), Some(csrf.as_str()));

    // The admin API and the Postman exports are not pages: they ask for a Bearer token.
    for path in [
        "/admin/api/instances",
        "/admin/api/tenants",
        "/admin/api/audit",
        "/postman/1/collection.json",
        "/postman/1/environment.json",
    ] {
        send_admin(ui.server.get(path), format!("GET {path}"))
            .await
            .expect_challenge("Bearer");
    }
    assert_eq!(ui.instances(), Value::Array(vec![]), "nothing was created");
}

#[tokio::test]
async fn signing_in_sets_an_http_only_same_site_session_cookie() {
    let ui = setup();
    let mut browser = Browser::new(&ui.server);
    let login = browser.get("/ui/login").await;
    let attributes = cookie_attributes(&login, LOGIN_COOKIE);
    for expected in ["httponly", "samesite=strict", "path=/"] {
        assert!(attributes.iter().any(|a| a == expected), "{login:?}");
    }

    let signed_in = browser
        .sign_in(&ui.admin.username, &ui.admin.password)
        .await;
    signed_in.expect_see_other("/ui/instances");
    let attributes = cookie_attributes(&signed_in, SESSION_COOKIE);
    for expected in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "session cookie lacks {expected}: {signed_in:?}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a == "secure"),
        "served over plain http, the cookie cannot be Secure: {signed_in:?}"
    );
    // The default session lasts 8 hours.
    assert!(
        (8 * 3600 - 5..=8 * 3600).contains(&max_age(&signed_in, SESSION_COOKIE)),
        "{signed_in:?}"
    );
    let session = browser.cookie(SESSION_COOKIE).expect("a session cookie");
    assert!(session.len() >= 32, "a guessable session: {session}");
    // The sign-in form's token has done its job.
    assert_eq!(max_age(&signed_in, LOGIN_COOKIE), 0);
    assert_eq!(browser.cookie(LOGIN_COOKIE), None);

    let page = browser.get("/ui/instances").await;
    let html = assert_page(&page, 200);
    assert!(html.contains("Instances"), "{html}");
    assert!(
        html.contains(&ui.admin.username),
        "who is signed in: {html}"
    );
    assert_eq!(page.header(CACHE_CONTROL), "no-store");
    assert!(
        page.header(CONTENT_SECURITY_POLICY)
            .contains("frame-ancestors 'none'"),
        "{page:?}"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_service_is_public_over_https() {
    let ui = setup_with(&[
        ("CDP_AUTH_AUTH_HOST_URL", "https://auth.example.com"),
        ("CDP_AUTH_API_HOST_URL", "https://api.example.com"),
    ]);
    let mut browser = Browser::new(&ui.server);
    let login = browser.get("/ui/login").await;
    assert!(cookie_attributes(&login, LOGIN_COOKIE).contains(&"secure".to_owned()));
    let signed_in = browser
        .sign_in(&ui.admin.username, &ui.admin.password)
        .await;
    signed_in.expect_see_other("/ui/instances");
    let attributes = cookie_attributes(&signed_in, SESSION_COOKIE);
    for expected in ["secure", "httponly", "samesite=strict"] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "session cookie lacks {expected}: {signed_in:?}"
        );
    }

    // The shown-once page names the public hosts, not the address the server listens on.
    let shown = add_instance(&mut browser, "loader").await;
    let html = assert_page(&shown, 200);
    assert_eq!(
        input_value(&html, "api_host_url").as_deref(),
        Some("https://api.example.com")
    );
    assert_eq!(
        input_value(&html, "auth_host_url").as_deref(),
        Some("https://auth.example.com")
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_admin_get_the_same_answer() {
    let ui = setup();
    let mut browser = Browser::new(&ui.server);
    // Same length as "ops", so that even Content-Length cannot tell them apart.
    let wrong = browser.sign_in("ops", "not-the-password").await;
    let unknown = browser.sign_in("eve", "not-the-password").await;

    for (reply, username) in [(&wrong, "ops"), (&unknown, "eve")] {
        let html = assert_page(reply, 401);
        assert!(
            html.contains("The username or password is incorrect."),
            "{html}"
        );
        assert!(reply.set_cookie(SESSION_COOKIE).is_none(), "{reply:?}");
        assert_eq!(
            input_value(&html, "username").as_deref(),
            Some(username),
            "the form keeps the username typed"
        );
    }
    assert_eq!(
        answer_but_token_and_username(&wrong, "ops"),
        answer_but_token_and_username(&unknown, "eve")
    );
    browser
        .get("/ui/instances")
        .await
        .expect_see_other("/ui/login");
}

/// What a client sees of a failed sign-in, but the fresh form token and the username the form
/// echoes back: status, headers but `Date`, body.
fn answer_but_token_and_username(reply: &Reply, username: &str) -> http::Observable {
    let token = csrf_field(&reply.text()).expect("a fresh sign-in form");
    let (status, headers, body) = reply.observable();
    let headers = headers
        .into_iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(&value).replace(&token, "TOKEN");
            (name, value.into_bytes())
        })
        .collect();
    let body = String::from_utf8_lossy(&body)
        .replace(&token, "TOKEN")
        .replace(&format!("value=\"{username}\""), "value=\"USERNAME\"");
    (status, headers, body.into_bytes())
}

#[tokio::test]
async fn the_eleventh_wrong_sign_in_is_refused_with_429() {
    let ui = setup();
    // The admin signed in earlier today.
    ui.browser().await;

    let mut attacker = Browser::new(&ui.server);
    for attempt in 1..=10 {
        let reply = attacker
            .sign_in("ops", &format!("guess-number-{attempt}"))
            .await;
        assert_eq!(reply.status, 401, "attempt {attempt}: {reply:?}");
    }
    let refused = attacker.sign_in("ops", "guess-number-11").await;
    let html = assert_page(&refused, 429);
    assert!(html.contains("Too many failed attempts"), "{html}");
    let retry_after: u64 = refused.headers[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=300).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert!(refused.set_cookie(SESSION_COOKIE).is_none());

    // The guessing does not lock out the admin who knows the password.
    Browser::new(&ui.server)
        .sign_in(&ui.admin.username, &ui.admin.password)
        .await
        .expect_see_other("/ui/instances");
}

#[tokio::test]
async fn the_sign_in_form_is_refused_without_its_own_token() {
    let ui = setup();
    let (username, password) = (ui.admin.username.as_str(), ui.admin.password.as_str());

    // Posted from elsewhere: no token, or one that matches no cookie.
    let mut forger = Browser::new(&ui.server);
    let without = forger
        .post_form(
            "/ui/login",
            &[("username", username), ("password", password)],
        )
        .await;
    let stolen_token = {
        let mut other = Browser::new(&ui.server);
        let page = other.get("/ui/login").await;
        csrf_field(&page.text()).expect("csrf")
    };
    let unpaired = forger
        .post_form(
            "/ui/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &stolen_token),
            ],
        )
        .await;
    // The browser's own cookie, with another form's token.
    let mut browser = Browser::new(&ui.server);
    browser.get("/ui/login").await;
    let mismatched = browser
        .post_form(
            "/ui/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &stolen_token),
            ],
        )
        .await;

    for reply in [&without, &unpaired, &mismatched] {
        assert_page(reply, 403);
        assert!(reply.set_cookie(SESSION_COOKIE).is_none(), "{reply:?}");
    }
    browser
        .get("/ui/instances")
        .await
        .expect_see_other("/ui/login");
    // With its own token, the same credentials get in.
    browser
        .sign_in(username, password)
        .await
        .expect_see_other("/ui/instances");
}

// ---------------------------------------------------------------------------------------------
// Forms and their anti-CSRF token

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing() {
    let ui = setup();
    let instance = ui.deployment.instance("acme", "loader", "dw-tracker");
    let token = a1user_login(&ui.server, &instance.username, &instance.password).await;
    let id = instance.json["id"].as_str().expect("id").to_owned();
    let tenant = ui.tenant_id();

    let mut browser = ui.browser().await;
    let csrf = browser.csrf().await;
    // Another session of the same admin has a token of its own, no good for this one.
    let other_session_csrf = ui.browser().await.csrf().await;
    assert_ne!(csrf, other_session_csrf);

    let instances = ui.instances();
    let audit = audit_log(&mut browser).await;

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/ui/instances".into(),
            vec![
                ("name", "sneaky"),
                ("instance_type", "dw-tracker"),
                ("tenant", &tenant),
            ],
        ),
        (format!("/ui/instances/{id}/rotate-password"), vec![]),
        (format!("/ui/instances/{id}/disable"), vec![]),
        (format!("/ui/instances/{id}/revoke-all"), vec![]),
        (
            format!("/ui/instances/{id}/origins"),
            vec![("origins", "https://evil.example")],
        ),
        (
            format!("/ui/instances/{id}/jwks"),
            vec![("jwks", r#"{"keys":[]}"#)],
        ),
        (format!("/ui/instances/{id}/jwks/clear"), vec![]),
        (
            "/ui/tenants".into(),
            vec![("name", "sneaky"), ("environment", "cs"), ("oauth", "on")],
        ),
        (
            format!("/ui/tenants/{tenant}/oauth"),
            vec![("enabled", "on")],
        ),
        (format!("/ui/tenants/{tenant}/rotate-secret"), vec![]),
        ("/ui/logout".into(), vec![]),
    ];
    for (path, fields) in &forms {
        for bad in [
            None,
            Some(""),
            Some("wrong"),
            Some(other_session_csrf.as_str()),
        ] {
            let mut posted = fields.clone();
            if let Some(token) = bad {
                posted.push(("csrf", token));
            }
            let reply = browser.post_form(path, &posted).await;
            let html = assert_page(&reply, 403);
            assert!(html.contains("valid security token"), "{html}");
        }
    }

    // Nothing happened: the same instances, tenants and tokens, the same audit log, the
    // password still logs in and the session is still open.
    assert_eq!(ui.instances(), instances);
    assert_eq!(
        ui.deployment.cli_json(&["tenant", "list", "--json"])[0]["oauth_enabled"],
        false
    );
    assert_eq!(audit_log(&mut browser).await, audit);
    assert_eq!(
        a1user_login(&ui.server, &instance.username, &instance.password).await,
        token
    );
    http::extend(&ui.server, &token).await.ok();
    assert_eq!(browser.csrf().await, csrf);

    // The same form with its token works.
    let created = browser
        .post_form(
            "/ui/instances",
            &[
                ("csrf", &csrf),
                ("name", "wanted"),
                ("instance_type", "dw-tracker"),
                ("tenant", &tenant),
            ],
        )
        .await;
    assert_page(&browser.follow(&created).await, 200);
    let names: Vec<Value> = ui
        .instances()
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(names, ["loader", "wanted"]);
}

#[tokio::test]
async fn a_webtag_instance_page_sets_the_origins_its_browser_key_may_be_used_from() {
    let ui = setup();
    let webtag = ui.deployment.instance("acme", "shop", "webtag");
    let tracker = ui.deployment.instance("acme", "loader", "dw-tracker");
    let id = webtag.json["id"].as_str().expect("id").to_owned();
    let mut browser = ui.browser().await;
    let page = format!("/ui/instances/{id}");

    let html = assert_page(&browser.get(&page).await, 200);
    assert!(html.contains("Allowed origins"), "{html}");
    let tracker_page = format!("/ui/instances/{}", tracker.json["id"].as_str().expect("id"));
    let html = assert_page(&browser.get(&tracker_page).await, 200);
    assert!(
        !html.contains("Allowed origins"),
        "only WebTag instances have origins"
    );

    let csrf = browser.csrf().await;
    browser
        .post_form(
            &format!("{page}/origins"),
            &[
                ("csrf", &csrf),
                ("origins", "https://Shop.example/\nhttp://localhost:3000"),
            ],
        )
        .await
        .expect_see_other(&format!("{page}?done=origins-saved"));
    let html = assert_page(&browser.get(&page).await, 200);
    assert!(
        html.contains("https://shop.example\nhttp://localhost:3000"),
        "stored normalised, one per line: {html}"
    );

    // A malformed origin is refused with a page saying why, and changes nothing.
    let refused = browser
        .post_form(
            &format!("{page}/origins"),
            &[("csrf", &csrf), ("origins", "https://shop.example/path")],
        )
        .await;
    let html = assert_page(&refused, 400);
    assert!(html.contains("not an origin"), "{html}");
    let html = assert_page(&browser.get(&page).await, 200);
    assert!(html.contains("https://shop.example\nhttp://localhost:3000"));
}

/// The whole audit log, read through the admin API with the session (a read: no token needed).
async fn audit_log(browser: &mut Browser<'_>) -> Value {
    let reply = browser
        .api(Method::GET, "/admin/api/audit?limit=500", None, None)
        .await;
    reply.ok().clone()
}

// ---------------------------------------------------------------------------------------------
// Credentials, shown once

#[tokio::test]
async fn new_credentials_are_shown_once_and_never_again() {
    let ui = setup();
    let mut browser = ui.browser().await;

    let form = browser.get("/ui/instances/new").await;
    let html = assert_page(&form, 200);
    assert_eq!(label_for(&html, "name").as_deref(), Some("Name"));
    assert_eq!(
        label_for(&html, "instance_type").as_deref(),
        Some("Instance Type")
    );
    assert!(html.contains(">Save</button>"), "{html}");

    let shown = add_instance(&mut browser, "loader").await;
    let html = assert_page(&shown, 200);
    assert_eq!(shown.header(CACHE_CONTROL), "no-store");
    assert!(html.contains("cannot be viewed again"), "{html}");
    for (id, label) in [
        ("api_host_url", "API Host URL"),
        ("auth_host_url", "Authentication Host URL"),
        ("username", "UserName"),
        ("password", "Password"),
    ] {
        assert_eq!(label_for(&html, id).as_deref(), Some(label), "{html}");
        let field = input_by_id(&html, id).unwrap_or_else(|| panic!("no {id} field: {html}"));
        assert!(field.contains(" readonly"), "{id} is editable: {field}");
    }
    assert_eq!(
        input_value(&html, "auth_host_url").as_deref(),
        Some(ui.server.base.as_str())
    );
    assert_eq!(
        input_value(&html, "api_host_url").as_deref(),
        Some(ui.server.base.as_str())
    );
    let username = input_value(&html, "username").expect("username");
    let password = input_value(&html, "password").expect("password");
    assert!(
        password.len() == 24 && password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password}"
    );
    let id = instance_id_linked(&html);
    assert_eq!(
        link_href(&html, "Postman collection").as_deref(),
        Some(format!("/postman/{id}/collection.json").as_str())
    );
    let environment = postman_environment_in_page(&html);
    assert_eq!(environment_value(&environment, "username"), username);
    assert_eq!(environment_value(&environment, "password"), password);

    // The credentials work over HTTP.
    let token = a1user_login(&ui.server, &username, &password).await;

    // Nothing shows the password again, nor the token; the pages do show the instance.
    let instance_page = format!("/ui/instances/{id}");
    for page in [
        "/ui/instances",
        instance_page.as_str(),
        "/ui/audit",
        "/ui/tenants",
        "/ui/instances/new",
    ] {
        let reply = browser.get(page).await;
        let html = assert_page(&reply, 200);
        assert!(!html.contains(&password), "{page} shows the password");
        assert!(!html.contains(&token), "{page} shows the token");
    }
    for page in ["/ui/instances", instance_page.as_str(), "/ui/audit"] {
        let html = browser.get(page).await.text();
        assert!(
            html.contains(&username),
            "{page} does not show the instance"
        );
    }
    let html = browser.get(&instance_page).await.text();
    assert!(
        html.contains(&format!("{}…", &token[..8])),
        "the instance page lists the token by its prefix: {html}"
    );
    for path in [
        format!("/admin/api/instances/{id}"),
        "/admin/api/instances".into(),
        format!("/admin/api/instances/{id}/tokens"),
        "/admin/api/audit".into(),
        format!("/postman/{id}/environment.json"),
        format!("/postman/{id}/collection.json"),
    ] {
        let reply = browser.api(Method::GET, &path, None, None).await;
        let text = String::from_utf8_lossy(reply.body.as_slice()).into_owned();
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(!text.contains(&password), "{path} shows the password");
        assert!(!text.contains(&token), "{path} shows the token");
    }
}

/// The environment that the shown-once page's "Postman environment" link downloads.
fn postman_environment_in_page(html: &str) -> Value {
    let href = link_href(html, "Postman environment").expect("a Postman environment link");
    let encoded = href
        .strip_prefix("data:application/json;base64,")
        .unwrap_or_else(|| panic!("not a data: URL: {href}"));
    let bytes = STANDARD.decode(encoded).expect("base64");
    serde_json::from_slice(&bytes).expect("a JSON environment")
}

/// A variable of a Postman environment.
fn environment_value(environment: &Value, key: &str) -> String {
    environment["values"]
        .as_array()
        .and_then(|values| values.iter().find(|v| v["key"] == key))
        .and_then(|v| v["value"].as_str())
        .unwrap_or_else(|| panic!("no {key} in {environment}"))
        .to_owned()
}

#[tokio::test]
async fn the_instance_page_revokes_tokens_rotates_and_disables() {
    let ui = setup();
    let instance: Instance = ui.deployment.instance("acme", "loader", "dw-tracker");
    let id = instance.json["id"].as_str().expect("id").to_owned();
    let first = a1user_login(&ui.server, &instance.username, &instance.password).await;
    let second = send(
        ui.server
            .post(CREATE)
            .basic_auth(&instance.username, Some(&instance.password)),
        "create",
    )
    .await
    .access_token();

    let mut browser = ui.browser().await;
    let page = format!("/ui/instances/{id}");
    let html = assert_page(&browser.get(&page).await, 200);
    for token in [&first, &second] {
        assert!(html.contains(&format!("{}…", &token[..8])), "{html}");
    }
    let csrf = csrf_field(&html).expect("csrf");

    // Revoke the second token by its row's form.
    let tokens = browser
        .api(
            Method::GET,
            &format!("/admin/api/instances/{id}/tokens"),
            None,
            None,
        )
        .await;
    let row = tokens
        .ok()
        .as_array()
        .and_then(|rows| rows.iter().find(|t| t["prefix"] == second[..8]))
        .expect("the second token's row")["id"]
        .as_str()
        .expect("row id")
        .to_owned();
    browser
        .post_form(&format!("{page}/tokens/{row}/revoke"), &[("csrf", &csrf)])
        .await
        .expect_see_other(&format!("{page}?done=revoked"));
    http::extend(&ui.server, &second)
        .await
        .expect_error(401, "invalid_token");
    http::extend(&ui.server, &first).await.ok();
    let html = browser.get(&page).await.text();
    assert!(!html.contains(&format!("{}…", &second[..8])), "{html}");

    // Revoke all.
    browser
        .post_form(&format!("{page}/revoke-all"), &[("csrf", &csrf)])
        .await
        .expect_see_other(&format!("{page}?done=revoked-all"));
    http::extend(&ui.server, &first)
        .await
        .expect_error(401, "invalid_token");
    assert!(
        browser
            .get(&page)
            .await
            .text()
            .contains("No active tokens.")
    );

    // Disable, then enable.
    browser
        .post_form(&format!("{page}/disable"), &[("csrf", &csrf)])
        .await
        .expect_see_other(&format!("{page}?done=disabled"));
    assert!(browser.get(&page).await.text().contains(">Disabled<"));
    http::login(&ui.server, &instance)
        .await
        .expect_error(403, "instance_disabled");
    browser
        .post_form(&format!("{page}/enable"), &[("csrf", &csrf)])
        .await
        .expect_see_other(&format!("{page}?done=enabled"));
    assert!(browser.get(&page).await.text().contains(">Active<"));
    a1user_login(&ui.server, &instance.username, &instance.password).await;

    // Rotate: the new password is shown once, the old one stops logging in.
    let posted = browser
        .post_form(&format!("{page}/rotate-password"), &[("csrf", &csrf)])
        .await;
    let rotated = browser.follow(&posted).await;
    let html = assert_page(&rotated, 200);
    assert!(html.contains("Password rotated"), "{html}");
    let password = input_value(&html, "password").expect("the new password");
    assert_ne!(password, instance.password);
    assert_eq!(
        environment_value(&postman_environment_in_page(&html), "password"),
        password
    );
    http::login(&ui.server, &instance)
        .await
        .expect_error(401, "invalid_client");
    a1user_login(&ui.server, &instance.username, &password).await;
    assert!(!browser.get(&page).await.text().contains(&password));
}

// ---------------------------------------------------------------------------------------------
// Sessions end

#[tokio::test]
async fn signing_out_ends_the_session() {
    let ui = setup();
    let mut browser = ui.browser().await;
    let session = browser
        .cookie(SESSION_COOKIE)
        .expect("a session")
        .to_owned();
    let csrf = browser.csrf().await;

    let out = browser.post_form("/ui/logout", &[("csrf", &csrf)]).await;
    out.expect_see_other("/ui/login");
    assert_eq!(max_age(&out, SESSION_COOKIE), 0);
    assert_eq!(browser.cookie(SESSION_COOKIE), None);
    browser
        .get("/ui/instances")
        .await
        .expect_see_other("/ui/login");

    // A copy of the old cookie is worth nothing now.
    let mut replay = Browser::new(&ui.server);
    replay.set_cookie(SESSION_COOKIE, &session);
    for page in PAGES {
        replay.get(page).await.expect_see_other("/ui/login");
    }
    replay
        .api(Method::GET, "/admin/api/instances", None, None)
        .await
        .expect_challenge("Bearer");
}

#[tokio::test]
async fn a_session_ends_when_its_lifetime_is_over() {
    let ui = setup_with(&[("CDP_AUTH_ADMIN_SESSION_LIFETIME", "2s")]);
    let mut browser = ui.browser().await;
    assert_page(&browser.get("/ui/instances").await, 200);

    tokio::time::sleep(Duration::from_millis(3_100)).await;
    // This browser still sends the cookie: the server itself must refuse it.
    assert!(browser.cookie(SESSION_COOKIE).is_some());
    browser
        .get("/ui/instances")
        .await
        .expect_see_other("/ui/login");
    browser
        .api(Method::GET, "/admin/api/instances", None, None)
        .await
        .expect_challenge("Bearer");
    // Signing in again opens a new one.
    browser
        .sign_in(&ui.admin.username, &ui.admin.password)
        .await
        .expect_see_other("/ui/instances");
    assert_page(&browser.get("/ui/instances").await, 200);
}

// ---------------------------------------------------------------------------------------------
// Tenants and the audit log

#[tokio::test]
async fn tenants_are_created_and_their_secret_shown_once() {
    let ui = setup();
    let mut browser = ui.browser().await;
    let html = assert_page(&browser.get("/ui/tenants").await, 200);
    let csrf = csrf_field(&html).expect("csrf");

    let created = browser
        .post_form(
            "/ui/tenants",
            &[
                ("csrf", &csrf),
                ("name", "globex"),
                ("environment", "prod"),
                ("oauth", "on"),
            ],
        )
        .await;
    let created = browser.follow(&created).await;
    let html = assert_page(&created, 200);
    assert_eq!(created.header(CACHE_CONTROL), "no-store");
    let secret = input_value(&html, "oauth_key_secret").expect("the secret, shown once");
    let tenant_id = input_value(&html, "tenant_id").expect("tenantId");
    let tenant_hash = input_value(&html, "tenant_hash").expect("tenant_hash");
    let listed = ui
        .deployment
        .cli_json(&["tenant", "show", "globex", "--json"]);
    assert_eq!(listed["id"], tenant_id.as_str());
    assert_eq!(listed["tenant_hash"], tenant_hash.as_str());
    assert_eq!(listed["environment"], "prod");
    assert_eq!(listed["oauth_enabled"], true);

    let list = assert_page(&browser.get("/ui/tenants").await, 200);
    assert!(list.contains(&tenant_hash), "{list}");
    assert!(!list.contains(&secret), "the tenants page shows a secret");

    // Rotating shows a new secret once; turning OAuth off just goes back to the list.
    let rotated = browser
        .post_form(
            &format!("/ui/tenants/{tenant_id}/rotate-secret"),
            &[("csrf", &csrf)],
        )
        .await;
    let rotated = browser.follow(&rotated).await;
    let html = assert_page(&rotated, 200);
    let new_secret = input_value(&html, "oauth_key_secret").expect("the new secret");
    assert_ne!(new_secret, secret);
    browser
        .post_form(
            &format!("/ui/tenants/{tenant_id}/oauth"),
            &[("csrf", &csrf), ("enabled", "off")],
        )
        .await
        .expect_see_other("/ui/tenants?done=oauth-off");
    let listed = ui
        .deployment
        .cli_json(&["tenant", "show", "globex", "--json"]);
    assert_eq!(listed["oauth_enabled"], false);
    let list = browser.get("/ui/tenants").await.text();
    assert!(
        !list.contains(&new_secret),
        "the tenants page shows a secret"
    );
}

#[tokio::test]
async fn the_audit_page_shows_who_did_what_and_filters() {
    let ui = setup();
    let mut browser = ui.browser().await;
    let shown = add_instance(&mut browser, "loader").await;
    let html = assert_page(&shown, 200);
    let id = instance_id_linked(&html);
    let username = input_value(&html, "username").expect("username");
    let password = input_value(&html, "password").expect("password");
    a1user_login(&ui.server, &username, &password).await;

    let all = assert_page(&browser.get("/ui/audit").await, 200);
    for action in [
        "admin.created",
        "admin.signed_in",
        "instance.created",
        "token.issued",
    ] {
        assert!(
            all.contains(&format!("<code>{action}</code>")),
            "no {action}: {all}"
        );
    }

    let created = browser
        .get("/ui/audit?action=instance.created")
        .await
        .text();
    assert_eq!(audit_rows(&created), 1, "{created}");
    assert!(created.contains(">ops</td>"), "the admin did it: {created}");
    assert!(!created.contains("<code>token.issued</code>"), "{created}");

    let by_instance = browser
        .get(&format!("/ui/audit?actor={username}"))
        .await
        .text();
    assert_eq!(audit_rows(&by_instance), 1, "{by_instance}");
    assert!(by_instance.contains("<code>token.issued</code>"));
    let for_instance = browser
        .get(&format!("/ui/audit?instance={id}"))
        .await
        .text();
    assert_eq!(
        audit_rows(&for_instance),
        2,
        "created, then a token: {for_instance}"
    );

    let none = browser.get("/ui/audit?action=token.revoked").await.text();
    assert!(none.contains("No entries."), "{none}");
    assert_page(&browser.get("/ui/audit?action=no.such.thing").await, 400);
}

/// Rows of the audit table.
fn audit_rows(html: &str) -> usize {
    html.split("<tbody>")
        .nth(1)
        .map_or(0, |body| body.matches("<tr>").count())
}

#[tokio::test]
async fn markup_typed_into_names_is_shown_as_text() {
    let ui = setup();
    let mut browser = ui.browser().await;
    let name = "<script>alert('loader')</script>";
    let shown = add_instance(&mut browser, name).await;
    let html = assert_page(&shown, 200);
    let id = instance_id_linked(&html);
    // Anyone may type anything as a username; failed attempts are logged a moment later.
    let lure = "<img src=x onerror=alert(1)>";
    assert_eq!(
        Browser::new(&ui.server).sign_in(lure, "guess").await.status,
        401
    );
    let mut audit = String::new();
    for _ in 0..100 {
        audit = browser.get("/ui/audit?action=sign_in.failed").await.text();
        if audit_rows(&audit) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(audit_rows(&audit), 1, "{audit}");

    let instance_page = format!("/ui/instances/{id}");
    let pages = [
        ("the shown-once page", html.clone()),
        (
            instance_page.as_str(),
            browser.get(&instance_page).await.text(),
        ),
        ("/ui/instances", browser.get("/ui/instances").await.text()),
        ("/ui/audit", browser.get("/ui/audit").await.text()),
        ("/ui/audit?action=sign_in.failed", audit),
    ];
    for (page, html) in &pages {
        for markup in ["<script>alert", "<img src=x"] {
            assert!(
                !html.contains(markup),
                "{page} renders {markup:?} as markup: {html}"
            );
        }
    }
    for (page, html) in &pages[..4] {
        assert!(
            unescape(html).contains(name),
            "{page} does not show the name"
        );
    }
    // The attempt is listed, under a fingerprint of the name: it is none of ours.
    let attempts = unescape(&pages[4].1);
    assert!(attempts.contains("unknown:"), "the attempt is not shown");
    assert!(
        !attempts.contains(lure),
        "an unknown name is shown verbatim"
    );
}

// ---------------------------------------------------------------------------------------------
// Every form answers with a redirect: reloading the page it leads to repeats nothing

/// Whether a page has the signed-in navigation.
fn has_navigation(html: &str) -> bool {
    html.contains("<nav aria-label=\"Main\">") && html.contains(">Sign out</button>")
}

/// The status banner of a page (`role="status"`), if any.
fn status_banner(html: &str) -> Option<String> {
    let start = html.find("role=\"status\">")? + "role=\"status\">".len();
    let end = html[start..].find("</p>")? + start;
    Some(unescape(&html[start..end]))
}

/// How many audit entries have this action.
async fn audited(browser: &mut Browser<'_>, action: &str) -> usize {
    let log = audit_log(browser).await;
    log.as_array()
        .expect("a list")
        .iter()
        .filter(|e| e["action"] == action)
        .count()
}

#[tokio::test]
async fn reloading_the_new_credentials_page_never_shows_them_again_nor_creates_another() {
    let ui = setup();
    let mut browser = ui.browser().await;
    let mut other_session = ui.browser().await;

    let posted = post_new_instance(&mut browser, "loader").await;
    assert_eq!(posted.status, 303, "{posted:?}");
    let location = posted.header(LOCATION).to_owned();
    let once = location
        .strip_prefix("/ui/instances/created/")
        .unwrap_or_else(|| panic!("not the shown-once page: {location}"));
    assert!(
        once.len() >= 22 && !once.contains('/'),
        "the id is not 128 random bits: {once}"
    );

    // Another session of the same admin cannot open it, and does not use it up.
    let elsewhere = other_session.get(&location).await;
    let html = assert_page(&elsewhere, 410);
    assert!(input_value(&html, "password").is_none(), "{html}");

    let shown = browser.get(&location).await;
    let html = assert_page(&shown, 200);
    assert_eq!(shown.header(CACHE_CONTROL), "no-store");
    let password = input_value(&html, "password").expect("the password, this once");
    let username = input_value(&html, "username").expect("username");
    assert!(!location.contains(&password), "the password is in the URL");
    a1user_login(&ui.server, &username, &password).await;

    // Reloading: a clear page in the layout, without the secret; nothing created again.
    for _ in 0..2 {
        let again = browser.get(&location).await;
        let html = assert_page(&again, 410);
        assert!(html.contains("Already shown"), "{html}");
        assert!(html.contains("cannot be shown again"), "{html}");
        assert!(has_navigation(&html), "{html}");
        assert!(!html.contains(&password), "shown twice");
        assert!(input_value(&html, "password").is_none(), "{html}");
    }
    assert_eq!(ui.instances().as_array().map(Vec::len), Some(1));
    assert_eq!(audited(&mut browser, "instance.created").await, 1);
    // A made-up id is the same page.
    let made_up = browser.get("/ui/instances/created/made-up").await;
    assert!(assert_page(&made_up, 410).contains("Already shown"));
}

#[tokio::test]
async fn rotations_redirect_to_their_secret_shown_once() {
    let ui = setup();
    let instance = ui.deployment.instance("acme", "loader", "dw-tracker");
    let id = instance.json["id"].as_str().expect("id").to_owned();
    let tenant = ui.tenant_id();
    let mut browser = ui.browser().await;
    let csrf = browser.csrf().await;
    let page = format!("/ui/instances/{id}");

    let posted = browser
        .post_form(&format!("{page}/rotate-password"), &[("csrf", &csrf)])
        .await;
    assert_eq!(posted.status, 303, "{posted:?}");
    let location = posted.header(LOCATION).to_owned();
    assert!(
        location.starts_with(&format!("{page}/password/")),
        "{location}"
    );
    let html = assert_page(&browser.get(&location).await, 200);
    let password = input_value(&html, "password").expect("the new password");
    assert!(!location.contains(&password));
    assert!(
        status_banner(&html).is_some_and(|b| b.contains("Password rotated")),
        "{html}"
    );
    let again = assert_page(&browser.get(&location).await, 410);
    assert!(
        !again.contains(&password) && has_navigation(&again),
        "{again}"
    );
    // Rotated once: the password shown is the one that works.
    assert_eq!(audited(&mut browser, "instance.password_rotated").await, 1);
    a1user_login(&ui.server, &instance.username, &password).await;

    // acme had OAuth off and no secret: turning it on makes one, shown once.
    let posted = browser
        .post_form(
            &format!("/ui/tenants/{tenant}/oauth"),
            &[("csrf", &csrf), ("enabled", "on")],
        )
        .await;
    let location = posted.header(LOCATION).to_owned();
    assert!(
        location.starts_with(&format!("/ui/tenants/{tenant}/secret/")),
        "{posted:?}"
    );
    let html = assert_page(&browser.get(&location).await, 200);
    let first = input_value(&html, "oauth_key_secret").expect("the new secret");
    assert_page(&browser.get(&location).await, 410);

    let rotations = audited(&mut browser, "tenant.secret_rotated").await;
    let posted = browser
        .post_form(
            &format!("/ui/tenants/{tenant}/rotate-secret"),
            &[("csrf", &csrf)],
        )
        .await;
    let location = posted.header(LOCATION).to_owned();
    assert!(
        location.starts_with(&format!("/ui/tenants/{tenant}/secret/")),
        "{posted:?}"
    );
    let html = assert_page(&browser.get(&location).await, 200);
    let secret = input_value(&html, "oauth_key_secret").expect("the rotated secret");
    assert_ne!(secret, first);
    assert!(!location.contains(&secret));
    assert!(
        status_banner(&html).is_some_and(|b| b.contains("rotated")),
        "{html}"
    );
    let again = assert_page(&browser.get(&location).await, 410);
    assert!(!again.contains(&secret), "{again}");
    assert_eq!(
        audited(&mut browser, "tenant.secret_rotated").await,
        rotations + 1
    );
}

/// A UI form, where its 303 leads, the banner there, and the action it audits.
struct FormCase<'a> {
    path: String,
    fields: Vec<(&'a str, &'a str)>,
    leads_to: String,
    banner: &'a str,
    action: &'a str,
}

#[tokio::test]
async fn every_form_answers_with_a_redirect_saying_what_it_did() {
    let ui = setup();
    let instance = ui.deployment.instance("acme", "loader", "dw-tracker");
    let webtag = ui.deployment.instance("acme", "shop", "webtag");
    let id = instance.json["id"].as_str().expect("id").to_owned();
    let webtag_id = webtag.json["id"].as_str().expect("id").to_owned();
    let tenant = ui.tenant_id();
    let token = a1user_login(&ui.server, &instance.username, &instance.password).await;
    send(
        ui.server
            .post(CREATE)
            .basic_auth(&instance.username, Some(&instance.password)),
        "create",
    )
    .await
    .access_token();
    let mut browser = ui.browser().await;
    let csrf = browser.csrf().await;
    let row = browser
        .api(
            Method::GET,
            &format!("/admin/api/instances/{id}/tokens"),
            None,
            None,
        )
        .await
        .ok()
        .as_array()
        .and_then(|rows| rows.iter().find(|t| t["prefix"] == token[..8]))
        .expect("the token's row")["id"]
        .as_str()
        .expect("row id")
        .to_owned();
    let page = format!("/ui/instances/{id}");
    let webtag_page = format!("/ui/instances/{webtag_id}");

    let forms = vec![
        FormCase {
            path: format!("{page}/tokens/{row}/revoke"),
            fields: vec![],
            leads_to: format!("{page}?done=revoked"),
            banner: "Token revoked",
            action: "token.revoked",
        },
        FormCase {
            path: format!("{page}/revoke-all"),
            fields: vec![],
            leads_to: format!("{page}?done=revoked-all"),
            banner: "Every token of this instance is revoked",
            action: "token.revoked_all",
        },
        FormCase {
            path: format!("{page}/disable"),
            fields: vec![],
            leads_to: format!("{page}?done=disabled"),
            banner: "Instance disabled",
            action: "instance.disabled",
        },
        FormCase {
            path: format!("{page}/enable"),
            fields: vec![],
            leads_to: format!("{page}?done=enabled"),
            banner: "Instance enabled",
            action: "instance.enabled",
        },
        FormCase {
            path: format!("{webtag_page}/origins"),
            fields: vec![("origins", "https://shop.example")],
            leads_to: format!("{webtag_page}?done=origins-saved"),
            banner: "Allowed origins saved",
            action: "instance.origins_set",
        },
        FormCase {
            path: "/ui/tenants".into(),
            fields: vec![("name", "globex"), ("environment", "cs")],
            leads_to: "/ui/tenants?done=tenant-created".into(),
            banner: "Tenant created",
            action: "tenant.created",
        },
        FormCase {
            path: format!("/ui/tenants/{tenant}/oauth"),
            fields: vec![("enabled", "off")],
            leads_to: "/ui/tenants?done=oauth-off".into(),
            banner: "OAuth turned off",
            action: "tenant.oauth_disabled",
        },
    ];
    for FormCase {
        path,
        fields,
        leads_to,
        banner,
        action,
    } in &forms
    {
        let before = audited(&mut browser, action).await;
        let mut posted = fields.clone();
        posted.push(("csrf", &csrf));
        let reply = browser.post_form(path, &posted).await;
        reply.expect_see_other(leads_to);
        for _ in 0..2 {
            let html = assert_page(&browser.get(leads_to).await, 200);
            assert!(
                status_banner(&html).is_some_and(|b| b.contains(banner)),
                "{leads_to} does not say {banner:?}: {html}"
            );
        }
        assert_eq!(
            audited(&mut browser, action).await,
            before + 1,
            "{path} did not do {action} exactly once"
        );
    }
    // The banner is only for words the server knows; the page itself has none.
    let html = assert_page(&browser.get(&format!("{page}?done=<b>hi</b>")).await, 200);
    assert_eq!(status_banner(&html), None, "{html}");
    assert_eq!(
        status_banner(&assert_page(&browser.get(&page).await, 200)),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Errors are pages of the UI

#[tokio::test]
async fn the_root_and_the_favicon_answer_a_browser() {
    let ui = setup();
    let mut browser = Browser::new(&ui.server);
    browser.get("/").await.expect_see_other("/ui/");
    for path in ["/favicon.ico", "/ui/assets/favicon.svg"] {
        let icon = browser.get(path).await;
        assert_eq!(icon.status, 200, "{icon:?}");
        assert_eq!(icon.header(CONTENT_TYPE), "image/svg+xml");
        assert!(icon.text().starts_with("<svg"), "{icon:?}");
    }
    let login = assert_page(&browser.get("/ui/login").await, 200);
    assert!(
        login.contains("<link rel=\"icon\" href=\"/ui/assets/favicon.svg\""),
        "{login}"
    );
}

#[tokio::test]
async fn every_ui_error_is_a_page_with_the_navigation() {
    let ui = setup_with(&[("CDP_AUTH_MAX_INSTANCES_PER_TYPE", "1")]);
    let mut browser = ui.browser().await;
    let csrf = browser.csrf().await;
    let tenant = ui.tenant_id();
    add_instance(&mut browser, "first").await;

    let big = "x".repeat(100_000);
    let cases: Vec<(Reply, u16, &str)> = vec![
        (browser.get("/ui/no-such-page").await, 404, "no such page"),
        (browser.get("/ui/instances/4242").await, 404, "not found"),
        (
            browser.get("/ui/instances/1/nothing").await,
            404,
            "no such page",
        ),
        (browser.get("/ui/instances/abc").await, 400, "malformed"),
        (
            browser.get("/ui/audit?before=yesterday").await,
            400,
            "malformed",
        ),
        (
            browser
                .send(
                    browser.request(Method::DELETE, "/ui/instances"),
                    "DELETE /ui/instances".into(),
                )
                .await,
            405,
            "cannot be used that way",
        ),
        (
            browser
                .post_form(
                    "/ui/instances",
                    &[
                        ("csrf", &csrf),
                        ("name", "second"),
                        ("instance_type", "dw-tracker"),
                        ("tenant", &tenant),
                    ],
                )
                .await,
            409,
            "Cannot do that",
        ),
        (
            browser
                .post_form(
                    "/ui/instances",
                    &[
                        ("csrf", &csrf),
                        ("name", "odd"),
                        ("instance_type", "mainframe"),
                        ("tenant", &tenant),
                    ],
                )
                .await,
            400,
            "Cannot do that",
        ),
        (
            browser
                .post_form("/ui/tenants", &[("csrf", &csrf), ("name", &big)])
                .await,
            413,
            "too large",
        ),
    ];
    for (reply, status, says) in &cases {
        let html = assert_page(reply, *status);
        assert!(
            html.to_lowercase().contains(&says.to_lowercase()),
            "{reply:?} does not say {says:?}"
        );
        assert!(has_navigation(&html), "no navigation: {reply:?}");
        assert!(
            reply
                .header(CONTENT_SECURITY_POLICY)
                .contains("style-src 'self'"),
            "the page cannot load its stylesheet: {reply:?}"
        );
    }
    assert_eq!(ui.instances().as_array().map(Vec::len), Some(1));

    // Signed out: the same page, without the navigation.
    let mut anonymous = Browser::new(&ui.server);
    let html = assert_page(&anonymous.get("/ui/no-such-page").await, 404);
    assert!(!has_navigation(&html), "{html}");
}

// ---------------------------------------------------------------------------------------------
// The audit filter takes a username

#[tokio::test]
async fn the_audit_filter_takes_an_instance_id_or_username() {
    let ui = setup();
    let loader = ui.deployment.instance("acme", "loader", "dw-tracker");
    let other = ui.deployment.instance("acme", "other", "dw-tracker");
    a1user_login(&ui.server, &loader.username, &loader.password).await;
    a1user_login(&ui.server, &other.username, &other.password).await;
    let id = loader.json["id"].as_str().expect("id").to_owned();
    let mut browser = ui.browser().await;

    let html = assert_page(&browser.get("/ui/audit").await, 200);
    assert_eq!(
        label_for(&html, "instance").as_deref(),
        Some("Instance id or username")
    );
    let by_id = assert_page(&browser.get(&format!("/ui/audit?instance={id}")).await, 200);
    let by_name = browser
        .get(&format!("/ui/audit?instance={}", loader.username))
        .await;
    let by_name = assert_page(&by_name, 200);
    assert_eq!(audit_rows(&by_name), 2, "created, then a token: {by_name}");
    assert_eq!(audit_rows(&by_id), 2, "{by_id}");
    assert!(!by_name.contains(&other.username), "{by_name}");
    assert_eq!(
        input_value(&by_name, "instance").as_deref(),
        Some(loader.username.as_str()),
        "the filter in force is shown"
    );

    let api = |key: &str| format!("/admin/api/audit?instance={key}");
    let api_by_id = browser.api(Method::GET, &api(&id), None, None).await;
    let api_by_name = browser
        .api(Method::GET, &api(&loader.username), None, None)
        .await;
    assert_eq!(api_by_name.ok().as_array().map(Vec::len), Some(2));
    assert_eq!(api_by_name.ok(), api_by_id.ok());

    // A username no instance has: nothing, said plainly, in the UI's page and as JSON.
    let unknown = browser.get("/ui/audit?instance=tracker_nobody").await;
    let html = assert_page(&unknown, 200);
    assert!(html.contains("No instance has the username"), "{html}");
    assert_eq!(audit_rows(&html), 0);
    let none = browser
        .api(Method::GET, &api("tracker_nobody"), None, None)
        .await;
    assert_eq!(none.ok(), &Value::Array(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Administrators

/// An admin API request with this token: its status.
async fn api_status(server: &Server, token: &str) -> u16 {
    server
        .get("/admin/api/tenants")
        .header(AUTHORIZATION, bearer(token))
        .send()
        .await
        .expect("admin API")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_administrators_page_manages_admins_and_their_api_tokens() {
    let ui = setup();
    let mut browser = ui.browser().await;
    let page = assert_page(&browser.get("/ui/instances").await, 200);
    assert_eq!(
        link_href(&page, "Administrators").as_deref(),
        Some("/ui/admins")
    );
    let csrf = browser.csrf().await;

    // Add an admin: its password is shown once.
    let added = browser
        .post_form("/ui/admins", &[("csrf", &csrf), ("username", "dev")])
        .await;
    assert_eq!(added.status, 303, "{added:?}");
    let shown_at = added.header(LOCATION).to_owned();
    let shown = assert_page(&browser.follow(&added).await, 200);
    let password = input_value(&shown, "admin_password").expect("the password field");
    assert_eq!(password.len(), 24);
    assert_page(&browser.get(&shown_at).await, 410);

    // Create a token for dev: shown once, listed without its value, revocable.
    let created = browser
        .post_form(
            "/ui/admins/dev/tokens",
            &[("csrf", &csrf), ("expires_in", "")],
        )
        .await;
    let shown = assert_page(&browser.follow(&created).await, 200);
    let token = input_value(&shown, "admin_token").expect("the token field");
    let token_id = input_value(&shown, "admin_token_id").expect("the token id");
    assert_eq!(api_status(&ui.server, &token).await, 200);
    let listing = assert_page(&browser.get("/ui/admins").await, 200);
    assert!(listing.contains(&format!("/ui/admins/dev/tokens/{token_id}/revoke")));
    assert!(!listing.contains(&token), "the listing shows the token");
    let refused = browser
        .post_form(
            &format!("/ui/admins/dev/tokens/{token_id}/revoke"),
            &[("csrf", "wrong")],
        )
        .await;
    assert_page(&refused, 403);
    assert_eq!(
        api_status(&ui.server, &token).await,
        200,
        "a forged form revoked"
    );
    let revoked = browser
        .post_form(
            &format!("/ui/admins/dev/tokens/{token_id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    revoked.expect_see_other("/ui/admins?done=admin-token-revoked");
    assert_eq!(api_status(&ui.server, &token).await, 401);

    // Disable dev: its session and sign-in end; enable: it signs in again.
    let mut dev = Browser::new(&ui.server);
    assert_eq!(dev.sign_in("dev", &password).await.status, 303);
    let disabled = browser
        .post_form("/ui/admins/dev/disable", &[("csrf", &csrf)])
        .await;
    disabled.expect_see_other("/ui/admins?done=admin-disabled");
    assert_eq!(
        dev.get("/ui/instances").await.status,
        303,
        "its session ended"
    );
    assert_eq!(
        Browser::new(&ui.server)
            .sign_in("dev", &password)
            .await
            .status,
        401
    );
    let page = assert_page(&browser.get("/ui/admins?done=admin-disabled").await, 200);
    assert!(page.contains("Disabled"), "{page}");

    // With dev disabled, ops is the last enabled admin.
    let refused = browser
        .post_form("/ui/admins/ops/disable", &[("csrf", &csrf)])
        .await;
    let message = unescape(&assert_page(&refused, 409));
    assert!(message.contains("last enabled admin"), "{message}");
    assert_page(
        &browser
            .post_form("/ui/admins/ops/delete", &[("csrf", &csrf)])
            .await,
        409,
    );

    let enabled = browser
        .post_form("/ui/admins/dev/enable", &[("csrf", &csrf)])
        .await;
    enabled.expect_see_other("/ui/admins?done=admin-enabled");
    assert_eq!(
        Browser::new(&ui.server)
            .sign_in("dev", &password)
            .await
            .status,
        303
    );

    // Reset dev's password: the new one is shown once and the old one stops working.
    let reset = browser
        .post_form("/ui/admins/dev/reset-password", &[("csrf", &csrf)])
        .await;
    let shown = assert_page(&browser.follow(&reset).await, 200);
    let new_password = input_value(&shown, "admin_password").expect("the new password");
    assert_ne!(new_password, password);
    assert_eq!(
        Browser::new(&ui.server)
            .sign_in("dev", &password)
            .await
            .status,
        401
    );
    assert_eq!(
        Browser::new(&ui.server)
            .sign_in("dev", &new_password)
            .await
            .status,
        303
    );

    let deleted = browser
        .post_form("/ui/admins/dev/delete", &[("csrf", &csrf)])
        .await;
    deleted.expect_see_other("/ui/admins?done=admin-deleted");
    assert!(!assert_page(&browser.get("/ui/admins").await, 200).contains("/ui/admins/dev/"));
}

// A tenant's secureApi tokens, and names

/// Whether `token` introspects active, asked by `caller`.
async fn introspects_active(server: &Server, caller: &Instance, token: String) -> bool {
    let reply = http::introspect(server, http::Client::basic(caller), &token).await;
    reply.ok()["active"] == true
}

#[tokio::test]
async fn the_tenants_page_revokes_every_secure_api_token_of_a_tenant() {
    let ui = setup();
    let instance = ui.deployment.instance("acme", "loader", "dw-tracker");
    let tenant = ui.tenant_id();
    let hash = ui
        .deployment
        .cli_json(&["tenant", "show", "acme", "--json"])["tenant_hash"]
        .as_str()
        .expect("tenant_hash")
        .to_owned();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let reply = send(
            ui.server
                .post("/secureApi/token/profile/create")
                .header("tenant_hash", &hash)
                .json(&serde_json::json!({"resource": ["basic"]})),
            "secureApi create",
        )
        .await;
        tokens.push(reply.ok()["token"].as_str().expect("token").to_owned());
    }
    let active = |token: &str| introspects_active(&ui.server, &instance, token.to_owned());

    let mut browser = ui.browser().await;
    let html = assert_page(&browser.get("/ui/tenants").await, 200);
    let action = format!("/ui/tenants/{tenant}/tokens/revoke");
    assert!(html.contains(&format!("action=\"{action}\"")), "{html}");
    // Without the session's anti-CSRF token the form changes nothing.
    let refused = browser.post_form(&action, &[]).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(active(&tokens[0]).await);

    let csrf = browser.csrf().await;
    let posted = browser.post_form(&action, &[("csrf", &csrf)]).await;
    posted.expect_see_other("/ui/tenants?done=tenant-tokens-revoked&count=2");
    let html = assert_page(&browser.follow(&posted).await, 200);
    assert_eq!(
        status_banner(&html).as_deref(),
        Some("2 secureApi tokens of the tenant revoked: they no longer work."),
        "{html}"
    );
    for token in &tokens {
        assert!(!active(token).await, "{token} still active");
    }
    assert_eq!(audited(&mut browser, "token.revoked_all").await, 1);
}

#[tokio::test]
async fn an_admin_signs_in_with_the_username_in_any_case() {
    let ui = setup();
    let mut browser = Browser::new(&ui.server);
    let upper = ui.admin.username.to_uppercase();
    browser
        .sign_in(&upper, &ui.admin.password)
        .await
        .expect_see_other("/ui/instances");
    let html = assert_page(&browser.get("/ui/instances").await, 200);
    assert!(html.contains(&ui.admin.username), "{html}");
}

/// RFC 8037's Ed25519 example public key, with its RFC 7638 thumbprint.
const ED25519_JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ui-key","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
const ED25519_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

#[tokio::test]
async fn an_instance_page_registers_shows_and_clears_its_client_keys() {
    let ui = setup();
    let tracker = ui.deployment.instance("acme", "signer", "dw-tracker");
    let id = tracker.json["id"].as_str().expect("id").to_owned();
    let mut browser = ui.browser().await;
    let page = format!("/ui/instances/{id}");

    let html = assert_page(&browser.get(&page).await, 200);
    assert!(html.contains("Client keys (private_key_jwt)"), "{html}");
    assert!(html.contains("password only"), "{html}");
    assert!(
        html.contains("id=\"jwks\""),
        "a textarea to paste into: {html}"
    );

    let csrf = browser.csrf().await;
    browser
        .post_form(
            &format!("{page}/jwks"),
            &[("csrf", &csrf), ("jwks", ED25519_JWKS)],
        )
        .await
        .expect_see_other(&format!("{page}?done=client-keys-saved"));
    let html = assert_page(&browser.get(&page).await, 200);
    assert!(
        html.contains(ED25519_THUMBPRINT),
        "the thumbprint is shown: {html}"
    );
    assert!(html.contains("ui-key"), "{html}");

    // A private key is refused with a page saying why, and changes nothing.
    let private = ED25519_JWKS.replace("\"kid\"", "\"d\":\"AAAA\",\"kid\"");
    let refused = browser
        .post_form(
            &format!("{page}/jwks"),
            &[("csrf", &csrf), ("jwks", &private)],
        )
        .await;
    let html = assert_page(&refused, 400);
    assert!(html.contains("private key material"), "{html}");
    let html = assert_page(&browser.get(&page).await, 200);
    assert!(html.contains(ED25519_THUMBPRINT));

    browser
        .post_form(&format!("{page}/jwks/clear"), &[("csrf", &csrf)])
        .await
        .expect_see_other(&format!("{page}?done=client-keys-cleared"));
    let html = assert_page(&browser.get(&page).await, 200);
    assert!(!html.contains(ED25519_THUMBPRINT), "{html}");
    let audit = audit_log(&mut browser).await.to_string();
    assert!(audit.contains("instance.client_keys_set"), "{audit}");
    assert!(
        audit.contains(ED25519_THUMBPRINT),
        "the entry names the key: {audit}"
    );
    assert!(audit.contains("instance.client_keys_cleared"), "{audit}");
}
