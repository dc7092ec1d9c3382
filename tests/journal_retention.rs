//! The journal is bounded without weakening "each call runs once": a worker whose journal forgot
//! its finished calls (retention of zero) and whose follower cursor is reset replays every block
//! from genesis, sees those calls again, and runs none of them a second time — their responses
//! are on chain.

mod worker_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ain_sre::client::ChainClient;
use ain_sre::daemon::{self, DaemonConfig, DaemonHandle};
use ain_sre::journal::{CallState, Journal, Retention};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::devnet::DevnetHandle;
use ain_sre::sandbox::Tier;
use ain_sre::sandbox::fake::FakeSandbox;
use worker_support::*;

async fn start(
    dev: &DevnetHandle,
    key: &PrivateKey,
    dir: &std::path::Path,
    fake: &FakeSandbox,
    journal: Retention,
) -> DaemonHandle {
    let mut c = DaemonConfig::new(
        &dev.rpc_url(),
        &dev.events_url(),
        vec!["forget".into()],
        dir.to_path_buf(),
    );
    c.grace = Duration::from_secs(5);
    c.follower_poll = Duration::from_millis(200);
    c.journal = journal;
    daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        Arc::new(fake.clone()),
    )
    .await
    .expect("worker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_calls_seen_again_in_replayed_blocks_are_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "forget", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "forget").await;
    let fake = FakeSandbox::echo(Tier::Wasm);
    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();

    // Finished calls are forgotten as soon as the writer looks.
    let forget_all = Retention {
        max_age: Duration::ZERO,
        max_finished: 0,
        interval: Duration::from_millis(100),
    };
    let w = start(&dev, &key, dir.path(), &fake, forget_all).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (id, _, resp) = call_wait(&caller, "forget", "echo", &format!("in {i}")).await;
        assert_eq!(resp["status"], "ok");
        ids.push(id);
    }
    // Each call is final once the follower verified its response's block, which takes a later
    // block (the chain makes blocks only for txs, so one is made); then it is pruned.
    poke(&admin).await;
    caught_up(&dev, &w).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.shutdown().await.unwrap();
    assert_eq!(fake.calls().len(), 3, "each call ran once");
    let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
    for id in &ids {
        assert!(
            j.get(&format!("forget/echo/{id}")).unwrap().is_none(),
            "{id}: the finished call was pruned"
        );
    }
    assert_eq!(j.finished().unwrap(), 0);
    j.close().await.unwrap();

    // The cursor is reset: the follower replays every block from genesis, requests included.
    std::fs::remove_file(dir.path().join("follower.cursor")).unwrap();
    let w = start(&dev, &key, dir.path(), &fake, Retention::default()).await;
    caught_up(&dev, &w).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.shutdown().await.unwrap();

    assert_eq!(fake.calls().len(), 3, "no pruned call ran a second time");
    let writes = response_writes(&dev.rpc_url()).await;
    for id in &ids {
        let path = format!("/apps/forget/sre/calls/echo/{id}/response");
        assert_eq!(
            writes.get(&path),
            Some(&(1, 0)),
            "{path}: one response, ever"
        );
    }
    // Seen again, each was found answered on chain and finished without running.
    let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
    for id in &ids {
        let rec = j.get(&format!("forget/echo/{id}")).unwrap().unwrap();
        assert_eq!(rec.state, CallState::AnsweredElsewhere, "{id}");
        assert_eq!(rec.runs, 0, "{id}");
    }
    j.close().await.unwrap();
    dev.shutdown().await;
}

/// Makes the chain add a block (a tx unrelated to any call).
async fn poke(admin: &ChainClient) {
    admin
        .approve_worker("forget", &PrivateKey::generate().address())
        .await
        .unwrap();
}

/// Waits until the worker's follower verified every block but the tip (which needs a successor
/// to be proven).
async fn caught_up(dev: &DevnetHandle, w: &DaemonHandle) {
    let tip = ain_sre::ledger::rpc::RpcClient::new(&dev.rpc_url())
        .unwrap()
        .get_last_block_number()
        .await
        .unwrap()
        .unwrap_or(0);
    let h = w.health.clone();
    assert!(
        eventually(Duration::from_secs(20), async || {
            let f = h.follower_height.load(Ordering::Relaxed);
            f != u64::MAX && f + 1 >= tip
        })
        .await,
        "the follower verified the chain up to block {tip}"
    );
}
