//! HDR histogram files: the percentile distribution as text in the format
//! HdrHistogram and wrk2 print (`.hgrm`), decoded from a test's stored
//! histogram (base64 of the V2 deflate serialisation, microseconds).

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// Decodes a stored histogram; `None` when it is not a valid one.
pub fn decode(b64: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .ok()
}

/// `(percentile 0–100, latency ms)` along the curve, for the distribution chart.
pub fn percentile_points(b64: &str) -> Option<Vec<(f64, f64)>> {
    let h = decode(b64)?;
    if h.is_empty() {
        return None;
    }
    Some(
        h.iter_quantiles(2)
            .map(|v| {
                (
                    v.quantile_iterated_to() * 100.0,
                    v.value_iterated_to() as f64 / 1000.0,
                )
            })
            .collect(),
    )
}

/// The `.hgrm` text: value (ms), percentile, total count, 1/(1-percentile).
pub fn hgrm(b64: &str) -> Option<String> {
    let h = decode(b64)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(1) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:>12.3} {:>14.12} {:>10} {}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            total,
            inverse
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n#[Max     = {:>12.3}, Total count    = {:>12}]\n#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len(),
        h.buckets(),
        h.distinct_values()
    );
    Some(out)
}
