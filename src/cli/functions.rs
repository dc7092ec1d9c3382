//! `ain-sre functions list|show|rm`: what an app runs, as the chain stores it: each function's
//! spec (runtime, profile, code hash and size, version, limits), its retention, the kept
//! previous versions and the app's worker setting; `rm` deletes a function (admin key).

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::common::{KeyArgs, NodeArgs};
use crate::client::{AppWorkers, FunctionVersions};
use crate::ledger::rpc::{GetOp, GetRequest, RpcClient};
use crate::ledger::tx::SimpleOp;
use crate::node::{Node, get_value};
use crate::onchain::{AppPaths, FunctionSpec, WorkerPolicy, rules};

/// Arguments of `ain-sre functions`.
#[derive(Debug, clap::Args)]
pub struct FunctionsArgs {
    /// What to do.
    #[command(subcommand)]
    action: FunctionsAction,
}

/// `functions` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FunctionsAction {
    /// One line per function: version, runtime, profile, code size and hash, retention.
    List {
        /// App name (default against a dev chain: `dev`).
        #[arg(long)]
        app: Option<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One function's spec (the code itself left out unless --code), its kept versions, its
    /// retention and the app's worker setting.
    // Its `--version` is the spec's: the propagated version flag is off here.
    #[command(disable_version_flag = true)]
    Show {
        /// App name (default against a dev chain: `dev`).
        #[arg(long)]
        app: Option<String>,
        /// Function name.
        #[arg(long = "fn")]
        function: String,
        /// A kept previous version instead of the current one.
        #[arg(long)]
        version: Option<u64>,
        /// Print the inline code too.
        #[arg(long)]
        code: bool,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Delete a function: its spec, its kept versions and the code blobs no other spec uses
    /// (app admin's key; none needed against a dev chain). Its calls stay until pruned.
    Rm {
        /// App name (default against a dev chain: `dev`).
        #[arg(long)]
        app: Option<String>,
        /// Function name.
        #[arg(long = "fn")]
        function: String,
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
}

/// The app to read: `--app`, else `dev` on a dev chain.
async fn read_app(rpc: &RpcClient, app: Option<String>, node: &str) -> anyhow::Result<AppPaths> {
    let dev = app.is_none() && super::common::dev_chain_key(rpc).await.is_some();
    Ok(AppPaths::new(&super::common::app_or_dev(app, dev, node)?)?)
}

pub(crate) async fn run(args: FunctionsArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        FunctionsAction::List { app, node } => {
            let rpc = RpcClient::new(&node.node)?;
            let app = read_app(&rpc, app, &node.node).await?;
            list(&rpc, &app).await
        }
        FunctionsAction::Show {
            app,
            function,
            version,
            code,
            node,
        } => {
            let rpc = RpcClient::new(&node.node)?;
            let app = read_app(&rpc, app, &node.node).await?;
            show(&rpc, &app, &function, version, code).await
        }
        FunctionsAction::Rm {
            app,
            function,
            node,
            key,
        } => {
            let (client, dev) =
                super::deploy::admin_client(&node.node, &key, "removing a function").await?;
            let app = AppPaths::new(&super::common::app_or_dev(app, dev, &node.node)?)?;
            rm(&client, &app, &function).await
        }
    }
}

/// The function's retention as its rule state says: `keeps N`, `no limit`.
async fn retention(rpc: &RpcClient, app: &AppPaths, function: &str) -> String {
    let op = GetOp::new(
        crate::ledger::rpc::GetKind::Rule,
        rules::retention_path(app, function),
    );
    match rpc.get(&GetRequest::One(op)).await {
        Ok(v) => match v[".rule"]["state"]["gc_max_siblings"].as_u64() {
            Some(n) => format!("last {n} calls"),
            None => "no limit".into(),
        },
        Err(e) => format!("unknown ({e})"),
    }
}

/// One spec field for the table, `-` when unset.
fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

/// How the code is stored: inline, or in N blob chunks.
fn storage(spec: &FunctionSpec) -> String {
    match (&spec.code_ref, spec.chunks) {
        (Some(r), _) => format!(
            "by reference at {}",
            r.url
                .as_deref()
                .unwrap_or("the worker's default blob store")
        ),
        (None, Some(n)) => format!("{n} blob chunks"),
        (None, None) => "inline".into(),
    }
}

async fn list(rpc: &RpcClient, app: &AppPaths) -> anyhow::Result<ExitCode> {
    let functions = get_value(rpc, &app.functions()).await?;
    let Value::Object(map) = functions else {
        println!(
            "app {} has no functions (deploy one: ain-sre deploy DIR --app {} --fn NAME)",
            app.app(),
            app.app()
        );
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "| function | version | runtime | profile | size | code | sha256 | finality | timeout_ms | retention |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, v) in &map {
        match FunctionSpec::from_value(v) {
            Ok(s) => println!(
                "| {name} | {} | {} | {} | {} B | {} | {}… | {} | {} | {} |",
                s.version(),
                s.runtime,
                s.profile(),
                s.size,
                storage(&s),
                &s.code_hash[..12],
                s.finality().as_str(),
                or_dash(s.timeout_ms),
                retention(rpc, app, name).await
            ),
            Err(e) => println!("| {name} | unreadable spec: {e} | | | | | | | | |"),
        }
    }
    let w = AppWorkers::fetch(rpc, app.app()).await?;
    println!("\nworkers: {}", worker_setting(&w));
    Ok(ExitCode::SUCCESS)
}

/// The app's worker setting in one line.
fn worker_setting(w: &AppWorkers) -> String {
    match w.policy {
        WorkerPolicy::Approved => format!(
            "approved only ({} approved, {} registered)",
            w.approved.len(),
            w.registered.len()
        ),
        WorkerPolicy::Any => format!("any (open registration; {} registered)", w.registered.len()),
    }
}

async fn show(
    rpc: &RpcClient,
    app: &AppPaths,
    function: &str,
    version: Option<u64>,
    with_code: bool,
) -> anyhow::Result<ExitCode> {
    let versions = FunctionVersions::fetch(rpc, app, function).await?;
    let Some(current) = &versions.current else {
        anyhow::bail!(
            "app `{}` has no function `{function}` (ain-sre functions list --app {})",
            app.app(),
            app.app()
        );
    };
    let value = match version {
        None => current.clone(),
        Some(n) if Some(n) == versions.current_version() => current.clone(),
        Some(n) => versions.kept.get(&n).cloned().with_context(|| {
            format!(
                "version {n} of `{function}` is not kept; kept: {}",
                kept_list(&versions)
            )
        })?,
    };
    let spec = FunctionSpec::from_value(&value)?;
    let mut shown = value.clone();
    if !with_code && let Some(code) = spec.code.as_ref() {
        shown["code"] = Value::from(format!(
            "<{} characters inline; --code prints them>",
            code.len()
        ));
    }
    println!("function: {}", app.function(function));
    println!(
        "version:  {}{}",
        spec.version(),
        if version.is_some() && Some(spec.version()) != versions.current_version() {
            format!(
                " (kept; current is {})",
                or_dash(versions.current_version())
            )
        } else {
            " (current)".into()
        }
    );
    println!("kept:     {}", kept_list(&versions));
    println!("runtime:  {}  profile: {}", spec.runtime, spec.profile());
    println!("sha256:   {}", spec.code_hash);
    println!("size:     {} bytes ({})", spec.size, storage(&spec));
    println!("retention: {}", retention(rpc, app, function).await);
    let w = AppWorkers::fetch(rpc, app.app()).await?;
    println!("workers:  {}", worker_setting(&w));
    println!("spec:\n{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}

/// The kept previous versions, `none` when there are none.
fn kept_list(v: &FunctionVersions) -> String {
    if v.kept.is_empty() {
        return "no previous versions".into();
    }
    let list: Vec<String> = v.kept.keys().map(u64::to_string).collect();
    format!("previous versions {}", list.join(", "))
}

async fn rm(
    client: &crate::client::ChainClient,
    app: &AppPaths,
    function: &str,
) -> anyhow::Result<ExitCode> {
    let rpc = client.rpc();
    let versions = FunctionVersions::fetch(rpc, app, function).await?;
    anyhow::ensure!(
        versions.current.is_some() || !versions.kept.is_empty(),
        "app `{}` has no function `{function}`",
        app.app()
    );
    let mut ops = vec![
        SimpleOp::set_value(app.function(function), Value::Null),
        SimpleOp::set_value(app.versions(function), Value::Null),
    ];
    // Blobs of this function that no other function's spec (current or kept) still names.
    let hash = |v: &Value| v["code_hash"].as_str().map(str::to_owned);
    let mine: std::collections::BTreeSet<String> = versions
        .current
        .iter()
        .chain(versions.kept.values())
        .filter(|v| v["chunks"].as_u64().is_some())
        .filter_map(hash)
        .collect();
    if !mine.is_empty() {
        let root = format!("{}/config/versions", app.root());
        let all = rpc.get_values(&[app.functions(), root]).await?;
        let mut used = std::collections::BTreeSet::new();
        if let Some(Value::Object(fns)) = all.first() {
            for (name, v) in fns {
                if name != function {
                    used.extend(hash(v));
                }
            }
        }
        if let Some(Value::Object(hist)) = all.get(1) {
            for (name, vs) in hist {
                if let (true, Value::Object(vs)) = (name != function, vs) {
                    used.extend(vs.values().filter_map(hash));
                }
            }
        }
        for h in mine.difference(&used) {
            ops.push(SimpleOp::set_value(
                format!("{}/{h}", app.blobs()),
                Value::Null,
            ));
        }
    }
    client.send(ops).await?;
    println!(
        "removed {}/{function} (spec, kept versions, unused code blobs); its calls stay in state until the node prunes them",
        app.app()
    );
    Ok(ExitCode::SUCCESS)
}
