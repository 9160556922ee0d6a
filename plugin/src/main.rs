//! `kubectl extcluster`: register, inspect and disconnect external Kubernetes clusters on a hub.

mod commands;
mod convert;
mod detect;
mod dry_run;
mod hub;
mod hub_identity;
mod login;
mod output;
mod registration;
mod template;
mod trust_setup;

use clap::Parser;
use extcluster_remote::words::one_line;
use std::process::ExitCode;

const ABOUT: &str = "Register Kubernetes clusters you did not create on a hub cluster, and list, \
describe, annotate, refresh and disconnect them. The hub is whatever kubectl talks to \
(--kubeconfig, --context, KUBECONFIG). The external clusters themselves are changed only by \
convert-kubeconfig (and register --convert), which make a ServiceAccount for the hub, and by \
disconnect --cleanup-remote, which removes it.";

const EXAMPLES: &str = "Examples:
  # Register a cluster read-only from its kubeconfig, then look at it
  kubectl extcluster register prod-eu --from-kubeconfig ~/eks.kubeconfig
  kubectl extcluster list
  kubectl extcluster describe prod-eu

  # From an SSO (exec plugin) kubeconfig to a registration in one step
  kubectl extcluster register prod-eu --from-kubeconfig ~/eks.kubeconfig --convert

  # Declare what it can do
  kubectl extcluster annotate prod-eu --detect --dry-run

  # Remove the registration (the cluster itself is left untouched)
  kubectl extcluster disconnect prod-eu --yes";

/// The command line, as `kubectl extcluster --help` shows it.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-extcluster",
    bin_name = "kubectl extcluster",
    version,
    about = ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: hub::Global,
    #[command(subcommand)]
    pub command: commands::Command,
}

/// The status a shell reports for a process ended by SIGPIPE, as kubectl is when its reader goes.
const CLOSED_PIPE_EXIT: i32 = 128 + 13;

/// `describe X | head`: when the reader closes the pipe, `print!` panics on the broken pipe
/// (Rust ignores SIGPIPE). End quietly instead, as kubectl does; any other panic is reported as
/// usual.
fn end_quietly_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE_EXIT);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            eprintln!("{}", usage_error_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    log_at(cli.global.verbosity);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(&cli.global, cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr what `-v LEVEL` asks for, as kubectl's levels: 6 the requests, 7 their headers.
fn log_at(level: u8) {
    use extcluster_remote::http_log::{HEADERS, REQUESTS};
    if level == 0 {
        return;
    }
    let mut directives = vec!["warn".to_owned()];
    if level >= 6 {
        directives.push(format!("{REQUESTS}=debug"));
    }
    if level >= 7 {
        directives.push(format!("{HEADERS}=debug"));
    }
    let filter = tracing_subscriber::EnvFilter::new(directives.join(","));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// A command-line mistake on one line, with where to look next: clap's own message is several
/// lines (usage, tips), which is more than a mistyped flag deserves.
fn usage_error_line(rendered: &str) -> String {
    let (message, rest) = rendered.split_once("\nUsage:").unwrap_or((rendered, ""));
    let message: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("tip:").map_or(l, str::trim_start))
        .collect();
    let mut joined = String::new();
    for part in message {
        if !joined.is_empty() {
            joined.push_str(if joined.ends_with(':') { " " } else { "; " });
        }
        joined.push_str(part);
    }
    let mut line = one_line(&joined);
    if !line.starts_with("error:") {
        line = format!("error: {line}");
    }
    let command: Vec<&str> = rest
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    if !command.is_empty() {
        line.push_str(&format!("; see `{} --help`", command.join(" ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::Command;
    use crate::commands::list::ListArgs;
    use crate::commands::register::ProviderChoice;
    use crate::output::{Format, Printing};
    use clap::CommandFactory;
    use extcluster_core::{Mode, Provider};
    use std::path::PathBuf;

    #[test]
    fn usage_errors_are_one_line() {
        let err = Cli::try_parse_from(["kubectl-extcluster", "register", "x"]).unwrap_err();
        let line = usage_error_line(&err.render().to_string());
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains("provided: --from-kubeconfig"), "{line}");
        assert!(
            line.ends_with("see `kubectl extcluster register --help`"),
            "{line}"
        );
        let err = Cli::try_parse_from(["kubectl-extcluster", "ls", "--foo"]).unwrap_err();
        let line = usage_error_line(&err.render().to_string());
        assert!(line.contains("'--foo'") && !line.contains("tip:"), "{line}");
        let err = Cli::try_parse_from(["kubectl-extcluster", "lst"]).unwrap_err();
        let line = usage_error_line(&err.render().to_string());
        assert!(
            line.contains("'ls'") && !line.contains("For more"),
            "{line}"
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("kubectl extcluster"),
                "{} has no example",
                sub.get_name()
            );
        }
    }

    #[test]
    fn parses_like_kubectl() {
        let cli = Cli::try_parse_from([
            "kubectl-extcluster",
            "register",
            "prod",
            "--from-kubeconfig",
            "/k",
            "--mode",
            "Import",
            "--provider",
            "eks",
            "--kubeconfig",
            "/hub",
        ])
        .unwrap();
        assert_eq!(cli.global.kubeconfig, Some(PathBuf::from("/hub")));
        match cli.command {
            Command::Register(r) => {
                assert_eq!(r.mode, Mode::Import);
                assert_eq!(
                    r.registration.provider,
                    ProviderChoice::Fixed(Provider::EKS)
                );
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["kubectl-extcluster", "ls", "-o", "wide"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::List(ListArgs {
                printing: Printing {
                    output: Some(Format::Wide),
                    ..
                },
                ..
            })
        ));
        let cli = Cli::try_parse_from([
            "kubectl-extcluster",
            "list",
            "-l",
            "env=prod",
            "-o",
            "custom-columns=NAME:.metadata.name",
            "--no-headers",
            "--sort-by",
            "{.metadata.name}",
        ])
        .unwrap();
        let Command::List(list) = cli.command else {
            panic!()
        };
        assert_eq!(list.selector.as_deref(), Some("env=prod"));
        assert!(list.printing.no_headers);
        assert_eq!(
            list.printing.output,
            Some(Format::CustomColumns(vec![(
                "NAME".into(),
                ".metadata.name".into()
            )]))
        );
        assert!(Cli::try_parse_from(["kubectl-extcluster", "ls", "-o", "xml"]).is_err());
        assert!(Cli::try_parse_from(["kubectl-extcluster", "refresh"]).is_err());
        assert!(Cli::try_parse_from(["kubectl-extcluster", "refresh", "a", "--all"]).is_err());
        let bad = Cli::try_parse_from([
            "kubectl-extcluster",
            "register",
            "x",
            "--from-kubeconfig",
            "k",
            "--provider",
            "nope",
        ])
        .unwrap_err()
        .to_string();
        assert!(bad.contains("EKS"), "{bad}");
    }
}
