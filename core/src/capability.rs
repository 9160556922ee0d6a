//! Capability annotations: what a cluster can do, as declared by the people who run it. An
//! annotation states a capability; it does not grant it.
//!
//! Keys are `capabilities.extcluster.io/<name>`; Rancher's `capabilities.cattle.io/<name>` (and
//! its newer `capabilities/<name>`) are read too, so clusters annotated for Rancher carry over.

use serde::Deserialize;
use std::fmt;

pub const PREFIX: &str = "capabilities.extcluster.io/";
/// Prefixes other tools use for the same capabilities, accepted on input.
pub const FOREIGN_PREFIXES: &[&str] = &["capabilities.cattle.io/", "capabilities/"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    IngressCapabilities,
    LoadBalancerCapabilities,
    NodePoolScalingSupported,
    NodePortRange,
    PspEnabled,
    TaintSupport,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    #[error(
        "unknown capability {name:?}; known capabilities are {}",
        Capability::known_list()
    )]
    Unknown { name: String },
    #[error("capability {capability} must be {}, but {value:?} is not ({reason})", capability.expected_type())]
    Invalid {
        capability: Capability,
        value: String,
        reason: String,
    },
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::IngressCapabilities,
        Capability::LoadBalancerCapabilities,
        Capability::NodePoolScalingSupported,
        Capability::NodePortRange,
        Capability::PspEnabled,
        Capability::TaintSupport,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::IngressCapabilities => "ingressCapabilities",
            Capability::LoadBalancerCapabilities => "loadBalancerCapabilities",
            Capability::NodePoolScalingSupported => "nodePoolScalingSupported",
            Capability::NodePortRange => "nodePortRange",
            Capability::PspEnabled => "pspEnabled",
            Capability::TaintSupport => "taintSupport",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, CapabilityError> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| CapabilityError::Unknown {
                name: name.to_owned(),
            })
    }

    /// The annotation key we write for this capability.
    pub fn key(self) -> String {
        format!("{PREFIX}{}", self.name())
    }

    /// The value's type, as the sentence "must be …" ends.
    pub fn expected_type(self) -> &'static str {
        match self {
            Capability::IngressCapabilities => {
                "a JSON list of {\"ingressProvider\": string, \"customDefaultBackend\"?: bool}"
            }
            Capability::LoadBalancerCapabilities => {
                "a JSON object {\"enabled\"?: bool, \"provider\"?: string, \"protocolsSupported\"?: [string], \"healthCheckSupported\"?: bool}"
            }
            Capability::NodePortRange => "a port range LOW-HIGH within 1-65535 with LOW < HIGH",
            Capability::NodePoolScalingSupported
            | Capability::PspEnabled
            | Capability::TaintSupport => "a boolean (true or false)",
        }
    }

    pub fn example(self) -> &'static str {
        match self {
            Capability::IngressCapabilities => r#"[{"ingressProvider":"Nginx"}]"#,
            Capability::LoadBalancerCapabilities => {
                r#"{"enabled":true,"provider":"ELB","protocolsSupported":["TCP","UDP"],"healthCheckSupported":true}"#
            }
            Capability::NodePortRange => "30000-32767",
            Capability::NodePoolScalingSupported
            | Capability::PspEnabled
            | Capability::TaintSupport => "true",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Capability::IngressCapabilities => {
                "Ingress controllers the cluster runs (Nginx, GCLB, ...)"
            }
            Capability::LoadBalancerCapabilities => {
                "Whether Services of type LoadBalancer work, and how"
            }
            Capability::NodePoolScalingSupported => "Whether node pools can be scaled",
            Capability::NodePortRange => {
                "The API server's --service-node-port-range (default 30000-32767)"
            }
            Capability::PspEnabled => "Whether PodSecurityPolicy is enforced",
            Capability::TaintSupport => "Whether nodes may be tainted",
        }
    }

    /// Checks a value against this capability's type.
    pub fn validate(self, value: &str) -> Result<(), CapabilityError> {
        let invalid = |reason: String| CapabilityError::Invalid {
            capability: self,
            value: shorten(value),
            reason,
        };
        match self {
            Capability::IngressCapabilities => {
                let list: Vec<IngressCapability<'_>> =
                    serde_json::from_str(value).map_err(|e| invalid(e.to_string()))?;
                if let Some(i) = list
                    .iter()
                    .position(|c| c.ingress_provider.trim().is_empty())
                {
                    return Err(invalid(format!("entry {i} has an empty ingressProvider")));
                }
                Ok(())
            }
            Capability::LoadBalancerCapabilities => {
                // serde would also read a struct from a JSON array; only an object is meant.
                if !value.trim_start().starts_with('{') {
                    return Err(invalid("it is not a JSON object".into()));
                }
                serde_json::from_str::<LoadBalancerCapability<'_>>(value)
                    .map(drop)
                    .map_err(|e| invalid(e.to_string()))
            }
            Capability::NodePortRange => parse_port_range(value).map(drop).map_err(invalid),
            Capability::NodePoolScalingSupported
            | Capability::PspEnabled
            | Capability::TaintSupport => match value {
                "true" | "false" => Ok(()),
                _ => Err(invalid("only true and false are booleans".into())),
            },
        }
    }

    fn known_list() -> String {
        Self::ALL.map(Capability::name).join(", ")
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an annotation key says about capabilities: `None` when the key is not a capability key
/// at all, else the capability it names (or the error for an unknown one).
pub fn from_key(key: &str) -> Option<Result<Capability, CapabilityError>> {
    let name = key
        .strip_prefix(PREFIX)
        .or_else(|| FOREIGN_PREFIXES.iter().find_map(|p| key.strip_prefix(p)))?;
    Some(Capability::from_name(name))
}

/// Reads what a person types for a capability: a bare name (`pspEnabled`) or a full key under our
/// prefix or a foreign one.
pub fn from_name_or_key(s: &str) -> Result<Capability, CapabilityError> {
    from_key(s).unwrap_or_else(|| Capability::from_name(s))
}

/// A capability as a registration declares it: the value that counts, the key it came from, and
/// any other key that also sets it (and is overridden).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared<'a> {
    pub capability: Capability,
    pub value: &'a str,
    pub key: &'a str,
    pub overridden: Vec<(&'a str, &'a str)>,
}

/// The capabilities `annotations` declare, one value each, by precedence: our key, then
/// Rancher's `capabilities.cattle.io/`, then its newer `capabilities/`. Unknown names are left
/// out (admission refuses them). In [`Capability::ALL`]'s order.
pub fn declared<'a, K, V>(
    annotations: impl IntoIterator<Item = (&'a K, &'a V)>,
) -> Vec<Declared<'a>>
where
    K: AsRef<str> + ?Sized + 'a,
    V: AsRef<str> + ?Sized + 'a,
{
    let rank = |key: &str| {
        std::iter::once(PREFIX)
            .chain(FOREIGN_PREFIXES.iter().copied())
            .position(|p| key.starts_with(p))
    };
    let mut found: Vec<(Capability, usize, &'a str, &'a str)> = annotations
        .into_iter()
        .filter_map(|(k, v)| {
            let (k, v) = (k.as_ref(), v.as_ref());
            match (from_key(k), rank(k)) {
                (Some(Ok(c)), Some(r)) => Some((c, r, k, v)),
                _ => None,
            }
        })
        .collect();
    found.sort_by_key(|(c, r, ..)| (Capability::ALL.iter().position(|a| a == c), *r));
    let mut out: Vec<Declared<'a>> = Vec::new();
    for (capability, _, key, value) in found {
        match out.last_mut() {
            Some(d) if d.capability == capability => d.overridden.push((key, value)),
            _ => out.push(Declared {
                capability,
                value,
                key,
                overridden: Vec::new(),
            }),
        }
    }
    out
}

/// Validates one annotation; `Ok` for keys that are not capability keys.
pub fn validate_annotation(key: &str, value: &str) -> Result<(), CapabilityError> {
    match from_key(key) {
        None => Ok(()),
        Some(cap) => cap?.validate(value),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IngressCapability<'a> {
    #[serde(borrow)]
    ingress_provider: std::borrow::Cow<'a, str>,
    #[serde(default)]
    #[allow(dead_code)]
    custom_default_backend: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct LoadBalancerCapability<'a> {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, borrow)]
    provider: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    protocols_supported: Option<Vec<std::borrow::Cow<'a, str>>>,
    #[serde(default)]
    health_check_supported: Option<bool>,
}

/// `30000-32767` → (30000, 32767).
pub fn parse_port_range(value: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = value
        .split_once('-')
        .ok_or_else(|| "there is no '-' between the two ports".to_owned())?;
    let port = |s: &str| -> Result<u16, String> {
        match s.trim().parse::<u32>() {
            Ok(p @ 1..=65535) => Ok(p as u16),
            _ => Err(format!("{s:?} is not a port between 1 and 65535")),
        }
    };
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo >= hi {
        return Err(format!("{lo} is not below {hi}"));
    }
    Ok((lo, hi))
}

/// Values go into error messages; a pasted megabyte should not.
fn shorten(value: &str) -> String {
    crate::text::shorten(value, 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_is_valid() {
        for c in Capability::ALL {
            c.validate(c.example())
                .unwrap_or_else(|e| panic!("{c}: {e}"));
        }
    }

    #[test]
    fn accepts_valid_values() {
        let ok = [
            (Capability::IngressCapabilities, r#"[]"#),
            (
                Capability::IngressCapabilities,
                r#"[{"ingressProvider":"GCLB","customDefaultBackend":true}]"#,
            ),
            (
                Capability::IngressCapabilities,
                r#"[{"ingressProvider":"Nginx"},{"ingressProvider":"Azure L4 LB"}]"#,
            ),
            (Capability::LoadBalancerCapabilities, r#"{}"#),
            (Capability::LoadBalancerCapabilities, r#"{"enabled":false}"#),
            (Capability::NodePortRange, "1-65535"),
            (Capability::NodePortRange, "30000-32767"),
            (Capability::PspEnabled, "false"),
            (Capability::TaintSupport, "true"),
            (Capability::NodePoolScalingSupported, "true"),
        ];
        for (c, v) in ok {
            c.validate(v).unwrap_or_else(|e| panic!("{c}={v}: {e}"));
        }
    }

    #[test]
    fn refuses_wrong_types_naming_the_expected_one() {
        let bad = [
            (
                Capability::IngressCapabilities,
                r#"{"ingressProvider":"Nginx"}"#,
            ),
            (
                Capability::IngressCapabilities,
                r#"[{"ingressprovider":"Nginx"}]"#,
            ),
            (
                Capability::IngressCapabilities,
                r#"[{"ingressProvider":""}]"#,
            ),
            (
                Capability::IngressCapabilities,
                r#"[{"ingressProvider":"Nginx","customDefaultBackend":"yes"}]"#,
            ),
            (Capability::IngressCapabilities, "Nginx"),
            (
                Capability::LoadBalancerCapabilities,
                r#"{"enabled":"true"}"#,
            ),
            (
                Capability::LoadBalancerCapabilities,
                r#"{"protocolsSupported":"TCP"}"#,
            ),
            (Capability::LoadBalancerCapabilities, r#"[]"#),
            (Capability::NodePortRange, "30000"),
            (Capability::NodePortRange, "0-100"),
            (Capability::NodePortRange, "100-65536"),
            (Capability::NodePortRange, "32767-30000"),
            (Capability::NodePortRange, "80-80"),
            (Capability::NodePortRange, "a-b"),
            (Capability::PspEnabled, "yes"),
            (Capability::PspEnabled, "True"),
            (Capability::TaintSupport, ""),
            (Capability::NodePoolScalingSupported, "1"),
        ];
        for (c, v) in bad {
            let err = c.validate(v).expect_err(&format!("{c}={v}"));
            let msg = err.to_string();
            assert!(msg.contains(c.name()), "{msg}");
            assert!(msg.contains(c.expected_type()), "{msg}");
        }
    }

    #[test]
    fn keys_in_every_prefix() {
        assert_eq!(
            from_key("capabilities.extcluster.io/pspEnabled"),
            Some(Ok(Capability::PspEnabled))
        );
        assert_eq!(
            from_key("capabilities.cattle.io/taintSupport"),
            Some(Ok(Capability::TaintSupport))
        );
        assert_eq!(
            from_key("capabilities/nodePortRange"),
            Some(Ok(Capability::NodePortRange))
        );
        assert_eq!(from_key("extcluster.io/disconnect"), None);
        assert_eq!(
            from_key("kubectl.kubernetes.io/last-applied-configuration"),
            None
        );
        let unknown = from_key("capabilities.extcluster.io/gpu")
            .unwrap()
            .unwrap_err();
        let msg = unknown.to_string();
        assert!(msg.contains("\"gpu\""), "{msg}");
        for c in Capability::ALL {
            assert!(msg.contains(c.name()), "lists the known ones: {msg}");
        }
        assert_eq!(from_name_or_key("pspEnabled"), Ok(Capability::PspEnabled));
        assert_eq!(
            from_name_or_key("capabilities.cattle.io/pspEnabled"),
            Ok(Capability::PspEnabled)
        );
        assert!(from_name_or_key("psp").is_err());
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let huge = "x".repeat(10_000);
        let msg = Capability::PspEnabled
            .validate(&huge)
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 600, "{}", msg.len());
    }

    #[test]
    fn port_range_parse() {
        assert_eq!(parse_port_range("30000-32767"), Ok((30000, 32767)));
        assert_eq!(parse_port_range(" 1 - 2 "), Ok((1, 2)));
    }

    #[test]
    fn ours_overrides_rancher_keys_and_each_capability_counts_once() {
        let a: std::collections::BTreeMap<String, String> = [
            ("capabilities.cattle.io/pspEnabled", "false"),
            ("capabilities.extcluster.io/pspEnabled", "true"),
            ("capabilities/pspEnabled", "false"),
            ("capabilities/taintSupport", "true"),
            ("capabilities.cattle.io/taintSupport", "false"),
            ("capabilities.cattle.io/nodePortRange", "30000-32767"),
            ("capabilities.extcluster.io/unknown", "x"),
            ("team", "a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let d = declared(&a);
        let shown: Vec<(Capability, &str, &str, usize)> = d
            .iter()
            .map(|d| (d.capability, d.value, d.key, d.overridden.len()))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    Capability::NodePortRange,
                    "30000-32767",
                    "capabilities.cattle.io/nodePortRange",
                    0
                ),
                (
                    Capability::PspEnabled,
                    "true",
                    "capabilities.extcluster.io/pspEnabled",
                    2
                ),
                (
                    Capability::TaintSupport,
                    "false",
                    "capabilities.cattle.io/taintSupport",
                    1
                ),
            ]
        );
    }
}
