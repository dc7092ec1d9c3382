//! `ain-sre bench` and `ain-sre conformance`: both live in crate `sre-bench`, whose binary
//! `ain-sre-bench` sits beside this one, so the benchmarks and the abuse suite stay out of the
//! worker's library. This process replaces itself with that binary (exec), passing the arguments
//! unchanged: stdin, stdout, stderr and the exit status are the helper's own.
//!
//! One binary cannot do both: Cargo does not let the `ain-sre` binary depend on a crate that
//! depends on the `ain-sre` library, which the benchmarks need.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Context;

use crate::telemetry::LogFormat;

/// The helper's file name, looked for in the directory of this executable.
pub(crate) const BENCH_EXE: &str = "ain-sre-bench";

/// Everything after the subcommand, passed through (its `--help` is the helper's).
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true, disable_version_flag = true)]
pub struct ForwardArgs {
    /// The arguments of `ain-sre-bench <command>` (`--help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<OsString>,
}

/// `ain-sre-bench` beside the running executable (after symlinks, as the jail helper is found).
fn bench_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("the current executable")?;
    let path = exe.with_file_name(BENCH_EXE);
    if path.is_file() {
        return Ok(path);
    }
    anyhow::bail!(
        "{BENCH_EXE} is not next to {}: build it with `cargo build --release -p sre-bench` \
         (`cargo build --release` at the workspace root builds both binaries)",
        exe.display()
    )
}

/// Execs `ain-sre-bench <command> ARGS...`. The global log options given before the subcommand
/// go to the helper through the environment variables they can also be set by. Returns only on
/// failure.
pub(crate) fn exec(
    command: &str,
    args: ForwardArgs,
    log_format: LogFormat,
    log_level: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let path = bench_exe()?;
    let mut cmd = Command::new(&path);
    cmd.arg(command).args(&args.args);
    // Not the default: that is the helper's default too (and an inherited variable stays).
    if log_format != LogFormat::Human
        && let Some(format) = clap::ValueEnum::to_possible_value(&log_format)
    {
        cmd.env("AIN_SRE_LOG_FORMAT", format.get_name());
    }
    if let Some(level) = log_level {
        cmd.env("AIN_SRE_LOG", level);
    }
    let err = cmd.exec();
    Err(err).with_context(|| format!("starting {}", path.display()))
}
