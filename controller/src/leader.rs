//! One active replica, elected through a `coordination.k8s.io/v1` Lease (kube-lease-manager).

use crate::serve::Health;
use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

pub struct Election {
    pub client: Client,
    /// Where this replica says whether it leads.
    pub health: Arc<Health>,
    pub lease_name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
}

impl Election {
    /// Runs `work` while this replica holds the Lease and stops it the moment it does not, or
    /// cannot tell: a replica that cannot renew steps down before its Lease can pass to another,
    /// so no two replicas ever probe at once.
    pub async fn run<F, Fut>(&self, work: F) -> !
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut running: Option<JoinHandle<()>> = None;
        loop {
            let manager = match self.manager().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the Lease; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            loop {
                match manager.changed().await {
                    Ok(true) => {
                        tracing::info!(identity = %self.identity, "leading: probing registrations");
                        running.get_or_insert_with(|| tokio::spawn(work()));
                        self.health.metrics.leader.set(1);
                    }
                    Ok(false) => {
                        tracing::info!(identity = %self.identity, "no longer leading");
                        self.stop(&mut running);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot renew the Lease: stepping down");
                        self.stop(&mut running);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// A fresh manager: after an error its idea of who leads cannot be trusted.
    async fn manager(&self) -> kube_lease_manager::Result<LeaseManager> {
        let duration = self.duration.as_secs().max(2);
        LeaseManagerBuilder::new(self.client.clone(), &self.lease_name)
            .with_namespace(&self.namespace)
            .with_identity(&self.identity)
            .with_duration(duration)
            .with_grace((duration / 3).max(1))
            .with_field_manager("extcluster-controller")
            .build()
            .await
    }
}

impl Election {
    fn stop(&self, running: &mut Option<JoinHandle<()>>) {
        if let Some(task) = running.take() {
            task.abort();
        }
        self.health.metrics.leader.set(0);
    }
}
