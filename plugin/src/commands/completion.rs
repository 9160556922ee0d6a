//! `completion bash|zsh|fish`.

use crate::Cli;
use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print a shell completion script
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  kubectl extcluster completion bash > /etc/bash_completion.d/kubectl-extcluster
  kubectl extcluster completion zsh > \"${fpath[1]}/_kubectl-extcluster\"
  kubectl extcluster completion fish > ~/.config/fish/completions/kubectl-extcluster.fish")]
pub struct CompletionArgs {
    #[arg(value_parser = shells())]
    pub shell: Shell,
}

/// The shells a script is offered for.
fn shells() -> impl TypedValueParser<Value = Shell> {
    PossibleValuesParser::new(["bash", "zsh", "fish"]).map(|name| match name.as_str() {
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        _ => Shell::Bash,
    })
}

pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    // The plugin's own executable name: shells complete `kubectl-extcluster`, and kubectl
    // (1.26+) completes `kubectl extcluster` through a `kubectl_complete-extcluster` helper.
    let name = "kubectl-extcluster";
    cmd.set_bin_name(name);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn run(args: &CompletionArgs) -> Result<()> {
    print!("{}", script(args.shell));
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
