//! Where a registration asks to be published besides the hub's own ClusterProfile: the
//! `extcluster.io/exports` annotation, a comma-separated subset of `argocd,flux`.

use std::collections::BTreeSet;
use strum::VariantNames;

pub const ANNOTATION: &str = "extcluster.io/exports";

/// A GitOps tool that can be handed a registration's credentials as its own cluster Secret.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum Export {
    /// A cluster Secret (`argocd.argoproj.io/secret-type: cluster`) in Argo CD's namespace.
    Argocd,
    /// A kubeconfig Secret that Flux's `spec.kubeConfig.secretRef` reads.
    Flux,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportsError {
    #[error(
        "{value:?} is not a comma-separated list of exports: {entry:?} is not one of {}",
        Export::VARIANTS.join(", ")
    )]
    Unknown { value: String, entry: String },
}

/// Reads the annotation's value. Blank entries (`argocd,`) are skipped; case matters, as it does
/// for every annotation value the API server stores.
pub fn parse(value: &str) -> Result<BTreeSet<Export>, ExportsError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry.parse().map_err(|_| ExportsError::Unknown {
                value: value.chars().take(120).collect(),
                entry: entry.chars().take(60).collect(),
            })
        })
        .collect()
}

/// One tool, as a command line names it (`--export argocd`).
pub fn parse_tool(raw: &str) -> Result<Export, String> {
    raw.parse().map_err(|_| {
        format!(
            "{raw:?} is not a tool the hub exports to; use {}",
            Export::VARIANTS.join(" or ")
        )
    })
}

/// The annotation's value for a set of exports, in a stable order.
pub fn format(exports: &BTreeSet<Export>) -> String {
    let names: Vec<&str> = exports.iter().map(|e| e.into()).collect();
    names.join(",")
}

/// What a registration's annotations ask for; an unreadable value asks for nothing (the webhook
/// refuses one on the way in, so only a registration that predates it can hold one).
pub fn requested(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> BTreeSet<Export> {
    annotations
        .and_then(|a| a.get(ANNOTATION))
        .and_then(|v| parse(v).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_subset_and_writes_it_back_in_order() {
        let both = parse("flux, argocd,").unwrap();
        assert_eq!(both, BTreeSet::from([Export::Argocd, Export::Flux]));
        assert_eq!(format(&both), "argocd,flux");
        assert_eq!(parse("").unwrap(), BTreeSet::new());
        assert_eq!(parse("argocd,argocd").unwrap().len(), 1);
    }

    #[test]
    fn an_unknown_entry_is_named_with_the_known_ones() {
        let e = parse("argocd,fleet").unwrap_err().to_string();
        assert!(e.contains("\"fleet\""), "{e}");
        assert!(e.contains("argocd, flux"), "{e}");
        assert!(parse("ArgoCD").is_err());
    }
}
