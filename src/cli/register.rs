//! `ain-sre register`: writes this worker's registry entry (`/apps/<app>/sre/workers/<address>`)
//! in each app, listing the runtimes its sandboxes can run here.

use std::process::ExitCode;

use super::common::{CatalogArgs, KeyArgs, NodeArgs, worker_entry};
use crate::client::ChainClient;
use crate::sandbox::any::{TierConfig, Tiers};

/// Arguments of `ain-sre register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// App to register in (repeat for several).
    #[arg(long = "app", required = true)]
    pub apps: Vec<String>,
    /// Calls this worker runs at once (advertised).
    #[arg(long, default_value_t = 64)]
    pub capacity: u64,
    /// The worker's runtime and profile files beyond the shipped ones (its `runtimes_dir` and
    /// `profiles_dir`), so the entry offers what it serves.
    #[command(flatten)]
    catalogs: CatalogArgs,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) async fn run(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let key = args.key.load(false)?;
    let client = ChainClient::connect(&args.node.node, key).await?;
    let catalogs = args.catalogs.load()?;
    let tiers = Tiers::start(TierConfig::default().serving(&catalogs.runtimes)).await;
    let entry = worker_entry(
        &tiers,
        &catalogs.runtimes,
        &catalogs.profiles,
        args.capacity,
        // The run-time config has the final say: a worker whose operator denies egress leaves
        // such calls to others (`run --register` reads it and advertises accordingly).
        true,
    );
    for app in &args.apps {
        let tx = client.register(app, &entry).await?;
        println!("registered {} in app {app} (tx {tx})", client.address());
    }
    println!("{}", serde_json::to_string(&entry)?);
    Ok(ExitCode::SUCCESS)
}
