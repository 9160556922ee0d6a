//! Tokens of federated registrations' hub identities, minted with the controller's own hub
//! credentials and used for every probe until a third of their life is left, so a registration
//! costs one TokenRequest per two thirds of its token lifetime rather than one per probe. Held
//! in memory only; keyed by the registration's UID and audience, so a registration made again
//! under the same name, or given another audience, never gets a token minted for the old one.

use extcluster_core::ExternalCluster;
use extcluster_core::federated::{self, renew_due};
use extcluster_remote::federated::{Minted, mint, with_token};
use extcluster_remote::stored::StoredError;
use kube::Client;
use kube::config::Kubeconfig;
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

pub struct Tokens {
    hub: Client,
    held: Mutex<HashMap<String, Held>>,
    minted: Counter<u64, AtomicU64>,
}

struct Held {
    uid: String,
    audience: String,
    lifetime: i64,
    minted: Minted,
}

impl Tokens {
    /// Tokens minted with `hub`, each counted in `minted`.
    pub fn new(hub: Client, minted: Counter<u64, AtomicU64>) -> Self {
        Self {
            hub,
            held: Mutex::default(),
            minted,
        }
    }

    /// `stored` ready to reach `cluster`: as it is, or with a token of its hub identity.
    pub async fn kubeconfig(
        &self,
        cluster: &ExternalCluster,
        stored: Kubeconfig,
    ) -> Result<Kubeconfig, StoredError> {
        let Some(f) = federated::of(cluster) else {
            return Ok(stored);
        };
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let uid = cluster.metadata.uid.clone().unwrap_or_default();
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        if let Some(minted) = self.usable(&name, &uid, f, now) {
            return Ok(with_token(stored, &minted));
        }
        let minted = mint(&self.hub, &name, f).await?;
        self.minted.inc();
        let held = Held {
            uid,
            audience: f.audience.clone(),
            lifetime: f.expiration_seconds,
            minted: minted.clone(),
        };
        self.lock().insert(name, held);
        Ok(with_token(stored, &minted))
    }

    fn usable(
        &self,
        name: &str,
        uid: &str,
        f: &extcluster_core::Federated,
        now: i64,
    ) -> Option<Minted> {
        let held = self.lock();
        let h = held.get(name)?;
        let fits = h.uid == uid && h.audience == f.audience;
        let fresh = !renew_due(now, h.minted.expires_at.as_second(), h.lifetime);
        (fits && fresh).then(|| h.minted.clone())
    }

    /// Drops what is held for a registration that left.
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
