//! `ain-sre bench`: runs the benchmarks and prints their numbers (Markdown, or JSON with --json).

use std::process::ExitCode;

use crate::bench::{self, Stats};

/// Arguments of `ain-sre bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which benchmark group to run.
    #[arg(value_enum, default_value_t = Group::Ledger)]
    pub group: Group,
    /// Shorter runs (noisier numbers), for smoke checks.
    #[arg(long)]
    pub quick: bool,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Soak only: minutes of load (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
}

/// Benchmark groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Group {
    /// Ledger: tx hashing, signing, signer recovery, follower verification rate.
    Ledger,
    /// WASM tier: full invocation latency and throughput, compile vs cached load.
    Wasm,
    /// Built-in chain: signed txs accepted per second, send → VALUE_CHANGED latency.
    Devnet,
    /// End to end: WASM echo through the built-in chain and a worker process (latency,
    /// sustained rate, worker memory idle and with queued calls).
    E2e,
    /// Container tier: python3 hello through the stem-cell pool, the cold path and
    /// `docker run --rm` of the same image, with ratios.
    Container,
    /// Process tier: static-binary and python3 calls through the stem-cell pool, against bare
    /// python3 and bwrap.
    Process,
    /// Soak: mixed calls on every available tier while the workers and the chain are restarted
    /// on a schedule; fails on a duplicate, a lost call, a leak or growing worker memory.
    Soak,
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.group == Group::Soak {
        return bench::soak::main(args.minutes, args.json).await;
    }
    let mut notes: Vec<String> = Vec::new();
    let rows: Vec<Stats> = match args.group {
        Group::Ledger => {
            tokio::task::spawn_blocking(move || bench::ledger::run(args.quick)).await??
        }
        // Builds its own runtimes (one and two threads), so it runs on a plain thread.
        Group::Wasm => tokio::task::spawn_blocking(move || bench::wasm::run(args.quick)).await??,
        Group::Devnet => {
            tokio::task::spawn_blocking(move || bench::devnet::run(args.quick)).await??
        }
        Group::Container => {
            let (rows, n) = bench::container::run(args.quick).await?;
            notes = n;
            rows
        }
        #[cfg(target_os = "linux")]
        Group::Process => {
            let (rows, n) = bench::process::run(args.quick).await?;
            notes = n;
            rows
        }
        #[cfg(not(target_os = "linux"))]
        Group::Process => anyhow::bail!("the process tier needs Linux"),
        Group::Soak => unreachable!("dispatched above"),
        Group::E2e => {
            let (rows, n) = bench::e2e::run(args.quick).await?;
            notes = n;
            rows
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "host": bench::host_description(),
                "results": rows,
                "notes": notes,
            }))?
        );
    } else {
        println!("host: {}\n", bench::host_description());
        print!("{}", bench::markdown_table(&rows));
        for n in &notes {
            println!("\n{n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
