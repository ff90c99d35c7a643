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
/// reports and pages show times; years -9999 to 9999 (outside them,
/// `<ms> ms`). Plain arithmetic rather than the `time` crate: the browser
/// bundle formats every time it shows with this and nothing else of
/// `time` (#18).
pub fn format_utc(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if !(-9999..=9999).contains(&year) {
        return format!("{ms} ms");
    }
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let year = if year < 0 {
        format!("{year:05}")
    } else {
        format!("{year:04}")
    };
    format!("{year}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

/// The proleptic Gregorian date of a day counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(i64::MAX), format!("{} ms", i64::MAX));
        assert_eq!(format_duration(850), "850 ms");
        assert_eq!(format_duration(4_911), "4.9 s");
        assert_eq!(format_duration(165_400), "2 min 45 s");
    }

    /// The arithmetic agrees with the `time` crate across its whole range
    /// (years -9999 to 9999), leap days and the edges included.
    #[test]
    fn format_utc_agrees_with_the_time_crate() {
        let format =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
        let with_time = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&format).ok())
                .unwrap_or_else(|| format!("{ms} ms"))
        };
        let min = time::PrimitiveDateTime::MIN.assume_utc().unix_timestamp() * 1000;
        let max = time::PrimitiveDateTime::MAX.assume_utc().unix_timestamp() * 1000 + 999;
        let mut samples = vec![min - 1, min, max, max + 1, i64::MIN, i64::MAX, 0, -1, 1];
        let mut ms = min;
        while ms < max {
            samples.push(ms);
            ms += 86_400_000 * 97 + 3_601_007;
        }
        for ms in samples {
            assert_eq!(format_utc(ms), with_time(ms), "{ms}");
        }
    }
}
