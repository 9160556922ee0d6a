//! `extcluster-controller-faults`: the controller with the test-only fault compiled in (a probe
//! that panics when its registration asks, see `record::fault_injection`). Built only by
//! `make build` for the tests, never shipped.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    extcluster_controller::run().await
}
