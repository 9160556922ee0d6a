//! The live registrations, indexed by cluster ID: what the re-import rule reads. It keeps only
//! names, IDs and liveness, never whole objects.
//!
//! The watch lags the writes by a few milliseconds, so a create this webhook allows is reserved
//! here at once: a second create of the same cluster a moment later is denied even before the
//! watch has delivered the first. The watch confirms the reservation; one it never confirms (the
//! create failed after admission) lapses after [`RESERVATION_TTL`].

use extcluster_core::ExternalCluster;
use extcluster_core::policy::{Registry, RegistryUnavailable};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const RESERVATION_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct RegistryIndex {
    by_cluster: HashMap<Box<str>, Vec<Holder>>,
    cluster_of: HashMap<Box<str>, Box<str>>,
}

#[derive(Debug, Clone)]
struct Holder {
    name: Box<str>,
    live: bool,
    /// Set while the holder is only a reservation the watch has not confirmed yet.
    reserved_until: Option<Instant>,
}

impl Holder {
    fn holds(&self, now: Instant) -> bool {
        self.live && self.reserved_until.is_none_or(|until| until > now)
    }
}

impl RegistryIndex {
    /// Records what the watch saw: confirmed, never a reservation.
    pub fn upsert(&mut self, name: &str, cluster_id: &str, live: bool) {
        self.put(name, cluster_id, live, None);
    }

    /// Records a create this webhook just allowed, before the watch has seen it.
    pub fn reserve(&mut self, name: &str, cluster_id: &str, now: Instant) {
        let confirmed = self.by_cluster.get(cluster_id).is_some_and(|hs| {
            hs.iter()
                .any(|h| &*h.name == name && h.reserved_until.is_none())
        });
        if !confirmed {
            self.put(name, cluster_id, true, Some(now + RESERVATION_TTL));
        }
    }

    fn put(&mut self, name: &str, cluster_id: &str, live: bool, reserved_until: Option<Instant>) {
        if self
            .cluster_of
            .get(name)
            .is_some_and(|id| &**id != cluster_id)
        {
            self.remove(name);
        }
        let holders = self.by_cluster.entry(cluster_id.into()).or_default();
        match holders.iter_mut().find(|h| &*h.name == name) {
            Some(h) => {
                h.live = live;
                h.reserved_until = reserved_until;
            }
            None => {
                holders.push(Holder {
                    name: name.into(),
                    live,
                    reserved_until,
                });
                self.cluster_of.insert(name.into(), cluster_id.into());
            }
        }
    }

    /// Carries this index's unexpired reservations into `fresh` (a relist that may predate them).
    pub fn carry_reservations_into(&self, fresh: &mut RegistryIndex, now: Instant) {
        for (id, holders) in &self.by_cluster {
            for h in holders {
                let pending = h.reserved_until.is_some_and(|u| u > now);
                if pending && !fresh.cluster_of.contains_key(&h.name) {
                    fresh.put(&h.name, id, h.live, h.reserved_until);
                }
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
        let Some(holders) = self.by_cluster.get(cluster_id) else {
            return Ok(None);
        };
        let now = Instant::now();
        Ok(holders
            .iter()
            .find(|h| &*h.name != name && h.holds(now))
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

    #[test]
    fn reservations_hold_until_confirmed_or_expired() {
        let mut i = RegistryIndex::default();
        let now = Instant::now();
        i.reserve("first", "id-1", now);
        assert_eq!(holder(&i, "id-1", "second"), Some("first"));
        // The watch confirms it: no longer a reservation, never expires.
        i.upsert("first", "id-1", true);
        i.reserve("first", "id-1", now - RESERVATION_TTL * 2);
        assert_eq!(
            holder(&i, "id-1", "second"),
            Some("first"),
            "a confirmed holder is not downgraded"
        );
        // An unconfirmed reservation lapses.
        i.reserve("ghost", "id-2", now - RESERVATION_TTL * 2);
        assert_eq!(holder(&i, "id-2", "other"), None);
        // A relist keeps the reservations it could not have seen.
        let mut fresh = RegistryIndex::default();
        i.reserve("pending", "id-3", now);
        i.carry_reservations_into(&mut fresh, now);
        assert_eq!(holder(&fresh, "id-3", "other"), Some("pending"));
        assert_eq!(
            holder(&fresh, "id-1", "other"),
            None,
            "confirmed entries come from the relist itself"
        );
    }
}
