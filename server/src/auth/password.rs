//! Password hashing with argon2id (PHC strings with their own salt and
//! parameters), a check that costs the same whether or not the user
//! exists, and a [`Verifier`] that bounds how many checks run at once
//! (each holds about 19 MiB) and counts them.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// The shortest password `shakedown user add` accepts.
pub const MIN_LENGTH: usize = 12;

/// Why a password was refused or could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// The argon2id PHC string for `password`.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored hash; `None` (no such user) runs
/// the same work against a throwaway hash and answers `false`, so timing
/// does not tell whether the user exists.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DECOY: OnceLock<String> = OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash("decoy password, never valid").unwrap_or_default());
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (decoy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// Runs password checks off the async threads, at most `concurrency` at
/// a time; the others wait their turn without holding argon2's memory.
#[derive(Debug)]
pub struct Verifier {
    permits: Arc<Semaphore>,
    runs: AtomicU64,
    busy: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Verifier {
    pub fn new(concurrency: usize) -> Self {
        Verifier {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            runs: AtomicU64::new(0),
            busy: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// [`verify`] once a permit is free. The permit goes with the work, so
    /// a request given up halfway (the client left) still holds it until
    /// argon2 is done.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        self.runs.fetch_add(1, Ordering::SeqCst);
        let busy = self.busy.clone();
        let peak = self.peak.clone();
        tokio::task::spawn_blocking(move || {
            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let ok = verify(&password, stored.as_deref());
            busy.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false)
    }

    /// How many checks have run.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::SeqCst)
    }

    /// The most checks that ran at the same time.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify("correct horse battery", Some(&a)));
        assert!(!verify("wrong horse battery", Some(&a)));
        assert!(!verify("decoy password, never valid", None));
        assert!(!verify("anything", Some("not a hash")));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
    }
}
