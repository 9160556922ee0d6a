//! Durations written the way kubectl (Go's `time.ParseDuration`) reads them: `8760h`, `30m`,
//! `1h30m`, `3600s`, `1.5h`.

use std::time::Duration;

/// A duration given on the command line, kept with the text it was given as for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl std::str::FromStr for GoDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse(s).map(GoDuration)
    }
}

impl std::fmt::Display for GoDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format(self.0))
    }
}

/// Parses a Go duration: one or more decimal numbers, each with a unit (ns, us, µs, ms, s, m, h).
/// Negative durations are refused: nothing here can last less than nothing.
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!(
            "{s:?} is not a duration ({why}); write it like kubectl does: 8760h, 30m, 1h30m, 3600s"
        )
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    if text.starts_with('-') {
        return Err(bad("it is negative"));
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad("a number is missing or malformed"));
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            "" => return Err(bad("a unit is missing: ns, us, ms, s, m or h")),
            _ => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad("a number is too large"))?
        };
        let mut part = whole
            .checked_mul(nanos_per)
            .ok_or_else(|| bad("it is too long"))?;
        if !frac.is_empty() {
            let digits = frac.len().min(18) as u32;
            let frac_value: u128 = frac[..digits as usize]
                .parse()
                .map_err(|_| bad("a number is malformed"))?;
            part += frac_value * nanos_per / 10u128.pow(digits);
        }
        total_nanos = total_nanos
            .checked_add(part)
            .ok_or_else(|| bad("it is too long"))?;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| bad("it is too long"))?;
    Ok(Duration::new(secs, (total_nanos % 1_000_000_000) as u32))
}

/// Formats whole seconds the way Go prints durations: `8760h0m0s`, `10m0s`, `45s`.
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let cases = [
            ("8760h", 8760 * 3600),
            ("30m", 1800),
            ("3600s", 3600),
            ("1h30m", 5400),
            ("1h30m15s", 5415),
            ("1.5h", 5400),
            ("0", 0),
            ("+10m", 600),
            ("90m", 5400),
        ];
        for (text, secs) in cases {
            assert_eq!(parse(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(parse("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2us"), Ok(Duration::from_micros(2)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in ["", "10", "10d", "-5m", "h", "1..5h", "1h 30m", "abc", "."] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains("8760h"), "{err}");
        }
        assert!(parse("10d").unwrap_err().contains("unknown unit \"d\""));
        assert!(parse("10").unwrap_err().contains("unit is missing"));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(8760 * 3600)), "8760h0m0s");
        assert_eq!(format(Duration::from_secs(600)), "10m0s");
        assert_eq!(format(Duration::from_secs(45)), "45s");
        assert_eq!(
            "1h30m".parse::<GoDuration>().unwrap().to_string(),
            "1h30m0s"
        );
    }
}
