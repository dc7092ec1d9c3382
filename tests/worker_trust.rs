//! Trust on a shared network (issue 15), on the built-in chain: the chain refuses answers to
//! requests that never landed, and answers from workers the app admin did not approve; the
//! CLI's `deploy` and `workers` show and change who may answer; `call --wait` catches a forged
//! response; a worker never runs a request whose tx failed after its event fired.

#[path = "worker_trust/chain.rs"]
mod chain;
#[path = "worker_trust/clients.rs"]
mod clients;
mod worker_support;

use ain_sre::client::{AppWorkers, ChainClient, ClientError, Deployment};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::SimpleOp;
use ain_sre::onchain::{AppPaths, WorkerEntry, WorkerPolicy};
use serde_json::{Value, json};
use sha2::Digest as _;
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

fn entry() -> WorkerEntry {
    WorkerEntry {
        runtimes: [("wasm".to_owned(), true)].into_iter().collect(),
        profiles: Default::default(),
        egress: false,
        version: "test".into(),
        capacity: 1,
    }
}
