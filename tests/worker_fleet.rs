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
#[path = "worker_fleet/failover.rs"]
mod failover;
#[path = "worker_fleet/ranking.rs"]
mod ranking;
mod worker_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ain_sre::client::{AppWorkers, ChainClient, Deployment, wait_response};
use ain_sre::daemon::{self, DaemonConfig, DaemonHandle};
use ain_sre::ledger::crypto::{Address, PrivateKey};
use ain_sre::ledger::devnet::DevnetHandle;
use ain_sre::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use ain_sre::onchain::WorkerEntry;
use ain_sre::sandbox::any::{TierConfig, Tiers};
use ain_sre::scheduler::assign;
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use worker_support::*;

/// Deploys the echo with a failover delay and a wall limit.
async fn deploy_fleet(admin: &ChainClient, app: &str, failover_ms: u64, timeout_ms: u64) {
    admin
        .deploy(&Deployment {
            timeout_ms: Some(timeout_ms),
            failover_ms: Some(failover_ms),
            ..Deployment::new(app, "echo", "wasm", ECHO_WAT.as_bytes().to_vec())
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
