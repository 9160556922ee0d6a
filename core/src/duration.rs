//! Durations as kubectl and Kubernetes write them (Go's `time.ParseDuration`: `8760h`, `1m30s`,
//! `500ms`, `1.5h`), read with kube's parser behind the guards it lacks: it reads "" as zero and
//! panics on a total past what a `Duration` holds.

use std::time::Duration;

/// Why a text is not a duration, as the end of a sentence the caller starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("it is empty")]
    Empty,
    #[error("it is negative")]
    Negative,
    #[error("it is too long")]
    TooLong,
    #[error("a unit is missing: ns, us, ms, s, m or h")]
    NoUnit,
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    #[error("a number is missing or malformed")]
    Malformed,
}

const UNITS: [&str; 8] = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"];

/// A Go duration; surrounding spaces are ignored, negative ones refused.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if seconds_upper_bound(text) >= u64::MAX as f64 {
        return Err(DurationError::TooLong);
    }
    match text.parse::<kube::core::Duration>() {
        Ok(d) if d.is_negative() => Err(DurationError::Negative),
        Ok(d) => Ok(d.into()),
        Err(kube::core::duration::ParseError::NoUnit) => Err(DurationError::NoUnit),
        Err(kube::core::duration::ParseError::InvalidUnit) => {
            let unit = text
                .split(|c: char| c.is_ascii_digit() || c == '.')
                .find(|u| !u.is_empty() && !UNITS.contains(u))
                .unwrap_or_default();
            Err(DurationError::UnknownUnit(unit.to_owned()))
        }
        Err(_) => Err(DurationError::Malformed),
    }
}

/// The seconds `text` adds up to, each unit counted as generously as it can be, so that what
/// passes cannot overflow the parser.
fn seconds_upper_bound(text: &str) -> f64 {
    let mut total = 0.0;
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit() || c == '.') {
        rest = &rest[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..end].parse().unwrap_or(0.0);
        rest = &rest[end..];
        let per_unit = match rest.chars().next() {
            Some('h') => 3600.0,
            Some('m') if !rest.starts_with("ms") => 60.0,
            _ => 1.0,
        };
        total += number * per_unit;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_and_what_kubes_parser_lets_through() {
        assert_eq!(parse(" 1m30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("-5s"), Err(DurationError::Negative));
        assert_eq!(parse("99999999999999999999h"), Err(DurationError::TooLong));
        assert_eq!(parse("10"), Err(DurationError::NoUnit));
        assert_eq!(parse("10x"), Err(DurationError::UnknownUnit("x".into())));
    }
}
