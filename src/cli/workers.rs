//! `ain-sre workers list|add|remove --app A [ADDR]`: the app admin's view and control of which
//! workers may register and answer calls (`/apps/<app>/sre/allowed_workers`).

use std::process::ExitCode;

use super::common::{KeyArgs, NodeArgs};
use crate::client::{AppWorkers, ChainClient};
use crate::ledger::crypto::Address;
use crate::ledger::rpc::RpcClient;
use crate::scheduler::assign::Presence;

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
    /// Print the app's worker setting and each approved or registered worker: runtimes,
    /// capacity, liveness (last heartbeat, draining) and the node it is paired with.
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
            // Secrets follow the approval: re-encrypted from the admin's copies for every
            // registered worker lacking them (a worker not registered yet gets them at the next
            // `secrets sync`, once its entry publishes its key).
            match crate::onchain::AppPaths::new(&app) {
                Ok(p) => match crate::secrets::client::sync(&client, &p).await {
                    Ok(0) => {}
                    Ok(n) => println!("secrets: wrote {n} copies for newly approved workers"),
                    Err(e) => eprintln!(
                        "secrets: not re-encrypted ({e}); run `ain-sre secrets sync --app {app}`"
                    ),
                },
                Err(e) => eprintln!("secrets: {e}"),
            }
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

/// One line per known worker: approved, registered, what it may do, its runtimes and capacity,
/// its liveness (age of its last heartbeat, draining) and the node it is paired with.
fn list(app: &str, w: &AppWorkers) {
    super::deploy::print_worker_setting(app, w);
    let mut all: Vec<Address> = w.approved.iter().copied().collect();
    all.extend(w.registered.keys().filter(|a| !w.approved.contains(a)));
    if all.is_empty() {
        println!("no approved or registered workers");
        return;
    }
    let now = crate::call::now_ms();
    println!(
        "| worker | approved | registered | may answer | runtimes | capacity | last seen | state | paired with |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for a in all {
        let entry = w.registered.get(&a);
        let runtimes = entry
            .and_then(|e| e["runtimes"].as_object())
            .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        let capacity = entry
            .and_then(|e| e["capacity"].as_u64())
            .map(|c| c.to_string())
            .unwrap_or_default();
        let p = entry.map(Presence::from_entry).unwrap_or_default();
        let yn = |b: bool| if b { "yes" } else { "no" };
        println!(
            "| {a} | {} | {} | {} | {runtimes} | {capacity} | {} | {} | {} |",
            yn(w.approved.contains(&a)),
            yn(entry.is_some()),
            yn(w.may_answer(&a)),
            last_seen(&p, now),
            state(&p, now),
            p.paired_with.as_deref().unwrap_or("-"),
        );
    }
}

/// `12.3 s ago`, or `never` for an entry without a heartbeat.
fn last_seen(p: &Presence, now: u64) -> String {
    match p.last_seen {
        Some(t) => format!("{:.1} s ago", now.saturating_sub(t) as f64 / 1000.0),
        None => "never".into(),
    }
}

/// `live`, `draining`, `stale` (no heartbeat within its window: ranked by nobody) or `-`.
fn state(p: &Presence, now: u64) -> &'static str {
    match (p.last_seen.is_some(), p.live(now), p.draining) {
        (false, _, _) => "-",
        (true, true, false) => "live",
        (true, _, true) => "draining",
        (true, false, false) => "stale",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_columns() {
        let p = |v: serde_json::Value| Presence::from_entry(&v);
        let now = 1_000_000;
        let live = p(serde_json::json!({"last_seen": now - 1500, "heartbeat_ms": 1000}));
        assert_eq!(
            (last_seen(&live, now).as_str(), state(&live, now)),
            ("1.5 s ago", "live")
        );
        let stale = p(serde_json::json!({"last_seen": now - 3500, "heartbeat_ms": 1000}));
        assert_eq!(state(&stale, now), "stale");
        let drain = p(serde_json::json!({"last_seen": now, "draining": true}));
        assert_eq!(state(&drain, now), "draining");
        assert_eq!(
            (
                last_seen(&Presence::default(), now).as_str(),
                state(&Presence::default(), now)
            ),
            ("never", "-")
        );
    }
}
