//! Login attempt limits: attempts are counted per account name and per
//! client address (IPv6 by its /64 network) over a sliding window. An
//! attempt is *reserved* — checked and counted in one step under the lock —
//! before the password is checked, so a burst of parallel requests gets no
//! more guesses than the limit. Past the limit, attempts are refused
//! without checking the password, whether or not the account exists, and
//! the lockout is reported once per window (so it is audited once, not once
//! per refused attempt). Memory is bounded: expired attempts are forgotten,
//! and when `max_keys` names and addresses are tracked, the entries seen
//! least recently (those not locked first) make room, one at a time.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many attempts are allowed, over how long, for how many keys.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failed attempts per account name within `window`.
    pub per_account: usize,
    /// Failed attempts per client address within `window`.
    pub per_address: usize,
    /// How long an attempt counts.
    pub window: Duration,
    /// How many names and addresses are tracked at most.
    pub max_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
            max_keys: 10_000,
        }
    }
}

/// What attempts are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// An account name, lowercased.
    Account(String),
    /// A client address (an IPv6 address by its /64 network).
    Address(IpAddr),
}

impl Key {
    fn address(ip: IpAddr) -> Key {
        Key::Address(match ip {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mask = !0u128 << 64;
                    IpAddr::V6((u128::from(v6) & mask).into())
                }
            },
        })
    }
}

#[derive(Debug)]
struct Entry {
    /// When each counted attempt was made, oldest first.
    attempts: VecDeque<Instant>,
    /// When this key's lockout was last reported (`Locked::first`).
    lock_reported: Option<Instant>,
    /// The last time this key was used.
    seen: Instant,
}

/// An attempt counted before the password is checked. A failure keeps it;
/// [`LoginLimiter::succeeded`] and [`LoginLimiter::release`] take it back.
#[derive(Debug)]
#[must_use = "a reservation is settled with succeeded, release, or kept as a failure"]
pub struct Reservation {
    keys: Vec<Key>,
    at: Instant,
}

/// An attempt refused because its account or address failed too often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// What is locked.
    pub key: Key,
    /// How long until one counted attempt expires.
    pub wait: Duration,
    /// The first refusal for this lockout in this window: the one to audit.
    pub first: bool,
}

/// Counts login attempts.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: Limits,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl LoginLimiter {
    pub fn new(limits: Limits) -> Self {
        LoginLimiter {
            limits,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, key: &Key) -> usize {
        match key {
            Key::Account(_) => self.limits.per_account,
            Key::Address(_) => self.limits.per_address,
        }
    }

    fn keys(account: Option<&str>, address: Option<IpAddr>) -> Vec<Key> {
        account
            .map(|a| Key::Account(a.to_lowercase()))
            .into_iter()
            .chain(address.map(Key::address))
            .collect()
    }

    /// Checks the account (when the name can be one) and the address, and
    /// counts the attempt against both in the same step; `Err` when either
    /// is locked (nothing counted then).
    pub fn reserve(
        &self,
        account: Option<&str>,
        address: Option<IpAddr>,
    ) -> Result<Reservation, Locked> {
        let now = Instant::now();
        let window = self.limits.window;
        let keys = Self::keys(account, address);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in &keys {
            let limit = self.limit(key);
            let Some(entry) = entries.get_mut(key) else {
                continue;
            };
            while entry
                .attempts
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                entry.attempts.pop_front();
            }
            if entry.attempts.len() >= limit {
                let oldest = entry.attempts.front().copied().unwrap_or(now);
                let first = entry
                    .lock_reported
                    .is_none_or(|t| now.duration_since(t) >= window);
                if first {
                    entry.lock_reported = Some(now);
                }
                entry.seen = now;
                return Err(Locked {
                    key: key.clone(),
                    wait: window.saturating_sub(now.duration_since(oldest)),
                    first,
                });
            }
        }
        for key in &keys {
            if !entries.contains_key(key) {
                self.make_room(&mut entries, now);
            }
            let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
                attempts: VecDeque::new(),
                lock_reported: None,
                seen: now,
            });
            entry.attempts.push_back(now);
            entry.seen = now;
        }
        Ok(Reservation { keys, at: now })
    }

    /// Below `max_keys` entries, for one more: expired entries go first,
    /// then the one seen least recently, unlocked before locked.
    fn make_room(&self, entries: &mut HashMap<Key, Entry>, now: Instant) {
        if entries.len() < self.limits.max_keys {
            return;
        }
        let window = self.limits.window;
        entries.retain(|_, e| {
            e.attempts
                .back()
                .is_some_and(|t| now.duration_since(*t) < window)
                || e.lock_reported
                    .is_some_and(|t| now.duration_since(t) < window)
        });
        while entries.len() >= self.limits.max_keys.max(1) {
            let victim = entries
                .iter()
                .min_by_key(|(key, e)| (e.attempts.len() >= self.limit(key), e.seen))
                .map(|(key, _)| key.clone());
            match victim {
                Some(key) => entries.remove(&key),
                None => break,
            };
        }
    }

    /// Takes the attempt back from every key it was counted against.
    fn forget(entries: &mut HashMap<Key, Entry>, key: &Key, at: Instant) {
        if let Some(entry) = entries.get_mut(key) {
            if let Some(i) = entry.attempts.iter().rposition(|t| *t == at) {
                entry.attempts.remove(i);
            }
        }
    }

    /// The password was right: the account's count starts over, and the
    /// attempt no longer counts against the address.
    pub fn succeeded(&self, reservation: Reservation) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in &reservation.keys {
            match key {
                Key::Account(_) => {
                    entries.remove(key);
                }
                Key::Address(_) => Self::forget(&mut entries, key, reservation.at),
            }
        }
    }

    /// The attempt was not a guess (the database could not be asked): it
    /// no longer counts.
    pub fn release(&self, reservation: Reservation) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in &reservation.keys {
            Self::forget(&mut entries, key, reservation.at);
        }
    }

    /// How many names and addresses are tracked.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
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
            max_keys: 100,
        })
    }

    #[test]
    fn an_account_is_locked_once_its_attempts_are_reserved() {
        let l = limiter();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Reserving counts: three reservations lock, before any failure
        // is known.
        let held: Vec<_> = (0..3)
            .map(|_| l.reserve(Some("ann"), Some(ip)).unwrap())
            .collect();
        let locked = l.reserve(Some("ann"), Some(ip)).unwrap_err();
        assert_eq!(locked.key, Key::Account("ann".into()));
        assert!(locked.wait > Duration::from_secs(50));
        assert!(locked.first);
        let again = l.reserve(Some("ANN"), None).unwrap_err();
        assert!(!again.first, "reported once per window");
        assert!(
            l.reserve(Some("bob"), None).is_ok(),
            "other accounts are not affected"
        );
        drop(held);
    }

    #[test]
    fn an_address_is_locked_across_accounts_and_ipv6_by_its_network() {
        let l = limiter();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for n in 0..5 {
            let _ = l.reserve(Some(&format!("user{n}")), Some(ip)).unwrap();
        }
        let locked = l.reserve(Some("someone-new"), Some(ip)).unwrap_err();
        assert_eq!(locked.key, Key::Address(ip));
        assert!(l
            .reserve(Some("someone-new"), Some("10.0.0.8".parse().unwrap()))
            .is_ok());
        let l = limiter();
        for n in 0..5u8 {
            let ip: IpAddr = format!("2001:db8::{n}").parse().unwrap();
            let _ = l.reserve(None, Some(ip)).unwrap();
        }
        assert!(l
            .reserve(None, Some("2001:db8::ffff:1".parse().unwrap()))
            .is_err());
        assert!(l
            .reserve(None, Some("2001:db8:0:1::1".parse().unwrap()))
            .is_ok());
    }

    #[test]
    fn success_clears_the_account_and_takes_the_attempt_back_from_the_address() {
        let l = limiter();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let _ = l.reserve(Some("ann"), Some(ip)).unwrap();
        let _ = l.reserve(Some("ann"), Some(ip)).unwrap();
        let ok = l.reserve(Some("ann"), Some(ip)).unwrap();
        l.succeeded(ok);
        let _ = l.reserve(Some("ann"), Some(ip)).unwrap();
        let _ = l.reserve(Some("ann"), Some(ip)).unwrap();
        assert!(l.reserve(Some("ann"), None).is_ok());
        // The address counted the two failures before and the two after,
        // not the success: one more reaches its limit of five.
        let _ = l.reserve(Some("bob"), Some(ip)).unwrap();
        assert!(l.reserve(Some("carl"), Some(ip)).is_err());
    }

    #[test]
    fn a_released_attempt_does_not_count() {
        let l = limiter();
        for _ in 0..10 {
            let r = l.reserve(Some("ann"), None).unwrap();
            l.release(r);
        }
        assert!(l.reserve(Some("ann"), None).is_ok());
    }

    #[test]
    fn when_full_the_least_recently_seen_unlocked_entries_make_room() {
        let l = LoginLimiter::new(Limits {
            per_account: 2,
            per_address: 100,
            window: Duration::from_secs(600),
            max_keys: 10,
        });
        let _ = l.reserve(Some("victim"), None).unwrap();
        let _ = l.reserve(Some("victim"), None).unwrap();
        assert!(l.reserve(Some("victim"), None).is_err());
        // An attacker floods the limiter with new names.
        for n in 0..1000 {
            let _ = l.reserve(Some(&format!("flood{n}")), None).unwrap();
            assert!(l.tracked() <= 10);
        }
        assert!(
            l.reserve(Some("victim"), None).is_err(),
            "the lockout survived the flood"
        );
        // The newest flood entries are still counted; the oldest made room.
        let _ = l.reserve(Some("flood999"), None).unwrap();
        assert!(l.reserve(Some("flood999"), None).is_err());
    }
}
