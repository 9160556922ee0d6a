//! Federated registrations: the cluster trusts the hub's ServiceAccount issuer, and the hub
//! reaches it with short-lived tokens of a ServiceAccount of its own, one per registration.
//! What follows from the registration alone: the account, the audience, the username the
//! cluster sees, and when a token in hand is due for renewal.

use crate::api::{ExternalCluster, Federated, SYSTEM_NAMESPACE};

/// TokenRequest refuses lifetimes under 10 minutes (any token, not only a federated one's); it
/// is also a federated registration's default.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Set before the token's subject by the cluster, so hub identities cannot collide with names
/// the cluster gives its own users (`system:...`).
pub const DEFAULT_USERNAME_PREFIX: &str = "extcluster:";
/// The name of the ClusterRoleBinding on the cluster that gives the hub identity its rights.
pub const BINDING_PREFIX: &str = "extcluster-hub:";

/// The audience of a registration's tokens unless the user gives one.
pub fn default_audience(cluster_id: &str) -> String {
    format!("extcluster.io/{cluster_id}")
}

/// The hub ServiceAccount whose tokens reach registration `name`: namespace and name.
pub fn service_account(name: &str) -> (&'static str, &str) {
    (SYSTEM_NAMESPACE, name)
}

/// The subject of the hub's tokens for registration `name`, as the hub's issuer writes it.
pub fn subject(name: &str) -> String {
    format!("system:serviceaccount:{SYSTEM_NAMESPACE}:{name}")
}

/// The username the cluster authorizes the hub's tokens for registration `name` as.
pub fn username(name: &str, federated: &Federated) -> String {
    format!("{}{}", federated.username_prefix, subject(name))
}

/// The registration's federation settings, when it is federated.
pub fn of(cluster: &ExternalCluster) -> Option<&Federated> {
    cluster.spec.federated.as_ref()
}

/// Whether a token that expires at `expires` (seconds since the epoch) and was minted for
/// `lifetime` seconds should be replaced at `now`: when less than a third of its life is left,
/// so a probe never starts with a token that could expire while it runs.
pub fn renew_due(now: i64, expires: i64, lifetime: i64) -> bool {
    expires - now < lifetime / 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_registration() {
        let f = Federated {
            audience: default_audience("uid-1"),
            username_prefix: DEFAULT_USERNAME_PREFIX.into(),
            expiration_seconds: MIN_EXPIRATION_SECONDS,
        };
        assert_eq!(f.audience, "extcluster.io/uid-1");
        assert_eq!(
            username("prod", &f),
            "extcluster:system:serviceaccount:extcluster-system:prod"
        );
        assert_eq!(service_account("prod"), ("extcluster-system", "prod"));
    }

    #[test]
    fn a_token_is_renewed_with_a_third_of_its_life_left() {
        assert!(!renew_due(1000, 1600, 600));
        assert!(!renew_due(1399, 1600, 600));
        assert!(renew_due(1401, 1600, 600));
        assert!(renew_due(1700, 1600, 600));
    }
}
