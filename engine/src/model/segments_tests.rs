use super::*;

fn spec(toml_text: &str) -> HttpLoadSpec {
    toml::from_str(&format!("path = \"/\"\n{toml_text}")).unwrap()
}

fn sequences() -> Vec<SegmentSequence> {
    let mut all: Vec<SegmentSequence> = (1..=12)
        .map(|n| SegmentSequence::even(n).unwrap())
        .collect();
    for text in [
        "0,1/4,1/2,1",
        "0,0.1,0.35,0.6,1",
        "0,1/7,3/7,1/2,4/5,1",
        "0,33%,66%,1",
    ] {
        all.push(text.parse().unwrap());
    }
    all
}

/// Whether `share` is within `by` of `v·(to − from)`, compared exactly.
fn within(s: &Segment, v: u64, share: u64, by: u128) -> bool {
    let (a, b) = (s.from(), s.to());
    let den = u128::from(a.denominator()) * u128::from(b.denominator());
    let exact = u128::from(v)
        * (u128::from(b.numerator()) * u128::from(a.denominator())
            - u128::from(a.numerator()) * u128::from(b.denominator()));
    (u128::from(share) * den).abs_diff(exact) <= by * den
}

#[test]
fn shares_add_up_to_the_whole_and_stay_close_to_their_part() {
    let mut values: Vec<u64> = (0..=2_000).collect();
    values.extend([3_000, 9_999, 100_000, 1_000_003, u64::from(u32::MAX)]);
    for sequence in sequences() {
        let segments = sequence.segments();
        let stripes = sequence.stripes().unwrap();
        for &v in &values {
            let rounded: Vec<u64> = segments.iter().map(|s| s.scale(v)).collect();
            let striped: Vec<u64> = (0..segments.len()).map(|i| stripes.scale(i, v)).collect();
            // Rounded shares are within 1 of their part; striped ones
            // too when the segments are equal, and within 2 otherwise
            // (k6's biggest-first order can hold a small segment back
            // a little more than one).
            let even = segments.iter().all(|s| s.length() == segments[0].length());
            for (shares, by) in [(&rounded, 1), (&striped, if even { 1 } else { 2 })] {
                assert_eq!(shares.iter().sum::<u64>(), v, "{v} over {sequence}");
                for (s, share) in segments.iter().zip(shares.iter()) {
                    assert!(within(s, v, *share, by), "{v} on {s}: {share}");
                }
            }
            // A striped share never shrinks as the value grows.
            if v > 0 {
                for (i, share) in striped.iter().enumerate() {
                    assert!(stripes.scale(i, v - 1) <= *share, "{v} on {i}");
                }
            }
        }
    }
}

#[test]
fn stripes_deal_positions_like_k6() {
    // k6's own example (lib/execution_segment.go): 0:1/2, 1/2:3/4, 3/4:1.
    let sequence: SegmentSequence = "0,1/2,3/4,1".parse().unwrap();
    let stripes = sequence.stripes().unwrap();
    let table: Vec<Vec<u64>> = (0..3)
        .map(|i| (1..=12).map(|v| stripes.scale(i, v)).collect())
        .collect();
    assert_eq!(table[0], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
    assert_eq!(table[1], [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]);
    assert_eq!(table[2], [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
    let owned = |i| {
        (0..12)
            .filter(|&n| stripes.owns(i, n))
            .collect::<Vec<u64>>()
    };
    assert_eq!(owned(0), [0, 2, 4, 6, 8, 10]);
    assert_eq!(owned(1), [1, 5, 9]);
    assert_eq!(owned(2), [3, 7, 11]);
    assert_eq!(
        (stripes.len(), stripes.scale(3, 12), stripes.owns(3, 0)),
        (3, 0, false)
    );
    // Thirds: one worker goes to the first agent, two to the first two.
    let thirds = SegmentSequence::even(3).unwrap().stripes().unwrap();
    let shares = |v| (0..3).map(|i| thirds.scale(i, v)).collect::<Vec<u64>>();
    assert_eq!(
        (shares(1), shares(2), shares(3_000)),
        (vec![1, 0, 0], vec![1, 1, 0], vec![1_000; 3])
    );
    let spec = spec("rate = 2\nduration_s = 5");
    let rates: Vec<Option<u32>> = (0..3)
        .map(|i| {
            thirds
                .share(i, &spec)
                .and_then(|p| p.rate)
                .map(Positive::get)
        })
        .collect();
    assert_eq!(rates, [Some(1), Some(1), None]);
    let e = SegmentSequence::even(5_000).unwrap().stripes().unwrap_err();
    assert!(matches!(e, SegmentError::TooFine(_)), "{e}");
}

#[test]
fn rounding_is_half_to_even_like_k6() {
    // k6: 1/2 of 1 rounds to 0, 1/2 of 3 to 2.
    let half = Fraction::new(1, 2).unwrap();
    assert_eq!((half.scale_round(1), half.scale_round(3)), (0, 2));
    let thirds = SegmentSequence::even(3).unwrap().segments();
    let shares = |v: u64| thirds.iter().map(|s| s.scale(v)).collect::<Vec<_>>();
    assert_eq!(shares(1), [0, 1, 0]);
    assert_eq!(shares(2), [1, 0, 1]);
    assert_eq!(shares(3_000), [1_000, 1_000, 1_000]);
    assert_eq!(shares(100), [33, 34, 33]);
}

#[test]
fn segments_and_sequences_read_and_write_like_k6() {
    let seq: SegmentSequence = "0, 1/3, 2/3, 1".parse().unwrap();
    assert_eq!(seq.to_string(), "0,1/3,2/3,1");
    assert_eq!(seq, SegmentSequence::even(3).unwrap());
    assert_eq!(seq.len(), 3);
    let seg: Segment = "0.25:50%".parse().unwrap();
    assert_eq!(seg.to_string(), "1/4:1/2");
    assert_eq!(serde_json::to_string(&seg).unwrap(), "\"1/4:1/2\"");
    let back: Segment = serde_json::from_str("\"1/4:1/2\"").unwrap();
    assert_eq!(back, seg);
    assert_eq!(Segment::WHOLE.scale(7), 7);
    for (text, wanted) in [
        ("0,1/2", "rises strictly from 0 to 1"),
        ("0,2/3,1/3,1", "rises strictly"),
        ("0,x,1", "`x` is not a fraction"),
        ("0,3/2,1", "`3/2` is outside 0..1"),
        ("0,1/0,1", "`1/0` is not a fraction"),
    ] {
        let e = text.parse::<SegmentSequence>().unwrap_err().to_string();
        assert!(e.contains(wanted), "{text}: {e}");
    }
    assert!("1/2:1/3"
        .parse::<Segment>()
        .unwrap_err()
        .to_string()
        .contains("from < to"));
    assert!("1/2".parse::<Segment>().is_err());
    assert!(serde_json::from_str::<Segment>("\"1:0\"").is_err());
    assert_eq!(SegmentSequence::even(0), Err(SegmentError::Agents(0)));
}

fn split(spec: &HttpLoadSpec, agents: usize) -> Vec<Option<HttpLoadSpec>> {
    SegmentSequence::even(agents)
        .unwrap()
        .segments()
        .iter()
        .map(|s| s.share(spec))
        .collect()
}

#[test]
fn the_open_model_splits_its_rate_and_slots() {
    let whole = spec("rate = 3000\nduration_s = 10\nconcurrency = 100");
    let parts: Vec<HttpLoadSpec> = split(&whole, 3).into_iter().map(Option::unwrap).collect();
    let rates: Vec<u32> = parts.iter().map(|p| p.rate.unwrap().get()).collect();
    assert_eq!(rates, [1_000, 1_000, 1_000]);
    let slots: Vec<u32> = parts.iter().map(|p| p.concurrency.unwrap().get()).collect();
    assert_eq!(slots, [33, 34, 33]);
    assert!(parts
        .iter()
        .all(|p| p.duration_s == whole.duration_s && p.path == whole.path));
    // Without concurrency, the default slots are split, at least one each.
    let small = spec("rate = 2\nduration_s = 5");
    let parts = split(&small, 3);
    assert!(parts[1].is_none(), "1/3:2/3 of 2 is 0: nothing to send");
    let slots: Vec<u32> = parts
        .iter()
        .flatten()
        .map(|p| p.concurrency.unwrap().get())
        .collect();
    assert_eq!(slots, [21, 21]);
}

#[test]
fn the_closed_model_splits_its_workers_and_keeps_rounds_per_worker() {
    let whole = spec("concurrency = 10\nrounds = 7\nthink_time_ms = 5");
    let parts: Vec<HttpLoadSpec> = split(&whole, 4).into_iter().flatten().collect();
    let workers: Vec<u32> = parts.iter().map(|p| p.concurrency.unwrap().get()).collect();
    assert_eq!(workers.iter().sum::<u32>(), 10);
    assert_eq!(workers, [2, 3, 3, 2]);
    assert!(parts
        .iter()
        .all(|p| p.rounds == whole.rounds && p.think_time_ms == whole.think_time_ms));
    // One worker over three agents: one agent runs it, two send nothing.
    let one = spec("concurrency = 1\nduration_s = 3");
    assert_eq!(split(&one, 3).iter().filter(|p| p.is_some()).count(), 1);
}

#[test]
fn stages_split_target_by_target_and_add_up_at_every_instant() {
    let whole = spec(
        "rate = 10\nstages = [{ duration_s = 5, rate = 1000 }, { duration_s = 5, rate = 7 }, { duration_s = 2, rate = 0 }]",
    );
    for agents in 1..=7 {
        let parts: Vec<HttpLoadSpec> = split(&whole, agents).into_iter().flatten().collect();
        for (i, stage) in whole.stages.iter().enumerate() {
            let sum: u32 = parts.iter().map(|p| p.stages[i].rate.unwrap()).sum();
            assert_eq!(sum, stage.rate.unwrap(), "stage {i} over {agents}");
            assert!(parts
                .iter()
                .all(|p| p.stages[i].duration_s == stage.duration_s));
        }
        let start: u32 = parts.iter().map(|p| p.rate.map_or(0, Positive::get)).sum();
        assert_eq!(start, 10);
        let ramp = |s: &HttpLoadSpec| {
            crate::plan::Ramp::of_stages(s.rate.map_or(0, Positive::get), &s.stages, true)
        };
        for t in [0.0, 1.3, 5.0, 7.7, 11.0] {
            let sum: f64 = parts.iter().map(|p| ramp(p).level(t)).sum();
            assert!((sum - ramp(&whole).level(t)).abs() < 1e-6, "{t}: {sum}");
        }
    }
    let workers =
        spec("stages = [{ duration_s = 5, concurrency = 5 }, { duration_s = 5, concurrency = 0 }]");
    let parts: Vec<HttpLoadSpec> = split(&workers, 2).into_iter().flatten().collect();
    let peaks: Vec<Option<u32>> = parts.iter().map(|p| p.stages[0].concurrency).collect();
    assert_eq!(peaks, [Some(2), Some(3)]);
    assert!(parts
        .iter()
        .all(|p| p.concurrency.is_none() && p.stages[1].concurrency == Some(0)));
}
