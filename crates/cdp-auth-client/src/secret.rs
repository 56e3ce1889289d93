//! Secrets that cannot reach a log by accident.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A password, bearer token or `oauth_key_secret`. Its `Debug` prints `***`, so a secret
/// inside a struct that is logged with `{:?}` stays out of the log; read it with
/// [`Secret::expose`] only where it is sent.
///
/// It serialises as its value (so a token response can be printed or stored on purpose) and
/// compares in constant time.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// An instance's username and password: the a1user Basic credentials, and the OAuth client
/// (`client_id` = username, `client_secret` = password).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The generated username (`tracker_…`, `profiles_…`, `webtag_…`).
    pub username: String,
    /// The password shown once when the instance was created.
    pub password: Secret,
}

impl Credentials {
    /// Credentials from a username and password.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

/// A tenant's secureApi credentials: the `tenant_hash` header and, when the tenant has OAuth
/// enabled, the `oauth_key_secret` header.
#[derive(Debug, Clone)]
pub struct TenantCredentials {
    /// 32 lowercase hex characters; an identifier, not a secret.
    pub tenant_hash: String,
    /// 16 lowercase hex characters; `None` for a tenant with OAuth off.
    pub oauth_key_secret: Option<Secret>,
}

impl TenantCredentials {
    /// Credentials of a tenant with OAuth on.
    pub fn new(tenant_hash: impl Into<String>, oauth_key_secret: impl Into<Secret>) -> Self {
        TenantCredentials {
            tenant_hash: tenant_hash.into(),
            oauth_key_secret: Some(oauth_key_secret.into()),
        }
    }

    /// Credentials of a tenant with OAuth off (no `oauth_key_secret`).
    pub fn without_secret(tenant_hash: impl Into<String>) -> Self {
        TenantCredentials {
            tenant_hash: tenant_hash.into(),
            oauth_key_secret: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let credentials = Credentials::new("tracker_abc123", "hunter2hunter2");
        let printed = format!("{credentials:?}");
        assert!(printed.contains("tracker_abc123"));
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("***"));
    }

    #[test]
    fn equality_compares_the_values() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
    }
}
