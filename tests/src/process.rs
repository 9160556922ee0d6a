//! A child process that cannot outlive its test: it runs in its own process group under a small
//! shell watchdog that ends it when the test process goes away (even by SIGKILL), and `Drop`
//! ends the group.

use crate::wait::Wait;
use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Supervised {
    name: String,
    child: Option<Child>,
}

/// Runs "$@" in the background and waits; ends it on TERM or when the test process ($1) is gone.
const WATCHDOG: &str = r#"p=$1; shift
"$@" & c=$!
trap 'kill -TERM $c 2>/dev/null; wait $c; exit 0' TERM INT
while kill -0 "$p" 2>/dev/null && kill -0 "$c" 2>/dev/null; do sleep 0.5; done
kill -TERM $c 2>/dev/null; wait $c"#;

impl Supervised {
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Result<Self> {
        Self::spawn_with_env(name, program, args, &[], log)
    }

    /// [`Supervised::spawn`] with extra environment variables for the program.
    pub fn spawn_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self> {
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Ends the process group: TERM, then KILL after a grace period.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = Pid::from_raw(child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let exited = Wait::up_to(Duration::from_secs(5), format!("{} to stop", self.name))
            .every(Duration::from_millis(20))
            .until_blocking(|| matches!(child.try_wait(), Ok(Some(_))).then_some(()));
        // Once the watchdog has waited for its child, stragglers in the group get KILL; so does
        // a group that ignored TERM.
        let _ = killpg(group, Signal::SIGKILL);
        if exited.is_err() {
            let _ = child.wait();
        }
    }
}

impl Supervised {
    /// Ends the process group at once with KILL, as a node failure or the OOM killer would: no
    /// chance to clean up or hand anything over.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

impl Supervised {
    /// SIGSTOP to the group: the process stands still, its connections open, as a VM or
    /// container frozen by its host.
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT to the group.
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child {
            let _ = killpg(Pid::from_raw(child.id() as i32), signal);
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}
