//! `ain-sre workers list|add|remove --app A [ADDR]`: the app admin's view and control of which
//! workers may register and answer calls (`/apps/<app>/sre/allowed_workers`).

use std::process::ExitCode;

use super::common::{KeyArgs, NodeArgs};
use crate::client::{AppWorkers, ChainClient};
use crate::ledger::crypto::Address;
use crate::ledger::rpc::RpcClient;

/// Arguments of `ain-sre workers`.
#[derive(Debug, clap::Args)]
pub struct WorkersArgs {
    /// What to do.
    #[command(subcommand)]
    action: WorkersAction,
}

/// `ain-sre workers` actions.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum WorkersAction {
    /// Print the app's worker setting, the approved workers and the registered ones.
    List {
        /// App name.
        #[arg(long)]
        app: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Approve a worker (admin key): it may then register and answer calls.
    Add {
        /// App name.
        #[arg(long)]
        app: String,
        /// The worker's address.
        address: Address,
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Withdraw a worker's approval and delete its registry entry (admin key): the chain
    /// refuses its answers from then on.
    Remove {
        /// App name.
        #[arg(long)]
        app: String,
        /// The worker's address.
        address: Address,
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
}

pub(crate) async fn run(args: WorkersArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        WorkersAction::List { app, node } => {
            let rpc = RpcClient::new(&node.node)?;
            list(&app, &AppWorkers::fetch(&rpc, &app).await?);
        }
        WorkersAction::Add {
            app,
            address,
            node,
            key,
        } => {
            let client = ChainClient::connect(&node.node, key.load(false)?).await?;
            let tx = client.approve_worker(&app, &address).await?;
            println!("approved {address} in app {app} (tx {tx})");
            list(&app, &AppWorkers::fetch(client.rpc(), &app).await?);
        }
        WorkersAction::Remove {
            app,
            address,
            node,
            key,
        } => {
            let client = ChainClient::connect(&node.node, key.load(false)?).await?;
            let tx = client.remove_worker(&app, &address).await?;
            println!("removed {address} from app {app} (tx {tx})");
            list(&app, &AppWorkers::fetch(client.rpc(), &app).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per known worker: approved, registered, what it may do, its runtimes.
fn list(app: &str, w: &AppWorkers) {
    super::deploy::print_worker_setting(app, w);
    let mut all: Vec<Address> = w.approved.iter().copied().collect();
    all.extend(w.registered.keys().filter(|a| !w.approved.contains(a)));
    if all.is_empty() {
        println!("no approved or registered workers");
        return;
    }
    println!("| worker | approved | registered | may answer | runtimes |");
    println!("|---|---|---|---|---|");
    for a in all {
        let entry = w.registered.get(&a);
        let runtimes = entry
            .and_then(|e| e["runtimes"].as_object())
            .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        let yn = |b: bool| if b { "yes" } else { "no" };
        println!(
            "| {a} | {} | {} | {} | {runtimes} |",
            yn(w.approved.contains(&a)),
            yn(entry.is_some()),
            yn(w.may_answer(&a)),
        );
    }
}
