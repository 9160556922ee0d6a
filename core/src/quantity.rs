//! Kubernetes resource quantities (`3900m`, `16393000Ki`, `1.5Gi`, `2e3`) summed over nodes and
//! written back as quantities. Only what node capacity uses: CPU and memory.

/// Decimal and binary suffixes, as `resource.Quantity` knows them.
const SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1024.0 * 1024.0),
    ("Gi", 1024.0 * 1024.0 * 1024.0),
    ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
];

/// A quantity's value in base units (cores, bytes); `None` when it is not a quantity.
pub fn parse(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| raw.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((raw, 1.0));
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * factor)
}

/// CPU cores as a quantity: whole cores (`12`) or millicores (`11500m`).
pub fn cpu(cores: f64) -> String {
    let milli = (cores * 1000.0).round() as u64;
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Bytes as a quantity in the largest binary unit that keeps it whole (`48Gi`, `16009Mi`).
pub fn memory(bytes: f64) -> String {
    let bytes = bytes.round() as u64;
    for (suffix, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_capacity_as_kubelets_report_it() {
        assert_eq!(parse("3900m"), Some(3.9));
        assert_eq!(parse("4"), Some(4.0));
        assert_eq!(parse("16393000Ki"), Some(16_393_000.0 * 1024.0));
        assert_eq!(parse("1.5Gi"), Some(1.5 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse("2e3"), Some(2000.0));
        assert_eq!(parse("lots"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(cpu(3.9 + 4.0), "7900m");
        assert_eq!(cpu(8.0), "8");
        assert_eq!(memory(48.0 * 1024.0 * 1024.0 * 1024.0), "48Gi");
        assert_eq!(memory(16_393_000.0 * 1024.0), "16393000Ki");
        assert_eq!(memory(1000.0), "1000");
    }
}
