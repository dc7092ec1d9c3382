//! `ain-sre deploy`: creates the app if needed, writes its rules, uploads a function's code
//! (inline, or chunked blobs when large) and its spec; prints the function path and code hash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::common::{CatalogArgs, KeyArgs, NodeArgs};
use crate::client::{AppWorkers, ChainClient, Deployment};
use crate::ledger::crypto::Address;
use crate::ledger::tx::SimpleOp;
use crate::onchain::{AppPaths, Callers, Finality, Retention, WorkerPolicy};

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
    /// Which workers may register and answer, for the whole app: `approved` (only addresses the
    /// admin approved with `ain-sre workers add`), a comma-separated list of addresses to
    /// approve now (closed too), or `any` (any key may register itself and answer: warned).
    #[arg(long, default_value = "approved")]
    pub workers: WorkersArg,
    /// Calls of this function kept in state: the node itself prunes the oldest ones
    /// (`gc_max_siblings` on `calls/<fn>/$call_id`); results stay in the blocks. At least 10
    /// (the node deletes at least 10 at a time); 0 = no limit.
    #[arg(long, default_value_t = 1000)]
    pub keep: u64,
    /// Stake this much of the deploying key's balance on the app (before anything else is
    /// written), taking it out of the free tier that all unstaked apps share.
    #[arg(long, value_name = "AMOUNT")]
    pub stake: Option<f64>,
    /// Runtime and profile files beyond the shipped ones (as the workers' `runtimes_dir` and
    /// `profiles_dir`): the runtime and profile named must be known there.
    #[command(flatten)]
    catalogs: CatalogArgs,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    key: KeyArgs,
}

/// `--workers`: the app's policy and addresses to approve now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkersArg {
    /// The policy written to `config/workers`.
    pub policy: WorkerPolicy,
    /// Addresses approved by this deploy.
    pub approve: Vec<Address>,
}

impl std::str::FromStr for WorkersArg {
    type Err = String;
    fn from_str(s: &str) -> Result<WorkersArg, String> {
        match s.trim() {
            "approved" => Ok(WorkersArg {
                policy: WorkerPolicy::Approved,
                approve: Vec::new(),
            }),
            "any" => Ok(WorkersArg {
                policy: WorkerPolicy::Any,
                approve: Vec::new(),
            }),
            list => match list.parse::<Callers>()? {
                Callers::Only(approve) => Ok(WorkersArg {
                    policy: WorkerPolicy::Approved,
                    approve,
                }),
                Callers::Any => Err("unreachable: `any` is handled above".into()),
            },
        }
    }
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
    let keep = Retention::from_keep(args.keep)?;
    let catalogs = args.catalogs.load()?;
    let (file, runtime) =
        super::invoke::locate(&args.path, args.runtime.as_deref(), &catalogs.runtimes)?;
    if let Some(p) = &args.profile {
        catalogs.profiles.get(p)?;
    }
    let code = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let key = args.key.load(false)?;
    let client = ChainClient::connect(&args.node.node, key).await?;
    if let Some(amount) = args.stake {
        anyhow::ensure!(amount > 0.0, "--stake must be more than 0");
        // First: once the free tier is full, even the deploy's own writes would be refused.
        client
            .stake(&args.app, amount)
            .await
            .with_context(|| format!("staking {amount} on app `{}`", args.app))?;
        println!(
            "staked:   {amount} on app {} by {}",
            args.app,
            client.address()
        );
    }
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
        workers: args.workers.policy,
    };
    let out = client.deploy_keeping(&d, keep).await?;
    if !args.workers.approve.is_empty() {
        let app = AppPaths::new(&args.app)?;
        let ops = args
            .workers
            .approve
            .iter()
            .map(|a| SimpleOp::set_value(app.allowed_worker(a), serde_json::Value::Bool(true)))
            .collect();
        client.send(ops).await?;
    }
    let workers = AppWorkers::fetch(client.rpc(), &args.app).await?;
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
    println!("keeps:    {keep}");
    print_state_usage(&client, &args.app, keep).await;
    print_worker_setting(&args.app, &workers);
    Ok(ExitCode::SUCCESS)
}

/// Prints the app's state usage and, for an unstaked app that will run into the shared free
/// tier at this retention, a warning on stderr.
async fn print_state_usage(client: &ChainClient, app: &str, keep: Retention) {
    match client.state_usage(app).await {
        Ok(Some(u)) => {
            let tier = if u.stake > 0.0 {
                format!("staked {}: its share of the apps budget", u.stake)
            } else {
                "not staked: the free tier shared by all unstaked apps".to_owned()
            };
            println!(
                "state:    {} bytes used, {} available ({tier})",
                u.tree_bytes as u64, u.available_bytes as u64
            );
            if let Some(w) = u.free_tier_warning(app, keep) {
                eprintln!("{w}");
            }
        }
        Ok(None) => println!("state:    the node does not report state usage"),
        Err(e) => println!("state:    usage unavailable ({e})"),
    }
}

/// Prints the app's worker setting; for an open app, a warning on stderr saying what it allows.
pub(crate) fn print_worker_setting(app: &str, w: &AppWorkers) {
    match w.policy {
        WorkerPolicy::Approved => {
            let list: Vec<String> = w.approved.iter().map(|a| a.to_string()).collect();
            println!(
                "workers:  approved only ({} approved{}{})",
                list.len(),
                if list.is_empty() { "" } else { ": " },
                list.join(", ")
            );
            let waiting = w
                .registered
                .keys()
                .filter(|a| !w.approved.contains(a))
                .count();
            if waiting > 0 {
                println!(
                    "          {waiting} registered worker(s) not approved cannot answer: ain-sre workers list --app {app}"
                );
            }
            if list.is_empty() {
                println!(
                    "          no worker can answer yet: ain-sre workers add --app {app} 0xADDRESS"
                );
            }
        }
        WorkerPolicy::Any => {
            println!("workers:  any (open registration)");
            eprintln!(
                "warning: app `{app}` is open (--workers any): any key can register itself as a worker and answer every call with whatever it likes; only clients that verify responses (ain-sre call --wait) notice a forged one. Deploy without --workers any to close it."
            );
        }
    }
}
