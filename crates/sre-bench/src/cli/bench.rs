//! `ain-sre bench` (run by `ain-sre-bench bench`): runs the benchmarks and prints their numbers (Markdown, or JSON with --json).
//! With no group it runs them all and writes the whole report (`bench::report`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::bench::suite::on_thread;
use crate::bench::{self, Stats};

/// Arguments of `ain-sre bench`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
With no GROUP: the whole report. Every group runs once and one table is printed (Markdown, or \
JSON with --json): each measurement's p50, p99 and rate, the peer measured in the same run \
(the process tier's native echo for the WASM tier; bare exec, bare python3 and bwrap for the \
process tier; docker run --rm for the container tier), the ratio p50 / peer p50, and the target \
from DESIGN.md with whether it is met. Host (cores, CPU, kernel, load average at start and end), \
date and command line head the table. report.md and report.json are written to --out. A tier \
that cannot run on this host keeps its rows, saying why; with AIN_SRE_STRICT=1 that is an error \
(exit 1). --compare OLD.json adds the change against an earlier report.json.

Examples:
  ain-sre bench --quick                          the whole report, short runs
  ain-sre bench --compare bench-report/report.json   compare with the previous run
  ain-sre bench process                          one group's detailed rows")]
pub struct BenchArgs {
    /// One benchmark group to run; without it, every group and the whole report.
    #[arg(value_enum)]
    pub group: Option<Group>,
    /// Shorter runs (noisier numbers), for smoke checks.
    #[arg(long)]
    pub quick: bool,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Whole report only: the directory report.md and report.json are written to.
    #[arg(long, value_name = "DIR", default_value = "bench-report")]
    pub out: PathBuf,
    /// Whole report only: an earlier report.json to print the change against.
    #[arg(long, value_name = "FILE.json")]
    pub compare: Option<PathBuf>,
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
    /// Fleet: four worker processes on one app, 2,000 WASM echo calls, then one worker killed
    /// -9 mid-run: executions per call, duplicates, lost calls, latency, failover time,
    /// liveness cost. Not part of the whole report.
    Fleet,
    /// Container tier: python3 hello through the stem-cell pool, the cold path and
    /// `docker run --rm` of the same image, with ratios.
    Container,
    /// Process tier: static-binary and python3 calls through the stem-cell pool, against bare
    /// python3 and bwrap.
    Process,
    /// Egress: python3 HTTP requests and a large download through the proxy from a
    /// process-tier sandbox vs bare python3 with the network open (loopback server).
    Egress,
    /// Journal: 5 × 100,000 calls through their states with the default retention pruning;
    /// the journal's file size and this process's RSS after each 100,000 (bounded and flat).
    Journal,
    /// Blobs: a 16 MiB echo by reference end to end on the built-in chain, against `curl` of
    /// the same bytes from the same store, and the serving process's memory growth. Not part
    /// of the whole report.
    Blobs,
    /// Soak: mixed calls on every available tier while the workers and the chain are restarted
    /// on a schedule; fails on a duplicate, a lost call, a leak or growing worker memory.
    Soak,
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.group == Some(Group::Soak) {
        return bench::soak::main(args.minutes, args.json).await;
    }
    let Some(group) = args.group else {
        return report(args).await;
    };
    if args.compare.is_some() {
        anyhow::bail!("--compare applies to the whole report (no group)");
    }
    let quick = args.quick;
    // Groups that measure alone return no notes.
    let alone = |rows: Vec<Stats>| (rows, Vec::new());
    let (rows, notes): (Vec<Stats>, Vec<String>) = match group {
        Group::Ledger => alone(on_thread(move || bench::ledger::run(quick)).await?),
        // Builds its own runtimes (one and two threads), so it runs on a plain thread.
        Group::Wasm => alone(on_thread(move || bench::wasm::run(quick)).await?),
        Group::Devnet => alone(on_thread(move || bench::devnet::run(quick)).await?),
        Group::Container => bench::container::run(quick).await?,
        #[cfg(target_os = "linux")]
        Group::Process => bench::process::run(quick).await?,
        #[cfg(not(target_os = "linux"))]
        Group::Process => anyhow::bail!("the process tier needs Linux"),
        #[cfg(target_os = "linux")]
        Group::Egress => bench::egress::run(quick).await?,
        #[cfg(not(target_os = "linux"))]
        Group::Egress => anyhow::bail!("the egress bench needs the process tier (Linux)"),
        Group::Soak => unreachable!("dispatched above"),
        Group::Journal => bench::journal::run(quick).await?,
        Group::E2e => bench::e2e::run(quick).await?,
        Group::Blobs => bench::blobs::run(quick).await?,
        Group::Fleet => bench::fleet::run(quick).await?,
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

/// The whole report: runs every group, writes report.md and report.json, prints one of them.
async fn report(args: BenchArgs) -> anyhow::Result<ExitCode> {
    // Read first: the earlier report may be the file this run overwrites.
    let before: Option<bench::report::Report> = match &args.compare {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a bench report", path.display()))?,
            )
        }
        None => None,
    };
    let command = std::iter::once("ain-sre".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let report = bench::suite::run(args.quick, command).await;
    let markdown = report.markdown();
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(args.out.join("report.md"), &markdown)?;
    std::fs::write(args.out.join("report.json"), &json)?;
    if args.json {
        println!("{json}");
    } else {
        print!("{markdown}");
        if let Some(before) = &before {
            println!("\n{}", bench::report::compare(before, &report));
        }
    }
    eprintln!(
        "bench: wrote {} and {}",
        args.out.join("report.md").display(),
        args.out.join("report.json").display()
    );
    if report.any_unavailable() && std::env::var("AIN_SRE_STRICT").as_deref() == Ok("1") {
        eprintln!("bench: AIN_SRE_STRICT=1 and some rows were not measured (see the table)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
