//! OAuth 2.0 over the same token store: client_credentials (RFC 6749 §4.4) with instance
//! usernames and passwords as clients, introspection (RFC 7662) for tokens of every dialect,
//! and revocation (RFC 7009).

use crate::telemetry::metrics::{Dialect, Revoker, metrics};
use std::net::IpAddr;
use std::sync::Arc;

use super::a1user::{BasicCredentials, issued};
use super::audit::{Actor, AuditAction, AuditEvent, AuditLog};
use super::authn::Authenticator;
use super::client_assertion::PresentedAssertion;
use super::clock;
use super::error::DomainError;
use super::jwt::{AccessClaims, Confirmation};
use super::model::{InstanceCredentials, InstanceType, NewToken, TokenFormat, TokenKind};
use super::policy::Policy;
use super::secrets::{self, Secret};
use super::token_writer::TokenWriter;
use super::verified_cache::Entry;
use crate::store::{DynStore, TokenIssue};

/// The scope an instance type's tokens carry: what its role may call.
pub fn scope_of(instance_type: InstanceType) -> &'static str {
    match instance_type {
        InstanceType::DwTracker => "dw:tracker",
        InstanceType::Profiles360 => "dw:a360",
        InstanceType::Webtag => "dw:webtag",
    }
}

/// The token endpoint's path, below the issuer (the Authentication Host URL).
pub const TOKEN_PATH: &str = "/oauth/token";

/// Every scope a token may carry, for the server metadata.
pub fn all_scopes() -> Vec<&'static str> {
    InstanceType::ALL.into_iter().map(scope_of).collect()
}

/// How an OAuth client authenticated: exactly one method per request (RFC 6749 §2.3).
#[derive(Debug, Clone)]
pub enum ClientAuthentication {
    /// `client_secret_basic` or `client_secret_post`: the instance username and password.
    Secret(BasicCredentials),
    /// `private_key_jwt`: a JWT signed by a key the instance registered.
    Assertion(PresentedAssertion),
}

impl ClientAuthentication {
    /// Where the request came from.
    pub fn source(&self) -> Option<IpAddr> {
        match self {
            ClientAuthentication::Secret(credentials) => credentials.source,
            ClientAuthentication::Assertion(assertion) => assertion.source,
        }
    }
}

/// A client_credentials grant.
#[derive(Debug, Clone)]
pub struct OAuthGrant {
    /// The token.
    pub access_token: Secret,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// Whether it is bound to a DPoP key (`token_type` `DPoP`).
    pub dpop_bound: bool,
}

/// What introspection tells about an active token.
#[derive(Debug, Clone)]
pub struct Introspection {
    /// The instance username, or the `tenant_hash` for secureApi tokens.
    pub client_id: String,
    /// The instance username (instance tokens only).
    pub username: Option<String>,
    /// Scope, or the secureApi resource set, space-separated.
    pub scope: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// The tenant, as a string.
    pub tenant_id: String,
    /// secureApi tokens: their api.
    pub api: Option<String>,
    /// Which dialect minted it.
    pub kind: TokenKind,
    /// A DPoP-bound token's key thumbprint (`cnf.jkt`).
    pub dpop_jkt: Option<String>,
}

/// The OAuth 2.0 endpoints' domain.
#[derive(Clone)]
pub struct OAuth {
    store: DynStore,
    authn: Authenticator,
    policy: Arc<Policy>,
    audit: AuditLog,
    /// Writes new tokens, many requests to a transaction.
    writer: TokenWriter,
    /// The `aud` values a client assertion may name: the token endpoint URL and the issuer.
    audiences: Arc<[String]>,
}

impl OAuth {
    /// Builds the service.
    pub fn new(
        store: DynStore,
        authn: Authenticator,
        policy: Arc<Policy>,
        audit: AuditLog,
        writer: TokenWriter,
    ) -> Self {
        let issuer = authn.jwt().identity().issuer.clone();
        let audiences = Arc::from([format!("{issuer}{TOKEN_PATH}"), issuer]);
        OAuth {
            store,
            authn,
            policy,
            audit,
            writer,
            audiences,
        }
    }

    /// The client, by whichever method it authenticated with.
    async fn client(
        &self,
        client: &ClientAuthentication,
    ) -> Result<Arc<InstanceCredentials>, DomainError> {
        match client {
            ClientAuthentication::Secret(credentials) => self.authn.instance(credentials).await,
            ClientAuthentication::Assertion(assertion) => {
                self.authn
                    .instance_by_assertion(assertion, &self.audiences)
                    .await
            }
        }
    }

    /// `grant_type=client_credentials`: a new short-lived token for the client instance,
    /// bound to the DPoP key of thumbprint `dpop_jkt` when the request carried a proof.
    pub async fn client_credentials(
        &self,
        client: &ClientAuthentication,
        scope: Option<&str>,
        dpop_jkt: Option<String>,
    ) -> Result<OAuthGrant, DomainError> {
        let owner = self.client(client).await?;
        let allowed = scope_of(owner.instance.instance_type);
        if let Some(requested) = scope
            && requested.split_whitespace().any(|s| s != allowed)
        {
            return Err(DomainError::InvalidScope {
                allowed: allowed.to_owned(),
            });
        }
        let now = clock::now();
        let jwt = self.authn.jwt();
        let format = owner
            .tenant
            .token_format
            .unwrap_or(jwt.settings().default_format);
        // A JWT's row is found by its `jti` (the JWT itself is never stored); an opaque
        // token's by the token.
        let (token, lifetime, token_hash, prefix) = match format {
            TokenFormat::Opaque => {
                let token = secrets::new_a1user_token()?;
                let hash = self.authn.keys().token_hash(token.expose());
                let prefix = secrets::token_prefix(token.expose());
                (token, self.policy.oauth_token_lifetime_secs(), hash, prefix)
            }
            TokenFormat::Jwt => {
                let lifetime = jwt.settings().lifetime_secs();
                let jti = secrets::random_urlsafe(18)?;
                let identity = jwt.identity();
                let claims = AccessClaims {
                    iss: identity.issuer.clone(),
                    sub: owner.instance.username.clone(),
                    aud: identity.audience.clone(),
                    exp: now + lifetime,
                    iat: now,
                    nbf: now,
                    jti: jti.clone(),
                    client_id: owner.instance.username.clone(),
                    scope: allowed.to_owned(),
                    tenant_id: owner.tenant.id.to_string(),
                    cnf: dpop_jkt.clone().map(|jkt| Confirmation { jkt }),
                };
                let token = Secret::new(jwt.sign(&claims).await?);
                let hash = self.authn.keys().jwt_id_hash(&jti);
                (
                    token,
                    lifetime,
                    hash,
                    format!("jwt:{}", secrets::token_prefix(&jti)),
                )
            }
        };
        let row = NewToken {
            kind: TokenKind::OAuth,
            tenant_id: owner.tenant.id,
            instance_id: Some(owner.instance.id),
            token_hash,
            sealed: None,
            api: None,
            scope: Some(allowed.to_owned()),
            issued_at: now,
            expires_at: now + lifetime,
            prefix,
            secret_generation: None,
            dpop_jkt: dpop_jkt.clone(),
        };
        let actor = Actor::new(owner.instance.username.clone(), client.source());
        let audit = AuditEvent::new(AuditAction::TokenIssued, &actor)
            .instance(owner.tenant.id, owner.instance.id)
            .detail(issued(&row))
            .into_entry();
        let issue = TokenIssue {
            token: row,
            limit: None,
            audit,
        };
        self.writer.issue(issue).await?;
        metrics().token_issued(Dialect::OAuth);
        Ok(OAuthGrant {
            access_token: token,
            expires_in: lifetime,
            scope: allowed.to_owned(),
            dpop_bound: dpop_jkt.is_some(),
        })
    }

    /// RFC 7662: what a token is, if it is active and of the caller's tenant; `None` (answered
    /// `{"active":false}`) otherwise.
    pub async fn introspect(
        &self,
        caller: &ClientAuthentication,
        token: &Secret,
    ) -> Result<Option<Introspection>, DomainError> {
        let caller = self.client(caller).await?;
        let Some(context) = self.active(token).await? else {
            return Ok(None);
        };
        if context.tenant.id != caller.tenant.id {
            return Ok(None);
        }
        let token = &context.token;
        let (client_id, username, scope) = match &context.instance {
            Some(instance) => (
                instance.username.clone(),
                Some(instance.username.clone()),
                token
                    .scope
                    .clone()
                    .unwrap_or_else(|| scope_of(instance.instance_type).to_owned()),
            ),
            None => (
                context.tenant.tenant_hash.clone(),
                None,
                token.scope.clone().unwrap_or_default(),
            ),
        };
        Ok(Some(Introspection {
            client_id,
            username,
            scope,
            exp: token.expires_at,
            iat: token.issued_at,
            tenant_id: context.tenant.id.to_string(),
            api: token.api.clone(),
            kind: token.kind,
            dpop_jkt: token.dpop_jkt.clone(),
        }))
    }

    /// RFC 7009: revokes the token if the caller may (its own instance's tokens, or its
    /// tenant's secureApi tokens). Unknown tokens, and tokens of other tenants (which the
    /// caller must not learn anything about), are not an error; a token of another client of
    /// the same tenant is refused (§2.1).
    pub async fn revoke(
        &self,
        caller: &ClientAuthentication,
        token: &Secret,
    ) -> Result<(), DomainError> {
        let caller_source = caller.source();
        let caller = self.client(caller).await?;
        let Some(context) = self.active(token).await? else {
            return Ok(());
        };
        if context.tenant.id != caller.tenant.id {
            return Ok(());
        }
        if context
            .instance
            .as_ref()
            .is_some_and(|instance| instance.id != caller.instance.id)
        {
            return Err(DomainError::NotYourToken);
        }
        let revoked = self
            .store
            .revoke_token(context.token.id, clock::now())
            .await?;
        self.authn.tokens_changed();
        metrics().tokens_revoked(Revoker::OAuth, revoked);
        if revoked > 0 {
            let actor = Actor::new(caller.instance.username.clone(), caller_source);
            let mut event = AuditEvent::new(AuditAction::TokenRevoked, &actor)
                .tenant(context.tenant.id)
                .detail(format!(
                    "{} token {}…",
                    context.token.kind.as_str(),
                    secrets::token_prefix(token.expose())
                ));
            event.instance_id = context.token.instance_id;
            self.audit.record(event).await?;
        }
        Ok(())
    }

    /// The active token, or `None` for anything that is not one (unknown, expired, revoked,
    /// of a disabled instance, malformed).
    async fn active(&self, token: &Secret) -> Result<Option<Arc<Entry>>, DomainError> {
        match self.authn.bearer(token).await {
            Ok(context) => Ok(Some(context)),
            Err(DomainError::InvalidToken | DomainError::InstanceDisabled) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
