//! `--dry-run[=none|client|server]`, as kubectl spells it.

/// How far a command goes without writing. A bare `--dry-run` means `client`, as it did in
/// kubectl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DryRun {
    /// Write.
    #[default]
    None,
    /// Check here (against what the hub holds) and print; send nothing to write.
    Client,
    /// Also send the writes as server-side dry runs: the hub's validation and its webhook see
    /// them, nothing is stored.
    Server,
}

impl DryRun {
    pub fn is_dry(self) -> bool {
        self != DryRun::None
    }

    /// How an outcome line says it was not written: " (dry run)", " (server dry run)".
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

/// The `--dry-run` argument, one definition for every command that has it.
#[derive(Debug, Clone, clap::Args)]
pub struct DryRunArg {
    /// Write nothing: "client" checks here and prints, "server" also has the hub validate the
    /// writes; a bare --dry-run means client
    #[arg(
        long = "dry-run",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_value = "none",
        default_missing_value = "client",
        value_name = "STRATEGY"
    )]
    pub dry_run: DryRun,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        dry: DryRunArg,
    }

    fn parse(args: &[&str]) -> Result<DryRun, clap::Error> {
        Cmd::try_parse_from(std::iter::once("x").chain(args.iter().copied())).map(|c| c.dry.dry_run)
    }

    #[test]
    fn spelled_as_kubectl_spells_it() {
        assert_eq!(parse(&[]).unwrap(), DryRun::None);
        assert_eq!(parse(&["--dry-run"]).unwrap(), DryRun::Client);
        assert_eq!(parse(&["--dry-run=client"]).unwrap(), DryRun::Client);
        assert_eq!(parse(&["--dry-run=server"]).unwrap(), DryRun::Server);
        assert_eq!(parse(&["--dry-run=none"]).unwrap(), DryRun::None);
        assert!(parse(&["--dry-run=banana"]).is_err());
    }
}
