//! `ain-sre deploy`: creates the app if needed, writes its rules, uploads a function's code
//! (inline, or chunked blobs when large) and its spec; prints the function path and code hash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::common::{KeyArgs, NodeArgs};
use crate::client::{ChainClient, Deployment};
use crate::config::runtimes::RuntimeCatalog;
use crate::ledger::tx::SimpleOp;
use crate::onchain::{AppPaths, Callers, Finality};

/// Arguments of `ain-sre deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The function: a source file or a directory holding one runtime's source file.
    pub path: PathBuf,
    /// App name.
    #[arg(long)]
    pub app: String,
    /// Function name.
    #[arg(long = "fn")]
    pub function: String,
    /// Runtime (default: from the file).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Sandbox profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Who may call: `any`, or a comma-separated list of addresses.
    #[arg(long, default_value = "any")]
    pub callers: Callers,
    /// When workers run calls: `executed` (first sighting) or `finalized`.
    #[arg(long, value_enum)]
    pub finality: Option<FinalityArg>,
    /// Who may register as a worker: `any`, or a comma-separated list of addresses.
    #[arg(long, default_value = "any")]
    pub workers: Callers,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    key: KeyArgs,
}

/// `--finality`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FinalityArg {
    /// Run on the first sighting.
    Executed,
    /// Run once the request's block is final.
    Finalized,
}

pub(crate) async fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let runtimes = RuntimeCatalog::shipped()?;
    let (file, runtime) = super::invoke::locate(&args.path, args.runtime.as_deref(), &runtimes)?;
    let code = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let key = args.key.load(false)?;
    let client = ChainClient::connect(&args.node.node, key).await?;
    let d = Deployment {
        app: args.app.clone(),
        function: args.function.clone(),
        runtime: runtime.name.clone(),
        code,
        profile: args.profile.clone(),
        callers: args.callers.clone(),
        finality: args.finality.map(|f| match f {
            FinalityArg::Executed => Finality::Executed,
            FinalityArg::Finalized => Finality::Finalized,
        }),
        open_registration: args.workers == Callers::Any,
    };
    let out = client.deploy(&d).await?;
    if let Callers::Only(list) = &args.workers {
        let app = AppPaths::new(&args.app)?;
        let ops = list
            .iter()
            .map(|a| SimpleOp::set_value(app.allowed_worker(a), serde_json::Value::Bool(true)))
            .collect();
        client.send(ops).await?;
    }
    if out.created_app {
        println!("created app {} (admin {})", args.app, client.address());
    }
    println!("function: {}", out.path);
    println!("runtime:  {}", runtime.name);
    println!("sha256:   {}", out.code_hash);
    println!(
        "code:     {}",
        if out.chunks == 0 {
            "inline".to_owned()
        } else {
            format!("{} blob chunks", out.chunks)
        }
    );
    println!("callers:  {}", args.callers);
    Ok(ExitCode::SUCCESS)
}
