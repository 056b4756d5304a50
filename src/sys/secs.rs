//! Time values given on the command line, as clap value parsers: a number of seconds, at
//! least 1 ms (a smaller one would round to 0, and 0 means "no wait" or "for ever" to the
//! kernel) and at most a day (a longer bound is no bound).

use std::time::Duration;

/// The shortest time accepted.
pub const MIN: Duration = Duration::from_millis(1);
/// The longest time accepted.
pub const MAX: Duration = Duration::from_secs(86_400);

/// "0.5" → 500 ms; "1e-300", "0", "-1", "nan", "1e9" → a usage error saying the range.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    let range = || {
        format!(
            "{s} s is out of range: give {} to {} seconds",
            MIN.as_secs_f64(),
            MAX.as_secs()
        )
    };
    if !(v.is_finite() && v >= MIN.as_secs_f64() && v <= MAX.as_secs_f64()) {
        return Err(range());
    }
    Ok(Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_bounds_or_a_usage_error() {
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_secs("0.001"), Ok(MIN));
        assert_eq!(parse_secs("86400"), Ok(MAX));
        for bad in ["1e-300", "0", "-1", "0.0009", "nan", "inf", "86401", "x", ""] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
