//! Brute-force protection: unverified credential attempts are limited per (name, source
//! address) and per source address, in a fixed window (default 10 failures in 5 minutes).
//!
//! Two rules keep the limiter from becoming a weapon against the users it protects:
//! * a credential that verified recently is never refused, so an attacker hammering a
//!   username cannot lock the working integration that uses it out;
//! * the per-name count is kept per source address, so one address's failures do not lock the
//!   same name out from other addresses.
//!
//! Verified credentials are remembered by a keyed hash, never in the clear. Counters live in
//! this process; with several replicas each counts on its own.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

/// How long a verified credential stays exempt from the limiter.
const VERIFIED_FOR: Duration = Duration::from_secs(60 * 60);
/// Most counters and verified credentials kept; the oldest go first beyond this.
const CAPACITY: u64 = 200_000;

/// A keyed hash identifying one (name, secret) pair without revealing it.
pub type CredentialFingerprint = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Counter {
    NameAtAddress(String, IpAddr),
    Address(IpAddr),
}

#[derive(Debug)]
struct Window {
    started: Instant,
    failures: AtomicU32,
}

/// The failed-attempt limiter, shared by every dialect.
#[derive(Clone)]
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    counters: Cache<Counter, Arc<Window>>,
    verified: Cache<CredentialFingerprint, ()>,
}

impl Throttle {
    /// At most `max_failures` unverified failures per `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Throttle {
            max_failures: max_failures.max(1),
            window,
            counters: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(window)
                .build(),
            verified: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(VERIFIED_FOR)
                .build(),
        }
    }

    fn counters(name: &str, source: Option<IpAddr>) -> [Counter; 2] {
        let address = source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        [
            Counter::NameAtAddress(name.to_owned(), address),
            Counter::Address(address),
        ]
    }

    /// `Err(seconds)` when this attempt must be refused, with how long until the window ends.
    pub fn check(
        &self,
        name: &str,
        source: Option<IpAddr>,
        credential: &CredentialFingerprint,
    ) -> Result<(), u64> {
        if self.verified.contains_key(credential) {
            return Ok(());
        }
        for counter in Self::counters(name, source) {
            if let Some(window) = self.counters.get(&counter)
                && window.failures.load(Ordering::Relaxed) >= self.max_failures
            {
                let left = self.window.saturating_sub(window.started.elapsed());
                return Err(left.as_secs().max(1));
            }
        }
        Ok(())
    }

    /// Counts a failed attempt.
    pub fn failed(&self, name: &str, source: Option<IpAddr>) {
        for counter in Self::counters(name, source) {
            let window = self.counters.get_with(counter, || {
                Arc::new(Window {
                    started: Instant::now(),
                    failures: AtomicU32::new(0),
                })
            });
            window.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Remembers a credential that verified, so the limiter never refuses it.
    pub fn verified(&self, credential: CredentialFingerprint) {
        self.verified.insert(credential, ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    #[test]
    fn the_eleventh_failure_is_refused_at_that_address_only() {
        let throttle = Throttle::new(10, Duration::from_secs(300));
        let guess = [1u8; 32];
        for _ in 0..10 {
            assert!(throttle.check("tracker_a", ip(1), &guess).is_ok());
            throttle.failed("tracker_a", ip(1));
        }
        let refused = throttle.check("tracker_a", ip(1), &guess).unwrap_err();
        assert!((1..=300).contains(&refused));
        assert!(throttle.check("tracker_a", ip(2), &guess).is_ok());
    }

    #[test]
    fn a_recently_verified_credential_is_never_refused() {
        let throttle = Throttle::new(3, Duration::from_secs(300));
        let right = [7u8; 32];
        throttle.verified(right);
        for _ in 0..5 {
            throttle.failed("tracker_a", ip(1));
        }
        assert!(throttle.check("tracker_a", ip(1), &right).is_ok());
        assert!(throttle.check("tracker_a", ip(1), &[8u8; 32]).is_err());
    }

    #[test]
    fn one_address_spraying_many_names_is_limited() {
        let throttle = Throttle::new(10, Duration::from_secs(300));
        for n in 0..10 {
            throttle.failed(&format!("user{n}"), ip(9));
        }
        assert!(throttle.check("someone_else", ip(9), &[0u8; 32]).is_err());
        assert!(throttle.check("someone_else", ip(8), &[0u8; 32]).is_ok());
    }
}
