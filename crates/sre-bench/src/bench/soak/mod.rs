//! `ain-sre bench soak`: a steady mixed load on the built-in chain while the workers are killed
//! (SIGKILL, sometimes SIGTERM) and restarted, and the chain is shut down and started again on
//! the same data and ports, on a schedule. At the end: calls made, answered, duplicated, lost
//! (counted from the blocks, [`tally`]), worker RSS per incarnation with a flatness judgement,
//! and what the workers left on the host after their final shutdown ([`leaks`]).
//!
//! Workers are child `ain-sre run` processes (as in [`super::e2e`]), so they can be killed and
//! their memory read from `/proc`. The `process` worker serves app `soak`: WASM echo, python3
//! and bash on the process tier. The `container` worker serves app `soakc` with the process tier
//! switched off (`AIN_SRE_JAIL` names no file), so its python3 calls take the container tier;
//! it runs only when Docker and the python3 runtime image are there.
//!
//! Restarts stop after 60% of the run so the last incarnations live long enough for their RSS
//! trend to be judged.

use crate::ledger::sync::LockExt;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::client::{ChainClient, Deployment, new_call_id};
use crate::ledger::block::Block;
use crate::ledger::crypto::PrivateKey;
use crate::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use crate::ledger::rpc::RpcClient;
use crate::ledger::tx::SimpleOp;
use crate::onchain::{AppPaths, Request, WorkerEntry};

pub mod leaks;
pub mod tally;

use tally::{CallCounts, Incarnation, Leaks, RssBound, RssJudgement, Tally};

mod procs;
mod render;
mod targets;

use super::child::{free_addr, rss_kb};
use procs::{Run, Worker, start_chain};
use render::progress;
pub use render::render;
use targets::{CONTAINER_TARGET, PROCESS_TARGETS, PYTHON_IMAGE, Target, container_tier_here};

/// How a soak runs. [`SoakConfig::for_duration`] gives working values for any length.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long the load runs.
    pub duration: Duration,
    /// Calls per second, over all functions.
    pub rate: f64,
    /// Calls in flight at most (a tick finding them all busy is skipped and counted).
    pub max_in_flight: usize,
    /// A worker is killed and restarted this often (workers in turn).
    pub worker_restart_every: Duration,
    /// The chain is restarted this often.
    pub chain_restart_every: Duration,
    /// Restarts happen only in this first fraction of the run.
    pub restart_window: f64,
    /// After the load: how long to wait for the last answers.
    pub drain: Duration,
    /// RSS sampling interval.
    pub sample_every: Duration,
    /// One progress line on stderr this often.
    pub progress_every: Duration,
    /// The RSS flatness bound.
    pub rss: RssBound,
    /// The `ain-sre` executable the workers run (default: this one).
    pub exe: Option<PathBuf>,
    /// Also run the container worker (default: when Docker has the python3 image).
    pub container: Option<bool>,
}

impl SoakConfig {
    /// A soak of `duration`: a worker restart every eighth of it (10–60 s), a chain restart every
    /// third (20 s–5 min), 20 calls a second.
    pub fn for_duration(duration: Duration) -> SoakConfig {
        let clamp = |d: Duration, lo: u64, hi: u64| {
            d.clamp(Duration::from_secs(lo), Duration::from_secs(hi))
        };
        SoakConfig {
            duration,
            rate: 20.0,
            max_in_flight: 256,
            worker_restart_every: clamp(duration / 8, 10, 60),
            chain_restart_every: clamp(duration / 3, 20, 300),
            restart_window: 0.6,
            drain: Duration::from_secs(60),
            sample_every: Duration::from_secs(1),
            progress_every: Duration::from_secs(10),
            // The worker's resident set under a steady load is its code, the tokio and allocator
            // arenas, the tiers' pools and code caches: all sized at start-up or by the first
            // calls. 8 MiB (or 15% of the start) absorbs arena and pool jitter; a leak of 1 KiB
            // per call at 20 calls/s crosses it in under 7 minutes, 5 KiB in 80 s.
            rss: RssBound {
                warmup_s: 8.0,
                slack_kb: 8 * 1024,
                fraction: 0.15,
            },
            exe: None,
            container: None,
        }
    }
}

/// The soak's report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    /// Host, build.
    pub host: String,
    /// Seconds of load.
    pub duration_s: f64,
    /// Calls attempted by the clients.
    pub attempted: u64,
    /// Attempts the chain did not acknowledge (sent while it was down, after retries).
    pub send_failures: u64,
    /// Ticks skipped because `max_in_flight` calls were pending.
    pub skipped_ticks: u64,
    /// Worker restarts, chain restarts.
    pub worker_restarts: u64,
    /// Chain restarts.
    pub chain_restarts: u64,
    /// Calls, from the blocks.
    pub calls: CallCounts,
    /// Every worker incarnation with its RSS samples.
    pub incarnations: Vec<Incarnation>,
    /// Flatness of each worker's last incarnation.
    pub rss: Vec<(String, RssJudgement)>,
    /// What was left behind.
    pub leaks: Leaks,
    /// Tiers not exercised, and why.
    pub notes: Vec<String>,
    /// Broken promises (empty = clean).
    pub failures: Vec<String>,
}

/// Reads the blocks the tally has not seen (up to the last finalized one).
async fn scan(rpc: &RpcClient, tally: &mut Tally) {
    let Ok(Some(last)) = rpc.get_last_block_number().await else {
        return;
    };
    if last < tally.next_block {
        return;
    }
    if let Ok(blocks) = rpc
        .get_block_list::<Block>(tally.next_block, last + 1)
        .await
    {
        tally.add_blocks(&blocks);
    }
}

/// Runs a soak; the report says whether it was clean ([`SoakReport::failures`]).
pub async fn run(cfg: SoakConfig) -> anyhow::Result<SoakReport> {
    let tmp = super::ScratchDir::new("ain-sre-soak")?;
    run_in(tmp.path(), cfg).await
}

async fn run_in(tmp: &Path, cfg: SoakConfig) -> anyhow::Result<SoakReport> {
    let mounts_before = leaks::watched_mounts();
    let exe = match &cfg.exe {
        Some(e) => e.clone(),
        None => crate::ain_sre_exe()?,
    };
    let mut notes = Vec::new();
    let container = match cfg.container {
        Some(c) => c,
        None => {
            let here = container_tier_here().await;
            if !here {
                notes.push(format!(
                    "container tier not exercised: Docker or the `{PYTHON_IMAGE}` image is missing \
                     (`ain-sre runtimes build python3`)"
                ));
            }
            here
        }
    };
    let (rpc_addr, events_addr) = (free_addr()?, free_addr()?);
    let chain_dir = tmp.join("chain");
    let mut dev = Some(start_chain(rpc_addr, events_addr, &chain_dir).await?);
    let (rpc, events) = {
        let d = dev.as_ref().expect("started");
        (d.rpc_url(), d.events_url())
    };

    // Deploy, register the workers.
    let admin = ChainClient::connect(&rpc, PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)?).await?;
    let mut targets: Vec<&'static Target> = PROCESS_TARGETS.iter().collect();
    if container {
        targets.push(&CONTAINER_TARGET);
    }
    for t in &targets {
        admin
            .deploy(&Deployment::new(
                t.app,
                t.function,
                t.runtime,
                t.code.as_bytes().to_vec(),
            ))
            .await?;
    }
    let mut workers = Vec::new();
    let specs: &[(&'static str, &'static str, &[&str])] = if container {
        &[
            ("process", "soak", &["wasm", "python3", "bash"]),
            ("container", "soakc", &["python3"]),
        ]
    } else {
        &[("process", "soak", &["wasm", "python3", "bash"])]
    };
    for (name, app, runtimes) in specs {
        let key = PrivateKey::generate();
        let key_hex = hex::encode(key.secret_bytes().as_ref());
        admin.approve_worker(app, &key.address()).await?;
        ChainClient::connect(&rpc, key)
            .await?
            .register(
                app,
                &WorkerEntry {
                    runtimes: runtimes.iter().map(|r| ((*r).to_owned(), true)).collect(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    capacity: 64,
                    profiles: Default::default(),
                    egress: false,
                },
            )
            .await?;
        let env = if *name == "container" {
            vec![("AIN_SRE_JAIL", tmp.join("no-jail").display().to_string())]
        } else {
            Vec::new()
        };
        workers.push(Worker {
            name,
            app,
            key_hex,
            data: tmp.join(format!("worker-{name}")),
            env,
            child: None,
        });
    }
    let run = Run {
        exe,
        rpc: rpc.clone(),
        events,
        t0: Instant::now(),
        incarnations: Arc::new(Mutex::new(Vec::new())),
    };
    for w in &mut workers {
        run.spawn(w)?;
    }

    // RSS sampler: the newest incarnation of each worker that is still alive.
    let sampler = {
        let incs = run.incarnations.clone();
        let (every, t0) = (cfg.sample_every, run.t0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let now = t0.elapsed().as_secs_f64();
                let mut incs = incs.lock_or_recover();
                for i in incs.iter_mut().filter(|i| i.ended_by.is_empty()) {
                    if let Some(kb) = rss_kb(i.pid) {
                        i.samples.push((now - i.started_s, kb));
                    }
                }
            }
        })
    };

    // The load: one tick per call, round-robin over the weighted targets.
    let callers: Vec<ChainClient> = futures_util::future::try_join_all(
        (0..4).map(|_| ChainClient::connect(&rpc, PrivateKey::generate())),
    )
    .await?;
    let caller_addrs: Vec<String> = callers.iter().map(|c| c.address().to_string()).collect();
    let schedule: Vec<&'static Target> = targets
        .iter()
        .flat_map(|t| std::iter::repeat_n(*t, t.weight as usize))
        .collect();
    let acked: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let (attempted, failed, skipped) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let load_stop = tokio_util::sync::CancellationToken::new();
    let load = {
        let (acked, attempted, failed, skipped) = (
            acked.clone(),
            attempted.clone(),
            failed.clone(),
            skipped.clone(),
        );
        let stop = load_stop.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_in_flight));
        let period = Duration::from_secs_f64(1.0 / cfg.rate.max(0.1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let tasks = tokio_util::task::TaskTracker::new();
            for n in 0u64.. {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let t = schedule[n as usize % schedule.len()];
                let client = callers[n as usize % callers.len()].clone();
                let (acked, attempted, failed) = (acked.clone(), attempted.clone(), failed.clone());
                tasks.spawn(async move {
                    let _permit = permit;
                    let id = new_call_id();
                    let Ok(app) = AppPaths::new(t.app) else {
                        return;
                    };
                    let op =
                        SimpleOp::set_value(app.request(t.function, &id), Request::value(t.input));
                    attempted.fetch_add(1, Ordering::Relaxed);
                    match client.send(vec![op]).await {
                        Ok(_) => {
                            acked
                                .lock_or_recover()
                                .insert(format!("{}/{}/{id}", t.app, t.function));
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            tasks.close();
            tasks.wait().await;
        })
    };

    // The schedule of outages, and progress.
    let rpc_client = RpcClient::new(&rpc)?;
    let mut tally = Tally::default();
    let window = cfg.duration.mul_f64(cfg.restart_window);
    let (mut next_worker, mut next_chain, mut next_progress) = (
        cfg.worker_restart_every,
        cfg.chain_restart_every,
        cfg.progress_every,
    );
    let (mut worker_restarts, mut chain_restarts) = (0u64, 0u64);
    loop {
        let now = run.t0.elapsed();
        if now >= cfg.duration {
            break;
        }
        if now >= next_worker && now < window {
            next_worker += cfg.worker_restart_every;
            let n = workers.len();
            let w = &mut workers[worker_restarts as usize % n];
            // Every third restart is a graceful SIGTERM (drain); the others are SIGKILL.
            let (sig, label) = if worker_restarts % 3 == 2 {
                (Signal::SIGTERM, "SIGTERM")
            } else {
                (Signal::SIGKILL, "SIGKILL")
            };
            run.stop(w, sig, label).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            run.spawn(w)?;
            worker_restarts += 1;
        }
        if now >= next_chain && now < window {
            next_chain += cfg.chain_restart_every;
            if let Some(d) = dev.take() {
                d.shutdown().await;
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
            dev = Some(start_chain(rpc_addr, events_addr, &chain_dir).await?);
            chain_restarts += 1;
        }
        if now >= next_progress {
            next_progress += cfg.progress_every;
            scan(&rpc_client, &mut tally).await;
            let acked = acked.lock_or_recover().clone();
            eprintln!(
                "{}",
                progress(
                    &tally,
                    &acked,
                    now,
                    worker_restarts,
                    chain_restarts,
                    &workers
                )
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let load_s = run.t0.elapsed().as_secs_f64();
    load_stop.cancel();
    let _ = load.await;
    // Samples of the last incarnations end with the load: the judgement is about memory under it.
    sampler.abort();

    // Drain: until every acknowledged call is answered, or the drain time is up.
    let acked = acked.lock_or_recover().clone();
    let drain_end = Instant::now() + cfg.drain;
    loop {
        scan(&rpc_client, &mut tally).await;
        let c = tally.counts(&acked);
        if c.lost == 0 || Instant::now() > drain_end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for w in &mut workers {
        run.stop(w, Signal::SIGTERM, "final SIGTERM").await;
    }
    // Anything a worker posted while shutting down, and a last look for second answers.
    tokio::time::sleep(Duration::from_secs(1)).await;
    scan(&rpc_client, &mut tally).await;
    let incarnations = run.incarnations.lock_or_recover().clone();
    let pids: HashSet<u32> = incarnations.iter().map(|i| i.pid).collect();
    let pc = crate::sandbox::process::ProcessConfig::default();
    let leaks = leaks::find(
        &pids,
        &caller_addrs,
        &pc.cgroup_mount,
        &pc.cgroup_parent,
        &mounts_before,
    )
    .await;
    if let Some(d) = dev.take() {
        d.shutdown().await;
    }

    let calls = tally.counts(&acked);
    let rss: Vec<(String, RssJudgement)> = workers
        .iter()
        .filter_map(|w| {
            let last = incarnations.iter().rev().find(|i| i.worker == w.name)?;
            Some((w.name.to_owned(), tally::judge_rss(&last.samples, &cfg.rss)))
        })
        .collect();
    let failures = tally::failures(&calls, &rss, &leaks);
    Ok(SoakReport {
        host: super::host_description(),
        duration_s: load_s,
        attempted: attempted.load(Ordering::Relaxed),
        send_failures: failed.load(Ordering::Relaxed),
        skipped_ticks: skipped.load(Ordering::Relaxed),
        worker_restarts,
        chain_restarts,
        calls,
        incarnations,
        rss,
        leaks,
        notes,
        failures,
    })
}

/// `ain-sre bench soak --minutes N [--json]`: runs, prints the report on stdout, exits non-zero
/// unless it is clean.
pub async fn main(minutes: f64, json: bool) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(
        minutes.is_finite() && minutes > 0.0,
        "--minutes must be positive"
    );
    let report = run(SoakConfig::for_duration(Duration::from_secs_f64(
        minutes * 60.0,
    )))
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.failures.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
