//! Prints `manifests/crd.yaml` from the Rust types: `cargo run -p extcluster-core --bin crdgen`.

fn main() {
    print!("{}", extcluster_core::api::crd_yaml());
}
