//! `ain-sre bench fleet`: a fleet of four worker processes on the built-in chain, one app, the
//! WASM echo (wall limit 1 s, failover delay 2 s, default 10 s heartbeat).
//!
//! 1. 2,000 calls, 32 in flight, no failure: executions per call (from the workers' own
//!    `/metrics`, `ain_sre_calls_total{app="fleet"}`), p50/p99 of request tx accepted → response
//!    tx accepted (the response's VALUE_CHANGED event).
//! 2. 400 more calls, 32 in flight; after the first 100 one worker is killed with SIGKILL (a real
//!    `kill -9` of its process: no drain, no announcement, its heartbeat stays fresh for up to
//!    30 s). For the calls whose rank 1 was the killed worker and that were unanswered when it
//!    died, the time from request to response: the next rank takes them over after the failover
//!    delay.
//!
//! Over both: duplicate responses (successful response writes per call beyond the first, from a
//! scan of every block), lost calls (no response within 60 s), and the liveness cost (heartbeat
//! txs per hour per worker from their timestamps in the blocks, their size, and the state the
//! presence fields add per worker).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use super::Stats;
use super::child::{self, ChildProc, free_addr};
use super::echo_chain::{EchoChain, EchoLimits};
use crate::client::{AppWorkers, ChainClient};
use crate::ledger::block::Block;
use crate::ledger::crypto::{Address, PrivateKey};
use crate::ledger::sync::LockExt;
use crate::onchain::call_key;
use crate::scheduler::assign;

mod load;
mod procs;

use load::{burst, succeeded};
use procs::{scrape_all, spawn_worker};

const APP: &str = "fleet";
const WORKERS: usize = 4;
const FAILOVER_MS: u64 = 2000;
const TIMEOUT_MS: u64 = 1000;
const IN_FLIGHT: usize = 32;

/// Everything the fleet run measured.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Latency rows.
    pub rows: Vec<Stats>,
    /// The figures, one line each.
    pub notes: Vec<String>,
}

fn median_ms(v: &[Duration]) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Runs the benchmark.
pub async fn run(quick: bool) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let tmp = super::ScratchDir::new("ain-sre-bench-fleet")?;
    let chain = EchoChain::start(
        APP,
        EchoLimits {
            timeout_ms: Some(TIMEOUT_MS),
            failover_ms: Some(FAILOVER_MS),
        },
    )
    .await?;
    let out = run_on(&chain, tmp.path(), quick).await;
    chain.shutdown().await;
    out.map(|f| (f.rows, f.notes))
}

async fn run_on(chain: &EchoChain, tmp: &Path, quick: bool) -> anyhow::Result<Fleet> {
    let mut keys = Vec::new();
    for _ in 0..WORKERS {
        keys.push(chain.add_worker().await?);
    }
    let state_before = chain
        .admin
        .state_usage(APP)
        .await?
        .map_or(0.0, |u| u.tree_bytes);

    let mut children = Vec::new();
    let mut metrics = Vec::new();
    for (i, (_, key_hex)) in keys.iter().enumerate() {
        let m = free_addr()?;
        children.push(spawn_worker(chain, key_hex, &tmp.join(format!("w{i}")), m)?);
        metrics.push(m);
    }
    let result = measure(chain, &keys, &mut children, &metrics, state_before, quick).await;
    // All asked to drain at once, then each waited for.
    for c in &mut children {
        if c.running() {
            c.signal(Signal::SIGTERM);
        }
    }
    for c in &mut children {
        c.reap(child::PATIENCE).await;
    }
    result
}

async fn measure(
    chain: &EchoChain,
    keys: &[(Address, String)],
    children: &mut [ChildProc],
    metrics: &[SocketAddr],
    state_before: f64,
    quick: bool,
) -> anyhow::Result<Fleet> {
    let (admin, rpc, responses) = (&chain.admin, &chain.rpc, &chain.responses);
    let http = reqwest::Client::new();
    // Every worker live in the registry, then the workers' 1 s cache of it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let fleet = loop {
        let w = AppWorkers::fetch(admin.rpc(), APP).await?;
        let now = crate::call::now_ms();
        let live = keys.iter().all(|(a, _)| {
            w.registered
                .get(a)
                .is_some_and(|v| assign::Presence::from_entry(v).live(now))
        });
        if live && scrape_all(&http, metrics).await.iter().all(Option::is_some) {
            break w;
        }
        if Instant::now() > deadline {
            bail!("the workers never all heartbeated");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let state_after = admin.state_usage(APP).await?.map_or(0.0, |u| u.tree_bytes);
    let candidates = assign::candidates(&fleet, "wasm", "default", crate::call::now_ms(), |_| true);
    let rank1 = |id: &str| assign::ranking(&call_key(APP, "echo", id), &candidates)[0];

    let clients: Vec<ChainClient> = futures_util::future::try_join_all(
        (0..4).map(|_| ChainClient::connect(rpc, PrivateKey::generate())),
    )
    .await?;
    // Warm-up: every worker compiles the echo once.
    let warm = burst(&clients, responses, 40, |_| ()).await?;
    if warm.iter().any(|r| r.2.is_none()) {
        bail!("warm-up calls went unanswered");
    }

    // Phase 1: no failure.
    let n1 = if quick { 500 } else { 2000 };
    let before = scrape_all(&http, metrics).await;
    let t = Instant::now();
    let phase1 = burst(&clients, responses, n1, |_| ()).await?;
    let elapsed1 = t.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = scrape_all(&http, metrics).await;
    let execs = |s: &[Option<(f64, BTreeMap<String, f64>)>]| -> Vec<f64> {
        s.iter().map(|x| x.as_ref().map_or(0.0, |x| x.0)).collect()
    };
    let per_worker: Vec<f64> = execs(&after)
        .iter()
        .zip(execs(&before))
        .map(|(a, b)| a - b)
        .collect();
    let exec1: f64 = per_worker.iter().sum();
    let lost1 = phase1.iter().filter(|r| r.2.is_none()).count();
    let lat1: Vec<Duration> = phase1
        .iter()
        .filter_map(|r| r.2.map(|d| d.saturating_duration_since(r.1)))
        .collect();
    let ranks_after: BTreeMap<String, f64> =
        after
            .iter()
            .flatten()
            .flat_map(|x| x.1.clone())
            .fold(BTreeMap::new(), |mut m, (k, v)| {
                *m.entry(k).or_insert(0.0) += v;
                m
            });

    // Phase 2: one worker killed -9 after the first 100 of 400 calls.
    let n2 = if quick { 200 } else { 400 };
    let victim = WORKERS - 1;
    let victim_addr = keys[victim].0;
    let victim_pid = children[victim].pid();
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let before2 = scrape_all(&http, metrics).await;
    let t2 = Instant::now();
    let k = killed_at.clone();
    let phase2 = burst(&clients, responses, n2, move |i| {
        if i == 100 {
            let mut g = k.lock_or_recover();
            if g.is_none() {
                // SIGKILL: the process gets no chance to drain or announce anything.
                child::signal(victim_pid, Signal::SIGKILL);
                *g = Some(Instant::now());
            }
        }
    })
    .await?;
    let elapsed2 = t2.elapsed();
    children[victim].reap(child::PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after2 = scrape_all(&http, metrics).await;
    let killed = killed_at
        .lock_or_recover()
        .context("the kill never happened")?;
    let exec2_survivors: f64 = execs(&after2)
        .iter()
        .zip(execs(&before2))
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, (a, b))| a - b)
        .sum();
    let lost2 = phase2.iter().filter(|r| r.2.is_none()).count();
    let taken_over: Vec<Duration> = phase2
        .iter()
        .filter(|r| rank1(&r.0) == victim_addr)
        .filter_map(|r| {
            r.2.filter(|done| *done > killed)
                .map(|d| d.saturating_duration_since(r.1))
        })
        .collect();
    let lat2: Vec<Duration> = phase2
        .iter()
        .filter_map(|r| r.2.map(|d| d.saturating_duration_since(r.1)))
        .collect();

    // Every block: duplicate responses, race losers refused on chain, heartbeat txs.
    let last = admin.rpc().get_last_block_number().await?.unwrap_or(0);
    let mut ok_writes: HashMap<String, u32> = HashMap::new();
    let mut failed_writes = 0u32;
    let mut beats: HashMap<String, Vec<u64>> = HashMap::new();
    let mut beat_bytes = 0usize;
    let mut from = 0;
    while from <= last {
        let to = (from + 50).min(last + 1);
        let blocks: Vec<Block> = admin.rpc().get_block_list(from, to).await?;
        for b in &blocks {
            for (i, tx) in b.transactions.iter().enumerate() {
                let ok = succeeded(b, i);
                for op in tx.tx_body.operation.ops() {
                    if op.op_type != crate::ledger::tx::OpType::SetValue {
                        continue;
                    }
                    if op.path.ends_with("/response") && op.path.contains(&format!("/{APP}/")) {
                        if ok {
                            *ok_writes.entry(op.path.clone()).or_default() += 1;
                        } else {
                            failed_writes += 1;
                        }
                    } else if ok && op.path.ends_with("/last_seen") {
                        beats
                            .entry(op.path.clone())
                            .or_default()
                            .push(tx.tx_body.timestamp.as_u64().unwrap_or(0));
                        if beat_bytes == 0 {
                            beat_bytes = crate::ledger::json::js_object_sizeof(
                                &serde_json::to_value(&tx.tx_body).unwrap_or_default(),
                            );
                        }
                    }
                }
            }
        }
        from = to;
    }
    let sent: std::collections::HashSet<String> = warm
        .iter()
        .chain(&phase1)
        .chain(&phase2)
        .map(|r| format!("/apps/{APP}/sre/calls/echo/{}/response", r.0))
        .collect();
    let answered = ok_writes.keys().filter(|p| sent.contains(*p)).count();
    let strangers: Vec<&String> = ok_writes.keys().filter(|p| !sent.contains(*p)).collect();
    let duplicates: u32 = ok_writes.values().map(|n| n.saturating_sub(1)).sum();
    // Heartbeats per hour per worker: intervals between a surviving worker's consecutive beats.
    let mut gaps = Vec::new();
    for ts in beats.values() {
        let mut ts = ts.clone();
        ts.sort_unstable();
        gaps.extend(ts.windows(2).map(|w| w[1].saturating_sub(w[0])));
    }
    let mean_gap_ms = gaps.iter().sum::<u64>() as f64 / gaps.len().max(1) as f64;
    let beats_per_hour = if gaps.is_empty() {
        0.0
    } else {
        3_600_000.0 / mean_gap_ms
    };
    let calls = n1 + n2 + 40;
    let within = Duration::from_millis(FAILOVER_MS + 1000);
    let notes = vec![
        format!(
            "no failure: {n1} calls, {WORKERS} workers, {IN_FLIGHT} in flight, {:.0} calls/s: {exec1:.0} executions = {:.3} per call (target <= 1.05); per worker {per_worker:?}; lost {lost1}",
            n1 as f64 / elapsed1.as_secs_f64(),
            exec1 / n1 as f64
        ),
        format!("rank outcomes after the no-failure phase (all workers): {ranks_after:?}"),
        format!(
            "kill -9 of 1 worker after 100 of {n2} calls: {} of its calls taken over, time to answer p50 {:.0} ms, max {:.0} ms (target <= failover {FAILOVER_MS} ms + 1 s: {}); survivors ran {exec2_survivors:.0} executions for {n2} calls; lost {lost2}",
            taken_over.len(),
            median_ms(&taken_over),
            taken_over
                .iter()
                .max()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
            if taken_over.iter().all(|d| *d <= within) {
                "met"
            } else {
                "NOT met"
            },
        ),
        format!(
            "whole run: {calls} calls, {answered} answered on chain, duplicate responses {duplicates}, race losers refused by the chain {failed_writes}, lost {}{}",
            calls.saturating_sub(answered),
            if strangers.is_empty() {
                String::new()
            } else {
                format!("; responses to calls this run did not send: {strangers:?}")
            }
        ),
        format!(
            "liveness cost: {beats_per_hour:.0} heartbeat txs/hour/worker per app (measured mean interval {:.1} s over {} beats), {beat_bytes} bytes per heartbeat tx body ({:.1} MB/hour/worker of block history), {:.0} bytes of state per worker (presence fields, overwritten in place: constant)",
            mean_gap_ms / 1e3,
            gaps.len(),
            beats_per_hour * beat_bytes as f64 / 1e6,
            (state_after - state_before) / WORKERS as f64
        ),
    ];
    Ok(Fleet {
        rows: vec![
            Stats::from_samples(
                "fleet of 4, wasm echo, no failure (request accepted → response accepted)",
                lat1,
                elapsed1,
            ),
            Stats::from_samples(
                "fleet of 4, wasm echo, one worker killed -9 (all calls)",
                lat2,
                elapsed2,
            ),
        ],
        notes,
    })
}
