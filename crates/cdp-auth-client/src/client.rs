//! [`Client`]: one typed method per request of the a1user and secureApi dialects, the OAuth
//! endpoints and the CDP calls an integration starts with.

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::cdp::{Accepted, CustomerPage, HalPage, PullQuery, Record};
use crate::error::{ApiError, Error};
use crate::types::{
    ClientAuth, Introspection, OAuthToken, Revoked, SecureToken, SecureTokenUpdate, ServerMetadata,
    TokenResponse,
};
use crate::{Credentials, Secret, TenantCredentials};

/// A client of one cdp-auth (or compatible) deployment: its Authentication Host URL (the
/// a1user and OAuth endpoints) and its API Host URL (secureApi and the CDP API), which
/// default to the same. Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    auth_url: String,
    api_url: String,
}

/// Installs rustls' `ring` provider as the process default, unless one is installed already.
/// [`Client::new`] does it; a program that builds its own `reqwest` clients beside this crate
/// (whose TLS backend it configures) calls it first.
pub fn install_tls_provider() {
    // Err only when a provider is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long a request may take before it fails with [`Error::Transport`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Client {
    /// A client whose auth and API hosts are both `base_url` (`https://cdp.example.com`).
    ///
    /// TLS uses rustls with the `ring` provider, installed as the process default if no other
    /// provider was installed first.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .user_agent(concat!("cdp-auth-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::Transport)?;
        let base = base(base_url)?;
        Ok(Client {
            http,
            auth_url: base.clone(),
            api_url: base,
        })
    }

    /// The same client with another API Host URL (secureApi and CDP calls go there).
    pub fn with_api_url(mut self, api_url: &str) -> Result<Self, Error> {
        self.api_url = base(api_url)?;
        Ok(self)
    }

    /// The same client on a `reqwest::Client` of your own (proxies, timeouts, certificates).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The Authentication Host URL, without a trailing slash.
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// The API Host URL, without a trailing slash.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    // -----------------------------------------------------------------------------------------
    // a1user

    /// Step 1, one time: `POST /authentication?action=login`. Returns the instance's newest
    /// active token, minting one if it has none; repeating it mints nothing.
    pub async fn login(&self, credentials: &Credentials) -> Result<TokenResponse, Error> {
        let request = self.auth(Method::POST, "/authentication?action=login");
        send(basic(request, credentials)).await
    }

    /// Login naming the tenant (`{"tenantName": …}`), which must be the instance's.
    pub async fn login_to_tenant(
        &self,
        credentials: &Credentials,
        tenant_name: &str,
    ) -> Result<TokenResponse, Error> {
        let request = self
            .auth(Method::POST, "/authentication?action=login")
            .json(&json!({ "tenantName": tenant_name }));
        send(basic(request, credentials)).await
    }

    /// Step 2, daily: `GET /token?scheme=a1user`, the newest active token
    /// ([`ErrorCode::NoActiveToken`](crate::ErrorCode::NoActiveToken) if none).
    pub async fn retrieve(&self, credentials: &Credentials) -> Result<TokenResponse, Error> {
        send(basic(
            self.auth(Method::GET, "/token?scheme=a1user"),
            credentials,
        ))
        .await
    }

    /// `POST /token?scheme=a1user&action=extend`: the token now expires a full lifetime from
    /// now, unless that passes its issue time + `max_token_age`
    /// ([`ErrorCode::ExtensionLimitReached`](crate::ErrorCode::ExtensionLimitReached)).
    pub async fn extend(&self, token: &Secret) -> Result<TokenResponse, Error> {
        let request = self.auth(Method::POST, "/token?scheme=a1user&action=extend");
        send(request.bearer_auth(token.expose())).await
    }

    /// `POST /token?scheme=a1user&action=create`: a new token beside the others (rotation),
    /// at most `max_active_tokens`
    /// ([`ErrorCode::TokenLimitReached`](crate::ErrorCode::TokenLimitReached)).
    pub async fn create(&self, credentials: &Credentials) -> Result<TokenResponse, Error> {
        let request = self.auth(Method::POST, "/token?scheme=a1user&action=create");
        send(basic(request, credentials)).await
    }

    /// `DELETE /token?scheme=a1user` with the token as Bearer: revokes that one token.
    pub async fn revoke(&self, token: &Secret) -> Result<Revoked, Error> {
        let request = self.auth(Method::DELETE, "/token?scheme=a1user");
        send(request.bearer_auth(token.expose())).await
    }

    /// `DELETE /token?scheme=a1user` with Basic credentials: revokes every token of the
    /// instance.
    pub async fn revoke_all(&self, credentials: &Credentials) -> Result<Revoked, Error> {
        send(basic(
            self.auth(Method::DELETE, "/token?scheme=a1user"),
            credentials,
        ))
        .await
    }

    // -----------------------------------------------------------------------------------------
    // secureApi

    /// `POST /secureApi/token/{api}/create`: a token for these resources of `api`, valid
    /// `validity_minutes` (server default 15).
    pub async fn secure_create(
        &self,
        tenant: &TenantCredentials,
        api: &str,
        resources: &[String],
        validity_minutes: Option<u32>,
    ) -> Result<SecureToken, Error> {
        let mut body = json!({ "resource": resources });
        if let Some(validity) = validity_minutes {
            body["validity"] = json!(validity);
        }
        let path = format!("/secureApi/token/{}/create", segment(api)?);
        send(tenant_headers(self.api(Method::POST, &path), tenant).json(&body)).await
    }

    /// `POST /secureApi/token/{api}/update`: replaces the token's resources (its expiry stays).
    pub async fn secure_update(
        &self,
        tenant: &TenantCredentials,
        api: &str,
        token: &Secret,
        resources: &[String],
    ) -> Result<SecureTokenUpdate, Error> {
        let body = json!({ "resource": resources, "token": token.expose() });
        let path = format!("/secureApi/token/{}/update", segment(api)?);
        send(tenant_headers(self.api(Method::POST, &path), tenant).json(&body)).await
    }

    // -----------------------------------------------------------------------------------------
    // OAuth 2.0

    /// `POST /oauth/token` with `grant_type=client_credentials` (RFC 6749 §4.4).
    pub async fn oauth_token(
        &self,
        credentials: &Credentials,
        auth: ClientAuth,
        scope: Option<&str>,
    ) -> Result<OAuthToken, Error> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let request = self.auth(Method::POST, "/oauth/token");
        let request = match auth {
            ClientAuth::Basic => basic(request, credentials).form(&form),
            ClientAuth::Post => {
                form.push(("client_id", &credentials.username));
                form.push(("client_secret", credentials.password.expose()));
                request.form(&form)
            }
        };
        send(request).await
    }

    /// `POST /oauth/introspect` (RFC 7662), as an instance of the token's tenant.
    pub async fn introspect(
        &self,
        credentials: &Credentials,
        token: &Secret,
    ) -> Result<Introspection, Error> {
        let request = self
            .auth(Method::POST, "/oauth/introspect")
            .form(&[("token", token.expose())]);
        send(basic(request, credentials)).await
    }

    /// `POST /oauth/revoke` (RFC 7009): succeeds for unknown tokens too.
    pub async fn oauth_revoke(
        &self,
        credentials: &Credentials,
        token: &Secret,
    ) -> Result<(), Error> {
        let request = self
            .auth(Method::POST, "/oauth/revoke")
            .form(&[("token", token.expose())]);
        send::<serde_json::Value>(basic(request, credentials))
            .await
            .map(drop)
    }

    /// `GET /.well-known/oauth-authorization-server` (RFC 8414).
    pub async fn metadata(&self) -> Result<ServerMetadata, Error> {
        send(self.auth(Method::GET, "/.well-known/oauth-authorization-server")).await
    }

    // -----------------------------------------------------------------------------------------
    // CDP API

    /// Upstream push with a DW Tracker token: `POST /v2/{tenantId}/dw/tracker?scheme=a1user`.
    /// With an `idempotency_key`, a retry of the same push stores nothing twice.
    pub async fn push(
        &self,
        token: &Secret,
        tenant_id: &str,
        records: &[Record],
        idempotency_key: Option<&str>,
    ) -> Result<Accepted, Error> {
        let path = format!("/v2/{}/dw/tracker?scheme=a1user", segment(tenant_id)?);
        let mut request = self
            .api(Method::POST, &path)
            .bearer_auth(token.expose())
            .json(records);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        send(request).await
    }

    /// Downstream pull with a 360 Profiles token: the first page of
    /// `GET /v2/{tenantId}/dw/a360/customers`.
    pub async fn customers(
        &self,
        token: &Secret,
        tenant_id: &str,
        query: &PullQuery,
    ) -> Result<CustomerPage, Error> {
        let path = format!("/v2/{}/dw/a360/customers", segment(tenant_id)?);
        let request = self
            .api(Method::GET, &path)
            .query(&query.pairs())
            .bearer_auth(token.expose());
        send::<HalPage>(request).await.map(CustomerPage::from)
    }

    /// The page after `page`, or `None` when it was the last.
    pub async fn next_customers(
        &self,
        token: &Secret,
        page: &CustomerPage,
    ) -> Result<Option<CustomerPage>, Error> {
        let Some(next) = &page.next else {
            return Ok(None);
        };
        let url = if next.starts_with("http://") || next.starts_with("https://") {
            next.clone()
        } else {
            format!("{}{}", self.api_url, next)
        };
        let request = self
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .bearer_auth(token.expose());
        send::<HalPage>(request)
            .await
            .map(|p| Some(CustomerPage::from(p)))
    }

    /// Every customer the query matches, following `next` links.
    pub async fn all_customers(
        &self,
        token: &Secret,
        tenant_id: &str,
        query: &PullQuery,
    ) -> Result<Vec<crate::Customer>, Error> {
        let mut page = self.customers(token, tenant_id, query).await?;
        let mut all = std::mem::take(&mut page.customers);
        while let Some(mut next) = self.next_customers(token, &page).await? {
            all.append(&mut next.customers);
            page = next;
        }
        Ok(all)
    }

    // -----------------------------------------------------------------------------------------

    fn auth(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.auth_url, path_and_query))
            .header(ACCEPT, "application/json")
    }

    fn api(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.api_url, path_and_query))
            .header(ACCEPT, "application/json")
    }
}

/// A base URL without its trailing slash; only `http` and `https`.
fn base(url: &str) -> Result<String, Error> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(['?', '#']) {
        return Err(Error::InvalidArgument(format!(
            "{url:?} is not an http:// or https:// base URL"
        )));
    }
    Ok(url.to_owned())
}

/// A path segment: refuses what would change the path or query.
fn segment(value: &str) -> Result<&str, Error> {
    if value.is_empty() || value.contains(['/', '?', '#', '%', ' ']) {
        return Err(Error::InvalidArgument(format!(
            "{value:?} is not a valid path segment"
        )));
    }
    Ok(value)
}

fn basic(request: RequestBuilder, credentials: &Credentials) -> RequestBuilder {
    request.basic_auth(&credentials.username, Some(credentials.password.expose()))
}

fn tenant_headers(request: RequestBuilder, tenant: &TenantCredentials) -> RequestBuilder {
    let request = request.header("tenant_hash", &tenant.tenant_hash);
    match &tenant.oauth_key_secret {
        Some(secret) => request.header("oauth_key_secret", secret.expose()),
        None => request,
    }
}

/// Sends a request and reads a success body as `T`, an error body as [`ApiError`].
async fn send<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, Error> {
    let response = request.send().await.map_err(Error::Transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(Error::Transport)?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|e| Error::Decode {
            status: status.as_u16(),
            message: e.to_string(),
        })
    } else {
        Err(Error::from(ApiError::from_parts(
            status.as_u16(),
            &body,
            retry_after(&headers),
            headers
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )))
    }
}

/// `Retry-After` in its delta-seconds form (the one cdp-auth sends).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_lose_their_trailing_slash() {
        assert_eq!(
            base("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(base("ftp://example.com").is_err());
        assert!(base("http://example.com/?x").is_err());
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert!(segment("profile").is_ok());
        assert!(segment("../admin").is_err());
        assert!(segment("7?x=1").is_err());
    }
}
