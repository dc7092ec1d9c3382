//! Bounded state: `deploy --keep` makes the chain itself prune a function's oldest calls
//! (`gc_max_siblings`, ain-node-semantics.md §2), while every call is still answered and every
//! response stays in the blocks.

mod worker_support;

use ain_sre::client::ChainClient;
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::node::get_value;
use ain_sre::onchain::{Callers, Retention};
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
            &ain_sre::client::Deployment {
                app: "keep".into(),
                function: "echo".into(),
                runtime: "wasm".into(),
                code: ECHO_WAT.as_bytes().to_vec(),
                profile: None,
                callers: Callers::Any,
                finality: None,
                workers: ain_sre::onchain::WorkerPolicy::Approved,
            },
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
        let calls = get_value(caller.rpc(), "/apps/keep/sre/calls/echo").await.unwrap();
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
    let left: Value = get_value(caller.rpc(), "/apps/keep/sre/calls/echo").await.unwrap();
    let left = left.as_object().unwrap().len() as u64;
    assert!((Retention::low_water(20)..=20).contains(&left), "{left}");
}
