//! The live registrations, indexed by cluster ID: what the re-import rule reads. It keeps only
//! names, IDs and liveness, never whole objects.

use extcluster_core::ExternalCluster;
use extcluster_core::policy::{Registry, RegistryUnavailable};
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct RegistryIndex {
    by_cluster: HashMap<Box<str>, Vec<Holder>>,
    cluster_of: HashMap<Box<str>, Box<str>>,
}

#[derive(Debug)]
struct Holder {
    name: Box<str>,
    live: bool,
}

impl RegistryIndex {
    pub fn upsert(&mut self, name: &str, cluster_id: &str, live: bool) {
        if self
            .cluster_of
            .get(name)
            .is_some_and(|id| &**id != cluster_id)
        {
            self.remove(name);
        }
        let holders = self.by_cluster.entry(cluster_id.into()).or_default();
        match holders.iter_mut().find(|h| &*h.name == name) {
            Some(h) => h.live = live,
            None => {
                holders.push(Holder {
                    name: name.into(),
                    live,
                });
                self.cluster_of.insert(name.into(), cluster_id.into());
            }
        }
    }

    pub fn upsert_cluster(&mut self, c: &ExternalCluster) {
        if let Some(name) = c.metadata.name.as_deref() {
            self.upsert(name, &c.spec.cluster_id, c.is_live());
        }
    }

    pub fn remove(&mut self, name: &str) {
        let Some(id) = self.cluster_of.remove(name) else {
            return;
        };
        if let Some(holders) = self.by_cluster.get_mut(&id) {
            holders.retain(|h| &*h.name != name);
            if holders.is_empty() {
                self.by_cluster.remove(&id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.cluster_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cluster_of.is_empty()
    }
}

impl Registry for RegistryIndex {
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable> {
        Ok(self
            .by_cluster
            .get(cluster_id)
            .and_then(|hs| hs.iter().find(|h| h.live && &*h.name != name))
            .map(|h| &*h.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder<'a>(i: &'a RegistryIndex, id: &str, name: &str) -> Option<&'a str> {
        i.live_holder(id, name).unwrap()
    }

    #[test]
    fn tracks_live_holders_by_cluster() {
        let mut i = RegistryIndex::default();
        i.upsert("a", "id-1", true);
        i.upsert("b", "id-1", false);
        i.upsert("c", "id-2", true);
        assert_eq!(i.len(), 3);
        assert_eq!(holder(&i, "id-1", "new"), Some("a"));
        assert_eq!(
            holder(&i, "id-1", "a"),
            None,
            "a registration is not its own duplicate"
        );
        i.upsert("a", "id-1", false);
        assert_eq!(holder(&i, "id-1", "new"), None);
        i.upsert("b", "id-1", true);
        assert_eq!(holder(&i, "id-1", "new"), Some("b"));
        i.remove("b");
        i.remove("a");
        assert_eq!(holder(&i, "id-1", "new"), None);
        assert_eq!(i.len(), 1);
        i.remove("missing");
        // A name that moves to another cluster ID leaves the old one.
        i.upsert("c", "id-3", true);
        assert_eq!(holder(&i, "id-2", "x"), None);
        assert_eq!(holder(&i, "id-3", "x"), Some("c"));
        assert_eq!(i.len(), 1);
    }
}
