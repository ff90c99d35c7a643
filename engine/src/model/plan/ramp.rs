//! Ramping stages and think time of `http_load`.
//!
//! `stages = [{ duration_s = 10, rate = 1000 }, ...]` (open model: arrival
//! rate over time) or `stages = [{ duration_s = 10, concurrency = 50 }, ...]`
//! (closed model: workers over time). Each stage moves linearly from the
//! previous stage's target (the first from the test's own `rate` or
//! `concurrency`, 0 when unset) to its own over its duration. [`Ramp`] is
//! that piecewise-linear level with the arithmetic the load needs: the
//! level at a time, how many arrivals it has produced by a time (its
//! integral) and when the n-th arrival is due (the inverse).
//!
//! `think_time_ms = 100` or `think_time_ms = [50, 150]`: a closed-model
//! worker's pause between its requests, fixed or uniform in a range drawn
//! from a seeded generator (the same plan draws the same pauses).

use super::Positive;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// One stage: a duration and the target reached at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Length of the stage in seconds.
    pub duration_s: Positive,
    /// Closed model: workers at the end of the stage (0 ramps down to none).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Open model: requests per second at the end of the stage.
    #[serde(default)]
    pub rate: Option<u32>,
}

/// A piecewise-linear level over time, starting at time 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    /// Segment starts and ends: `(time_s, level)`; the first is at 0.
    points: Vec<(f64, f64)>,
}

impl Ramp {
    /// A ramp from `start` through each `(duration_s, target)` in turn.
    pub fn new(start: f64, stages: impl IntoIterator<Item = (u32, f64)>) -> Ramp {
        let mut points = vec![(0.0, start)];
        let mut t = 0.0;
        for (duration, target) in stages {
            t += f64::from(duration);
            points.push((t, target));
        }
        Ramp { points }
    }

    /// The ramp of a spec's stages for the rate (`rate = true`) or the
    /// workers, from `start`.
    pub fn of_stages(start: u32, stages: &[Stage], rate: bool) -> Ramp {
        Ramp::new(
            f64::from(start),
            stages.iter().map(|s| {
                let target = if rate { s.rate } else { s.concurrency };
                (s.duration_s.get(), f64::from(target.unwrap_or(0)))
            }),
        )
    }

    /// Length in seconds.
    pub fn total_s(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.0)
    }

    /// The highest level.
    pub fn peak(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    fn segments(&self) -> impl Iterator<Item = ((f64, f64), (f64, f64))> + '_ {
        self.points.windows(2).map(|w| (w[0], w[1]))
    }

    /// The level at `t` seconds (the last level after the end).
    pub fn level(&self, t: f64) -> f64 {
        for ((t0, l0), (t1, l1)) in self.segments() {
            if t < t1 {
                let d = t1 - t0;
                return l0 + (l1 - l0) * ((t - t0).max(0.0) / d);
            }
        }
        self.points.last().map_or(0.0, |p| p.1)
    }

    /// The level's integral from 0 to `t` (arrivals due by `t` in the open
    /// model), capped at the ramp's end.
    pub fn integral(&self, t: f64) -> f64 {
        let mut sum = 0.0;
        for ((t0, l0), (t1, l1)) in self.segments() {
            if t <= t0 {
                break;
            }
            let d = t1 - t0;
            let tau = (t.min(t1)) - t0;
            sum += l0 * tau + (l1 - l0) * tau * tau / (2.0 * d);
        }
        sum
    }

    /// When the integral reaches `n` (the `n`-th arrival, from 0), or
    /// `None` when it never does within the ramp.
    pub fn time_of(&self, n: f64) -> Option<f64> {
        if n <= 0.0 {
            return Some(0.0);
        }
        let mut before = 0.0;
        for ((t0, l0), (t1, l1)) in self.segments() {
            let d = t1 - t0;
            let area = (l0 + l1) / 2.0 * d;
            if before + area >= n && area > 0.0 {
                // Solve a·τ² + l0·τ = m in the stable form.
                let m = n - before;
                let a = (l1 - l0) / (2.0 * d);
                let disc = (l0 * l0 + 4.0 * a * m).max(0.0);
                let denominator = l0 + disc.sqrt();
                let tau = if denominator > 0.0 {
                    2.0 * m / denominator
                } else {
                    0.0
                };
                return Some(t0 + tau.clamp(0.0, d));
            }
            before += area;
        }
        None
    }

    /// Arrivals the whole ramp produces (the open model's request count):
    /// every `k` with `time_of(k)` inside the ramp.
    pub fn arrivals(&self) -> u64 {
        let total = self.integral(self.total_s());
        // Arrival k is due when the integral reaches k, so 0..ceil(total)
        // fall inside; the epsilon keeps an exact whole total exact.
        (total - 1e-9).ceil().max(0.0) as u64
    }

    /// The first time at or after `from` when the level is at least
    /// `level`, or `None` when it never is again.
    pub fn first_at_least(&self, level: f64, from: f64) -> Option<f64> {
        for ((t0, l0), (t1, l1)) in self.segments() {
            if t1 <= from {
                continue;
            }
            let at = from.max(t0);
            if self.level(at) >= level {
                return Some(at);
            }
            if l1 >= level && l1 > l0 {
                let crossing = t0 + (level - l0) / (l1 - l0) * (t1 - t0);
                return Some(crossing.max(at));
            }
        }
        None
    }
}

/// A worker's pause between its requests, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkTime {
    /// Always this long.
    Fixed(u32),
    /// Uniform from the first to the second, inclusive.
    Range(u32, u32),
}

impl ThinkTime {
    /// The next pause, drawing from `rng` when it is a range.
    pub fn pick(&self, rng: &mut crate::rng::Rng) -> Duration {
        let ms = match *self {
            ThinkTime::Fixed(ms) => ms,
            ThinkTime::Range(lo, hi) if hi > lo => {
                let span = u64::from(hi - lo) + 1;
                lo + u32::try_from(rng.next_u64() % span).unwrap_or(0)
            }
            ThinkTime::Range(lo, _) => lo,
        };
        Duration::from_millis(u64::from(ms))
    }
}

impl Serialize for ThinkTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            ThinkTime::Fixed(ms) => serializer.serialize_u32(ms),
            ThinkTime::Range(lo, hi) => [lo, hi].serialize(serializer),
        }
    }
}

struct ThinkVisitor;

impl<'de> Visitor<'de> for ThinkVisitor {
    type Value = ThinkTime;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("milliseconds (100) or a range [min, max] ([50, 150])")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ThinkTime, E> {
        u32::try_from(v).map(ThinkTime::Fixed).map_err(|_| {
            E::custom(format!(
                "expected milliseconds (100) or a range [min, max], got {v}"
            ))
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ThinkTime, E> {
        u32::try_from(v).map(ThinkTime::Fixed).map_err(|_| {
            E::custom(format!(
                "expected milliseconds (100) or a range [min, max], got {v}"
            ))
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ThinkTime, A::Error> {
        let shape = || {
            de::Error::custom(
                "expected a range of two millisecond values [min, max], like [50, 150]",
            )
        };
        let lo: u32 = seq.next_element()?.ok_or_else(shape)?;
        let hi: u32 = seq.next_element()?.ok_or_else(shape)?;
        if seq.next_element::<u32>()?.is_some() {
            return Err(shape());
        }
        if lo > hi {
            return Err(de::Error::custom(format!(
                "expected [min, max] with min <= max, got [{lo}, {hi}]"
            )));
        }
        Ok(ThinkTime::Range(lo, hi))
    }
}

impl<'de> Deserialize<'de> for ThinkTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ThinkTime, D::Error> {
        deserializer.deserialize_any(ThinkVisitor)
    }
}

impl JsonSchema for ThinkTime {
    fn schema_name() -> Cow<'static, str> {
        "ThinkTime".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Milliseconds, or a range [min, max] drawn uniformly.",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                {
                    "type": "array",
                    "items": { "type": "integer", "minimum": 0 },
                    "minItems": 2,
                    "maxItems": 2
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_rate_is_due_at_k_over_rate() {
        let ramp = Ramp::new(1000.0, [(10, 1000.0)]);
        assert_eq!(ramp.arrivals(), 10_000);
        assert!((ramp.time_of(250.0).unwrap() - 0.25).abs() < 1e-9);
        assert_eq!(ramp.time_of(10_001.0), None);
    }

    #[test]
    fn a_linear_ramp_integrates_and_inverts() {
        // 100 -> 1000 over 10 s: 5,500 requests, 145 in the first second.
        let ramp = Ramp::new(100.0, [(10, 1000.0)]);
        assert_eq!(ramp.arrivals(), 5_500);
        assert!((ramp.integral(1.0) - 145.0).abs() < 1e-9);
        assert!((ramp.level(5.0) - 550.0).abs() < 1e-9);
        for n in [1.0, 145.0, 2_000.0, 5_499.0] {
            let t = ramp.time_of(n).unwrap();
            assert!((ramp.integral(t) - n).abs() < 1e-6, "{n} at {t}");
        }
    }

    #[test]
    fn ramps_down_and_from_zero() {
        let ramp = Ramp::new(0.0, [(2, 10.0), (2, 10.0), (2, 0.0)]);
        assert_eq!(ramp.peak(), 10.0);
        assert_eq!(ramp.total_s(), 6.0);
        assert!((ramp.integral(6.0) - 40.0).abs() < 1e-9);
        // Worker 3 (the 4th) starts when the level reaches 4, at 0.8 s.
        assert!((ramp.first_at_least(4.0, 0.0).unwrap() - 0.8).abs() < 1e-9);
        assert_eq!(ramp.first_at_least(4.0, 3.0), Some(3.0));
        assert_eq!(ramp.first_at_least(11.0, 0.0), None);
        assert_eq!(ramp.first_at_least(4.0, 5.5), None);
        assert!((ramp.time_of(40.0).unwrap() - 6.0).abs() < 1e-6);
    }

    #[test]
    fn think_time_is_fixed_or_drawn_in_range_and_repeatable() {
        let mut rng = crate::rng::Rng::new(7);
        assert_eq!(
            ThinkTime::Fixed(100).pick(&mut rng),
            Duration::from_millis(100)
        );
        let range = ThinkTime::Range(50, 150);
        let draws: Vec<Duration> = (0..1000).map(|_| range.pick(&mut rng)).collect();
        assert!(draws
            .iter()
            .all(|d| (50..=150).contains(&(d.as_millis() as u64))));
        // Both ends are reached and the draws spread out.
        assert!(draws.contains(&Duration::from_millis(50)));
        assert!(draws.contains(&Duration::from_millis(150)));
        let mean = draws.iter().map(|d| d.as_millis() as f64).sum::<f64>() / 1000.0;
        assert!((90.0..110.0).contains(&mean), "{mean}");
        // The same seed draws the same pauses.
        let again: Vec<Duration> = {
            let mut rng = crate::rng::Rng::new(7);
            ThinkTime::Fixed(100).pick(&mut rng);
            (0..1000).map(|_| range.pick(&mut rng)).collect()
        };
        assert_eq!(draws, again);
        assert_eq!(
            ThinkTime::Range(80, 80).pick(&mut rng),
            Duration::from_millis(80)
        );
    }

    #[test]
    fn think_time_reads_a_number_or_a_range() {
        #[derive(Deserialize)]
        struct T {
            t: ThinkTime,
        }
        let read = |s: &str| toml::from_str::<T>(s).map(|t| t.t);
        assert_eq!(read("t = 100").unwrap(), ThinkTime::Fixed(100));
        assert_eq!(read("t = [50, 150]").unwrap(), ThinkTime::Range(50, 150));
        assert!(read("t = [150, 50]")
            .unwrap_err()
            .to_string()
            .contains("min <= max"));
        assert!(read("t = [1, 2, 3]").is_err());
        assert!(read("t = -5").is_err());
        assert!(read("t = \"x\"").is_err());
    }
}
