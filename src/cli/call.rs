//! `ain-sre call`: signs a request with a fresh call id and, with `--wait`, prints the response
//! and its receipt once a worker answers.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::common::{KeyArgs, NodeArgs};
use crate::client::{ChainClient, wait_response};

/// Arguments of `ain-sre call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// App name.
    #[arg(long)]
    pub app: String,
    /// Function name.
    #[arg(long = "fn")]
    pub function: String,
    /// The input: text (usually JSON), or `@FILE`.
    #[arg(long, default_value = "")]
    pub input: String,
    /// Wait for the response and print it.
    #[arg(long)]
    pub wait: bool,
    /// How long to wait, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    #[command(flatten)]
    node: NodeArgs,
    /// Signing key (without one, a fresh throwaway key signs the request).
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) async fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let input = match args.input.strip_prefix('@') {
        Some(f) => std::fs::read_to_string(f)?,
        None => args.input.clone(),
    };
    let client = ChainClient::connect(&args.node.node, args.key.load(true)?).await?;
    let t = Instant::now();
    let (call_id, tx) = client.call(&args.app, &args.function, &input).await?;
    println!("call:    {}/{}/{call_id}", args.app, args.function);
    println!("request: {tx} (from {})", client.address());
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let resp = wait_response(
        client.rpc(),
        &args.app,
        &args.function,
        &call_id,
        Duration::from_secs(args.timeout),
    )
    .await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!("{}", serde_json::to_string_pretty(&resp)?);
    let matches = resp["receipt"]["request_tx"].as_str() == Some(&tx.to_string());
    println!(
        "status {} in {ms:.1} ms; receipt {} the request tx",
        resp["status"].as_str().unwrap_or("?"),
        if matches { "names" } else { "DOES NOT name" }
    );
    Ok(if resp["status"] == "ok" && matches {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
