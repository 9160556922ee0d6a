//! What the rules may ask of the registrations the hub holds.

use super::registration::Registration;

/// The registrations the hub holds, as far as the rules need them.
pub trait Registry {
    /// The name of a live registration other than `name` that holds `cluster_id`; an error when
    /// the registry cannot be trusted to know (not yet synced, or out of touch with the hub).
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable>;
}

/// Why the registry cannot answer, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryUnavailable(pub &'static str);

/// A list of registrations, as the plugin reads them from the hub.
impl Registry for [Registration<'_>] {
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable> {
        Ok(self
            .iter()
            .find(|r| r.is_live() && r.spec.cluster_id == cluster_id && r.name() != name)
            .map(Registration::name))
    }
}

impl<R: Registry + ?Sized> Registry for &R {
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable> {
        (**self).live_holder(cluster_id, name)
    }
}
