//! WebTag browser keys: an `accessKey` issued with a WebTag instance's token, safe to embed
//! in a web page because it can only send events, only from the instance's allowed origins,
//! at a bounded rate, and dies with its token. Stored as a keyed hash, like tokens.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::Cdp;
use crate::domain::DomainError;
use crate::domain::clock;
use crate::domain::model::TokenId;
use crate::domain::secrets::{self, Secret};
use crate::store::cdp::WebTagContext;

/// Random bytes in an access key (256 bits; 43 URL-safe characters).
const KEY_BYTES: usize = 32;

/// A token bucket per key (by its token id).
pub struct KeyLimiter {
    limiter: DefaultKeyedRateLimiter<TokenId>,
}

impl KeyLimiter {
    /// `rate` requests per second with bursts of `burst`.
    pub fn new(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        KeyLimiter {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Takes one request from the key's bucket; the whole seconds to wait when it is empty.
    pub fn check(&self, key: TokenId) -> Result<(), u64> {
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets buckets that are full again, so memory follows the keys in use.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

/// Whether `origin` (the browser's `Origin` header) is one of `allowed`: scheme, host and port
/// compared exactly, ignoring ASCII case and a trailing slash in the configured value.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Checks a configured origin: `scheme://host[:port]`, nothing more.
pub fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && rest.len() <= 253
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl Cdp {
    /// Issues the access key of a freshly minted WebTag token (found by its lookup hash).
    pub async fn issue_webtag_key(&self, token_hash: &[u8]) -> Result<Secret, DomainError> {
        let context = self
            .store
            .active_token_by_hash(token_hash, clock::now())
            .await?
            .ok_or(DomainError::InvalidToken)?;
        let key = Secret::new(secrets::random_urlsafe(KEY_BYTES)?);
        self.store
            .insert_webtag_key(context.token.id, &self.keys.token_hash(key.expose()))
            .await?;
        Ok(key)
    }

    /// What an access key opens, if its token is alive and its instance enabled; origin and
    /// rate are checked by [`Cdp::admit_webtag`].
    pub async fn webtag(&self, key: &str) -> Result<WebTagContext, DomainError> {
        if key.is_empty() || key.len() > 128 {
            return Err(DomainError::InvalidToken);
        }
        let context = self
            .store
            .webtag_key(&self.keys.token_hash(key), clock::now())
            .await?
            .ok_or(DomainError::InvalidToken)?;
        if context.instance.disabled_at.is_some() {
            return Err(DomainError::InvalidToken);
        }
        Ok(context)
    }

    /// Refuses a browser request from an origin the instance does not allow, or beyond the
    /// key's rate.
    pub fn admit_webtag(
        &self,
        context: &WebTagContext,
        origin: Option<&str>,
    ) -> Result<(), DomainError> {
        let allowed = origin.is_some_and(|o| origin_allowed(&context.allowed_origins, o));
        if !allowed {
            return Err(DomainError::InsufficientScope(
                "This origin may not use the access key; add it to the instance's allowed origins."
                    .into(),
            ));
        }
        self.webtag_limiter
            .check(context.token_id)
            .map_err(|retry_after| DomainError::TooManyAttempts { retry_after })
    }

    /// Forgets idle rate-limit buckets.
    pub fn forget_idle_webtag_buckets(&self) {
        self.webtag_limiter.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_exactly_but_for_case_and_a_trailing_slash() {
        let allowed = vec!["https://Shop.example/".to_owned()];
        assert!(origin_allowed(&allowed, "https://shop.example"));
        assert!(!origin_allowed(&allowed, "http://shop.example"));
        assert!(!origin_allowed(&allowed, "https://shop.example.evil"));
        assert!(!origin_allowed(&allowed, "null"));
    }

    #[test]
    fn configured_origins_are_scheme_host_and_port_only() {
        assert!(valid_origin("https://shop.example:8443"));
        assert!(!valid_origin("https://shop.example/path"));
        assert!(!valid_origin("ftp://shop.example"));
        assert!(!valid_origin("shop.example"));
    }

    #[test]
    fn a_key_beyond_its_burst_waits() {
        let limiter = KeyLimiter::new(1, 2);
        assert!(limiter.check(1).is_ok());
        assert!(limiter.check(1).is_ok());
        assert_eq!(limiter.check(1), Err(1));
        assert!(limiter.check(2).is_ok(), "keys have their own buckets");
    }
}
