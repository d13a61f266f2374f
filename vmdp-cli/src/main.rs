//! The `vmdp` command: a thin front end over vmdp-core. Parsing is in [`cli`],
//! each command family in `commands`, printing in [`output`], progress bars in
//! [`progress_bar`].

mod cli;
mod commands;
mod output;
mod progress_bar;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes shared by every command.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command failed.
    pub const ERROR: u8 = 1;
    /// Bad command line (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// The command finished but some files failed.
    pub const PARTIAL: u8 = 3;
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(&cli.global.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let json = cli.global.json;
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                output::print_json(&serde_json::json!({ "error": e.to_string() }));
            }
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Diagnostics go to stderr, filtered by `--log-level` / `VMDP_LOG`.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
