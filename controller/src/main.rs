//! `extcluster-controller`; the program is the library (lib.rs), shared with the test-only
//! build `extcluster-controller-faults`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    extcluster_controller::run().await
}
