//! Prints a CRD from the Rust types: `crdgen` the ExternalCluster CRD (`manifests/crd.yaml`),
//! `crdgen cluster-profile` the ClusterProfile CRD (`manifests/cluster-profile/crd.yaml`).

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => print!("{}", extcluster_core::api::crd_yaml()),
        Some("cluster-profile") => print!("{}", extcluster_core::inventory::crd_yaml()),
        Some(other) => {
            eprintln!(
                "crdgen: {other:?} is not a CRD it knows; run it with no argument or with cluster-profile"
            );
            std::process::exit(2);
        }
    }
}
