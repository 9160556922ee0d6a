//! Prints the ExternalCluster CRD from the Rust types (`manifests/crd.yaml`). The ClusterProfile
//! CRD is upstream's, vendored as published (`manifests/cluster-profile/crd.yaml`), never ours.

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => print!("{}", extcluster_core::api::crd_yaml()),
        Some(other) => {
            eprintln!(
                "crdgen: {other:?} is not a CRD it makes; run it with no argument (the \
                 ClusterProfile CRD is upstream's, vendored in manifests/cluster-profile)"
            );
            std::process::exit(2);
        }
    }
}
