//! Login attempt limits: failures are counted per account name and per
//! client address over a sliding window; past the limit, further attempts
//! are refused without checking the password, whether or not the account
//! exists. Memory is bounded: old failures are forgotten, and at most
//! `MAX_KEYS` names and addresses are tracked.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_KEYS: usize = 10_000;

/// How many failures are allowed, over how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures per account name within `window`.
    pub per_account: usize,
    /// Failures per client address within `window`.
    pub per_address: usize,
    /// How long a failure counts.
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// Counts failed logins.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: Limits,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(limits: Limits) -> Self {
        LoginLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, address: Option<IpAddr>) -> Vec<(Key, usize)> {
        let mut keys = vec![(Key::Account(account.to_lowercase()), 0)];
        if let Some(ip) = address {
            keys.push((Key::Address(ip), 1));
        }
        keys
    }

    /// `Err(wait)` when this account or address has failed too often
    /// recently; `wait` is how long until one failure expires.
    pub fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, which) in Self::keys(account, address) {
            let limit = if which == 0 {
                self.limits.per_account
            } else {
                self.limits.per_address
            };
            if let Some(times) = failures.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.limits.window)
                {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let oldest = times.front().copied().unwrap_or(now);
                    return Err(self
                        .limits
                        .window
                        .saturating_sub(now.duration_since(oldest)));
                }
            }
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn failed(&self, account: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_KEYS {
            let window = self.limits.window;
            failures.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < window));
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        for (key, _) in Self::keys(account, address) {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// Forgets the account's failures after a successful login (the
    /// address keeps its count).
    pub fn succeeded(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&Key::Account(account.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(Limits {
            per_account: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn an_account_is_locked_after_its_limit_of_failures() {
        let l = limiter();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check("ann", Some(ip)).is_ok());
            l.failed("ann", Some(ip));
        }
        let wait = l.check("ann", Some(ip)).unwrap_err();
        assert!(wait > Duration::from_secs(50));
        assert!(
            l.check("ANN", None).is_err(),
            "names are compared case-insensitively"
        );
        assert!(
            l.check("bob", None).is_ok(),
            "other accounts are not affected"
        );
    }

    #[test]
    fn an_address_is_locked_across_accounts() {
        let l = limiter();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for n in 0..5 {
            l.failed(&format!("user{n}"), Some(ip));
        }
        assert!(l.check("someone-new", Some(ip)).is_err());
        assert!(l
            .check("someone-new", Some("10.0.0.8".parse().unwrap()))
            .is_ok());
    }

    #[test]
    fn success_clears_the_account() {
        let l = limiter();
        l.failed("ann", None);
        l.failed("ann", None);
        l.succeeded("ann");
        l.failed("ann", None);
        l.failed("ann", None);
        assert!(l.check("ann", None).is_ok());
    }
}
