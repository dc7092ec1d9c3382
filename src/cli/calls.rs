//! `ain-sre calls list|show`: a function's recent calls as the chain keeps them (status, latency,
//! worker), and one call's request, response and receipt, including its stderr tail.

use std::process::ExitCode;

use serde_json::Value;

use super::common::NodeArgs;
use crate::ledger::rpc::{GetOp, GetRequest, RpcClient};
use crate::node::{Node, get_value};
use crate::onchain::AppPaths;

/// Arguments of `ain-sre calls`.
#[derive(Debug, clap::Args)]
pub struct CallsArgs {
    /// What to do.
    #[command(subcommand)]
    action: CallsAction,
}

/// `calls` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CallsAction {
    /// The most recent calls of a function: id, status, how long after the request it was
    /// answered, run time, worker.
    List {
        /// App name (default against a dev chain: `dev`).
        #[arg(long)]
        app: Option<String>,
        /// Function name.
        #[arg(long = "fn")]
        function: String,
        /// How many of the most recent calls.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One call: its input, and its response with the receipt and the stderr tail.
    Show {
        /// App name (default against a dev chain: `dev`).
        #[arg(long)]
        app: Option<String>,
        /// Function name.
        #[arg(long = "fn")]
        function: String,
        /// The call id (`calls list` shows them; `call` prints it).
        call_id: String,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) async fn run(args: CallsArgs) -> anyhow::Result<ExitCode> {
    let (app, node) = match &args.action {
        CallsAction::List { app, node, .. } | CallsAction::Show { app, node, .. } => {
            (app.clone(), node.node.clone())
        }
    };
    let rpc = RpcClient::new(&node)?;
    let dev = app.is_none() && super::common::dev_chain_key(&rpc).await.is_some();
    let app = AppPaths::new(&super::common::app_or_dev(app, dev, &node)?)?;
    match args.action {
        CallsAction::List {
            function, limit, ..
        } => list(&rpc, &app, &function, limit).await,
        CallsAction::Show {
            function, call_id, ..
        } => show(&rpc, &app, &function, &call_id).await,
    }
}

/// The ms timestamp a call id starts with (`new_call_id`), if it has one.
fn id_ms(call_id: &str) -> Option<u64> {
    call_id.split('-').next()?.parse().ok()
}

/// One row of `calls list` from a stored call (`{request, response}`).
pub(crate) fn row(call_id: &str, call: &Value) -> String {
    let resp = &call["response"];
    if resp.is_null() {
        return format!("| {call_id} | pending | - | - | - |");
    }
    let r = &resp["receipt"];
    let answered = match (r["finished_at"].as_u64(), id_ms(call_id)) {
        (Some(f), Some(s)) if f >= s => format!("{} ms", f - s),
        _ => "-".into(),
    };
    let run = r["usage"]["wall_us"]
        .as_u64()
        .map(|us| format!("{:.1} ms", us as f64 / 1e3))
        .unwrap_or_else(|| "-".into());
    format!(
        "| {call_id} | {} | {answered} | {run} | {} |",
        resp["status"].as_str().unwrap_or("?"),
        r["worker"].as_str().unwrap_or("?")
    )
}

async fn list(
    rpc: &RpcClient,
    app: &AppPaths,
    function: &str,
    limit: usize,
) -> anyhow::Result<ExitCode> {
    let spec = get_value(rpc, &app.function(function)).await?;
    if spec.is_null() {
        anyhow::bail!(
            "app `{}` has no function `{function}` (ain-sre functions list --app {})",
            app.app(),
            app.app()
        );
    }
    // Only the ids first: a function keeps up to its retention (1,000 by default) calls.
    let op = GetOp {
        is_shallow: true,
        ..GetOp::value(format!("{}/calls/{function}", app.root()))
    };
    let ids = rpc.get(&GetRequest::One(op)).await?;
    let mut ids: Vec<String> = match ids {
        Value::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    if ids.is_empty() {
        println!("no calls of {}/{function} in state", app.app());
        return Ok(ExitCode::SUCCESS);
    }
    ids.sort_by_key(|id| (id_ms(id), id.clone()));
    let total = ids.len();
    let recent: Vec<String> = ids.split_off(total.saturating_sub(limit));
    let paths: Vec<String> = recent.iter().map(|id| app.call(function, id)).collect();
    let calls = rpc.get_values(&paths).await?;
    println!("| call id | status | answered after | run | worker |");
    println!("|---|---|---|---|---|");
    for (id, call) in recent.iter().zip(&calls).rev() {
        println!("{}", row(id, call));
    }
    println!(
        "\n{} of {total} calls in state, newest first; one in full: ain-sre calls show --app {} --fn {function} CALL_ID",
        recent.len(),
        app.app()
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(
    rpc: &RpcClient,
    app: &AppPaths,
    function: &str,
    call_id: &str,
) -> anyhow::Result<ExitCode> {
    crate::onchain::check_label("call id", call_id)?;
    let call = get_value(rpc, &app.call(function, call_id)).await?;
    if call.is_null() {
        anyhow::bail!(
            "no call {call_id} of {}/{function} in state (pruned, or never made: ain-sre calls list --app {} --fn {function})",
            app.app(),
            app.app()
        );
    }
    println!("call:     {}", app.call(function, call_id));
    match &call["request"]["input"] {
        Value::String(s) => println!("input:    {s}"),
        other => println!("input:    {other}"),
    }
    let resp = &call["response"];
    if resp.is_null() {
        println!("response: none yet (pending)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("status:   {}", resp["status"].as_str().unwrap_or("?"));
    if let Some(e) = resp["error"].as_str().filter(|e| !e.is_empty()) {
        println!("error:    {e}");
    }
    println!("output:   {}", resp["output"].as_str().unwrap_or_default());
    match resp["stderr_tail"].as_str().filter(|t| !t.is_empty()) {
        Some(t) => println!("stderr (tail):\n{t}"),
        None => println!("stderr:   (none on chain)"),
    }
    println!(
        "receipt:\n{}",
        serde_json::to_string_pretty(&resp["receipt"])?
    );
    Ok(ExitCode::SUCCESS)
}
