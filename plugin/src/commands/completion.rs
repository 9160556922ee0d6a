//! `completion bash|zsh|fish`.

use crate::cli::{Cli, Shell};
use anyhow::Result;
use clap::CommandFactory;

pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    // The plugin's own executable name: shells complete `kubectl-extcluster`, and kubectl
    // (1.26+) completes `kubectl extcluster` through a `kubectl_complete-extcluster` helper.
    let name = "kubectl-extcluster";
    cmd.set_bin_name(name);
    let mut out = Vec::new();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name, &mut out)
        }
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, name, &mut out),
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, name, &mut out)
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn run(shell: Shell) -> Result<()> {
    print!("{}", script(shell));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(shell);
            assert!(s.contains("kubectl-extcluster"), "{shell:?}");
            assert!(s.contains("disconnect"), "{shell:?}");
        }
    }
}
