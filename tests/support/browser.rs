//! The web UI as a browser without scripts sees it: a client that does not follow redirects
//! (so each 303 can be checked) and keeps the cookies the server sets, plus small readers for
//! what the pages show (form fields, labels, links).

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Method, RequestBuilder};

use super::http::{Reply, send_admin, send_page};
use super::{Admin, Server};

/// The sign-in page's double-submit cookie.
pub const LOGIN_COOKIE: &str = "cdp_auth_login";
/// The session cookie.
pub const SESSION_COOKIE: &str = "cdp_auth_session";

/// A browser talking to one server: its cookie jar, and no redirect following.
pub struct Browser<'a> {
    server: &'a Server,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    /// A browser with no cookies.
    pub fn new(server: &'a Server) -> Self {
        cdp_auth_client::install_tls_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Browser {
            server,
            client,
            cookies: Vec::new(),
        }
    }

    /// A browser signed in as `admin`.
    pub async fn signed_in(server: &'a Server, admin: &Admin) -> Self {
        let mut browser = Self::new(server);
        browser
            .sign_in(&admin.username, &admin.password)
            .await
            .expect_see_other("/ui/instances");
        browser
    }

    /// The value of a cookie in the jar.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Puts a cookie in the jar, as a browser holding an old one would send it.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    /// The `Cookie` header the browser sends.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A request with the jar's cookies.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, self.server.url(path));
        if self.cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, self.cookie_header())
        }
    }

    /// Keeps what the answer's `Set-Cookie` headers say: a value, or a removal (`Max-Age=0`).
    fn remember(&mut self, reply: &Reply) {
        for set in reply.set_cookies() {
            let mut parts = set.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let removed = parts.any(|a| a.eq_ignore_ascii_case("Max-Age=0"));
            self.cookies.retain(|(n, _)| n != name);
            if !removed {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// Sends a request built on [`Browser::request`] and keeps its cookies.
    pub async fn send(&mut self, request: RequestBuilder, what: String) -> Reply {
        let reply = send_page(request, what).await;
        self.remember(&reply);
        reply
    }

    /// `GET` a page.
    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self.request(Method::GET, path);
        self.send(request, format!("GET {path}")).await
    }

    /// Posts a form, as a browser submits one.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).expect("form encodes");
        let request = self
            .request(Method::POST, path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.clone());
        self.send(request, format!("POST {path} {body}")).await
    }

    /// Follows a form's 303 as a browser does: asserts it, then opens where it points.
    pub async fn follow(&mut self, reply: &Reply) -> Reply {
        assert_eq!(reply.status, 303, "not a redirect: {reply:?}");
        let location = reply.header(LOCATION).to_owned();
        self.get(&location).await
    }

    /// Opens the sign-in page and submits it with these credentials.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Reply {
        let page = self.get("/ui/login").await;
        assert_eq!(page.status, 200, "{page:?}");
        let csrf = csrf_field(&page.text()).expect("the sign-in form has a csrf field");
        self.post_form(
            "/ui/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }

    /// The session's anti-CSRF token, as the forms of a signed-in page carry it.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/ui/instances").await;
        assert_eq!(page.status, 200, "not signed in: {page:?}");
        csrf_field(&page.text()).expect("a signed-in page carries the csrf field")
    }

    /// An admin API request with the session cookie, and `X-CSRF-Token` if given.
    pub async fn api(
        &mut self,
        method: Method,
        path: &str,
        csrf: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Reply {
        let mut request = self.request(method.clone(), path);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        send_admin(request, format!("{method} {path} (session)")).await
    }
}

// ---------------------------------------------------------------------------------------------
// Reading pages

/// Undoes HTML escaping of attribute values and text: the named entities a template may use,
/// and numeric ones (`&#60;`, `&#x3c;`).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest.find(';').map(|end| (&rest[1..end], end));
        let decoded = entity.and_then(|(name, end)| {
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every start tag `<name …>` of the page.
fn tags<'h>(html: &'h str, name: &str) -> Vec<&'h str> {
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let tag = &rest[start..];
        let end = tag.find('>').map_or(tag.len(), |e| e + 1);
        let after = tag.as_bytes().get(open.len()).copied();
        if matches!(after, Some(b' ' | b'>' | b'\n' | b'/')) {
            found.push(&tag[..end]);
        }
        rest = &tag[end..];
    }
    found
}

/// An attribute of a start tag, unescaped.
pub fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The values of every `<input name="…">` with this name.
pub fn input_values_named(html: &str, name: &str) -> Vec<String> {
    tags(html, "input")
        .into_iter()
        .filter(|tag| attribute(tag, "name").as_deref() == Some(name))
        .filter_map(|tag| attribute(tag, "value"))
        .collect()
}

/// The anti-CSRF token the page's forms carry (`<input type="hidden" name="csrf">`); every form
/// of a page carries the same one.
pub fn csrf_field(html: &str) -> Option<String> {
    let values = input_values_named(html, "csrf");
    let first = values.first()?.clone();
    assert!(
        values.iter().all(|v| *v == first),
        "the forms of one page carry different csrf tokens: {values:?}"
    );
    Some(first)
}

/// The `<input id="…">` with this id, whole.
pub fn input_by_id<'h>(html: &'h str, id: &str) -> Option<&'h str> {
    tags(html, "input")
        .into_iter()
        .find(|tag| attribute(tag, "id").as_deref() == Some(id))
}

/// The value of the `<input id="…">` with this id.
pub fn input_value(html: &str, id: &str) -> Option<String> {
    attribute(input_by_id(html, id)?, "value")
}

/// The text of the `<label for="…">` of this id.
pub fn label_for(html: &str, id: &str) -> Option<String> {
    let open = format!("<label for=\"{id}\">");
    let start = html.find(&open)? + open.len();
    let end = html[start..].find("</label>")? + start;
    Some(unescape(html[start..end].trim()))
}

/// The `href` of the link whose text is exactly `text`.
pub fn link_href(html: &str, text: &str) -> Option<String> {
    let close = format!(">{text}</a>");
    let end = html.find(&close)?;
    let start = html[..end].rfind("<a ")?;
    attribute(&html[start..=end], "href")
}
