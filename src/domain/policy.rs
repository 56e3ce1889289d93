//! Lifetimes and limits: the numbers the vendor documents, each one configurable.

use std::time::Duration;

use super::model::Environment;

const DAY: u64 = 24 * 60 * 60;

/// Every lifetime and limit the a1user dialect applies, resolved from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Token lifetime in Customer Sandbox tenants (vendor: 90 days).
    pub token_lifetime_cs: Duration,
    /// Token lifetime in UAT tenants (vendor: 180 days).
    pub token_lifetime_uat: Duration,
    /// Token lifetime in production tenants (vendor: 180 days).
    pub token_lifetime_prod: Duration,
    /// How far extends may push a token past its issue time (default 365 days).
    pub max_token_age: Duration,
    /// How long a generated instance password logs in (default 365 days).
    pub password_lifetime: Duration,
    /// Active tokens an instance may hold in Customer Sandbox tenants (default 5).
    pub max_active_tokens_cs: u32,
    /// Active tokens an instance may hold in UAT and production tenants (default 3).
    pub max_active_tokens_uat_prod: u32,
    /// Instances of each type a tenant may hold (default 5).
    pub max_instances_per_type: u32,
    /// Lifetime of OAuth client_credentials tokens (default 1 hour).
    pub oauth_token_lifetime: Duration,
    /// Failed credential attempts allowed per name and address, and per address, in
    /// `failed_attempts_window` (default 10).
    pub max_failed_attempts: u32,
    /// The failed-attempt window (default 5 minutes).
    pub failed_attempts_window: Duration,
    /// How long a refused credential (wrong, unknown, throttled, or turned away by a full
    /// hashing pool) waits before its answer (default 200 ms). A client that waits for answers, as every HTTP/1.1 connection does,
    /// can then try at most five times a second per connection, and a flood of wrong
    /// passwords costs the server sleeping tasks instead of work that competes with token
    /// checks. A right password never waits.
    pub failure_delay: Duration,
    /// How long an admin stays signed in to the UI (default 8 hours).
    pub admin_session_lifetime: Duration,
    /// How long an admin API token lasts unless issued with its own lifetime (default 90
    /// days): a leaked token stops working on its own.
    pub admin_token_lifetime: Duration,
    /// While the database is unavailable, how long after the last contact with it verified
    /// tokens are still answered from the cache (default 5 minutes; zero: not at all).
    /// Nothing can be revoked meanwhile, so this is safe; past it nothing counts as verified.
    pub stale_if_error: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            token_lifetime_cs: Duration::from_secs(90 * DAY),
            token_lifetime_uat: Duration::from_secs(180 * DAY),
            token_lifetime_prod: Duration::from_secs(180 * DAY),
            max_token_age: Duration::from_secs(365 * DAY),
            password_lifetime: Duration::from_secs(365 * DAY),
            max_active_tokens_cs: 5,
            max_active_tokens_uat_prod: 3,
            max_instances_per_type: 5,
            oauth_token_lifetime: Duration::from_secs(60 * 60),
            max_failed_attempts: 10,
            failed_attempts_window: Duration::from_secs(5 * 60),
            failure_delay: Duration::from_millis(200),
            admin_session_lifetime: Duration::from_secs(8 * 60 * 60),
            admin_token_lifetime: Duration::from_secs(90 * DAY),
            stale_if_error: Duration::from_secs(5 * 60),
        }
    }
}

impl Policy {
    /// Lifetime of a token minted or extended in a tenant of this environment, in seconds.
    pub fn token_lifetime_secs(&self, environment: Environment) -> i64 {
        let lifetime = match environment {
            Environment::Cs => self.token_lifetime_cs,
            Environment::Uat => self.token_lifetime_uat,
            Environment::Prod => self.token_lifetime_prod,
        };
        secs(lifetime)
    }

    /// The cap on a token's age, in seconds.
    pub fn max_token_age_secs(&self) -> i64 {
        secs(self.max_token_age)
    }

    /// OAuth token lifetime in seconds.
    pub fn oauth_token_lifetime_secs(&self) -> i64 {
        secs(self.oauth_token_lifetime)
    }

    /// Admin session lifetime in seconds.
    pub fn admin_session_lifetime_secs(&self) -> i64 {
        secs(self.admin_session_lifetime)
    }

    /// Admin API token lifetime in seconds.
    pub fn admin_token_lifetime_secs(&self) -> i64 {
        secs(self.admin_token_lifetime)
    }

    /// Password lifetime in seconds.
    pub fn password_lifetime_secs(&self) -> i64 {
        secs(self.password_lifetime)
    }

    /// How many active tokens an instance of a tenant in this environment may hold.
    pub fn max_active_tokens(&self, environment: Environment) -> u32 {
        match environment {
            Environment::Cs => self.max_active_tokens_cs,
            Environment::Uat | Environment::Prod => self.max_active_tokens_uat_prod,
        }
    }
}

/// Durations from configuration can be absurd (`1000000y`); clamp rather than overflow.
fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs())
        .unwrap_or(i64::MAX / 4)
        .min(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_defaults() {
        let policy = Policy::default();
        assert_eq!(policy.token_lifetime_secs(Environment::Cs), 90 * 86_400);
        assert_eq!(policy.token_lifetime_secs(Environment::Prod), 15_552_000);
        assert_eq!(policy.max_active_tokens(Environment::Cs), 5);
        assert_eq!(policy.max_active_tokens(Environment::Uat), 3);
    }
}
