//! Durations as people write them (`90s`, `10m`, `1h30m`, `500ms`, or bare
//! seconds), read from flags and process variables, and shown back the same
//! way.

use std::time::Duration;

/// A duration a process variable sets (`XTASK_AWS_TIMEOUT=30s`), if it is
/// set to one.
pub(crate) fn from_env(variable: &str) -> Option<Duration> {
    std::env::var(variable).ok().and_then(|text| parse(&text).ok())
}

/// "10m", "90s", "1h", "500ms", or a bare number of seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let not_a_duration = || format!("`{text}` is not a duration like 90s, 10m, 1h30m or 500ms");
    // A bare number is seconds.
    let seconds = match text.parse::<f64>() {
        Ok(seconds) => seconds,
        Err(_) => {
            // Parts from the largest unit down, each once: `1h30m`, `2m10s`, `1.5h`.
            let (mut total, mut rest, mut smallest_so_far) = (0.0, text, None);
            while !rest.is_empty() {
                let digits =
                    rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(not_a_duration)?;
                let (number, after) = rest.split_at(digits);
                let number: f64 = number.parse().map_err(|_| not_a_duration())?;
                let letters = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
                let (unit, next) = after.split_at(letters);
                let (factor, rank) = match unit {
                    "h" => (3600.0, 0),
                    "m" => (60.0, 1),
                    "s" => (1.0, 2),
                    "ms" => (0.001, 3),
                    _ => return Err(format!("`{text}`: unknown unit `{unit}`; use h, m, s or ms")),
                };
                if smallest_so_far.is_some_and(|smallest| rank <= smallest) {
                    return Err(format!("`{text}`: write the units from hours down, each once, as in 1h30m"));
                }
                smallest_so_far = Some(rank);
                total += number * factor;
                rest = next;
            }
            if smallest_so_far.is_none() {
                return Err(not_a_duration());
            }
            total
        }
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(not_a_duration());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is too long a duration"))
}

pub(crate) fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 60.0 && seconds % 60.0 == 0.0 {
        format!("{}m", seconds / 60.0)
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2m10s"), Ok(Duration::from_secs(130)));
        assert_eq!(parse("1h0m5s250ms"), Ok(Duration::from_millis(3_605_250)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse("30m1h"),
            Err("`30m1h`: write the units from hours down, each once, as in 1h30m".to_string())
        );
        assert_eq!(
            parse("5m5m"),
            Err("`5m5m`: write the units from hours down, each once, as in 1h30m".to_string())
        );
        assert_eq!(
            parse("10 minutes"),
            Err("`10 minutes`: unknown unit ` minutes`; use h, m, s or ms".to_string())
        );
        assert_eq!(parse("soon"), Err("`soon` is not a duration like 90s, 10m, 1h30m or 500ms".to_string()));
        assert!(parse("").is_err());
        assert!(parse("-5s").is_err());
        assert_eq!(parse("-5"), Err("`-5` is not a duration like 90s, 10m, 1h30m or 500ms".to_string()));
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        // Found by reading for the property tests: a huge number was a panic, not an error.
        assert_eq!(
            parse("99999999999999999999999h"),
            Err("`99999999999999999999999h` is too long a duration".to_string())
        );
    }
}
