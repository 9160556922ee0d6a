//! Named steps of a long scenario test whose setup is too costly to repeat per step: a failure
//! reports the step it happened in, and the log shows how far the scenario got.

/// The step a scenario is in. Keep it alive for the whole scenario; when a panic unwinds past it,
/// it names the step.
pub struct Steps {
    current: &'static str,
}

impl Steps {
    pub fn start(first: &'static str) -> Self {
        eprintln!("step: {first}");
        Self { current: first }
    }

    pub fn next(&mut self, step: &'static str) {
        eprintln!("step: {step}");
        self.current = step;
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("FAILED in step: {}", self.current);
        }
    }
}
