//! `ain-sre devnet`: the built-in chain as a local AIN node (JSON-RPC on 8081 at `/json-rpc`,
//! event handler on 5100), until Ctrl-C or SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::ledger::crypto::PrivateKey;
use crate::ledger::devnet::{Devnet, DevnetConfig, StateBudgets};

/// Arguments of `ain-sre devnet`.
#[derive(Debug, clap::Args)]
pub struct DevnetArgs {
    /// JSON-RPC port (`POST /json-rpc`).
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Event-handler (WebSocket) port.
    #[arg(long, default_value_t = 5100)]
    pub events_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Keep the chain in this directory (redb); it survives restarts. Without it the chain lives
    /// in memory and is lost on exit.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Milliseconds between block production rounds.
    #[arg(long, default_value_t = 100)]
    pub block_interval_ms: u64,
    /// Produce blocks even when there is nothing to include or finalize.
    #[arg(long)]
    pub empty_blocks: bool,
    /// Validator private key (hex). Default: the well-known 1-node test key
    /// (0x00ADEc28B6a845a085e03591bE7550dd68673C1C).
    #[arg(long, env = "AIN_SRE_DEVNET_KEY", hide_env_values = true)]
    pub validator_key: Option<String>,
    /// Chain id (signatures must use it).
    #[arg(long, default_value_t = 0)]
    pub chain_id: u64,
    /// Largest tx body, in the node's object-sizeof bytes.
    #[arg(long, default_value_t = 10_000)]
    pub tx_bytes_limit: usize,
    /// The node's `state_tree_bytes_limit`; budgets follow with the node's ratios: services
    /// 0.5, apps 0.495, the free tier shared by unstaked apps 0.005 (10905 when full). Default
    /// mainnet's 5,000,000,000 (a 25 MB free tier); the 1-node config has 20,000,000 (100 KB).
    #[arg(long, default_value_t = 5_000_000_000)]
    pub state_tree_bytes_limit: u64,
    /// Fund an account at genesis (`ADDRESS=AMOUNT`, repeatable) so it can stake apps out of
    /// the free tier (`deploy --stake`). Funding changes the genesis (it then also carries the
    /// node's staking rule and `_stake`).
    #[arg(long = "fund", value_name = "ADDRESS=AMOUNT", value_parser = parse_fund)]
    pub fund: Vec<(String, u64)>,
    /// The built-in blob store's port (`GET`/`PUT /blobs/<sha256>`); a free one if taken.
    #[arg(long, default_value_t = 8082)]
    pub blobs_port: u16,
}

/// `ADDRESS=AMOUNT` with a checksummed (or any-case, normalized) address.
pub(crate) fn parse_fund(s: &str) -> Result<(String, u64), String> {
    let (a, n) = s.split_once('=').ok_or("expected ADDRESS=AMOUNT")?;
    let addr = a
        .parse::<crate::ledger::crypto::Address>()
        .map_err(|e| format!("bad address {a}: {e}"))?;
    let amount = n
        .parse::<u64>()
        .map_err(|e| format!("bad amount {n}: {e}"))?;
    Ok((addr.to_checksum(), amount))
}

/// Runs the devnet until interrupted.
pub(crate) async fn run(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let mut config = DevnetConfig {
        rpc_addr: SocketAddr::new(args.host, args.port),
        events_addr: SocketAddr::new(args.host, args.events_port),
        data_dir: args.data.clone(),
        block_interval: Duration::from_millis(args.block_interval_ms.max(1)),
        empty_blocks: args.empty_blocks,
        chain_id: args.chain_id,
        tx_bytes_limit: args.tx_bytes_limit,
        budgets: StateBudgets::with_limit(args.state_tree_bytes_limit as f64),
        genesis_balances: args.fund.clone(),
        ..DevnetConfig::default()
    };
    if let Some(hex) = &args.validator_key {
        let key = PrivateKey::from_hex(hex.trim_start_matches("0x"))
            .context("--validator-key is not a valid private key")?;
        config.validator_key = Arc::new(key);
    }
    let handle = Devnet::start(config).await?;
    let (blobs_dir, temporary) = match &args.data {
        Some(d) => (d.join("blobs"), false),
        None => (
            std::env::temp_dir().join(format!("ain-sre-devnet-blobs-{}", std::process::id())),
            true,
        ),
    };
    let blobs_stop = tokio_util::sync::CancellationToken::new();
    let blobs = crate::blobs::settings::BlobsFile::default()
        .serve_or_any(
            SocketAddr::new(args.host, args.blobs_port),
            &blobs_dir,
            blobs_stop.clone(),
        )
        .await?;
    println!("json-rpc: {}", handle.rpc_url());
    println!("blobs:    {}/blobs/<sha256>", blobs.public_base);
    println!("events:   {}", handle.events_url());
    println!("validator: {}", handle.validator());
    println!("genesis:  {}", handle.genesis_hash());
    wait_for_signal().await;
    eprintln!("shutting down");
    handle.shutdown().await;
    blobs_stop.cancel();
    if temporary {
        let _ = std::fs::remove_dir_all(&blobs_dir);
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
