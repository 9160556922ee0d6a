//! `capabilities [CAPABILITY]`: every capability annotation, its type, what it means and an
//! example, the way `kubectl explain` shows a field.

use anyhow::{Result, anyhow};
use clap::Args;
use extcluster_core::capability::{self, Capability, FOREIGN_PREFIXES, PREFIX};
use extcluster_remote::kubeconfig::shell_quote;
use std::fmt::Write as _;

/// List the capability annotations: type, meaning and an example of each
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster capabilities
  kubectl extcluster capabilities ingressCapabilities")]
pub struct CapabilitiesArgs {
    /// Show only this capability (a name or a full key)
    #[arg(value_name = "CAPABILITY")]
    pub capability: Option<String>,
}

pub fn run(args: &CapabilitiesArgs) -> Result<()> {
    let caps = match args.capability.as_deref() {
        Some(c) => vec![capability::from_name_or_key(c).map_err(|e| anyhow!("{e}"))?],
        None => Capability::ALL.to_vec(),
    };
    print!("{}", render(&caps));
    Ok(())
}

pub fn render(caps: &[Capability]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "KIND:       ExternalCluster (extcluster.io/v1alpha1)");
    let _ = writeln!(out, "ANNOTATION: {PREFIX}<capability>");
    let _ = writeln!(out);
    let _ = writeln!(out, "DESCRIPTION:");
    for line in [
        "What a cluster can do, as declared by the people who run it. An annotation states a",
        "capability; it does not grant it. The hub's webhook refuses values of the wrong type.",
        &format!(
            "Keys under {} are read too;",
            FOREIGN_PREFIXES.join(" and ")
        ),
        &format!("`kubectl extcluster annotate` writes them under {PREFIX}."),
        "`kubectl extcluster annotate NAME --detect` proposes values read from the cluster.",
    ] {
        let _ = writeln!(out, "    {line}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "CAPABILITIES:");
    for c in caps {
        let _ = writeln!(out, "  {}\t<{}>", c.name(), c.expected_type());
        let _ = writeln!(out, "    {}", c.description());
        let _ = writeln!(
            out,
            "    Example: kubectl extcluster annotate NAME {}",
            shell_quote(&format!("{}={}", c.name(), c.example()))
        );
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_capability_with_type_and_example() {
        let text = render(&Capability::ALL);
        for c in Capability::ALL {
            assert!(
                text.contains(&format!("  {}\t<{}>", c.name(), c.expected_type())),
                "{text}"
            );
            assert!(text.contains(c.description()), "{text}");
        }
        assert!(text.contains(
            r#"Example: kubectl extcluster annotate NAME 'ingressCapabilities=[{"ingressProvider":"Nginx"}]'"#
        ), "{text}");
        assert!(text.contains("Example: kubectl extcluster annotate NAME pspEnabled=true"));
        let one = render(&[Capability::NodePortRange]);
        assert!(
            one.contains("nodePortRange") && !one.contains("pspEnabled\t"),
            "{one}"
        );
    }
}
