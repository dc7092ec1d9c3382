//! The `ain-sre-bench` command line: `bench` and `conformance`, with exactly the arguments they
//! had as `ain-sre` subcommands (`ain-sre bench ...` still runs them, through this binary).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ain_sre::cli::shared::LogArgs;

mod bench;
mod conformance;

pub use ain_sre::cli::shared::TierArg;
pub use bench::{BenchArgs, Group};
pub use conformance::ConformanceArgs;

/// ain-sre-bench: ain-sre's benchmarks and conformance suite (also run as `ain-sre bench` and
/// `ain-sre conformance`).
// Usage lines say `ain-sre`: that is how users reach these commands, and it works from here too.
#[derive(Debug, Parser)]
#[command(name = "ain-sre-bench", bin_name = "ain-sre", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The same global options as `ain-sre`'s, which passes them on through their variables.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run benchmarks and print their numbers (the README's figures come from here).
    Bench(BenchArgs),
    /// Run the abuse suite (README, "Conformance") and the sandbox contract against every tier available here
    /// and print one table (checks x tiers). Exits 1 on any failure.
    Conformance(ConformanceArgs),
}

impl Cli {
    /// The log filter: `--log-level` / `$AIN_SRE_LOG` when given, else `info`.
    pub fn log_filter(&self) -> &str {
        self.log.log_level.as_deref().unwrap_or("info")
    }

    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Bench(args) => bench::run(args).await,
            Command::Conformance(args) => conformance::run(args).await,
        }
    }
}
