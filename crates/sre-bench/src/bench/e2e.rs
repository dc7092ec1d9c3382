//! `ain-sre bench e2e`: WASM echo through the built-in chain and a worker process, measured from
//! "request tx accepted" (the client's `ain_sendSignedTransaction` returned success) to "response
//! tx accepted" (the response's VALUE_CHANGED USER event, emitted when the node executes it).
//!
//! The chain runs in this process, the worker is a child `ain-sre run` process (so its memory can
//! be read from `/proc`), and every part shares the machine's cores.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use nix::sys::signal::Signal;

use super::Stats;
use super::child::{self, ChildProc, RunArgs};
use super::echo_chain::{EchoChain, EchoLimits, Responses};
use crate::client::ChainClient;
use crate::ledger::crypto::PrivateKey;

/// Starts the worker process. `AIN_SRE_BENCH_WORKER_PREFIX` (e.g. `heaptrack -o /tmp/w` or
/// `perf record -g -o /tmp/w.data`) runs it under a profiler.
fn spawn_worker(args: &RunArgs<'_>) -> anyhow::Result<ChildProc> {
    let exe = crate::ain_sre_exe()?;
    let prefix = std::env::var("AIN_SRE_BENCH_WORKER_PREFIX").unwrap_or_default();
    let mut words = prefix.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    ChildProc::spawn(args.apply(&mut cmd), "the worker process")
}

/// One call: send, then wait for the response's acceptance.
async fn one(client: &ChainClient, responses: &Responses, n: usize) -> anyhow::Result<Duration> {
    let (_, accepted, rx) = responses.send(client, n).await?;
    let done = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .context("no response within 30 s")??;
    Ok(done.saturating_duration_since(accepted))
}

/// Row name: one call at a time.
pub const ONE_AT_A_TIME: &str = "e2e wasm echo, one call at a time (accepted → accepted)";
/// Row name: 128 calls in flight.
pub const SUSTAINED: &str =
    "e2e wasm echo, 128 in flight (sustained; CPU = chain + clients + worker)";

/// Everything the end-to-end run measured.
#[derive(Debug, Clone)]
pub struct E2e {
    /// Latency and rate rows.
    pub rows: Vec<Stats>,
    /// Human-readable notes (memory, catch-up).
    pub notes: Vec<String>,
    /// Worker RSS after warm-up with nothing queued, in KB.
    pub idle_rss_kb: u64,
    /// Highest worker RSS seen while it caught up with `queued` calls, in KB.
    pub queued_peak_rss_kb: u64,
    /// How many calls were queued while the worker was down.
    pub queued: usize,
}

/// Runs the benchmark; returns the rows and notes (memory figures).
pub async fn run(quick: bool) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let e = measure(quick).await?;
    Ok((e.rows, e.notes))
}

/// Runs the benchmark; returns every figure, memory included as numbers.
pub async fn measure(quick: bool) -> anyhow::Result<E2e> {
    let tmp = super::ScratchDir::new("ain-sre-bench-e2e")?;
    let chain = EchoChain::start("bench", EchoLimits::default()).await?;
    let result = measure_on(&chain, tmp.path(), quick).await;
    chain.shutdown().await;
    result
}

async fn measure_on(chain: &EchoChain, tmp: &Path, quick: bool) -> anyhow::Result<E2e> {
    let (_, key_hex) = chain.add_worker().await?;
    let (rpc, responses) = (&chain.rpc, &chain.responses);
    let data = tmp.join("worker");
    let worker = RunArgs {
        rpc,
        events: &chain.events,
        app: "bench",
        key_hex: &key_hex,
        data: &data,
    };
    // Dropped on an early return: stopped then too.
    let mut child = spawn_worker(&worker)?;
    let client = ChainClient::connect(rpc, PrivateKey::generate()).await?;
    // Warm up (worker start, first compile) until a call goes through.
    let deadline = Instant::now() + Duration::from_secs(30);
    while one(&client, responses, 0).await.is_err() {
        if Instant::now() > deadline {
            bail!("the worker never answered");
        }
    }
    for i in 0..20 {
        one(&client, responses, i).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kb = child.rss_kb();

    let mut rows = Vec::new();
    let n_seq = if quick { 100 } else { 500 };
    let t = Instant::now();
    let mut samples = Vec::with_capacity(n_seq);
    for i in 0..n_seq {
        samples.push(one(&client, responses, i).await?);
    }
    rows.push(Stats::from_samples(ONE_AT_A_TIME, samples, t.elapsed()));

    let n_burst = if quick { 1000 } else { 5000 };
    let clients: Vec<ChainClient> = futures_util::future::try_join_all(
        (0..4).map(|_| ChainClient::connect(rpc, PrivateKey::generate())),
    )
    .await?;
    let cpu = (super::process_cpu_time(), child::cpu_time(child.pid()));
    let t = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = futures_util::stream::iter(0..n_burst)
        .map(|i| {
            let (c, r) = (clients[i % clients.len()].clone(), responses.clone());
            async move { one(&c, &r, i).await }
        })
        .buffer_unordered(128)
        .collect()
        .await;
    let elapsed = t.elapsed();
    let (chain_cpu, worker_cpu) = (
        super::process_cpu_time().saturating_sub(cpu.0),
        child::cpu_time(child.pid()).saturating_sub(cpu.1),
    );
    let cpu = chain_cpu + worker_cpu;
    let samples: Vec<Duration> = results.into_iter().collect::<anyhow::Result<_>>()?;
    rows.push(Stats::from_samples(SUSTAINED, samples, elapsed).with_cpu(cpu));

    // 10,000 queued calls: requests written while the worker is down, then caught up at start.
    let queued = if quick { 2000 } else { 10_000 };
    child.stop(Signal::SIGTERM, child::PATIENCE).await;
    let t = Instant::now();
    let ids: Vec<String> = futures_util::stream::iter(0..queued)
        .map(|i| {
            let c = clients[i % clients.len()].clone();
            async move { c.call("bench", "echo", "{}").await.map(|(id, _)| id) }
        })
        .buffer_unordered(128)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let written = t.elapsed();
    let mut child = spawn_worker(&worker)?;
    let t = Instant::now();
    let mut peak_kb = 0;
    let app = crate::onchain::AppPaths::new("bench")?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut left = ids.clone();
    while !left.is_empty() && Instant::now() < deadline {
        peak_kb = peak_kb.max(child.rss_kb());
        let probe: Vec<String> = left
            .iter()
            .take(50)
            .map(|id| app.response("echo", id))
            .collect();
        if let Ok(vals) = crate::node::Node::get_values(client.rpc(), &probe).await {
            let answered = vals.iter().take_while(|v| !v.is_null()).count();
            left.drain(..answered);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let catch_up = t.elapsed();
    let hwm_kb = child::status_kb(child.pid(), "VmHWM:").unwrap_or(peak_kb);
    child.stop(Signal::SIGTERM, child::PATIENCE).await;
    if !left.is_empty() {
        bail!("{} of {queued} queued calls unanswered", left.len());
    }
    let per_call = |d: Duration| d.as_secs_f64() * 1e3 / n_burst as f64;
    let notes = vec![
        format!(
            "sustained CPU per call: worker {:.2} ms, chain + clients {:.2} ms",
            per_call(worker_cpu),
            per_call(chain_cpu)
        ),
        format!("worker RSS idle: {:.1} MB", idle_kb as f64 / 1024.0),
        format!(
            "worker RSS peak with {queued} queued calls: {:.1} MB (+{:.1} MB over idle; VmHWM {:.1} MB)",
            peak_kb as f64 / 1024.0,
            peak_kb.saturating_sub(idle_kb) as f64 / 1024.0,
            hwm_kb as f64 / 1024.0
        ),
        format!(
            "{queued} queued calls: written in {:.1} s, caught up and answered in {:.1} s ({:.0} calls/s)",
            written.as_secs_f64(),
            catch_up.as_secs_f64(),
            queued as f64 / catch_up.as_secs_f64()
        ),
    ];
    Ok(E2e {
        rows,
        notes,
        idle_rss_kb: idle_kb,
        queued_peak_rss_kb: peak_kb,
        queued,
    })
}
