//! Kubernetes versions as real clusters report them, and the accepted range.
//!
//! Providers decorate `gitVersion` (`v1.29.3-eks-adc7111`, `v1.28.5+k3s1`, `1.28.8-r0`). The
//! `semver` crate reads `-eks-…` as a pre-release, and a plain `>=1.19.0, <1.35.0` then rejects
//! it; so the range is decided on the numeric (major, minor, patch) triple alone.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("no Kubernetes version was given")]
    Missing,
    #[error(
        "{raw:?} is not a Kubernetes version (expected a form like v1.29.3 or v1.29.3-eks-adc7111)"
    )]
    Unparsable { raw: String },
    #[error(
        "{raw:?} is not a version range (expected a form like \">=1.19.0, <1.35.0\"): {reason}"
    )]
    BadRange { raw: String, reason: String },
}

impl KubeVersion {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Reads `[v]MAJOR.MINOR[.PATCH][(-|+)suffix]`; a missing patch counts as 0.
    pub fn parse(raw: &str) -> Result<Self, VersionError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(VersionError::Missing);
        }
        let bad = || VersionError::Unparsable {
            raw: raw.to_owned(),
        };
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let (major, rest) = leading_number(s).ok_or_else(bad)?;
        let rest = rest.strip_prefix('.').ok_or_else(bad)?;
        let (minor, rest) = leading_number(rest).ok_or_else(bad)?;
        let (patch, rest) = match rest.strip_prefix('.') {
            Some(r) => leading_number(r).ok_or_else(bad)?,
            None => (0, rest),
        };
        // What follows the numbers must be a provider suffix, never more digits or dots.
        match rest.as_bytes().first() {
            None | Some(b'-' | b'+') => Ok(Self::new(major, minor, patch)),
            Some(_) => Err(bad()),
        }
    }
}

fn leading_number(s: &str) -> Option<(u64, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 || end > 9 {
        return None;
    }
    Some((s[..end].parse().ok()?, &s[end..]))
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The Kubernetes versions the hub accepts, as a semver requirement (`>=1.19.0, <1.35.0`; the
/// comma may be left out, as in `>=1.19.0 <1.35.0`).
#[derive(Debug, Clone)]
pub struct VersionRange {
    req: semver::VersionReq,
    text: String,
}

pub const DEFAULT_ACCEPTED_VERSIONS: &str = ">=1.19.0, <1.35.0";

impl VersionRange {
    pub fn parse(raw: &str) -> Result<Self, VersionError> {
        let normalized = normalize_requirement(raw);
        if normalized.is_empty() {
            return Err(VersionError::BadRange {
                raw: raw.to_owned(),
                reason: "it is empty".into(),
            });
        }
        let req = semver::VersionReq::parse(&normalized).map_err(|e| VersionError::BadRange {
            raw: raw.to_owned(),
            reason: e.to_string(),
        })?;
        if req.comparators.iter().any(|c| !c.pre.is_empty()) {
            return Err(VersionError::BadRange {
                raw: raw.to_owned(),
                reason: "pre-release bounds have no meaning for cluster versions".into(),
            });
        }
        Ok(Self {
            req,
            text: normalized,
        })
    }

    pub fn contains(&self, v: KubeVersion) -> bool {
        self.req
            .matches(&semver::Version::new(v.major, v.minor, v.patch))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `v` is past an upper bound of the range: newer than accepted, rather than older.
    pub fn is_too_new(&self, v: KubeVersion) -> bool {
        let version = semver::Version::new(v.major, v.minor, v.patch);
        self.req
            .comparators
            .iter()
            .any(|c| matches!(c.op, semver::Op::Less | semver::Op::LessEq) && !c.matches(&version))
    }
}

impl Default for VersionRange {
    fn default() -> Self {
        Self::parse(DEFAULT_ACCEPTED_VERSIONS).expect("the default range parses")
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for VersionRange {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, VersionError> {
        Self::parse(s)
    }
}

/// `>= 1.19.0 <1.35.0` → `>=1.19.0, <1.35.0`: comparators separated by commas, operators glued
/// to their versions.
fn normalize_requirement(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 4);
    let mut pending_op = String::new();
    for token in raw.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
        if token.bytes().all(|b| b"<>=~^".contains(&b)) {
            pending_op.push_str(token);
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&pending_op);
        pending_op.clear();
        out.push_str(token);
    }
    if !pending_op.is_empty() {
        // A dangling operator: keep it so semver reports the error.
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&pending_op);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_real_clusters_report() {
        for (raw, want) in [
            ("v1.29.3-eks-adc7111", (1, 29, 3)),
            ("v1.32.3-gke.1785003", (1, 32, 3)),
            ("v1.28.5+k3s1", (1, 28, 5)),
            ("v1.31.4+rke2r1", (1, 31, 4)),
            ("v1.28.10+a2c84a5", (1, 28, 10)),
            ("v1.22.5-tke.24", (1, 22, 5)),
            ("1.28.8-r0", (1, 28, 8)),
            ("v1.20.2", (1, 20, 2)),
            ("1.29", (1, 29, 0)),
            ("v1.29", (1, 29, 0)),
            ("  v1.30.0  ", (1, 30, 0)),
            ("V1.25.16", (1, 25, 16)),
        ] {
            let v = KubeVersion::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!((v.major, v.minor, v.patch), want, "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for raw in [
            "banana",
            "v",
            "1",
            "v1.",
            "1.x",
            "1.29.x",
            "1.29.3.4",
            "1.29.3eks",
            "-1.2.3",
            "1..2",
            "99999999999.1.1",
        ] {
            let err = KubeVersion::parse(raw).unwrap_err();
            assert!(
                matches!(err, VersionError::Unparsable { .. }),
                "{raw}: {err:?}"
            );
            assert!(
                err.to_string().contains(raw.trim()),
                "message names the raw string: {err}"
            );
        }
        assert_eq!(KubeVersion::parse("  "), Err(VersionError::Missing));
    }

    #[test]
    fn range_decides_on_the_numeric_triple() {
        let r = VersionRange::default();
        let cases = [
            ("v1.18.20", false),
            ("v1.18.20-eks-1", false),
            ("v1.19.0", true),
            ("v1.19.0-eks-adc7111", true),
            ("1.19", true),
            ("v1.29.3-eks-adc7111", true),
            ("v1.32.3-gke.1785003", true),
            ("v1.28.5+k3s1", true),
            ("1.28.8-r0", true),
            ("v1.34.99", true),
            ("v1.34.2+rke2r1", true),
            ("v1.35.0", false),
            ("v1.35.0-gke.1", false),
            ("v1.35", false),
            ("v2.0.0", false),
        ];
        for (raw, want) in cases {
            assert_eq!(r.contains(KubeVersion::parse(raw).unwrap()), want, "{raw}");
        }
    }

    #[test]
    fn range_accepts_the_forms_people_write() {
        for raw in [
            ">=1.19.0, <1.35.0",
            ">=1.19.0 <1.35.0",
            ">= 1.19.0 , < 1.35.0",
            ">=1.19.0,<1.35.0",
        ] {
            let r = VersionRange::parse(raw).unwrap();
            assert_eq!(r.as_str(), ">=1.19.0, <1.35.0", "{raw}");
        }
        let narrow = VersionRange::parse(">=1.30").unwrap();
        assert!(!narrow.contains(KubeVersion::new(1, 29, 9)));
        assert!(narrow.contains(KubeVersion::new(1, 31, 0)));
    }

    #[test]
    fn range_refuses_nonsense() {
        for raw in ["", "  ", "banana", ">=", ">=1.19.0-alpha"] {
            let err = VersionRange::parse(raw).unwrap_err();
            assert!(
                matches!(err, VersionError::BadRange { .. }),
                "{raw}: {err:?}"
            );
        }
    }
}
