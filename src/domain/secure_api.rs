//! The secureApi dialect (Algonomy Real-time CDP): short-lived tokens bound to a tenant, an
//! api and a set of resources, created and updated with the `tenant_hash` and
//! `oauth_key_secret` headers.

use crate::telemetry::metrics::{Dialect, metrics};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::a1user::issued;
use super::audit::{Actor, AuditAction, AuditEvent, AuditLog};
use super::authn::Authenticator;
use super::clock;
use super::error::DomainError;
use super::model::{NewToken, Tenant, TokenKind};
use super::secrets::{self, ALPHANUMERIC, Secret};
use super::token_writer::TokenWriter;
use crate::store::{DynStore, TokenIssue};

/// Length of a secureApi token: 48 characters of `[A-Za-z0-9]` carry ≈ 285 bits.
pub const TOKEN_LEN: usize = 48;

/// Which apis exist, which resources each has, and how long tokens may live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureApiPolicy {
    /// api name → its resource names, in the order error messages list them.
    pub apis: BTreeMap<String, Vec<String>>,
    /// Validity when the body gives none, in minutes (vendor: 15).
    pub default_validity_minutes: u32,
    /// Longest validity a create may ask for, in minutes (default 1440, one day).
    pub max_validity_minutes: u32,
}

impl Default for SecureApiPolicy {
    fn default() -> Self {
        let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut apis = BTreeMap::new();
        apis.insert(
            "profile".to_owned(),
            list(&[
                "basic",
                "segments",
                "searchSegments",
                "isCustomerInSegment",
                "campaigns",
                "userActivity",
                "affinity",
                "recommendedProducts",
            ]),
        );
        apis.insert(
            "gdpr".to_owned(),
            list(&[
                "registerGdprRequest",
                "gdprRequestStatus",
                "revokeGdprActions",
            ]),
        );
        SecureApiPolicy {
            apis,
            default_validity_minutes: 15,
            max_validity_minutes: 1440,
        }
    }
}

/// The credentials a secureApi request presents in its headers.
#[derive(Debug, Clone)]
pub struct TenantCredentialsPresented {
    /// The `tenant_hash` header.
    pub tenant_hash: String,
    /// The `oauth_key_secret` header, if sent.
    pub oauth_key_secret: Option<Secret>,
    /// Where the attempt came from, for the failed-attempt limiter.
    pub source: Option<IpAddr>,
}

/// The secureApi token authority.
#[derive(Clone)]
pub struct SecureApi {
    store: DynStore,
    authn: Authenticator,
    policy: Arc<SecureApiPolicy>,
    audit: AuditLog,
    /// Writes new tokens, many requests to a transaction.
    writer: TokenWriter,
}

impl SecureApi {
    /// Builds the authority.
    pub fn new(
        store: DynStore,
        authn: Authenticator,
        policy: Arc<SecureApiPolicy>,
        audit: AuditLog,
        writer: TokenWriter,
    ) -> Self {
        SecureApi {
            store,
            authn,
            policy,
            audit,
            writer,
        }
    }

    /// Records a lifecycle event of one of the tenant's secureApi tokens.
    async fn record(
        &self,
        action: AuditAction,
        credentials: &TenantCredentialsPresented,
        tenant: &Tenant,
        detail: String,
    ) -> Result<(), DomainError> {
        let actor = Actor::new(credentials.tenant_hash.clone(), credentials.source);
        let event = AuditEvent::new(action, &actor)
            .tenant(tenant.id)
            .detail(detail);
        self.audit.record(event).await
    }

    /// The configured apis and their resources.
    pub fn policy(&self) -> &SecureApiPolicy {
        &self.policy
    }

    /// `POST /secureApi/token/{api}/create`: a token for `resources`, valid `validity`
    /// minutes (default 15).
    pub async fn create(
        &self,
        api: &str,
        credentials: &TenantCredentialsPresented,
        resources: &[String],
        validity_minutes: Option<i64>,
    ) -> Result<Secret, DomainError> {
        let allowed = self.resources_of(api)?;
        let tenant = self.authn.tenant(credentials).await?;
        let resources = checked_resources(resources, allowed)?;
        let minutes = validity_minutes.unwrap_or(i64::from(self.policy.default_validity_minutes));
        if !(1..=i64::from(self.policy.max_validity_minutes)).contains(&minutes) {
            return Err(DomainError::InvalidRequest(format!(
                "validity must be a whole number of minutes from 1 to {}.",
                self.policy.max_validity_minutes
            )));
        }
        let token = Secret::new(secrets::random_string(ALPHANUMERIC, TOKEN_LEN)?);
        let now = clock::now();
        let row = NewToken {
            kind: TokenKind::SecureApi,
            tenant_id: tenant.id,
            instance_id: None,
            token_hash: self.authn.keys().token_hash(token.expose()),
            sealed: None,
            api: Some(api.to_owned()),
            scope: Some(resources.join(" ")),
            issued_at: now,
            expires_at: now + minutes * 60,
            prefix: secrets::token_prefix(token.expose()),
            // With OAuth off no secret was checked: such tokens end when OAuth is turned on.
            secret_generation: tenant.oauth_enabled.then_some(tenant.secret_generation),
            dpop_jkt: None,
        };
        let detail = format!("{} for {api}: {}", issued(&row), resources.join(" "));
        let actor = Actor::new(credentials.tenant_hash.clone(), credentials.source);
        let audit = AuditEvent::new(AuditAction::TokenIssued, &actor)
            .tenant(tenant.id)
            .detail(detail)
            .into_entry();
        let issue = TokenIssue {
            token: row,
            limit: None,
            audit,
        };
        self.writer.issue(issue).await?;
        metrics().token_issued(Dialect::SecureApi);
        Ok(token)
    }

    /// `POST /secureApi/token/{api}/update`: replaces the resource set of an active token of
    /// the same tenant and api; the expiry stays. Returns the new set.
    pub async fn update(
        &self,
        api: &str,
        credentials: &TenantCredentialsPresented,
        token: &Secret,
        resources: &[String],
    ) -> Result<Vec<String>, DomainError> {
        let allowed = self.resources_of(api)?;
        let tenant = self.authn.tenant(credentials).await?;
        let resources = checked_resources(resources, allowed)?;
        let context = self.authn.bearer(token).await.map_err(|e| match e {
            DomainError::InstanceDisabled => DomainError::InvalidToken,
            other => other,
        })?;
        let ours = context.token.kind == TokenKind::SecureApi
            && context.tenant.id == tenant.id
            && context.token.api.as_deref() == Some(api);
        if !ours {
            return Err(DomainError::InvalidToken);
        }
        if !self
            .store
            .set_token_scope(context.token.id, &resources.join(" "), clock::now())
            .await?
        {
            return Err(DomainError::InvalidToken);
        }
        self.authn.tokens_changed();
        let detail = format!(
            "secure_api token {}… for {api}: {}",
            secrets::token_prefix(token.expose()),
            resources.join(" ")
        );
        self.record(AuditAction::TokenUpdated, credentials, &tenant, detail)
            .await?;
        Ok(resources)
    }

    fn resources_of(&self, api: &str) -> Result<&[String], DomainError> {
        self.policy
            .apis
            .get(api)
            .map(Vec::as_slice)
            .ok_or_else(|| DomainError::NotFound(format!("API {api:?}")))
    }
}

/// A non-empty list of known resources, duplicates dropped, order kept.
fn checked_resources(requested: &[String], allowed: &[String]) -> Result<Vec<String>, DomainError> {
    let refuse = |resource: &str| DomainError::InvalidResource {
        resource: resource.to_owned(),
        allowed: allowed.join(", "),
    };
    if requested.is_empty() {
        return Err(refuse(""));
    }
    let mut checked: Vec<String> = Vec::with_capacity(requested.len());
    for resource in requested {
        if !allowed.contains(resource) {
            return Err(refuse(resource));
        }
        if !checked.contains(resource) {
            checked.push(resource.clone());
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        SecureApiPolicy::default().apis["profile"].clone()
    }

    #[test]
    fn resources_must_be_known_and_present() {
        let ok = checked_resources(
            &["basic".into(), "segments".into(), "basic".into()],
            &allowed(),
        );
        assert_eq!(ok.unwrap(), vec!["basic", "segments"]);
        assert!(matches!(
            checked_resources(&[], &allowed()),
            Err(DomainError::InvalidResource { .. })
        ));
        let err = checked_resources(&["nope".into()], &allowed()).unwrap_err();
        assert!(err.to_string().contains("recommendedProducts"));
    }
}
