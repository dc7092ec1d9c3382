//! `ain-sre follow`: follow a node's finalized blocks, verify every one, print them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::ledger::block::Block;
use crate::ledger::crypto::Hash;
use crate::ledger::events::{ClientEvent, EventClient, EventPayload, EventsConfig, Filter};
use crate::ledger::follower::{
    Anchor, Cursor, CursorStore, FileCursorStore, Follower, FollowerConfig, FollowerError,
    FollowerEvent, FollowerExit, MemoryCursorStore, TrustedGenesis,
};
use crate::ledger::rpc::RpcClient;

/// Arguments of `ain-sre follow`.
#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// The node's JSON-RPC endpoint.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8081/json-rpc",
        env = "AIN_SRE_NODE"
    )]
    pub node: String,
    /// The node's event handler (optional): BLOCK_FINALIZED events wake the follower at once
    /// instead of waiting for the next poll.
    #[arg(long)]
    pub events: Option<String>,
    /// Start at this block, trusting block FROM-1 from the node as a checkpoint (printed); 0 is
    /// genesis (and resets `--cursor`). Without it, follow from the cursor file, or from genesis.
    #[arg(long)]
    pub from: Option<u64>,
    /// Stop after verifying this block (the node must already serve TO+1, which proves it).
    #[arg(long)]
    pub to: Option<u64>,
    /// The genesis block hash to trust. Without it (and without --genesis) the node's own
    /// genesis is trusted on first use, with a warning.
    #[arg(long, conflicts_with = "genesis")]
    pub genesis_hash: Option<Hash>,
    /// A genesis block JSON file to trust (e.g. the node's genesis_block.json).
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Persist the position here (crash-safe) and resume from it on the next run.
    #[arg(long)]
    pub cursor: Option<PathBuf>,
    /// Chain id to verify signatures under (default: asked from the node).
    #[arg(long)]
    pub chain_id: Option<u64>,
    /// Seconds between polls when no event woke the follower.
    #[arg(long, default_value_t = 5)]
    pub poll_secs: u64,
    /// Print one JSON object per block (and a final summary object) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: FollowArgs) -> anyhow::Result<ExitCode> {
    let rpc = RpcClient::new(&args.node).with_context(|| format!("node URL {}", args.node))?;
    let chain_id = match args.chain_id {
        Some(c) => c,
        None => rpc
            .chain_id()
            .await
            .with_context(|| format!("asking {} for its chain id", args.node))?,
    };
    let stored = match (&args.cursor, args.from) {
        (Some(path), None) => FileCursorStore::new(path)
            .load()
            .with_context(|| format!("reading the cursor {}", path.display()))?
            .map(|c| (path.clone(), c.genesis_hash)),
        _ => None,
    };
    let genesis = match stored {
        // The cursor already says which chain it follows: the node must still serve it.
        Some((path, ours)) if args.genesis.is_none() && args.genesis_hash.is_none() => {
            let node = rpc
                .genesis_hash()
                .await?
                .context("the node does not serve its genesis block")?;
            if node != ours {
                bail!(
                    "this cursor ({}) belongs to chain {ours}; the node serves {node}: use a new --cursor file or delete it",
                    path.display()
                );
            }
            TrustedGenesis::Hash(ours)
        }
        _ => trusted_genesis(&args, &rpc).await?,
    };
    let genesis_hash = match &genesis {
        TrustedGenesis::Block(b) => b.hash,
        TrustedGenesis::Hash(h) => *h,
    };
    let store: Arc<dyn CursorStore> = match &args.cursor {
        Some(path) => Arc::new(FileCursorStore::new(path)),
        None => Arc::new(MemoryCursorStore::new()),
    };
    if args.from == Some(0)
        && let Some(path) = &args.cursor
        && path.exists()
    {
        // Like any --from, it replaces the stored position: here with none (genesis).
        std::fs::remove_file(path)
            .with_context(|| format!("resetting the cursor {}", path.display()))?;
        eprintln!(
            "--from 0: the cursor {} is reset; following from genesis",
            path.display()
        );
    }
    if let Some(from) = args.from.filter(|&f| f > 0) {
        let checkpoint: Block = rpc
            .get_block_by_number(from - 1, true)
            .await?
            .with_context(|| format!("the node does not serve block {}", from - 1))?;
        eprintln!(
            "warning: trusting block {} ({}) from the node as the checkpoint for --from {from}",
            checkpoint.number, checkpoint.hash
        );
        let cursor = Cursor {
            chain_id,
            genesis_hash,
            anchor: Anchor::new(&checkpoint, None),
            previous: None,
        };
        store
            .save(&cursor)
            .context("storing the checkpoint cursor")?;
    }
    let config = FollowerConfig {
        chain_id,
        poll_interval: Duration::from_secs(args.poll_secs.max(1)),
        to: args.to,
        ..FollowerConfig::default()
    };
    let (follower, mut events, handle) = Follower::new(rpc, genesis, store, config);
    let cancel = tokio_util::sync::CancellationToken::new();
    let follower_task = tokio::spawn(follower.run(cancel.clone()));

    // BLOCK_FINALIZED as a wake-up; polling covers a missing or dropped event channel.
    if let Some(url) = &args.events {
        let (events_handle, mut rx) =
            EventClient::connect(EventsConfig::new(url.clone(), "ain-sre-follow"))?;
        events_handle
            .register(Filter::block_finalized("follow-bf", None)?)
            .await?;
        let wake = handle.clone();
        let stop = cancel.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    ev = rx.recv() => match ev {
                        Some(ClientEvent::Event(e)) if matches!(e.payload, EventPayload::BlockFinalized { .. }) => wake.wake(),
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            events_handle.shutdown();
        });
    }
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });

    let started = Instant::now();
    let mut last_rate = Instant::now();
    let mut halted = None;
    while let Some(event) = events.recv().await {
        match event {
            FollowerEvent::Committed { block } => {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"number": block.number, "hash": block.hash, "txs": block.transactions.len(), "timestamp": block.timestamp})
                    );
                } else {
                    println!(
                        "block {:>8}  {}  {:>4} txs",
                        block.number,
                        block.hash,
                        block.transactions.len()
                    );
                }
                handle.finished_height(block.number);
                if !args.json && last_rate.elapsed() >= Duration::from_secs(5) {
                    print_rate(&handle.stats(), started.elapsed());
                    last_rate = Instant::now();
                }
            }
            FollowerEvent::Halted { error } => halted = Some(error),
        }
    }
    let result = follower_task.await.context("follower task")?;
    cancel.cancel();
    let stats = handle.stats();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"summary": {"blocks_verified": stats.blocks_verified, "signatures_verified": stats.signatures_verified,
                "signatures_per_second": stats.signatures_per_second(), "elapsed_ms": started.elapsed().as_millis() as u64}})
        );
    } else {
        print_rate(&stats, started.elapsed());
    }
    match result {
        Ok(
            FollowerExit::ReachedTarget(_) | FollowerExit::Cancelled | FollowerExit::ConsumerGone,
        ) => Ok(ExitCode::SUCCESS),
        Err(FollowerError::InvalidBlock(e)) => {
            let e = halted.unwrap_or(e);
            eprintln!(
                "INVALID block {}: check `{}` failed: {e}",
                e.number,
                e.check.name()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

fn print_rate(s: &crate::ledger::follower::StatsSnapshot, elapsed: Duration) {
    let rate = s
        .signatures_per_second()
        .map(|r| format!("{r:.0}"))
        .unwrap_or_else(|| "-".into());
    eprintln!(
        "verified {} blocks, {} signatures in {:.1} s; verification rate {rate} signatures/s",
        s.blocks_verified,
        s.signatures_verified,
        elapsed.as_secs_f64()
    );
}

async fn trusted_genesis(args: &FollowArgs, rpc: &RpcClient) -> anyhow::Result<TrustedGenesis> {
    if let Some(path) = &args.genesis {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let block: Block = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a genesis block", path.display()))?;
        return Ok(TrustedGenesis::Block(Box::new(block)));
    }
    if let Some(h) = args.genesis_hash {
        return Ok(TrustedGenesis::Hash(h));
    }
    let genesis: Block = rpc
        .get_block_by_number(0, true)
        .await?
        .context("the node does not serve its genesis block")?;
    eprintln!(
        "warning: trusting the node's genesis {} on first use; pin it with --genesis-hash {}",
        genesis.hash, genesis.hash
    );
    Ok(TrustedGenesis::Hash(genesis.hash))
}
