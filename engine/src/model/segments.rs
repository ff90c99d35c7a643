//! Execution segments: how one `http_load` is split between load agents so
//! that their shares add up exactly to the whole, as k6 does it.
//!
//! A [`SegmentSequence`] cuts `[0, 1)` at rational points
//! (`0,1/3,2/3,1`); each agent runs one [`Segment`] `[a, b)` of it. A whole
//! number `v` (workers, a rate, a stage's target) scales to
//! `round(v·b) − round(v·a)`, rounding half to even on exact rationals
//! (k6's `ExecutionSegment.Scale`). Along one sequence the shares
//! telescope, so they add up to `v` exactly, and each is within 1 of
//! `v·(b − a)`.
//!
//! [`Segment::share`] applies that to a spec: the closed model's workers
//! (rounds stay per worker, so the requests split the same way), the open
//! model's rate, and every stage's target (a ramp is linear between its
//! targets, so the agents' levels add up to the whole level at every
//! instant). Durations, think time and everything else are unchanged. The
//! open model's request slots are a cap, not load: each agent with a rate
//! gets its share of them, at least one. With stages of rates each agent
//! sends the whole arrivals its own ramp holds, so the agents' request
//! counts may pass the whole's by less than one per agent.
//!
//! [`Stripes`] is k6's other rounding, the one it uses with a full
//! sequence: positions dealt out in a cycle, the biggest segment first,
//! so that small values go to the biggest segments first and a share
//! never shrinks as the value grows (equal segments: within 1 of their
//! part; unequal ones can lag a little more); [`Stripes::owns`] says which of the
//! `n`-th things (workers, arrivals) are a segment's.

use crate::plan::{HttpLoadSpec, Positive, DEFAULT_OPEN_CONCURRENCY};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `TryFrom<String>` and `From<…> for String` through `FromStr` and
/// `Display`: what serde's `try_from` and `into` read and write.
macro_rules! written_as_text {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = SegmentError;

            fn try_from(text: String) -> Result<$t, SegmentError> {
                text.parse()
            }
        }

        impl From<$t> for String {
            fn from(value: $t) -> String {
                value.to_string()
            }
        }
    };
}

/// Most points a sequence may have (agents + 1).
const MAX_POINTS: usize = 10_001;
/// Most steps the striping of a sequence may take (common denominator
/// times segments).
const MAX_STRIPE_WORK: u128 = 10_000_000;
/// Largest denominator accepted in a fraction (decimals up to 9 places).
const MAX_DENOMINATOR: u64 = 1_000_000_000_000;

/// Why a segment or a sequence could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// A point that is not `a/b`, a decimal or a percentage.
    #[error("`{0}` is not a fraction: expected a/b (1/3), a decimal (0.25) or a percentage (25%)")]
    NotAFraction(String),
    /// A point below 0 or above 1.
    #[error("`{0}` is outside 0..1")]
    OutOfRange(String),
    /// A sequence whose points do not rise strictly from 0 to 1.
    #[error("a segment sequence rises strictly from 0 to 1 (like 0,1/3,2/3,1); `{0}` does not")]
    NotASequence(String),
    /// A segment `a:b` with `a >= b`, or not written `a:b`.
    #[error("a segment is written from:to with from < to (like 1/3:2/3); `{0}` is not")]
    NotASegment(String),
    /// A sequence whose cycle of stripes is too long to compute.
    #[error("the sequence `{0}` is too fine to stripe: its lengths' common denominator times its segments passes 10000000")]
    TooFine(String),
    /// No agents, or more than a sequence can hold.
    #[error("cannot split a test between {0} agents (1 to 10000)")]
    Agents(usize),
}

/// An exact fraction from 0 to 1, in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fraction {
    num: u64,
    den: u64,
}

impl Fraction {
    /// 0.
    pub const ZERO: Fraction = Fraction { num: 0, den: 1 };
    /// 1.
    pub const ONE: Fraction = Fraction { num: 1, den: 1 };

    /// `num/den` in lowest terms, when `den > 0` and `num <= den`.
    pub fn new(num: u64, den: u64) -> Option<Fraction> {
        if den == 0 || num > den {
            return None;
        }
        let g = gcd(num, den);
        Some(Fraction {
            num: num / g,
            den: den / g,
        })
    }

    /// Numerator (lowest terms).
    pub fn numerator(self) -> u64 {
        self.num
    }

    /// Denominator (lowest terms).
    pub fn denominator(self) -> u64 {
        self.den
    }

    /// `round(v · self)`, half to even, computed exactly.
    pub fn scale_round(self, v: u64) -> u64 {
        let product = u128::from(v) * u128::from(self.num);
        let den = u128::from(self.den);
        let (q, r) = (product / den, product % den);
        let up = match (2 * r).cmp(&den) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => q % 2 == 1,
            std::cmp::Ordering::Less => false,
        };
        // q <= v because self <= 1.
        u64::try_from(q + u128::from(up)).unwrap_or(u64::MAX)
    }

    fn less_than(self, other: Fraction) -> bool {
        u128::from(self.num) * u128::from(other.den) < u128::from(other.num) * u128::from(self.den)
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl FromStr for Fraction {
    type Err = SegmentError;

    /// `1/3`, `0`, `1`, `0.25` or `25%`.
    fn from_str(text: &str) -> Result<Fraction, SegmentError> {
        let t = text.trim();
        let bad = || SegmentError::NotAFraction(t.to_owned());
        let (num, den) = if let Some((n, d)) = t.split_once('/') {
            (
                parse_whole(n).ok_or_else(bad)?,
                parse_whole(d).ok_or_else(bad)?,
            )
        } else if let Some(p) = t.strip_suffix('%') {
            let (n, d) = parse_decimal(p).ok_or_else(bad)?;
            (n, d.checked_mul(100).ok_or_else(bad)?)
        } else {
            parse_decimal(t).ok_or_else(bad)?
        };
        if den == 0 || den > MAX_DENOMINATOR {
            return Err(bad());
        }
        Fraction::new(num, den).ok_or_else(|| SegmentError::OutOfRange(t.to_owned()))
    }
}

fn parse_whole(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// A decimal `12.345` as `(12345, 1000)`.
fn parse_decimal(text: &str) -> Option<(u64, u64)> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let whole = if whole.is_empty() {
        0
    } else {
        parse_whole(whole)?
    };
    let den = 10u64.pow(u32::try_from(frac.len()).ok()?);
    let frac_value = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    Some((whole.checked_mul(den)?.checked_add(frac_value)?, den))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

fn gcd128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// One agent's part `[from, to)` of a test, written `from:to` (`1/3:2/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Segment {
    from: Fraction,
    to: Fraction,
}

impl Segment {
    /// The whole test, `0:1`.
    pub const WHOLE: Segment = Segment {
        from: Fraction::ZERO,
        to: Fraction::ONE,
    };

    /// `[from, to)`, when `from < to`.
    pub fn new(from: Fraction, to: Fraction) -> Option<Segment> {
        from.less_than(to).then_some(Segment { from, to })
    }

    /// Where the segment starts.
    pub fn from(self) -> Fraction {
        self.from
    }

    /// Where the segment ends.
    pub fn to(self) -> Fraction {
        self.to
    }

    /// This segment's share of `v`: `round(v·to) − round(v·from)`.
    pub fn scale(self, v: u64) -> u64 {
        self.to.scale_round(v) - self.from.scale_round(v)
    }

    fn scale_u32(self, v: u32) -> u32 {
        // A share is at most the whole.
        u32::try_from(self.scale(u64::from(v))).unwrap_or(v)
    }

    /// This segment's share of a load, or `None` when the share sends
    /// nothing (a rate or a worker count too small to reach it).
    pub fn share(self, spec: &HttpLoadSpec) -> Option<HttpLoadSpec> {
        share_by(spec, |v| self.scale_u32(v))
    }

    /// `to − from`, in lowest terms.
    fn length(self) -> (u128, u128) {
        let (a, b) = (self.from, self.to);
        let num = u128::from(b.num) * u128::from(a.den) - u128::from(a.num) * u128::from(b.den);
        let den = u128::from(a.den) * u128::from(b.den);
        let g = gcd128(num, den);
        (num / g, den / g)
    }
}

/// A load with every whole number that measures it (workers, rate, stage
/// targets, open-model slots) replaced by `scale` of it; `None` when that
/// sends nothing.
fn share_by(spec: &HttpLoadSpec, scale: impl Fn(u32) -> u32) -> Option<HttpLoadSpec> {
    let mut part = spec.clone();
    let positive = |v: Option<Positive>| v.and_then(|v| Positive::new(scale(v.get())));
    for stage in &mut part.stages {
        stage.rate = stage.rate.map(&scale);
        stage.concurrency = stage.concurrency.map(&scale);
    }
    if spec.is_open() {
        part.rate = positive(spec.rate);
        let sends = part.rate.is_some() || part.stages.iter().any(|s| s.rate.unwrap_or(0) > 0);
        if !sends {
            return None;
        }
        let slots = scale(
            spec.concurrency
                .map_or(DEFAULT_OPEN_CONCURRENCY, Positive::get),
        );
        part.concurrency = Positive::new(slots.max(1));
    } else {
        part.concurrency = positive(spec.concurrency);
        let sends = part.concurrency.is_some()
            || part.stages.iter().any(|s| s.concurrency.unwrap_or(0) > 0);
        if !sends {
            return None;
        }
    }
    Some(part)
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.from, self.to)
    }
}

impl FromStr for Segment {
    type Err = SegmentError;

    fn from_str(text: &str) -> Result<Segment, SegmentError> {
        let t = text.trim();
        let (a, b) = t
            .split_once(':')
            .ok_or_else(|| SegmentError::NotASegment(t.to_owned()))?;
        Segment::new(a.parse()?, b.parse()?).ok_or_else(|| SegmentError::NotASegment(t.to_owned()))
    }
}

written_as_text!(Segment);

/// Points from 0 to 1 that cut a test into consecutive segments, written
/// `0,1/3,2/3,1` (k6's `--execution-segment-sequence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SegmentSequence {
    points: Vec<Fraction>,
}

impl SegmentSequence {
    /// `agents` equal segments: `0, 1/n, 2/n, …, 1`.
    pub fn even(agents: usize) -> Result<SegmentSequence, SegmentError> {
        if agents == 0 || agents >= MAX_POINTS {
            return Err(SegmentError::Agents(agents));
        }
        let n = agents as u64;
        let points = (0..=n)
            .map(|i| Fraction::new(i, n).ok_or(SegmentError::Agents(agents)))
            .collect::<Result<_, _>>()?;
        Ok(SegmentSequence { points })
    }

    /// The segments in order, one per agent.
    pub fn segments(&self) -> Vec<Segment> {
        self.points
            .windows(2)
            .map(|w| Segment {
                from: w[0],
                to: w[1],
            })
            .collect()
    }

    /// How many segments (agents) the sequence has.
    pub fn len(&self) -> usize {
        self.points.len() - 1
    }

    /// Never: a sequence has at least one segment.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The sequence's [`Stripes`].
    pub fn stripes(&self) -> Result<Stripes, SegmentError> {
        let too_fine = || SegmentError::TooFine(self.to_string());
        let lengths: Vec<(u128, u128)> = self.segments().iter().map(|s| s.length()).collect();
        let count = lengths.len() as u128;
        let mut lcd: u128 = 1;
        for &(_, den) in &lengths {
            lcd = lcd / gcd128(lcd, den) * den;
            if lcd.saturating_mul(count) > MAX_STRIPE_WORK {
                return Err(too_fine());
            }
        }
        // Each segment's length as a count of the `lcd` positions.
        let counts: Vec<u128> = lengths.iter().map(|&(n, d)| n * (lcd / d)).collect();
        let mut order: Vec<usize> = (0..lengths.len()).collect();
        order.sort_by(|a, b| counts[*b].cmp(&counts[*a]));
        let mut chosen = vec![0u128; lengths.len()];
        let mut positions = vec![Vec::new(); lengths.len()];
        let lcd = u64::try_from(lcd).map_err(|_| too_fine())?;
        for i in 0..lcd {
            // The biggest segment not ahead of its share takes position i:
            // chosen / count <= i / lcd.
            let taker = order
                .iter()
                .copied()
                .find(|&k| chosen[k] * u128::from(lcd) <= u128::from(i) * counts[k]);
            if let Some(k) = taker {
                chosen[k] += 1;
                positions[k].push(i);
            }
        }
        Ok(Stripes { lcd, positions })
    }
}

/// k6's striping of a sequence (`ExecutionTuple.ScaleInt64`, and the
/// segmented iterator behind it): the positions `0, 1, 2, …` of anything
/// counted (workers, requests per second, the n-th arrival) are dealt out
/// in a cycle of the common denominator of the segments' lengths, the
/// biggest segment first, each taking the next position while it is not
/// ahead of its share. A segment's share of `v` is how many of `0..v` it
/// owns: the shares add up to `v`, a share never shrinks as `v` grows, and
/// each is within 1 of its part when the segments are equal (a small
/// segment among bigger ones can lag by a little more, as in k6). With `0,1/2,3/4,1` the positions go
/// `0 1 0 2 | 0 1 0 2 | …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripes {
    /// Length of the cycle.
    lcd: u64,
    /// For each segment, the positions in `0..lcd` it owns, ascending.
    positions: Vec<Vec<u64>>,
}

impl Stripes {
    /// How many segments.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Never: a sequence has at least one segment.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Whether segment `index` owns position `n` (the `n`-th worker,
    /// arrival, row…, from 0).
    pub fn owns(&self, index: usize, n: u64) -> bool {
        self.positions
            .get(index)
            .is_some_and(|p| p.binary_search(&(n % self.lcd)).is_ok())
    }

    /// Segment `index`'s share of `v`: how many of positions `0..v` it
    /// owns (0 for an index past the end).
    pub fn scale(&self, index: usize, v: u64) -> u64 {
        let Some(own) = self.positions.get(index) else {
            return 0;
        };
        let rest = v % self.lcd;
        (v / self.lcd) * own.len() as u64 + own.partition_point(|&p| p < rest) as u64
    }

    /// Segment `index`'s share of a load, as [`Segment::share`] but with
    /// striped shares.
    pub fn share(&self, index: usize, spec: &HttpLoadSpec) -> Option<HttpLoadSpec> {
        share_by(spec, |v| {
            u32::try_from(self.scale(index, u64::from(v))).unwrap_or(v)
        })
    }
}

impl fmt::Display for SegmentSequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.points.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl FromStr for SegmentSequence {
    type Err = SegmentError;

    fn from_str(text: &str) -> Result<SegmentSequence, SegmentError> {
        let t = text.trim();
        let points = t
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<Fraction>, _>>()?;
        let rises = points.windows(2).all(|w| w[0].less_than(w[1]));
        let whole =
            points.first() == Some(&Fraction::ZERO) && points.last() == Some(&Fraction::ONE);
        if points.len() < 2 || points.len() > MAX_POINTS || !rises || !whole {
            return Err(SegmentError::NotASequence(t.to_owned()));
        }
        Ok(SegmentSequence { points })
    }
}

written_as_text!(SegmentSequence);

#[cfg(test)]
#[path = "segments_tests.rs"]
mod tests;
