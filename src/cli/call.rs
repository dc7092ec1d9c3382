//! `ain-sre call`: signs a request with a fresh call id and, with `--wait`, prints the response
//! and its receipt once a worker answers, after checking it (`verify`): the writer may answer,
//! the receipt names this request tx, this input's hash and the function's code hash as of the
//! request. A failed check is printed and the exit code is 1.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use std::time::{Duration, Instant};

use super::common::{KeyArgs, NodeArgs};
use crate::client::{ChainClient, wait_response};
use crate::verify::CallCheck;

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
    /// How long to wait, in seconds (at least 1).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    #[command(flatten)]
    node: NodeArgs,
    /// Signing key (without one, a fresh throwaway key signs the request).
    #[command(flatten)]
    key: KeyArgs,
}

/// An `--input @FILE`: text, named in every error.
fn read_input(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading the input file {}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "the input file {} is not UTF-8 text: a call's input is a string on chain; send binary data encoded, e.g. --input \"$(base64 -w0 {})\", and decode it in the function",
            path.display(),
            path.display()
        )
    })
}

pub(crate) async fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let input = match args.input.strip_prefix('@') {
        Some(f) => read_input(Path::new(f))?,
        None => args.input.clone(),
    };
    let client = ChainClient::connect(&args.node.node, args.key.load(true)?).await?;
    let t = Instant::now();
    // The code hash as of the request: read just before it is sent.
    let check = if args.wait {
        Some(CallCheck::before_request(client.rpc(), &args.app, &args.function).await?)
    } else {
        None
    };
    let (call_id, tx) = client.call(&args.app, &args.function, &input).await?;
    println!("call:    {}/{}/{call_id}", args.app, args.function);
    println!("request: {tx} (from {})", client.address());
    let Some(check) = check else {
        return Ok(ExitCode::SUCCESS);
    };
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
    let status = resp["status"].as_str().unwrap_or("?");
    let failed = check
        .check(client.rpc(), &resp, tx, input.as_bytes())
        .await?;
    if failed.is_empty() {
        println!(
            "status {status} in {ms:.1} ms; verified: writer {} is an approved worker, the receipt names the request tx, the input hash and the code hash {}",
            resp["receipt"]["worker"].as_str().unwrap_or("?"),
            check.code_hash().unwrap_or("(no function)")
        );
    } else {
        println!("status {status} in {ms:.1} ms; VERIFICATION FAILED, do not trust this response:");
        for m in &failed {
            println!("  - {m}");
        }
    }
    Ok(if status == "ok" && failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
