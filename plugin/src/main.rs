//! `kubectl extcluster`: register, inspect and disconnect external Kubernetes clusters on a hub.

mod cli;
mod commands;
mod errors;
mod external;
mod hub;
mod output;
mod probe;
mod status;
mod stored;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", errors::one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
