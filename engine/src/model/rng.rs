//! A small seeded random source (SplitMix64) for think time, and for the
//! network-fault proxy's `toxicity` and `jitter`: the same seed and the
//! same order of draws give the same numbers, so runs and tests that use
//! randomness are repeatable. Not for anything secret.

/// SplitMix64: fast, seedable, good enough to spread draws.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (`p` ≥ 1 always, `p` ≤ 0 never).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A whole number in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(span) => self.next_u64() % span,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_bounds_hold() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            assert!(r.up_to(3) <= 3);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.chance(1.0));
            assert!(!r.chance(0.0));
        }
    }

    #[test]
    fn chance_follows_the_probability() {
        let mut r = Rng::new(42);
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!(
            (2_000..3_000).contains(&hits),
            "{hits} hits of 10000 at p=0.25"
        );
    }
}
