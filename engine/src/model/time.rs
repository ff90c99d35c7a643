//! Times as Shakedown stores and shows them: Unix milliseconds from one
//! clock, written as UTC dates and as durations people read.

/// Milliseconds since the Unix epoch, now: the one clock every stored time
/// comes from. (Server-side only: the browser has no system clock here.)
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM:SS UTC`, the way
/// reports and pages show times.
pub fn format_utc(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// A duration in milliseconds the way people read it: `850 ms`, `4.9 s`,
/// `2 min 45 s`.
pub fn format_duration(ms: i64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_the_report() {
        assert_eq!(format_utc(1_768_061_261_000), "2026-01-10 16:07:41 UTC");
        assert_eq!(format_duration(850), "850 ms");
        assert_eq!(format_duration(4_911), "4.9 s");
        assert_eq!(format_duration(165_400), "2 min 45 s");
    }
}
