//! One registration's look, from what the watches hold: its kubeconfig Secret, read from memory,
//! and the shared look of `extcluster_remote::observe`.

use extcluster_core::health::Observation;
use extcluster_core::{ExternalCluster, SecretKeyRef};
use extcluster_remote::observe::{self, Limits};
use extcluster_remote::stored;
use k8s_openapi::api::core::v1::Secret;

/// Where a registration's kubeconfig is.
pub fn secret_ref(cluster: &ExternalCluster) -> SecretKeyRef {
    stored::secret_ref(cluster)
}

/// Looks at `cluster` through the kubeconfig in `secret`, the Secret its reference names (`None`:
/// the hub has none there, or it is outside the namespace the controller may read).
pub async fn observe(
    limits: Limits,
    cluster: &ExternalCluster,
    secret: Option<&Secret>,
    check_rights: bool,
) -> Observation {
    let kubeconfig = stored::from_secret(secret, &secret_ref(cluster));
    observe::observe(kubeconfig, cluster, check_rights, limits).await
}
