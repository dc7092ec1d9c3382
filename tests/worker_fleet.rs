//! Fleets on the built-in chain (issue 16): several workers on one app run each call about once
//! (weighted rendezvous ranking over live, capable, approved workers), a killed rank-1 worker's
//! calls are taken over by the next rank after the failover delay, a worker without a runtime's
//! tier is never ranked for it, a drained worker stops being ranked (and rejoins when it comes
//! back), and a weight-2 worker gets about twice the calls of a weight-1 worker.
//!
//! In-process workers: "killing" one is [`DaemonHandle::kill`] (every stage cancelled at once,
//! no drain, no announcement), the in-process stand-in for `kill -9`; `bench fleet` kills real
//! worker processes.

mod common;
mod worker_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ain_sre::client::{AppWorkers, ChainClient, Deployment, wait_response};
use ain_sre::daemon::{self, DaemonConfig, DaemonHandle};
use ain_sre::ledger::crypto::{Address, PrivateKey};
use ain_sre::ledger::devnet::DevnetHandle;
use ain_sre::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use ain_sre::onchain::{Callers, WorkerEntry, WorkerPolicy};
use ain_sre::sandbox::any::{TierConfig, Tiers};
use ain_sre::scheduler::assign;
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use worker_support::*;

/// Deploys the echo with a failover delay and a wall limit.
async fn deploy_fleet(admin: &ChainClient, app: &str, failover_ms: u64, timeout_ms: u64) {
    admin
        .deploy(&Deployment {
            app: app.into(),
            function: "echo".into(),
            runtime: "wasm".into(),
            code: ECHO_WAT.as_bytes().to_vec(),
            profile: None,
            callers: Callers::Any,
            finality: None,
            workers: WorkerPolicy::Approved,
            timeout_ms: Some(timeout_ms),
            failover_ms: Some(failover_ms),
            public_stderr: false,
            egress: None,
        })
        .await
        .expect("deploy");
}

/// Approves and registers `key` with `capacity`, wasm only.
async fn enroll(url: &str, key: &PrivateKey, app: &str, capacity: u64) {
    admin(url)
        .await
        .approve_worker(app, &key.address())
        .await
        .unwrap();
    let c = ChainClient::connect(url, PrivateKey::from_bytes(&key.secret_bytes()).unwrap())
        .await
        .unwrap();
    let entry = WorkerEntry {
        runtimes: [("wasm".to_owned(), true)].into_iter().collect(),
        version: "test".into(),
        capacity,
        profiles: Default::default(),
        egress: false,
    };
    c.register(app, &entry).await.unwrap();
}

/// A worker with a 500 ms heartbeat and a 200 ms failover slack, on `tiers`.
async fn start(
    dev: &DevnetHandle,
    app: &str,
    key: &PrivateKey,
    dir: &std::path::Path,
    tiers: Arc<Tiers>,
) -> DaemonHandle {
    let mut c = DaemonConfig::new(
        &dev.rpc_url(),
        &dev.events_url(),
        vec![app.to_owned()],
        dir.to_path_buf(),
    );
    c.grace = Duration::from_secs(5);
    c.follower_poll = Duration::from_millis(200);
    c.heartbeat = Duration::from_millis(500);
    c.scheduler.failover_slack = Duration::from_millis(200);
    daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        tiers,
    )
    .await
    .expect("worker starts")
}

async fn wasm_tiers() -> Arc<Tiers> {
    use ain_sre::sandbox::Tier;
    Arc::new(
        Tiers::start(TierConfig {
            disabled: vec![Tier::Process, Tier::Container],
            ..TierConfig::default()
        })
        .await,
    )
}

/// Waits until every one of `keys` is live and not draining in the app's registry, plus the
/// workers' 1 s cache of it, so all of them rank the same set.
async fn all_live(url: &str, app: &str, keys: &[&PrivateKey]) {
    let rpc = ain_sre::ledger::rpc::RpcClient::new(url).unwrap();
    let ok = eventually(Duration::from_secs(15), async || {
        let Ok(w) = AppWorkers::fetch(&rpc, app).await else {
            return false;
        };
        let now = ain_sre::call::now_ms();
        keys.iter().all(|k| {
            w.registered.get(&k.address()).is_some_and(|v| {
                let p = assign::Presence::from_entry(v);
                p.live(now) && !p.draining
            })
        })
    })
    .await;
    assert!(ok, "workers never all live in {app}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

/// The rank-1 worker of `call_id` as every worker computes it, over the live registry now.
async fn rank1(url: &str, app: &str, call_id: &str) -> Address {
    let rpc = ain_sre::ledger::rpc::RpcClient::new(url).unwrap();
    let w = AppWorkers::fetch(&rpc, app).await.unwrap();
    let c = assign::candidates(&w, "wasm", "default", ain_sre::call::now_ms(), |_| true);
    assign::ranking(&format!("{app}/echo/{call_id}"), &c)[0]
}

fn executions(ws: &[&DaemonHandle]) -> u64 {
    ws.iter()
        .map(|w| w.health.executions.load(Ordering::Relaxed))
        .sum()
}

fn failovers(ws: &[&DaemonHandle]) -> u64 {
    ws.iter()
        .map(|w| w.health.rank_failover.load(Ordering::Relaxed))
        .sum()
}

/// Sends `n` calls, `par` at a time; returns `(call_id, worker, request → response)`.
async fn burst(
    caller: &ChainClient,
    app: &str,
    n: usize,
    par: usize,
) -> Vec<(String, String, Duration)> {
    futures_util::stream::iter(0..n)
        .map(|i| {
            let c = caller.clone();
            let app = app.to_owned();
            async move {
                let (id, _) = c
                    .call(&app, "echo", &format!("{{\"n\":{i}}}"))
                    .await
                    .unwrap();
                let t = Instant::now();
                let r = wait_response(c.rpc(), &app, "echo", &id, Duration::from_secs(30))
                    .await
                    .expect("response");
                assert_eq!(r["status"], "ok", "{r}");
                let w = r["receipt"]["worker"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (id, w, t.elapsed())
            }
        })
        .buffer_unordered(par)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_run_each_of_300_calls_about_once() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleet3", 2000, 1000).await;
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    let mut ws = Vec::new();
    for (k, d) in keys.iter().zip(&dirs) {
        enroll(&url, k, "fleet3", 8).await;
        ws.push(start(&dev, "fleet3", k, d.path(), tiers.clone()).await);
    }
    all_live(&url, "fleet3", &keys.iter().collect::<Vec<_>>()).await;
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let out = burst(&caller, "fleet3", 300, 16).await;
    assert_eq!(out.len(), 300);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refs: Vec<&DaemonHandle> = ws.iter().collect();
    let execs = executions(&refs);
    let per_call = execs as f64 / 300.0;
    eprintln!(
        "300 calls, 3 workers: {execs} executions ({per_call:.3} per call), {} failovers, per worker {:?}",
        failovers(&refs),
        refs.iter()
            .map(|w| w.health.executions.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    );
    assert!(per_call <= 1.05, "{per_call} executions per call");
    // Every worker took part.
    assert!(
        refs.iter()
            .all(|w| w.health.rank_first.load(Ordering::Relaxed) > 50)
    );
    // No duplicate (the rule forbids it) and no race lost at the chain either.
    let writes = response_writes(&url).await;
    let ours: Vec<_> = writes
        .iter()
        .filter(|(p, _)| p.contains("/fleet3/"))
        .collect();
    assert_eq!(ours.len(), 300);
    assert!(ours.iter().all(|(_, w)| w.0 == 1), "{ours:?}");
    // The executions are in /metrics too, by app and function, with HELP lines and build info.
    let text = ain_sre::observe::install()
        .expect("the daemon installed the recorder")
        .render();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("ain_sre_calls_total{")
                && l.contains("app=\"fleet3\"")
                && l.contains("function=\"echo\"")
        })
        .unwrap_or_default();
    let counted: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert_eq!(counted as u64, execs, "{line}");
    assert!(text.contains("# HELP ain_sre_calls_total"), "{text}");
    assert!(
        text.contains("# HELP ain_sre_rank_outcomes_total"),
        "{text}"
    );
    assert!(text.contains("ain_sre_build_info{version="), "{text}");
    // Pairing: each worker named the node it follows (`ain_getAddress`: the chain's validator),
    // and `workers list` shows it with the liveness columns.
    let validator = PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)
        .unwrap()
        .address()
        .to_string();
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    let w = AppWorkers::fetch(&rpc, "fleet3").await.unwrap();
    for k in &keys {
        let p = assign::Presence::from_entry(&w.registered[&k.address()]);
        assert_eq!(p.paired_with.as_deref(), Some(validator.as_str()), "{p:?}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["workers", "list", "--app", "fleet3", "--node", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("| last seen | state | paired with |"),
        "{text}"
    );
    for k in &keys {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", k.address())))
            .unwrap_or_default();
        assert!(
            line.contains("| wasm | 8 |") && line.contains("| live |") && line.contains(&validator),
            "{line}"
        );
    }
    for w in ws {
        w.shutdown().await.unwrap();
    }
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_calls_are_taken_over_by_the_next_rank() {
    const FAILOVER_MS: u64 = 800;
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    // Wall limit 300 ms + slack 200 ms < 800 ms: the delay alone decides when the call moves.
    deploy_fleet(&admin, "fleetk", FAILOVER_MS, 300).await;
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    let mut ws = Vec::new();
    for (k, d) in keys.iter().zip(&dirs) {
        enroll(&url, k, "fleetk", 8).await;
        ws.push(start(&dev, "fleetk", k, d.path(), tiers.clone()).await);
    }
    all_live(&url, "fleetk", &keys.iter().collect::<Vec<_>>()).await;
    // Kill worker 0: its heartbeat stays fresh for up to 1.5 s, so the others still rank it.
    let dead = keys[0].address();
    ws[0].kill();
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    // Calls whose rank 1 is the killed worker, sent while the others still count it live.
    let mut taken = Vec::new();
    let mut others = 0;
    // Bounded: once the killed worker's heartbeat is stale (1.5 s after its last one) nobody ranks
    // it first any more, so on a slow host fewer than 6 of its calls may be found in time.
    let killed_at = Instant::now();
    while taken.len() < 6 && killed_at.elapsed() < Duration::from_millis(1200) {
        let (id, _) = caller.call("fleetk", "echo", "{}").await.unwrap();
        let t = Instant::now();
        let first = rank1(&url, "fleetk", &id).await;
        if first != dead {
            others += 1;
            continue;
        }
        taken.push((id, t));
    }
    assert!(
        !taken.is_empty(),
        "no call ranked the killed worker first within 1.2 s of the kill ({others} others sent): the host is too slow for this test"
    );
    for (id, t) in &taken {
        let r = wait_response(&rpc, "fleetk", "echo", id, Duration::from_secs(10))
            .await
            .expect("taken over");
        let after = t.elapsed();
        assert_eq!(r["status"], "ok", "{r}");
        assert_ne!(r["receipt"]["worker"], dead.to_string());
        // Answered after the killed worker's turn and within the delay plus a bounded margin
        // (the first calls are sent right after the kill; later ones may find it already stale).
        assert!(
            after <= Duration::from_millis(FAILOVER_MS + 1000),
            "{id} answered after {after:?}"
        );
    }
    let alive: Vec<&DaemonHandle> = ws[1..].iter().collect();
    assert!(
        failovers(&alive) >= 1,
        "the next rank took calls over: {}",
        failovers(&alive)
    );
    eprintln!(
        "{} calls of the killed worker taken over ({others} others); failovers {}",
        taken.len(),
        failovers(&alive)
    );
    // Once its heartbeat is stale (3 × 500 ms), nobody ranks it: its calls run at once again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = failovers(&alive);
    let out = burst(&caller, "fleetk", 30, 8).await;
    assert!(out.iter().all(|(_, w, _)| *w != dead.to_string()));
    assert_eq!(failovers(&alive), before, "no failover once it dropped out");
    for w in ws.into_iter().skip(1) {
        w.shutdown().await.unwrap();
    }
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_worker_stops_being_ranked_and_rejoins_when_back() {
    // A long delay: a call still ranked on the drained worker would wait 20 s.
    const FAILOVER_MS: u64 = 20_000;
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleetd", FAILOVER_MS, 1000).await;
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    let mut ws = Vec::new();
    for (k, d) in keys.iter().zip(&dirs) {
        enroll(&url, k, "fleetd", 8).await;
        ws.push(start(&dev, "fleetd", k, d.path(), tiers.clone()).await);
    }
    all_live(&url, "fleetd", &keys.iter().collect::<Vec<_>>()).await;
    // Drain worker 0 (what SIGTERM does): it announces it, then stops.
    let w0 = ws.remove(0);
    w0.shutdown().await.unwrap();
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    let w = AppWorkers::fetch(&rpc, "fleetd").await.unwrap();
    let p = assign::Presence::from_entry(&w.registered[&keys[0].address()]);
    assert!(p.draining, "the drained worker announced it: {p:?}");
    assert!(
        p.live(ain_sre::call::now_ms()),
        "its heartbeat is still fresh"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let out = burst(&caller, "fleetd", 30, 8).await;
    let rest: Vec<&DaemonHandle> = ws.iter().collect();
    assert_eq!(failovers(&rest), 0, "no call waited for the drained worker");
    assert!(
        out.iter()
            .all(|(_, _, t)| *t < Duration::from_millis(FAILOVER_MS)),
        "{out:?}"
    );
    // It comes back: it heartbeats with draining false and takes its share again.
    let w0 = start(&dev, "fleetd", &keys[0], dirs[0].path(), tiers.clone()).await;
    all_live(&url, "fleetd", &keys.iter().collect::<Vec<_>>()).await;
    let out = burst(&caller, "fleetd", 30, 8).await;
    let back = out
        .iter()
        .filter(|(_, w, _)| *w == keys[0].address().to_string())
        .count();
    assert!(back > 0, "the returning worker answers again");
    w0.shutdown().await.unwrap();
    for w in ws {
        w.shutdown().await.unwrap();
    }
    dev.shutdown().await;
}

/// Two workers of capacities 16 and 8 over 300 calls: the heavy one answers about 2/3 of them
/// (expected 200; the binomial standard deviation is 8.2, tolerance ±25, about 3 σ; equal
/// weights would give 150 ± 8.7, so 175 is also ~3 σ above that). The ranking function itself
/// is checked over 1,000 calls in `scheduler::assign`'s unit tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_two_worker_gets_about_twice_the_calls() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleetw", 5000, 1000).await;
    let (heavy, light) = (PrivateKey::generate(), PrivateKey::generate());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    enroll(&url, &heavy, "fleetw", 16).await;
    enroll(&url, &light, "fleetw", 8).await;
    let wh = start(&dev, "fleetw", &heavy, dirs[0].path(), tiers.clone()).await;
    let wl = start(&dev, "fleetw", &light, dirs[1].path(), tiers.clone()).await;
    all_live(&url, "fleetw", &[&heavy, &light]).await;
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let out = burst(&caller, "fleetw", 300, 16).await;
    let by_heavy = out
        .iter()
        .filter(|(_, w, _)| *w == heavy.address().to_string())
        .count();
    let first = |w: &DaemonHandle| w.health.rank_first.load(Ordering::Relaxed);
    eprintln!(
        "weight 16 vs 8: heavy answered {by_heavy} of 300 (rank-1 turns {} vs {})",
        first(&wh),
        first(&wl)
    );
    assert!((175..=225).contains(&by_heavy), "heavy answered {by_heavy}");
    assert_eq!(failovers(&[&wh, &wl]), 0);
    wh.shutdown().await.unwrap();
    wl.shutdown().await.unwrap();
    dev.shutdown().await;
}

/// A worker whose tiers cannot run python3 (process and container tiers disabled) lists no
/// python3 in its entry and is never ranked for python3 calls: with a 20 s failover delay, every
/// call still goes straight to the worker that can run it, never through a failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_python3_tier_is_never_ranked_for_python3_calls() {
    use ain_sre::config::profiles::ProfileCatalog;
    use ain_sre::config::runtimes::RuntimeCatalog;
    use ain_sre::ledger::tx::SimpleOp;
    use ain_sre::onchain::AppPaths;
    use ain_sre::sandbox::Tier;
    use ain_sre::sandbox::process::ProcessConfig;
    use ain_sre::scheduler::capable;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    let test = "a_worker_without_the_python3_tier_is_never_ranked_for_python3_calls";
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail(test, "the process tier needs root");
        return;
    }
    let full = Arc::new(
        Tiers::start(TierConfig {
            process: ProcessConfig {
                jail_exe: Some(
                    std::path::Path::new(env!("CARGO_BIN_EXE_ain-sre"))
                        .with_file_name("ain-sre-jail"),
                ),
                pool_size: 1,
                cgroup_parent: "ain-sre-test-fleet".into(),
                uid_base: 2_960_000,
                uid_slots: 100,
                root_dir: "/run/ain-sre-test/fleet".into(),
                ..ProcessConfig::default()
            },
            disabled: vec![Tier::Container],
            ..TierConfig::default()
        })
        .await,
    );
    if let Err(e) = full.get(Tier::Process) {
        common::skip_or_fail(test, &format!("process tier unavailable: {e}"));
        return;
    }
    let wasm_only = wasm_tiers().await;
    let (runtimes, profiles) = (
        RuntimeCatalog::shipped().unwrap(),
        ProfileCatalog::shipped().unwrap(),
    );
    let (e_full, e_wasm) = (
        capable::entry(&*full, &runtimes, &profiles, 8, true),
        capable::entry(&*wasm_only, &runtimes, &profiles, 8, true),
    );
    assert_eq!(e_full.runtimes.get("python3"), Some(&true), "{e_full:?}");
    assert!(!e_wasm.runtimes.contains_key("python3"), "{e_wasm:?}");

    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleetp", 20_000, 1000).await;
    let app = AppPaths::new("fleetp").unwrap();
    let py = include_str!("../examples/functions/python3/main.py");
    let spec = json!({"runtime": "python3", "code_hash": hex::encode(Sha256::digest(py.as_bytes())),
                      "size": py.len(), "code": py, "failover_ms": 20_000});
    admin
        .send(vec![SimpleOp::set_value(app.function("hello"), spec)])
        .await
        .unwrap();
    let (k_full, k_wasm) = (PrivateKey::generate(), PrivateKey::generate());
    for (k, e) in [(&k_full, &e_full), (&k_wasm, &e_wasm)] {
        admin.approve_worker("fleetp", &k.address()).await.unwrap();
        ChainClient::connect(&url, PrivateKey::from_bytes(&k.secret_bytes()).unwrap())
            .await
            .unwrap()
            .register("fleetp", e)
            .await
            .unwrap();
    }
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let w_full = start(&dev, "fleetp", &k_full, d1.path(), full.clone()).await;
    let w_wasm = start(&dev, "fleetp", &k_wasm, d2.path(), wasm_only.clone()).await;
    all_live(&url, "fleetp", &[&k_full, &k_wasm]).await;
    // The wasm-only worker is live and ranked for wasm calls...
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    let w = AppWorkers::fetch(&rpc, "fleetp").await.unwrap();
    let now = ain_sre::call::now_ms();
    let for_wasm = assign::candidates(&w, "wasm", "default", now, |_| true);
    assert_eq!(for_wasm.len(), 2);
    // ...and not for python3.
    let for_py = assign::candidates(&w, "python3", "default", now, |_| true);
    assert_eq!(
        for_py.iter().map(|c| c.address).collect::<Vec<_>>(),
        vec![k_full.address()]
    );
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    for i in 0..8 {
        let t = Instant::now();
        let (_, _, resp) = call_wait(
            &caller,
            "fleetp",
            "hello",
            &format!("{{\"name\":\"n{i}\"}}"),
        )
        .await;
        assert_eq!(resp["status"], "ok", "{resp}");
        assert_eq!(resp["receipt"]["worker"], k_full.address().to_string());
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }
    assert_eq!(failovers(&[&w_full, &w_wasm]), 0);
    assert_eq!(w_wasm.health.executions.load(Ordering::Relaxed), 0);
    w_full.shutdown().await.unwrap();
    w_wasm.shutdown().await.unwrap();
    full.shutdown().await;
    dev.shutdown().await;
}
