//! Random secrets for sessions, API tokens and share links (256 bits from
//! the operating system), and the sha256 under which they are stored: the
//! database never holds a usable token.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;

/// A fresh URL-safe token of 256 random bits.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a token: its sha256, lowercase hex.
pub fn digest(token: &str) -> String {
    crate::evidence::pack::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits in base64url");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
    }
}
