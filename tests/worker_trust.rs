//! Trust on a shared network (issue 15), on the built-in chain: the chain refuses answers to
//! requests that never landed.

mod worker_support;

use ain_sre::client::{ChainClient, ClientError};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::SimpleOp;
use ain_sre::onchain::AppPaths;
use serde_json::{Value, json};
use worker_support::*;

/// A response value shaped as a worker writes it, signed off as `worker`.
fn response_value(worker: &PrivateKey, request_tx: &str) -> Value {
    json!({
        "status": "ok",
        "output": "FAKE RESULT",
        "receipt": {
            "request_tx": request_tx,
            "worker": worker.address().to_string(),
            "code_hash": "00".repeat(32),
            "runtime": "wasm",
            "sandbox": "wasm",
            "profile": "default",
            "input_hash": "00".repeat(32),
            "output_hash": "00".repeat(32),
            "usage": {"wall_us": 1, "cpu_us": 1, "mem_peak_kb": 1},
            "started_at": 1,
            "finished_at": 2,
        }
    })
}

async fn client(url: &str, key: &PrivateKey) -> ChainClient {
    ChainClient::connect(url, PrivateKey::from_bytes(&key.secret_bytes()).unwrap())
        .await
        .unwrap()
}

fn refused(r: &Result<ain_sre::ledger::crypto::Hash, ClientError>) -> bool {
    matches!(
        r,
        Err(ClientError::Refused {
            code: Some(12103),
            ..
        })
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_for_a_missing_request_is_refused_by_the_chain() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy(&admin, "orphan", "echo", ECHO_WAT.as_bytes()).await;
    let app = AppPaths::new("orphan").unwrap();
    let key = PrivateKey::generate();
    register(&url, &key, "orphan").await;
    let w = client(&url, &key).await;

    // No request under this call id: the registered worker's answer is refused.
    let r = w
        .send(vec![SimpleOp::set_value(
            app.response("echo", "never-asked"),
            response_value(&key, "0x00"),
        )])
        .await;
    assert!(refused(&r), "an orphan response must be refused: {r:?}");
    // The same under a function that has no rules of its own (the app-wide `$fn` rule).
    let r = w
        .send(vec![SimpleOp::set_value(
            app.response("undeployed", "never-asked"),
            response_value(&key, "0x00"),
        )])
        .await;
    assert!(refused(&r), "an orphan response must be refused: {r:?}");

    // With the request on chain the same worker may answer, once.
    let caller = client(&url, &PrivateKey::generate()).await;
    let (id, tx) = caller.call("orphan", "echo", "hi").await.unwrap();
    let answer = |output: &str| {
        let mut v = response_value(&key, &tx.to_string());
        v["output"] = json!(output);
        w.send(vec![SimpleOp::set_value(app.response("echo", &id), v)])
    };
    answer("first").await.expect("an answer to a real request lands");
    let again = answer("second").await;
    assert!(refused(&again), "a second answer must be refused: {again:?}");
    dev.shutdown().await;
}
