//! Named steps of a long scenario test whose setup is too costly to repeat per step: a failure
//! reports the step it happened in, and the log shows how far the scenario got.
//!
//! A step that only checks (it leaves the scenario as the later steps expect it, failed or not)
//! can run through [`Steps::check`]: its failure is recorded, the scenario goes on, and the test
//! fails at the end naming every step that failed, so one failure does not hide what else broke.

use futures::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

/// The step a scenario is in. Keep it alive for the whole scenario; when a panic unwinds past it,
/// it names the step.
pub struct Steps {
    current: &'static str,
    /// When the scenario's first step began: each step's line says how far in it begins.
    began: Instant,
    /// The checks that failed so far, with their panic messages.
    failed: Vec<(&'static str, String)>,
}

impl Steps {
    pub fn start(first: &'static str) -> Self {
        eprintln!("step: {first}");
        Self {
            current: first,
            began: Instant::now(),
            failed: Vec::new(),
        }
    }

    pub fn next(&mut self, step: &'static str) {
        eprintln!("step: {step} ({:.1?} in)", self.began.elapsed());
        self.current = step;
    }

    /// Runs `check` as step `step`; if it panics, the panic is recorded and the scenario goes on.
    /// Only for steps whose failure leaves the state the later steps start from as it was meant
    /// to be (reads, or writes the later steps do not rely on). The panic's own message is on
    /// stderr where it happened, as usual.
    pub async fn check(&mut self, step: &'static str, check: impl Future<Output = ()>) {
        self.next(step);
        // Unwind safety: after a failed check the scenario's state is only read by later steps,
        // and a check that leaves it broken makes those fail too, each with its own message.
        if let Err(panic) = AssertUnwindSafe(check).catch_unwind().await {
            self.failed.push((step, message(&*panic)));
        }
    }

    /// Ends the scenario: fails the test, naming every check that failed, if any did.
    pub fn finish(self) {}
}

fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

impl Drop for Steps {
    fn drop(&mut self) {
        let failed: String = self
            .failed
            .iter()
            .map(|(step, why)| format!("\n  {step}: {why}"))
            .collect();
        if std::thread::panicking() {
            eprintln!("FAILED in step: {}", self.current);
            if !failed.is_empty() {
                eprintln!("failed checks before it:{failed}");
            }
        } else if !failed.is_empty() {
            // Not unwinding: the scenario ran to its end (or to `finish`), with failed checks.
            panic!("{} step(s) failed:{failed}", self.failed.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Steps;

    fn run(scenario: impl FnOnce(&mut Steps)) -> Result<(), String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut steps = Steps::start("first");
            scenario(&mut steps);
            steps.finish();
        }))
        .map_err(|p| super::message(&*p))
    }

    fn check(steps: &mut Steps, step: &'static str, ok: bool) {
        futures::executor::block_on(steps.check(step, async move { assert!(ok, "{step} broke") }));
    }

    #[test]
    fn a_failed_check_lets_the_scenario_go_on_and_fails_it_at_the_end() {
        let mut reached = false;
        let result = run(|steps| {
            check(steps, "a", false);
            check(steps, "b", true);
            check(steps, "c", false);
            reached = true;
        });
        assert!(reached, "the steps after a failed check ran");
        let why = result.unwrap_err();
        assert!(why.starts_with("2 step(s) failed"), "{why}");
        assert!(
            why.contains("a: a broke") && why.contains("c: c broke"),
            "{why}"
        );
        assert!(!why.contains("b:"), "{why}");
    }

    #[test]
    fn passing_checks_pass() {
        run(|steps| check(steps, "a", true)).unwrap();
    }
}
