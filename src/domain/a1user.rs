//! The a1user dialect (Acquia CDP / AgilOne): Basic-credential login and daily retrieve,
//! token create, extend and revoke. Each public method is one request of SPEC's table and does
//! its own authentication, so a handler only parses and maps.

use crate::telemetry::metrics::{Dialect, Revoker, metrics};
use std::net::IpAddr;
use std::sync::Arc;

use super::audit::{Actor, AuditAction, AuditEvent, AuditLog};
use super::authn::Authenticator;
use super::clock::{self, UnixTime};
use super::error::DomainError;
use super::model::{Instance, InstanceCredentials, InstanceType, NewToken, StoredToken, TokenKind};
use super::policy::Policy;
use super::secrets::{self, Secret};
use super::token_writer::TokenWriter;
use super::verified_cache::Entry;
use crate::store::{DynStore, TokenIssue, TokenLimit};

/// Username and password from a Basic `Authorization` header (or an OAuth form).
#[derive(Debug, Clone)]
pub struct BasicCredentials {
    /// The instance username.
    pub username: String,
    /// The password, never printed.
    pub password: Secret,
    /// Where the attempt came from, for the failed-attempt limiter.
    pub source: Option<IpAddr>,
}

/// What every a1user token response carries.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The token string.
    pub access_token: Secret,
    /// Whole seconds until it expires.
    pub expires_in: i64,
    /// The vendor's `tenantId`.
    pub tenant_id: i64,
    /// The instance username.
    pub username: String,
    /// When the instance password expires.
    pub password_expires_at: UnixTime,
}

/// The a1user token authority over the shared store.
#[derive(Clone)]
pub struct A1User {
    store: DynStore,
    authn: Authenticator,
    policy: Arc<Policy>,
    audit: AuditLog,
    /// Writes new tokens, many requests to a transaction.
    writer: TokenWriter,
}

impl A1User {
    /// Builds the authority.
    pub fn new(
        store: DynStore,
        authn: Authenticator,
        policy: Arc<Policy>,
        audit: AuditLog,
        writer: TokenWriter,
    ) -> Self {
        A1User {
            store,
            authn,
            policy,
            audit,
            writer,
        }
    }

    /// Records a lifecycle event of one of `instance`'s tokens.
    async fn record(
        &self,
        action: AuditAction,
        instance: &Instance,
        source: Option<IpAddr>,
        detail: String,
    ) -> Result<(), DomainError> {
        let actor = Actor::new(instance.username.clone(), source);
        let event = AuditEvent::new(action, &actor)
            .instance(instance.tenant_id, instance.id)
            .detail(detail);
        self.audit.record(event).await
    }

    /// `POST /authentication?action=login`: the newest active token, minting one only when the
    /// instance has none, so repeating the login mints nothing. `tenant_name`, when given, must
    /// name the instance's tenant.
    pub async fn login(
        &self,
        credentials: &BasicCredentials,
        tenant_name: Option<&str>,
    ) -> Result<TokenGrant, DomainError> {
        let owner = self.authn.instance(credentials).await?;
        if let Some(name) = tenant_name.filter(|name| *name != owner.tenant.name) {
            // The credentials verified, so saying what is wrong reveals nothing to a guesser.
            return Err(DomainError::InvalidRequest(format!(
                "The username and password are right, but tenantName {name:?} is not this \
                 instance's tenant: send the name of the tenant the instance belongs to, or \
                 leave tenantName out."
            )));
        }
        // Two racing logins: one insert wins, the other finds the winner's token.
        for _ in 0..3 {
            let now = clock::now();
            if let Some(token) = self.authn.newest_token(owner.instance.id, now).await? {
                return self.grant_from_stored(&owner, &token, now);
            }
            let (token, row) = self.mint(&owner, now)?;
            if self.store.insert_token_if_none_active(&row, now).await? {
                self.authn.token_minted(owner.instance.id);
                metrics().token_issued(Dialect::A1User);
                self.record(
                    AuditAction::TokenIssued,
                    &owner.instance,
                    credentials.source,
                    issued(&row),
                )
                .await?;
                return Ok(self.grant(&owner, token, row.expires_at, now));
            }
        }
        Err(DomainError::Internal(
            "login could not settle on a token".into(),
        ))
    }

    /// `GET /token?scheme=a1user`: the newest active token.
    pub async fn retrieve(
        &self,
        credentials: &BasicCredentials,
    ) -> Result<TokenGrant, DomainError> {
        let owner = self.authn.instance(credentials).await?;
        let now = clock::now();
        match self.authn.newest_token(owner.instance.id, now).await? {
            Some(token) => self.grant_from_stored(&owner, &token, now),
            None => Err(DomainError::NoActiveToken),
        }
    }

    /// `POST /token?scheme=a1user&action=create`: a new token beside the old ones, within
    /// `max_active_tokens`.
    pub async fn create(&self, credentials: &BasicCredentials) -> Result<TokenGrant, DomainError> {
        Ok(self.create_for(credentials, None).await?.0)
    }

    /// `POST /token?scheme=a1webtag&action=create`: a create for a WebTag instance only. Also
    /// returns the new token's lookup hash, which its browser key is bound to.
    pub async fn create_webtag(
        &self,
        credentials: &BasicCredentials,
    ) -> Result<(TokenGrant, Vec<u8>), DomainError> {
        self.create_for(credentials, Some(InstanceType::Webtag))
            .await
    }

    async fn create_for(
        &self,
        credentials: &BasicCredentials,
        required: Option<InstanceType>,
    ) -> Result<(TokenGrant, Vec<u8>), DomainError> {
        let owner = self.authn.instance(credentials).await?;
        if required.is_some_and(|t| t != owner.instance.instance_type) {
            return Err(DomainError::InsufficientScope(
                "This scheme is for WebTag instances only.".into(),
            ));
        }
        let now = clock::now();
        let max = self.policy.max_active_tokens(owner.tenant.environment);
        let (token, row) = self.mint(&owner, now)?;
        let actor = Actor::new(owner.instance.username.clone(), credentials.source);
        let audit = AuditEvent::new(AuditAction::TokenIssued, &actor)
            .instance(owner.tenant.id, owner.instance.id)
            .detail(issued(&row))
            .into_entry();
        let (expires_at, token_hash) = (row.expires_at, row.token_hash.clone());
        let issue = TokenIssue {
            token: row,
            limit: Some(TokenLimit { now, max }),
            audit,
        };
        if self.writer.issue(issue).await? {
            self.authn.token_minted(owner.instance.id);
            metrics().token_issued(Dialect::A1User);
            Ok((self.grant(&owner, token, expires_at, now), token_hash))
        } else {
            Err(DomainError::TokenLimitReached { max })
        }
    }

    /// `DELETE /token?scheme=a1user` with Basic: revokes every token of the instance.
    pub async fn revoke_all(&self, credentials: &BasicCredentials) -> Result<u64, DomainError> {
        let owner = self.authn.instance(credentials).await?;
        let revoked = self
            .store
            .revoke_instance_tokens(owner.instance.id, clock::now())
            .await?;
        self.authn.tokens_changed();
        metrics().tokens_revoked(Revoker::A1User, revoked);
        self.record(
            AuditAction::TokensRevokedAll,
            &owner.instance,
            credentials.source,
            match revoked {
                1 => "1 token".to_owned(),
                n => format!("{n} tokens"),
            },
        )
        .await?;
        Ok(revoked)
    }

    /// `POST /token?scheme=a1user&action=extend`: moves the token's expiry to now + lifetime,
    /// refused once that would pass issue time + `max_token_age`.
    pub async fn extend(
        &self,
        token: &Secret,
        source: Option<IpAddr>,
    ) -> Result<TokenGrant, DomainError> {
        let (context, instance) = self.a1user_bearer(token).await?;
        let now = clock::now();
        let expires_at = now + self.policy.token_lifetime_secs(context.tenant.environment);
        if expires_at > context.token.issued_at + self.policy.max_token_age_secs() {
            return Err(DomainError::ExtensionLimitReached);
        }
        if !self
            .store
            .extend_token(context.token.id, expires_at, now)
            .await?
        {
            return Err(DomainError::InvalidToken);
        }
        self.authn
            .token_extended(&context.token.token_hash, instance.id);
        self.record(
            AuditAction::TokenExtended,
            &instance,
            source,
            format!("a1user token {}…", secrets::token_prefix(token.expose())),
        )
        .await?;
        let owner = InstanceCredentials {
            instance,
            tenant: context.tenant.clone(),
            password_hash: Vec::new(),
            client_jwks: None,
        };
        Ok(self.grant(&owner, token.clone(), expires_at, now))
    }

    /// `DELETE /token?scheme=a1user` with Bearer: revokes that one token.
    pub async fn revoke(&self, token: &Secret, source: Option<IpAddr>) -> Result<u64, DomainError> {
        let (context, instance) = self.a1user_bearer(token).await?;
        let revoked = self
            .store
            .revoke_token(context.token.id, clock::now())
            .await?;
        self.authn.tokens_changed();
        metrics().tokens_revoked(Revoker::A1User, revoked);
        if revoked > 0 {
            self.record(
                AuditAction::TokenRevoked,
                &instance,
                source,
                format!("a1user token {}…", secrets::token_prefix(token.expose())),
            )
            .await?;
        }
        Ok(revoked)
    }

    /// A bearer token that must be an a1user token; tokens of the other dialects are not
    /// extended or revoked here.
    async fn a1user_bearer(&self, token: &Secret) -> Result<(Arc<Entry>, Instance), DomainError> {
        let context = self.authn.bearer(token).await?;
        match (&context.token.kind, &context.instance) {
            (TokenKind::A1user, Some(instance)) => {
                let instance = instance.clone();
                Ok((context, instance))
            }
            _ => Err(DomainError::InvalidToken),
        }
    }

    /// A fresh token and the row that stores it (hash + sealed copy, never the string).
    fn mint(
        &self,
        owner: &InstanceCredentials,
        now: UnixTime,
    ) -> Result<(Secret, NewToken), DomainError> {
        let keys = self.authn.keys();
        let token = secrets::new_a1user_token()?;
        let token_hash = keys.token_hash(token.expose());
        let sealed = keys.seal(token.expose(), &token_hash)?;
        let lifetime = self
            .policy
            .token_lifetime_secs(owner.tenant.environment)
            .min(self.policy.max_token_age_secs());
        let row = NewToken {
            kind: TokenKind::A1user,
            tenant_id: owner.tenant.id,
            instance_id: Some(owner.instance.id),
            token_hash,
            sealed: Some(sealed),
            api: None,
            scope: None,
            issued_at: now,
            expires_at: now + lifetime,
            prefix: secrets::token_prefix(token.expose()),
            secret_generation: None,
            dpop_jkt: None,
        };
        Ok((token, row))
    }

    fn grant_from_stored(
        &self,
        owner: &InstanceCredentials,
        token: &StoredToken,
        now: UnixTime,
    ) -> Result<TokenGrant, DomainError> {
        let sealed = token.sealed.as_deref().unwrap_or_default();
        let plain = self.authn.keys().unseal(sealed, &token.token_hash)?;
        Ok(self.grant(owner, Secret::new(plain), token.expires_at, now))
    }

    fn grant(
        &self,
        owner: &InstanceCredentials,
        token: Secret,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> TokenGrant {
        TokenGrant {
            access_token: token,
            expires_in: (expires_at - now).max(0),
            tenant_id: owner.tenant.id,
            username: owner.instance.username.clone(),
            password_expires_at: owner.instance.password_expires_at,
        }
    }
}

/// The audit detail of a freshly minted token: its dialect and prefix.
pub fn issued(row: &NewToken) -> String {
    format!("{} token {}…", row.kind.as_str(), row.prefix)
}
