//! `ain-sre conformance` (run by `ain-sre-bench conformance`): SECURITY.md's abuse suite and the sandbox contract against every tier
//! this host offers, as one table (or JSON). Exits 1 on any failure.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Catalogs;
use crate::conformance::{self, Options};
use crate::sandbox::Tier;
use crate::sandbox::any::Tiers;
use ain_sre::cli::shared::TierArg;

/// Arguments of `ain-sre conformance`.
#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// Test only this tier (repeatable; default: all three).
    #[arg(long, value_enum)]
    pub tier: Vec<TierArg>,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run only this check (abuse row number or contract id such as `C3`; repeatable).
    #[arg(long)]
    pub check: Vec<String>,
    /// Extra runtime files (overriding or adding to the shipped `runtimes/`), e.g. to test
    /// runtime images under another tag.
    #[arg(long)]
    pub runtimes_dir: Option<PathBuf>,
    /// No progress line per check on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// The engine's OCI runtime for the container tier (e.g. `runsc` for gVisor).
    #[arg(long)]
    pub oci_runtime: Option<String>,
}

pub(crate) async fn run(args: ConformanceArgs) -> anyhow::Result<ExitCode> {
    let mut options = Options {
        progress: !args.quiet,
        only: args.check,
        ..Options::default()
    };
    if !args.tier.is_empty() {
        options.tiers = args.tier.iter().map(|t| Tier::from(*t)).collect();
        options.tiers.dedup();
    }
    // The checks set their own limits: only the runtimes matter here.
    let catalogs = Catalogs::load(args.runtimes_dir.as_deref(), None)?;
    let mut config = conformance::tier_config(Some(catalogs.runtimes));
    config.container.oci_runtime = args.oci_runtime.clone();
    let tiers = Tiers::start(config).await;
    let report = conformance::run(&tiers, &options).await;
    tiers.shutdown().await;
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
