//! `ain-sre bench e2e`: WASM echo through the built-in chain and a worker process, measured from
//! "request tx accepted" (the client's `ain_sendSignedTransaction` returned success) to "response
//! tx accepted" (the response's VALUE_CHANGED USER event, emitted when the node executes it).
//!
//! The chain runs in this process, the worker is a child `ain-sre run` process (so its memory can
//! be read from `/proc`), and every part shares the machine's cores.

use crate::ledger::sync::LockExt;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::sync::oneshot;

use super::Stats;
use crate::client::{ChainClient, Deployment};
use crate::ledger::crypto::PrivateKey;
use crate::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use crate::ledger::devnet::{Devnet, DevnetConfig, StateBudgets};
use crate::ledger::events::{
    ClientEvent, EventClient, EventPayload, EventSource, EventsConfig, Filter,
};
use crate::onchain::{Callers, Retention, WorkerEntry, WorkerPolicy};

const ECHO_WAT: &str = include_str!("../../../../examples/functions/echo.wat");

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Instant>>>>;

fn rss_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system) process `pid` has used, from `/proc/<pid>/stat` (clock ticks are
/// 100 Hz on Linux unless the kernel says otherwise, which `getconf CLK_TCK` would show).
fn process_cpu(pid: u32) -> Duration {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the `(comm)`, which may itself contain spaces.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after `state` here.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Starts the worker process. `AIN_SRE_BENCH_WORKER_PREFIX` (e.g. `heaptrack -o /tmp/w` or
/// `perf record -g -o /tmp/w.data`) runs it under a profiler.
fn spawn_worker(rpc: &str, events: &str, key_hex: &str, dir: &Path) -> anyhow::Result<Child> {
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
    cmd.args([
        "run",
        "--node",
        rpc,
        "--events",
        events,
        "--app",
        "bench",
        "--data-dir",
    ])
    .arg(dir)
    .env("AIN_SRE_PRIVATE_KEY", key_hex)
    .env("AIN_SRE_LOG", "error")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .context("starting the worker process")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One call: send, then wait for the response's acceptance.
async fn one(client: &ChainClient, waiters: &Waiters, n: usize) -> anyhow::Result<Duration> {
    let id = crate::client::new_call_id();
    let (tx, rx) = oneshot::channel();
    waiters.lock_or_recover().insert(id.clone(), tx);
    let path = format!("/apps/bench/sre/calls/echo/{id}/request");
    let op = crate::ledger::tx::SimpleOp::set_value(
        path,
        serde_json::json!({"input": format!("{{\"n\":{n}}}")}),
    );
    client.send(vec![op]).await?;
    let accepted = Instant::now();
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
    let tmp = std::env::temp_dir().join(format!("ain-sre-bench-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let out = run_in(&tmp, quick).await;
    let _ = std::fs::remove_dir_all(&tmp);
    out
}

async fn run_in(tmp: &Path, quick: bool) -> anyhow::Result<E2e> {
    // Every call stays in state and the free tier holds them all: ~15,500 calls of ~3.5 KB
    // would outgrow the default 25 MB free tier, and `deploy`'s default retention (1,000 calls)
    // would prune queued requests before the worker is back to answer them. The bench measures
    // the worker, not those limits.
    let dev = Devnet::start(DevnetConfig {
        budgets: StateBudgets::with_limit(100_000_000_000.0),
        ..DevnetConfig::default()
    })
    .await?;
    let (rpc, events) = (dev.rpc_url(), dev.events_url());
    let admin = ChainClient::connect(&rpc, PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)?).await?;
    admin
        .deploy_keeping(
            &Deployment {
                app: "bench".into(),
                function: "echo".into(),
                runtime: "wasm".into(),
                code: ECHO_WAT.as_bytes().to_vec(),
                profile: None,
                callers: Callers::Any,
                finality: None,
                workers: WorkerPolicy::Approved,
                timeout_ms: None,
                failover_ms: None,
                public_stderr: false,
                egress: None,
            },
            Retention::Unbounded,
        )
        .await?;
    let wkey = PrivateKey::generate();
    let key_hex = hex::encode(wkey.secret_bytes().as_ref());
    let worker = ChainClient::connect(&rpc, wkey).await?;
    admin.approve_worker("bench", &worker.address()).await?;
    worker
        .register(
            "bench",
            &WorkerEntry {
                runtimes: [("wasm".to_owned(), true)].into_iter().collect(),
                version: env!("CARGO_PKG_VERSION").into(),
                capacity: 64,
                profiles: Default::default(),
                egress: false,
            },
        )
        .await?;

    // Response acceptances, from the chain's event handler.
    let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
    let (eh, mut erx) = EventClient::connect(EventsConfig::new(&events, "bench"))?;
    eh.register(Filter::value_changed(
        "resp",
        "/apps/bench/sre/calls/$fn/$call_id/response",
        Some(EventSource::User),
    )?)
    .await?;
    let w = waiters.clone();
    tokio::spawn(async move {
        while let Some(ev) = erx.recv().await {
            if let ClientEvent::Event(e) = ev
                && let EventPayload::ValueChanged(vc) = e.payload
                && let Some(id) = vc.params.get("call_id")
                && let Some(tx) = w.lock_or_recover().remove(id)
            {
                let _ = tx.send(Instant::now());
            }
        }
    });

    let data = tmp.join("worker");
    let mut child = spawn_worker(&rpc, &events, &key_hex, &data)?;
    let client = ChainClient::connect(&rpc, PrivateKey::generate()).await?;
    // Warm up (worker start, first compile) until a call goes through.
    let deadline = Instant::now() + Duration::from_secs(30);
    while one(&client, &waiters, 0).await.is_err() {
        if Instant::now() > deadline {
            stop(&mut child);
            bail!("the worker never answered");
        }
    }
    for i in 0..20 {
        one(&client, &waiters, i).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kb = rss_kb(child.id(), "VmRSS:").unwrap_or(0);

    let mut rows = Vec::new();
    let n_seq = if quick { 100 } else { 500 };
    let t = Instant::now();
    let mut samples = Vec::with_capacity(n_seq);
    for i in 0..n_seq {
        samples.push(one(&client, &waiters, i).await?);
    }
    rows.push(Stats::from_samples(ONE_AT_A_TIME, samples, t.elapsed()));

    let n_burst = if quick { 1000 } else { 5000 };
    let clients: Vec<ChainClient> = futures_util::future::try_join_all(
        (0..4).map(|_| ChainClient::connect(&rpc, PrivateKey::generate())),
    )
    .await?;
    let cpu = (super::process_cpu_time(), process_cpu(child.id()));
    let t = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = futures_util::stream::iter(0..n_burst)
        .map(|i| {
            let (c, w) = (clients[i % clients.len()].clone(), waiters.clone());
            async move { one(&c, &w, i).await }
        })
        .buffer_unordered(128)
        .collect()
        .await;
    let elapsed = t.elapsed();
    let (chain_cpu, worker_cpu) = (
        super::process_cpu_time().saturating_sub(cpu.0),
        process_cpu(child.id()).saturating_sub(cpu.1),
    );
    let cpu = chain_cpu + worker_cpu;
    let samples: Vec<Duration> = results.into_iter().collect::<anyhow::Result<_>>()?;
    rows.push(Stats::from_samples(SUSTAINED, samples, elapsed).with_cpu(cpu));

    // 10,000 queued calls: requests written while the worker is down, then caught up at start.
    let queued = if quick { 2000 } else { 10_000 };
    stop(&mut child);
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
    let mut child = spawn_worker(&rpc, &events, &key_hex, &data)?;
    let t = Instant::now();
    let mut peak_kb = 0;
    let app = crate::onchain::AppPaths::new("bench")?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut left = ids.clone();
    while !left.is_empty() && Instant::now() < deadline {
        peak_kb = peak_kb.max(rss_kb(child.id(), "VmRSS:").unwrap_or(0));
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
    let hwm_kb = rss_kb(child.id(), "VmHWM:").unwrap_or(peak_kb);
    stop(&mut child);
    eh.shutdown();
    dev.shutdown().await;
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
