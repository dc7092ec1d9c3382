//! Helpers for the devnet integration tests: start an in-process devnet, raw JSON-RPC calls,
//! signing, waiting for finality, and comparing answer shapes with the captured node answers.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::devnet::{Devnet, DevnetConfig, DevnetHandle};
use ain_sre::ledger::tx::{Operation, TxBody};
use serde_json::{Value, json};

/// The devnet's default validator key (the 1-node test key).
pub const SK: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";
/// The fixtures' second, unfunded key.
pub const SK2: &str = "d36d9bd96fc4d28d1c282bfdc71656e1d40fabcb0cccb7fb7b0a127a0a574d5e";

pub fn key(sk: &str) -> PrivateKey {
    PrivateKey::from_hex(sk).unwrap()
}

pub fn addr(sk: &str) -> String {
    key(sk).address().to_checksum()
}

/// A fast in-memory devnet on ephemeral ports.
pub async fn start() -> DevnetHandle {
    start_with(|_| {}).await
}

pub async fn start_with(f: impl FnOnce(&mut DevnetConfig)) -> DevnetHandle {
    let mut config = DevnetConfig {
        block_interval: Duration::from_millis(20),
        ..DevnetConfig::default()
    };
    f(&mut config);
    Devnet::start(config).await.unwrap()
}

/// Unique, increasing timestamps.
pub fn ts() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut cur = LAST.load(Ordering::SeqCst);
    loop {
        let next = now.max(cur + 1);
        match LAST.compare_exchange(cur, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return next,
            Err(c) => cur = c,
        }
    }
}

/// `{tx_body, signature}` for `op` signed by `sk`.
pub fn signed(sk: &str, op: impl Into<Operation>, nonce: i64) -> Value {
    let tx = TxBody::new(op, nonce, ts()).sign(&key(sk), 0).unwrap();
    json!({"tx_body": tx.tx_body, "signature": tx.signature})
}

pub struct Client {
    http: reqwest::Client,
    pub url: String,
    id: AtomicU64,
}

impl Client {
    pub fn new(url: impl Into<String>) -> Client {
        Client {
            http: reqwest::Client::new(),
            url: url.into(),
            id: AtomicU64::new(1),
        }
    }

    pub fn of(h: &DevnetHandle) -> Client {
        Client::new(h.rpc_url())
    }

    /// POSTs raw bytes; returns the status and the body parsed as JSON (or as a string).
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A full JSON-RPC exchange with `protoVer` added; returns the whole response body.
    pub async fn call(&self, method: &str, mut params: Value) -> Value {
        params["protoVer"] = json!("1.6.0");
        let id = self.id.fetch_add(1, Ordering::SeqCst);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, v) = self.post(body.to_string()).await;
        assert_eq!(status, 200, "{method}: {v}");
        v
    }

    /// `result.result` of a call.
    pub async fn result(&self, method: &str, params: Value) -> Value {
        let v = self.call(method, params).await;
        v["result"]["result"].clone()
    }

    /// Sends a signed tx; returns `result.result` (`{tx_hash, result}`).
    pub async fn send(&self, tx: Value) -> Value {
        self.result("ain_sendSignedTransaction", tx).await
    }

    /// Sends and asserts the tx succeeded; returns its hash.
    pub async fn send_ok(&self, tx: Value) -> String {
        let r = self.send(tx).await;
        assert!(is_success(&r["result"]), "{r}");
        r["tx_hash"].as_str().unwrap().to_owned()
    }

    pub async fn get_value(&self, path: &str) -> Value {
        self.result("ain_get", json!({"type": "GET_VALUE", "ref": path}))
            .await
    }

    /// Polls `ain_getTransactionByHash` until the tx is FINALIZED or REVERTED *and* final.
    pub async fn wait_final(&self, hash: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = self
                .result("ain_getTransactionByHash", json!({"hash": hash}))
                .await;
            if info["is_finalized"] == true {
                return info;
            }
            assert!(Instant::now() < deadline, "{hash} not final: {info}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls until the last finalized block is at least `n`.
    pub async fn wait_block(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self
            .result("ain_getLastBlockNumber", json!({}))
            .await
            .as_u64()
            .unwrap()
            < n
        {
            assert!(Instant::now() < deadline, "block {n} never came");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// ain-js's success test: code 0 (or every `result_list` code 0) and no failed function.
pub fn is_success(result: &Value) -> bool {
    if let Some(list) = result.get("result_list").and_then(Value::as_object) {
        return list.values().all(|r| r["code"] == 0);
    }
    result["code"] == 0
}

/// Creates app `app` with `sk` as its admin.
pub async fn create_app(c: &Client, sk: &str, app: &str) {
    let op = ain_sre::ledger::tx::SimpleOp::set_value(
        format!("/manage_app/{app}/create/{}", ts()),
        json!({"admin": {addr(sk): true}}),
    );
    c.send_ok(signed(sk, op, -1)).await;
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in keys and JSON types between `ours` and `theirs`, skipping the subtrees at the
/// dotted paths in `skip` (their presence is still compared).
pub fn shape_diff(ours: &Value, theirs: &Value, skip: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    diff_at(ours, theirs, "", skip, &mut out);
    out
}

fn diff_at(a: &Value, b: &Value, path: &str, skip: &[&str], out: &mut Vec<String>) {
    if skip.contains(&path) {
        return;
    }
    if kind(a) != kind(b) {
        out.push(format!(
            "{path}: ours is {}, the node's is {}",
            kind(a),
            kind(b)
        ));
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in y.keys() {
                if !x.contains_key(k) {
                    out.push(format!("{path}.{k}: missing"));
                }
            }
            for k in x.keys() {
                if !y.contains_key(k) {
                    out.push(format!("{path}.{k}: not in the node's answer"));
                }
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    diff_at(v, w, &format!("{path}.{k}"), skip, out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            // Compare the node's sample element with whichever of ours matches it best: how
            // txs are batched into blocks depends on timing, so the first elements may be of
            // different kinds (an op_list SET beside a SET_VALUE) on a loaded machine.
            if let Some(w) = y.first() {
                let best = x
                    .iter()
                    .take(64)
                    .map(|v| {
                        let mut d = Vec::new();
                        diff_at(v, w, &format!("{path}[]"), skip, &mut d);
                        d
                    })
                    .min_by_key(Vec::len);
                out.extend(best.unwrap_or_default());
            }
        }
        _ => {}
    }
}

/// Runs `ledger::follower` over `rpc_url` from the trusted genesis up to block `to`; returns
/// every committed block, in order.
pub async fn follow(
    rpc_url: &str,
    genesis: ain_sre::ledger::crypto::Hash,
    to: u64,
) -> Vec<std::sync::Arc<ain_sre::ledger::block::Block>> {
    use ain_sre::ledger::follower::{
        Follower, FollowerConfig, FollowerEvent, FollowerExit, MemoryCursorStore, TrustedGenesis,
    };
    // The same RPC block source `ain-sre follow` uses against a real node.
    let source = ain_sre::ledger::rpc::RpcClient::new(rpc_url).unwrap();
    let config = FollowerConfig {
        to: Some(to),
        poll_interval: Duration::from_millis(20),
        retry_interval: Duration::from_millis(50),
        ..FollowerConfig::default()
    };
    let store = std::sync::Arc::new(MemoryCursorStore::new());
    let (follower, mut rx, handle) =
        Follower::new(source, TrustedGenesis::Hash(genesis), store, config);
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(follower.run(cancel.clone()));
    let mut blocks = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            FollowerEvent::Committed { block } => {
                handle.finished_height(block.number);
                blocks.push(block);
            }
            FollowerEvent::Halted { error } => panic!("follower halted: {error}"),
        }
    }
    let exit = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("follower finished")
        .unwrap()
        .expect("follower ok");
    assert_eq!(exit, FollowerExit::ReachedTarget(to));
    blocks
}
