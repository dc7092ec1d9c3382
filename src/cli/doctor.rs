//! `ain-sre doctor`: what this host can run, and why not.

use std::process::ExitCode;

use clap::Args;

use super::run::RunFile;
use crate::config::runtimes::RuntimeCatalog;
use crate::sandbox::any::Tiers;
use crate::sandbox::doctor::{Check, Level};

/// Arguments of `ain-sre doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// The worker config file whose settings to check (e.g. the container tier's image policy).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

pub(crate) async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let runtimes = RuntimeCatalog::shipped()?;
    let file = match &args.config {
        Some(p) => RunFile::load(p)?,
        None => RunFile::default(),
    };
    let tiers = Tiers::start(file.tier_config()).await;
    let checks = tiers.doctor(&runtimes);
    tiers.shutdown().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        print!("{}", table(&checks));
    }
    let failed = checks.iter().any(|c| c.level == Level::Fail);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The findings as an aligned text table.
fn table(checks: &[Check]) -> String {
    let w_area = checks.iter().map(|c| c.area.len()).max().unwrap_or(0);
    let w_what = checks.iter().map(|c| c.what.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!(
            "{:<4}  {:<w_area$}  {:<w_what$}  {}\n",
            c.level.to_string(),
            c.area,
            c.what,
            c.detail
        ));
    }
    out
}
