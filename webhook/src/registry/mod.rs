//! The live registry: the index of registrations the watch keeps, behind one lock, with whether
//! it can be trusted. The rules read it through [`LiveRegistry::decide`]; the watch writes it.

mod index;
mod sync_state;

pub use index::{RESERVATION_TTL, RegistryIndex};
pub use sync_state::SyncState;

use extcluster_core::policy::{Decision, Registration, Registry, RegistryUnavailable};
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicI64;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

pub struct LiveRegistry {
    index: RwLock<RegistryIndex>,
    sync: SyncState,
    /// The registrations gauge, kept equal to the index's size.
    size: Gauge<i64, AtomicI64>,
}

impl LiveRegistry {
    pub(crate) fn new(stale_after: Duration, size: Gauge<i64, AtomicI64>) -> Self {
        Self {
            index: RwLock::default(),
            sync: SyncState::new(stale_after),
            size,
        }
    }

    pub fn sync(&self) -> &SyncState {
        &self.sync
    }

    /// Runs `decide` against the index. `reserve`, a live create to be admitted for real (not a
    /// dry run), is reserved when allowed, under the same write lock as the decision: two creates
    /// of one cluster cannot both pass between a decision and its reservation.
    pub(crate) fn decide(
        &self,
        reserve: Option<&Registration<'_>>,
        decide: impl FnOnce(&View<'_>) -> Decision,
    ) -> Decision {
        let unavailable = self.sync.unavailable();
        let Some(new) = reserve else {
            let index = self.read_lock();
            return decide(&View {
                index: &index,
                unavailable,
            });
        };
        let mut index = self.write_lock();
        let decision = decide(&View {
            index: &index,
            unavailable,
        });
        if decision.is_ok() {
            index.reserve(new.name(), &new.spec.cluster_id, Instant::now());
            self.size.set(index.len() as i64);
        }
        decision
    }

    /// The live, Imported registrations, once the index can be trusted.
    pub(crate) fn imported(&self) -> Result<Vec<String>, RegistryUnavailable> {
        if let Some(why) = self.sync.unavailable() {
            return Err(RegistryUnavailable(why));
        }
        Ok(self.read(|i| i.imported().into_iter().map(str::to_owned).collect()))
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&RegistryIndex) -> T) -> T {
        f(&self.read_lock())
    }

    /// Applies `f` to the index (the watch feeds it through here), then forgets lapsed
    /// reservations.
    pub fn update<T>(&self, f: impl FnOnce(&mut RegistryIndex) -> T) -> T {
        let mut index = self.write_lock();
        let out = f(&mut index);
        index.drop_lapsed(Instant::now());
        self.size.set(index.len() as i64);
        out
    }

    /// Swaps in a relisted index, keeping reservations the relist may predate.
    pub(crate) fn replace(&self, mut fresh: RegistryIndex) {
        self.update(|index| {
            index.carry_reservations_into(&mut fresh, Instant::now());
            *index = fresh;
        });
    }

    fn read_lock(&self) -> RwLockReadGuard<'_, RegistryIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, RegistryIndex> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The index as the rules see it: no answer while it cannot be trusted.
pub(crate) struct View<'a> {
    index: &'a RegistryIndex,
    unavailable: Option<&'static str>,
}

impl Registry for View<'_> {
    fn live_holder(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<&str>, RegistryUnavailable> {
        match self.unavailable {
            Some(why) => Err(RegistryUnavailable(why)),
            None => self.index.live_holder(cluster_id, name),
        }
    }
}
