//! Bounded state: `deploy --keep` makes the chain itself prune a function's oldest calls
//! (`gc_max_siblings`, ain-node-semantics.md §2), while every call is still answered and every
//! response stays in the blocks; and a request refused by the state budget after its event
//! (10905) is never run or answered.

mod worker_support;

use ain_sre::client::{ChainClient, wait_response};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::node::get_value;
use ain_sre::onchain::Retention;
use futures_util::future::join_all;
use serde_json::Value;
use worker_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_20_bounds_call_entries_and_all_200_calls_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    // The default retention first (1,000 calls, batch 100: valid from genesis on).
    deploy(&admin, "keep", "echo", ECHO_WAT.as_bytes()).await;
    // A batch of 10 is valid from block 2 on, once the node's bandages lowered
    // min_gc_num_siblings_deleted from 100 (ain-node-semantics.md §2.1).
    let rpc = admin.rpc().clone();
    assert!(
        eventually(std::time::Duration::from_secs(10), async || {
            rpc.get_last_block_number().await.unwrap().unwrap_or(0) >= 2
        })
        .await
    );
    // `--keep 20`: gc_max_siblings 20, gc_num_siblings_deleted 10, merged into the existing
    // rule state on redeploy.
    admin
        .deploy_keeping(
            &ain_sre::client::Deployment::new("keep", "echo", "wasm", ECHO_WAT.as_bytes().to_vec()),
            Retention::from_keep(20).unwrap(),
        )
        .await
        .unwrap();
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "keep").await;
    let _w = worker(&dev, &["keep"], &key, dir.path()).await;
    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    let mut max_seen = 0;
    // Five calls in flight at a time: fewer than the 11 calls a prune leaves, so no request is
    // pruned before its answer (the README says to keep more calls than are ever in flight).
    for batch in 0..40 {
        let calls = (0..5).map(|i| {
            let input = format!("{{\"n\":{}}}", batch * 5 + i);
            let caller = &caller;
            async move {
                let (_, _, resp) = call_wait(caller, "keep", "echo", &input).await;
                assert_eq!(resp["status"], "ok", "{resp}");
                assert_eq!(resp["output"], input.as_str());
            }
        });
        join_all(calls).await;
        let calls = get_value(caller.rpc(), "/apps/keep/sre/calls/echo")
            .await
            .unwrap();
        let n = calls.as_object().map_or(0, |m| m.len());
        assert!(n <= 20, "{n} call entries in state after batch {batch}");
        max_seen = max_seen.max(n);
    }
    assert_eq!(max_seen, 20, "state filled up to the retention");
    // Every response landed in a block once, none reverted: history is not pruned.
    let url = dev.rpc_url();
    let all_in_blocks = eventually(std::time::Duration::from_secs(10), async || {
        let writes = response_writes(&url).await;
        writes.len() == 200 && writes.values().all(|w| *w == (1, 0))
    })
    .await;
    assert!(all_in_blocks, "{:?}", response_writes(&url).await.len());
    let left: Value = get_value(caller.rpc(), "/apps/keep/sre/calls/echo")
        .await
        .unwrap();
    let left = left.as_object().unwrap().len() as u64;
    assert!((Retention::low_water(20)..=20).contains(&left), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_10905_after_its_event_is_never_run_or_answered() {
    use ain_sre::ledger::tx::SimpleOp;
    use ain_sre::onchain::AppPaths;
    use serde_json::json;
    let (dev, admin, w, _dir) = tight_chain("tight").await;
    let url = dev.rpc_url();
    let app = AppPaths::new("tight").unwrap();
    // Fill the free tier to within one 2 KB value of its budget.
    fill_free_tier(&admin, "tight").await;
    // A 6 KB request: its VALUE_CHANGED goes out, then the node refuses it (10905).
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let failed_id = "refused-by-the-budget";
    let r = caller
        .send(vec![SimpleOp::set_value(
            app.request("echo", failed_id),
            json!({"input": "y".repeat(3000)}),
        )])
        .await;
    assert!(
        matches!(
            r,
            Err(ain_sre::client::ClientError::Refused {
                code: Some(10905),
                ..
            })
        ),
        "{r:?}"
    );
    // Make room (deletes that bring the free tier under budget pass), then a good call.
    let deletes = (0..6)
        .map(|i| SimpleOp::set_value(format!("/apps/tight/pad/p{i}"), Value::Null))
        .collect();
    admin.send(deletes).await.unwrap();
    let (_, _, resp) = call_wait(&caller, "tight", "echo", "after").await;
    assert_eq!(resp["status"], "ok", "{resp}");
    let dropped = eventually(std::time::Duration::from_secs(10), async || {
        w.health.report()["requests_failed"] == 1
    })
    .await;
    assert!(
        dropped,
        "the worker must drop the refused request: {}",
        w.health.report()
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let writes = response_writes(&url).await;
    assert!(
        !writes.contains_key(&app.response("echo", failed_id)),
        "a request refused by the budget must never be answered: {writes:?}"
    );
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_refused_by_the_budget_is_signed_again_and_lands_once() {
    use ain_sre::ledger::tx::SimpleOp;
    use ain_sre::onchain::AppPaths;
    let (dev, admin, w, _dir) = tight_chain("again").await;
    let url = dev.rpc_url();
    let app = AppPaths::new("again").unwrap();
    // Fill the free tier, then free one 1 KB pad: room for a small request, not for its
    // response with its receipt.
    fill_free_tier(&admin, "again").await;
    admin
        .send(vec![SimpleOp::set_value("/apps/again/pad/p0", Value::Null)])
        .await
        .unwrap();
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let (id, _) = caller
        .call("again", "echo", "x")
        .await
        .expect("the request fits");
    let path = app.response("echo", &id);
    // The worker's response goes into a block refused (10905): nothing stands at the path.
    let refused = eventually(std::time::Duration::from_secs(15), async || {
        response_writes(&url)
            .await
            .get(&path)
            .is_some_and(|w| w.1 >= 1)
    })
    .await;
    assert!(
        refused,
        "the response was never refused: {:?}",
        response_writes(&url).await
    );
    assert!(get_value(caller.rpc(), &path).await.unwrap().is_null());
    // Room again: the worker signs the journaled response anew and it lands, once.
    let deletes = (1..8)
        .map(|i| SimpleOp::set_value(format!("/apps/again/pad/p{i}"), Value::Null))
        .collect();
    admin.send(deletes).await.unwrap();
    let resp = wait_response(
        caller.rpc(),
        "again",
        "echo",
        &id,
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("the response signed again lands");
    assert_eq!(resp["status"], "ok", "{resp}");
    assert_eq!(resp["output"], "x");
    let landed = eventually(std::time::Duration::from_secs(10), async || {
        response_writes(&url)
            .await
            .get(&path)
            .is_some_and(|w| w.0 == 1)
    })
    .await;
    let writes = response_writes(&url).await;
    assert!(landed, "{writes:?}");
    // Nothing more is sent for it (the write-once rule would refuse it anyway: count reverts).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = response_writes(&url).await[&path];
    assert_eq!(
        after, writes[&path],
        "no response sent after the one that landed"
    );
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}

/// A built-in chain with a 60 KB free tier, `app`'s echo deployed, and a worker serving it.
async fn tight_chain(
    app: &str,
) -> (
    ain_sre::ledger::devnet::DevnetHandle,
    ChainClient,
    ain_sre::daemon::DaemonHandle,
    tempfile::TempDir,
) {
    use ain_sre::ledger::devnet::{Devnet, DevnetConfig, StateBudgets};
    let dir = tempfile::tempdir().unwrap();
    let dev = Devnet::start(DevnetConfig {
        block_interval: std::time::Duration::from_millis(50),
        budgets: StateBudgets::with_limit(12_000_000.0),
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy(&admin, app, "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&url, &key, app).await;
    let w = worker(&dev, &[app], &key, dir.path()).await;
    (dev, admin, w, dir)
}

/// Fills the shared free tier with 1 KB pads under `app` until the chain refuses one (10905):
/// it is then within one pad of its budget.
async fn fill_free_tier(admin: &ChainClient, app: &str) {
    use ain_sre::ledger::tx::SimpleOp;
    for pads in 0..100 {
        let r = admin
            .send(vec![SimpleOp::set_value(
                format!("/apps/{app}/pad/p{pads}"),
                serde_json::json!("x".repeat(1000)),
            )])
            .await;
        match r {
            Ok(_) => {}
            Err(ain_sre::client::ClientError::Refused {
                code: Some(10905), ..
            }) => return,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the free tier never filled");
}
