//! The live registrations, indexed by cluster ID: what the re-import rule reads. It keeps only
//! names, IDs and liveness, never whole objects.
//!
//! The watch lags the writes by a few milliseconds, so a create this webhook allows is reserved
//! here at once: a second create of the same cluster a moment later is denied even before the
//! watch has delivered the first. The watch confirms the reservation; one it never confirms (the
//! create failed after admission) lapses after [`RESERVATION_TTL`].

use extcluster_core::policy::{Registry, RegistryUnavailable};
use extcluster_core::{ExternalCluster, Origin};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub const RESERVATION_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct RegistryIndex {
    by_cluster: HashMap<Box<str>, Vec<Holder>>,
    cluster_of: HashMap<Box<str>, Box<str>>,
    /// Reservations in the order they lapse, one entry per reserved name, so lapsed ones are
    /// dropped without scanning the index.
    lapsing: VecDeque<(Instant, Box<str>)>,
    /// The live, Imported registrations the watch has seen: what deleting the CRD would take.
    imported: BTreeSet<Box<str>>,
}

#[derive(Debug, Clone)]
struct Holder {
    name: Box<str>,
    live: bool,
    /// Set while the holder is only a reservation the watch has not confirmed yet.
    reserved_until: Option<Instant>,
    /// creationTimestamp in Unix seconds: the oldest of two duplicates is the one kept.
    created: i64,
}

impl Holder {
    fn holds(&self, now: Instant) -> bool {
        self.live && self.reserved_until.is_none_or(|until| until > now)
    }
}

impl RegistryIndex {
    /// Records what the watch saw: confirmed, never a reservation.
    pub fn upsert(&mut self, name: &str, cluster_id: &str, live: bool) {
        self.upsert_created(name, cluster_id, live, 0);
    }

    pub(crate) fn upsert_created(
        &mut self,
        name: &str,
        cluster_id: &str,
        live: bool,
        created: i64,
    ) {
        self.put(name, cluster_id, live, None, created);
    }

    /// Records a create this webhook just allowed, before the watch has seen it.
    pub(crate) fn reserve(&mut self, name: &str, cluster_id: &str, now: Instant) {
        self.drop_lapsed(now);
        let existing = self
            .by_cluster
            .get(cluster_id)
            .and_then(|hs| hs.iter().find(|h| &*h.name == name))
            .map(|h| h.reserved_until);
        match existing {
            // Confirmed by the watch: nothing to reserve.
            Some(None) => {}
            // Already reserved: extended; its queue entry re-queues itself when it comes up.
            Some(Some(_)) => self.put(
                name,
                cluster_id,
                true,
                Some(now + RESERVATION_TTL),
                i64::MAX,
            ),
            None => {
                self.put(
                    name,
                    cluster_id,
                    true,
                    Some(now + RESERVATION_TTL),
                    i64::MAX,
                );
                self.lapsing.push_back((now + RESERVATION_TTL, name.into()));
            }
        }
    }

    /// Forgets reservations the watch never confirmed and whose time is up.
    pub fn drop_lapsed(&mut self, now: Instant) {
        while let Some((until, _)) = self.lapsing.front() {
            if *until > now {
                break;
            }
            let (_, name) = self.lapsing.pop_front().expect("front exists");
            let reserved_until = self
                .cluster_of
                .get(&name)
                .and_then(|id| self.by_cluster.get(id))
                .and_then(|hs| hs.iter().find(|h| h.name == name))
                .and_then(|h| h.reserved_until);
            match reserved_until {
                Some(later) if later > now => self.lapsing.push_back((later, name)),
                Some(_) => self.remove(&name),
                None => {}
            }
        }
    }

    fn put(
        &mut self,
        name: &str,
        cluster_id: &str,
        live: bool,
        reserved_until: Option<Instant>,
        created: i64,
    ) {
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
                h.created = created;
            }
            None => {
                holders.push(Holder {
                    name: name.into(),
                    live,
                    reserved_until,
                    created,
                });
                self.cluster_of.insert(name.into(), cluster_id.into());
            }
        }
    }

    /// Carries this index's unexpired reservations into `fresh` (a relist that may predate them).
    pub(crate) fn carry_reservations_into(&self, fresh: &mut RegistryIndex, now: Instant) {
        for (_, name) in &self.lapsing {
            let Some(id) = self.cluster_of.get(name) else {
                continue;
            };
            let held = self
                .by_cluster
                .get(id)
                .and_then(|hs| hs.iter().find(|h| h.name == *name));
            let Some(until) = held.and_then(|h| h.reserved_until) else {
                continue;
            };
            if until > now && !fresh.cluster_of.contains_key(name) {
                fresh.put(name, id, true, Some(until), i64::MAX);
                fresh.lapsing.push_back((until, name.clone()));
            }
        }
    }

    pub(crate) fn upsert_cluster(&mut self, c: &ExternalCluster) {
        if let Some(name) = c.metadata.name.as_deref() {
            let created = c
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| t.0.as_second());
            self.upsert_created(name, &c.spec.cluster_id, c.is_live(), created);
            if c.is_live() && c.spec.origin == Origin::Imported {
                self.imported.insert(name.into());
            } else {
                self.imported.remove(name);
            }
        }
    }

    /// The live, Imported registrations, by name.
    pub(crate) fn imported(&self) -> Vec<&str> {
        self.imported.iter().map(|n| &**n).collect()
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.imported.remove(name);
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

    /// When several confirmed, live registrations hold one cluster (two webhook replicas each
    /// allowed one, before either saw the other): the one to keep, the oldest by creation time
    /// then name, and the ones to remove. Every replica computes the same answer.
    pub(crate) fn duplicates(&self, cluster_id: &str) -> Option<(String, Vec<String>)> {
        let mut live: Vec<&Holder> = self
            .by_cluster
            .get(cluster_id)?
            .iter()
            .filter(|h| h.live && h.reserved_until.is_none())
            .collect();
        if live.len() < 2 {
            return None;
        }
        live.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        let keep = live[0].name.to_string();
        Some((keep, live[1..].iter().map(|h| h.name.to_string()).collect()))
    }

    /// Every cluster ID held by several live, confirmed registrations.
    pub(crate) fn duplicated_clusters(&self) -> Vec<String> {
        self.by_cluster
            .keys()
            .filter(|id| self.duplicates(id).is_some())
            .map(|id| id.to_string())
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.cluster_of.len()
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
    fn duplicates_keep_the_oldest_then_the_first_name() {
        let mut i = RegistryIndex::default();
        i.upsert_created("b", "id-1", true, 100);
        assert_eq!(i.duplicates("id-1"), None);
        i.upsert_created("c", "id-1", true, 100);
        i.upsert_created("a", "id-1", true, 101);
        i.upsert_created("gone", "id-1", false, 1);
        i.reserve("pending", "id-1", Instant::now());
        assert_eq!(
            i.duplicates("id-1"),
            Some(("b".into(), vec!["c".into(), "a".into()]))
        );
        assert_eq!(i.duplicates("id-9"), None);
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

#[cfg(test)]
mod lapsing_tests {
    use super::*;

    #[test]
    fn lapsed_reservations_are_forgotten_and_refreshes_do_not_grow_the_queue() {
        let mut i = RegistryIndex::default();
        let t0 = Instant::now();
        for n in 0..1000 {
            i.reserve("same", "id-1", t0 + Duration::from_millis(n));
        }
        assert_eq!(
            i.lapsing.len(),
            1,
            "refreshing one reservation keeps one queue entry"
        );
        i.reserve("other", "id-2", t0);
        i.upsert("confirmed", "id-3", true);
        assert_eq!(i.len(), 3);
        // `other` lapses; `same` was extended and stays until its own time is up.
        i.drop_lapsed(t0 + RESERVATION_TTL + Duration::from_millis(1));
        assert_eq!(i.len(), 2);
        assert_eq!(i.live_holder("id-1", "x").unwrap(), Some("same"));
        i.drop_lapsed(t0 + RESERVATION_TTL + Duration::from_secs(2));
        assert_eq!(i.len(), 1, "only the confirmed entry is left");
        assert!(i.lapsing.is_empty());
        // A reservation the watch confirmed is not dropped when its queue entry comes up.
        i.reserve("late", "id-4", t0);
        i.upsert("late", "id-4", true);
        i.drop_lapsed(t0 + RESERVATION_TTL * 3);
        assert_eq!(i.live_holder("id-4", "x").unwrap(), Some("late"));
    }
}
