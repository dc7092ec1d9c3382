//! `ledger::rpc` against a local HTTP server that answers like an ain-blockchain 1.6.0 node:
//! every captured response in `ain-rpc-samples.json` replayed for its method, plus JSON-RPC
//! errors, HTTP failures, a hanging server, garbage bodies and local refusals.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ain_sre::ledger::crypto::{Address, Hash, Signature};
use ain_sre::ledger::rpc::{
    GetOp, GetRequest, RpcClient, RpcConfig, RpcError, SendResult, StateView, TxInfo, TxState,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Hard bound on every client call in this file, so no test can hang.
const BOUND: Duration = Duration::from_secs(10);

type Dynamic = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// How the test server answers one method.
#[derive(Clone)]
enum Reply {
    /// This JSON body; an `id` member is rewritten to the request's id, as jayson echoes it.
    Json(Value),
    /// This status and raw body.
    Raw(u16, &'static str),
    /// Never answer (within any test's lifetime).
    Hang,
    /// The envelope's inner `result` computed from the request params.
    Dynamic(Dynamic),
    /// This inner `result`, after a pause (to see how many requests overlap).
    Slow(Duration, Value),
}

#[derive(Default)]
struct Inner {
    replies: HashMap<String, Reply>,
    requests: Vec<Value>,
    /// Requests being answered now, and the most seen at once.
    overlapping: usize,
    most_overlapping: usize,
}

#[derive(Clone, Default)]
struct Node(Arc<Mutex<Inner>>);

impl Node {
    fn reply(&self, method: &str, reply: Reply) {
        self.0
            .lock()
            .unwrap()
            .replies
            .insert(method.to_owned(), reply);
    }

    fn requests(&self) -> Vec<Value> {
        self.0.lock().unwrap().requests.clone()
    }

    /// Asserts that every request this server saw carried `params.protoVer`.
    fn assert_proto_ver_everywhere(&self) {
        let reqs = self.requests();
        assert!(!reqs.is_empty(), "no requests were made");
        for r in &reqs {
            assert_eq!(
                r["params"]["protoVer"], "1.6.0",
                "request without protoVer: {r}"
            );
            assert_eq!(r["jsonrpc"], "2.0");
            assert!(r["id"].is_u64());
        }
    }
}

async fn handle(State(node): State<Node>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not json").into_response();
    };
    let method = req["method"].as_str().unwrap_or_default().to_owned();
    let reply = {
        let mut inner = node.0.lock().unwrap();
        inner.requests.push(req.clone());
        inner.replies.get(&method).cloned()
    };
    let json_body = |v: Value| {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    match reply {
        None => json_body(json!({"jsonrpc":"2.0","id":req["id"],
            "error":{"code":-32601,"message":"Method not found"}})),
        Some(Reply::Json(mut v)) => {
            if let Some(obj) = v.as_object_mut()
                && obj.contains_key("id")
            {
                obj.insert("id".into(), req["id"].clone());
            }
            json_body(v)
        }
        Some(Reply::Raw(status, text)) => {
            (StatusCode::from_u16(status).unwrap(), text).into_response()
        }
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Some(Reply::Dynamic(f)) => {
            let result = f(&req["params"]);
            json_body(json!({"jsonrpc":"2.0","id":req["id"],
                "result":{"result":result,"protoVer":"1.6.0"}}))
        }
        Some(Reply::Slow(pause, result)) => {
            {
                let mut inner = node.0.lock().unwrap();
                inner.overlapping += 1;
                inner.most_overlapping = inner.most_overlapping.max(inner.overlapping);
            }
            tokio::time::sleep(pause).await;
            node.0.lock().unwrap().overlapping -= 1;
            json_body(json!({"jsonrpc":"2.0","id":req["id"],
                "result":{"result":result,"protoVer":"1.6.0"}}))
        }
    }
}

/// Starts the fake node on 127.0.0.1:0; returns it and its JSON-RPC URL.
async fn start() -> (Node, String) {
    let node = Node::default();
    let app = axum::Router::new()
        .route("/json-rpc", axum::routing::post(handle))
        .with_state(node.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (node, format!("http://{addr}/json-rpc"))
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("client call exceeded the test bound")
}

fn load_samples(test: &str) -> Option<serde_json::Map<String, Value>> {
    let dir = common::fixtures(test)?;
    let text = std::fs::read_to_string(dir.join("ain-rpc-samples.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(m) => Some(m),
        _ => panic!("ain-rpc-samples.json is not an object"),
    }
}

fn sig_of(params: &Value) -> Signature {
    Signature::parse(params["signature"].as_str().unwrap()).unwrap()
}

fn addr_of(params: &Value) -> Address {
    params["address"].as_str().unwrap().parse().unwrap()
}

fn hash_of(s: &Value) -> Hash {
    s.as_str().unwrap().parse().unwrap()
}

/// The captured node's inner value for a sample (`response.result.result`).
fn inner(sample: &Value) -> &Value {
    &sample["response"]["result"]["result"]
}

#[tokio::test]
async fn replays_every_captured_sample() {
    let Some(samples) = load_samples("replays_every_captured_sample") else {
        return;
    };
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let mut checked = 0;
    for (name, sample) in &samples {
        let req = &sample["request"];
        let method = req["method"].as_str().unwrap();
        let p = &req["params"];
        node.reply(method, Reply::Json(sample["response"].clone()));
        let before = node.requests().len();
        match name.as_str() {
            "net_getChainId" => assert_eq!(bounded(client.chain_id()).await.unwrap(), 0),
            "ain_checkProtocolVersion" => bounded(client.check_protocol_version()).await.unwrap(),
            "no_protoVer_ain_getNonce" => {
                let err = bounded(client.get_nonce(&addr_of(p), StateView::Pending))
                    .await
                    .unwrap_err();
                match &err {
                    RpcError::Protocol { code, message } => {
                        assert_eq!(*code, 30101);
                        assert_eq!(message, "Protocol version not specified.");
                    }
                    other => panic!("{name}: {other:?}"),
                }
                assert!(!err.is_transient());
            }
            n if n.starts_with("ain_getNonce") => {
                let view = if p.get("from").is_some() {
                    StateView::Pending
                } else {
                    StateView::Committed
                };
                let got = bounded(client.get_nonce(&addr_of(p), view)).await.unwrap();
                assert_eq!(Value::from(got), *inner(sample), "{name}");
            }
            "ain_sendSignedTransaction_success" => {
                let r = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap();
                assert!(r.is_success(), "{r:?}");
                assert_eq!(r.tx_hash(), Some(&hash_of(&inner(sample)["tx_hash"])));
                assert_eq!(r.result().and_then(|t| t.code()), Some(0));
                assert_eq!(r.failure_code(), None);
            }
            "ain_sendSignedTransaction_duplicate_10701" => {
                let r = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap();
                assert!(!r.is_success());
                assert_eq!(r.failure_code(), Some(10701));
                assert!(
                    r.message()
                        .unwrap()
                        .contains("Already received transaction")
                );
                assert!(!r.is_transient_failure());
                assert!(r.tx_hash().is_some());
            }
            "ain_sendSignedTransaction_extra_key_30303" => {
                let err = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap_err();
                match &err {
                    RpcError::Node { code, message } => {
                        assert_eq!(*code, 30303);
                        assert_eq!(message, "Invalid transaction format.");
                    }
                    other => panic!("{name}: {other:?}"),
                }
                assert!(!err.is_transient());
            }
            "ain_sendSignedTransaction_rule_fail" => {
                let r = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap();
                assert!(!r.is_success());
                assert_eq!(r.failure_code(), Some(12103));
                assert!(
                    r.message()
                        .unwrap()
                        .starts_with("Write rule evaluated false")
                );
                let t = r.result().unwrap();
                assert!(!t.is_transient_failure() && !t.is_precheck_failure());
            }
            n if n.starts_with("ain_get_GET_VALUE") => {
                let mut op = GetOp::value(p["ref"].as_str().unwrap());
                if p["is_final"] == true {
                    op = op.finalized();
                }
                let v = bounded(client.get(&op.into())).await.unwrap();
                assert_eq!(v, *inner(sample), "{name}");
            }
            n if n.starts_with("ain_getTransactionByHash") => {
                let info: TxInfo = bounded(client.get_transaction_by_hash(&hash_of(&p["hash"])))
                    .await
                    .unwrap()
                    .expect("known tx");
                let want = inner(sample);
                assert_eq!(info.state.wire_name(), want["state"]);
                assert_eq!(info.number, want["number"]);
                assert_eq!(info.is_finalized, want["is_finalized"]);
                assert_eq!(info.transaction, want["transaction"]);
                match n {
                    "ain_getTransactionByHash" => assert_eq!(info.state, TxState::Finalized),
                    "ain_getTransactionByHash_pending" => {
                        assert_eq!((info.state, info.number), (TxState::Executed, -1))
                    }
                    _ => assert_eq!(info.state, TxState::Reverted),
                }
            }
            "ain_getBlockByNumber_no_full_txs" => {
                let n = p["number"].as_u64().unwrap();
                let b: Value = bounded(client.get_block_by_number(n, false))
                    .await
                    .unwrap()
                    .expect("block");
                assert_eq!(b, *inner(sample));
                assert_eq!(b["number"], n);
                assert!(
                    b["transactions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(Value::is_string)
                );
            }
            "ain_getLastBlock" => {
                let b: Value = bounded(client.get_last_block()).await.unwrap().unwrap();
                assert_eq!(b["number"], 26);
                assert_eq!(b, *inner(sample));
            }
            "ain_getBlockList" => {
                let (from, to) = (p["from"].as_u64().unwrap(), p["to"].as_u64().unwrap());
                let blocks: Vec<Value> = bounded(client.get_block_list(from, to)).await.unwrap();
                assert_eq!(Value::Array(blocks), *inner(sample));
            }
            "ain_getLastBlockNumber" => {
                assert_eq!(
                    bounded(client.get_last_block_number()).await.unwrap(),
                    Some(71)
                )
            }
            other => panic!("sample {other} has no typed check; add one"),
        }
        // The request the typed method sent is the captured one (same named params).
        let sent = node.requests();
        assert_eq!(sent.len(), before + 1, "{name}: one request per call");
        let sent = &sent[before];
        assert_eq!(sent["method"], method);
        let mut want = p.clone();
        want["protoVer"] = json!("1.6.0");
        if name == "ain_getNonce_second_key_after" {
            // Captured without `from` (the node then reads committed state); we always say it.
            want["from"] = json!("committed");
        }
        assert_eq!(
            sent["params"], want,
            "{name}: params differ from the capture"
        );
        checked += 1;
    }
    assert_eq!(checked, samples.len());
    assert!(
        checked >= 25,
        "expected the 25 captured samples, got {checked}"
    );
    node.assert_proto_ver_everywhere();
}

#[tokio::test]
async fn raw_call_returns_value_and_node_proto_ver() {
    let (node, url) = start().await;
    node.reply(
        "net_getChainId",
        Reply::Json(json!({"jsonrpc":"2.0","id":0,"result":{"result":0,"protoVer":"1.6.0"}})),
    );
    let client = RpcClient::new(&url).unwrap();
    let v = bounded(client.call("net_getChainId", Default::default()))
        .await
        .unwrap();
    assert_eq!(v.result, json!(0));
    assert_eq!(v.proto_ver.as_deref(), Some("1.6.0"));
    // A caller-supplied protoVer is kept (to probe other versions).
    let mut p = serde_json::Map::new();
    p.insert("protoVer".into(), json!("1.0.0"));
    bounded(client.call("net_getChainId", p)).await.unwrap();
    assert_eq!(node.requests()[1]["params"]["protoVer"], "1.0.0");
    // Request ids are distinct.
    assert_ne!(node.requests()[0]["id"], node.requests()[1]["id"]);
}

#[tokio::test]
async fn json_rpc_error_object_is_typed() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    // No reply configured: the server answers like jayson for an unknown method.
    let err = bounded(client.call("ain_noSuchMethod", Default::default()))
        .await
        .unwrap_err();
    match &err {
        RpcError::JsonRpc { code, message } => {
            assert_eq!(*code, -32601);
            assert_eq!(message, "Method not found");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    node.assert_proto_ver_everywhere();
}

#[tokio::test]
async fn http_500_is_transient_http_error() {
    let (node, url) = start().await;
    node.reply("ain_getLastBlockNumber", Reply::Raw(500, "boom"));
    let client = RpcClient::new(&url).unwrap();
    let err = bounded(client.get_last_block_number()).await.unwrap_err();
    match &err {
        RpcError::Http { status, body, .. } => {
            assert_eq!(*status, 500);
            assert_eq!(body, "boom");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    node.reply("ain_getLastBlockNumber", Reply::Raw(404, "nope"));
    let err = bounded(client.get_last_block_number()).await.unwrap_err();
    assert!(matches!(err, RpcError::Http { status: 404, .. }));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn hanging_server_times_out() {
    let (node, url) = start().await;
    node.reply("ain_getLastBlock", Reply::Hang);
    let cfg = RpcConfig {
        timeout: Duration::from_millis(300),
        ..RpcConfig::default()
    };
    let client = RpcClient::with_config(&url, cfg).unwrap();
    let started = std::time::Instant::now();
    let err = bounded(client.get_last_block::<Value>()).await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout), "{err:?}");
    assert!(err.is_transient());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn exchanges_in_flight_are_capped_per_client() {
    let (node, url) = start().await;
    node.reply(
        "ain_getLastBlockNumber",
        Reply::Slow(Duration::from_millis(50), json!(7)),
    );
    let cfg = RpcConfig {
        max_in_flight: 3,
        ..RpcConfig::default()
    };
    let client = RpcClient::with_config(&url, cfg).unwrap();
    // Clones share the cap.
    let calls = (0..20).map(|_| {
        let c = client.clone();
        async move { c.get_last_block_number().await }
    });
    let answers = bounded(futures_util::future::join_all(calls)).await;
    for a in answers {
        assert_eq!(a.unwrap(), Some(7));
    }
    let most = node.0.lock().unwrap().most_overlapping;
    assert!(
        (1..=3).contains(&most),
        "{most} requests overlapped with max_in_flight 3"
    );
    let zero = RpcConfig {
        max_in_flight: 0,
        ..RpcConfig::default()
    };
    assert!(RpcClient::with_config(&url, zero).is_err());
}

#[tokio::test]
async fn garbage_and_unexpected_bodies_are_malformed() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    for body in [
        "<html>502 Bad Gateway</html>",
        "",
        "[1,2,3]",
        "{\"foo\":1}",
        "null",
    ] {
        node.reply("net_getChainId", Reply::Raw(200, body));
        let err = bounded(client.chain_id()).await.unwrap_err();
        assert!(matches!(err, RpcError::Malformed(_)), "{body:?}: {err:?}");
        assert!(!err.is_transient());
    }
    // Valid envelope, but the value is not what the method promises.
    node.reply(
        "net_getChainId",
        Reply::Json(json!({"jsonrpc":"2.0","id":0,"result":{"result":"zero","protoVer":"1.6.0"}})),
    );
    assert!(matches!(
        bounded(client.chain_id()).await,
        Err(RpcError::Malformed(_))
    ));
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let (node, url) = start().await;
    let big = "x".repeat(4096);
    node.reply(
        "ain_get",
        Reply::Json(json!({"jsonrpc":"2.0","id":0,"result":{"result":big,"protoVer":"1.6.0"}})),
    );
    let cfg = RpcConfig {
        max_response_bytes: 1024,
        ..RpcConfig::default()
    };
    let client = RpcClient::with_config(&url, cfg).unwrap();
    let err = bounded(client.get(&GetOp::value("/apps/a").into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RpcError::Malformed(ref m) if m.contains("exceeds")),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_transient_transport() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = RpcClient::new(&format!("http://{addr}/json-rpc")).unwrap();
    let err = bounded(client.chain_id()).await.unwrap_err();
    assert!(matches!(err, RpcError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
}

fn dummy_tx(i: u64) -> (Value, Signature) {
    let key = ain_sre::ledger::crypto::PrivateKey::from_hex(
        "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96",
    )
    .unwrap();
    let body = json!({"operation":{"type":"SET_VALUE","ref":"/apps/a/x","value":i},
        "nonce":-1,"timestamp":1_700_000_000_000u64 + i,"gas_price":0});
    let sig = key.sign_transaction(&body, 0).unwrap();
    (body, sig)
}

#[tokio::test]
async fn batch_over_limit_is_refused_without_a_request() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let txs: Vec<_> = (0..51).map(dummy_tx).collect();
    let err = bounded(client.send_signed_transaction_batch(&txs))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::InvalidRequest(_)), "{err:?}");
    let err = bounded(client.send_signed_transaction_batch(&[]))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::InvalidRequest(_)));
    let ops = vec![GetOp::value("/a"); 51];
    let err = bounded(client.get(&GetRequest::Many(ops)))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::InvalidRequest(_)));
    assert!(node.requests().is_empty(), "nothing may be sent");
}

#[tokio::test]
async fn batch_results_one_per_tx() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let txs: Vec<_> = (0..50).map(dummy_tx).collect();
    node.reply(
        "ain_sendSignedTransactionBatch",
        Reply::Dynamic(Arc::new(|p: &Value| {
            let list = p["tx_list"].as_array().unwrap();
            let out: Vec<Value> = list
                .iter()
                .enumerate()
                .map(|(i, tx)| {
                    let hash = &tx["signature"].as_str().unwrap()[..66];
                    let code = if i == 1 { 10716 } else { 0 };
                    json!({"tx_hash": hash, "result": {"code": code, "bandwidth_gas_amount": 1}})
                })
                .collect();
            Value::Array(out)
        })),
    );
    let results = bounded(client.send_signed_transaction_batch(&txs))
        .await
        .unwrap();
    assert_eq!(results.len(), 50);
    for (i, (r, (_, sig))) in results.iter().zip(&txs).enumerate() {
        assert_eq!(r.tx_hash(), Some(&sig.hash));
        assert_eq!(r.is_success(), i != 1);
    }
    assert!(results[1].is_transient_failure());
    let sent = &node.requests()[0]["params"];
    assert_eq!(sent["tx_list"].as_array().unwrap().len(), 50);
    assert_eq!(sent["tx_list"][0]["tx_body"], txs[0].0);
    assert_eq!(sent["tx_list"][0]["signature"], txs[0].1.to_string());

    // A node that is not serving answers the whole batch with one object.
    node.reply(
        "ain_sendSignedTransactionBatch",
        Reply::Dynamic(Arc::new(|_: &Value| json!({"tx_hash":null,"result":false}))),
    );
    let results = bounded(client.send_signed_transaction_batch(&txs[..3]))
        .await
        .unwrap();
    assert_eq!(results, vec![SendResult::NotServing; 3]);
    node.assert_proto_ver_everywhere();
}

#[tokio::test]
async fn not_serving_and_dryrun_send_results() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let (body, sig) = dummy_tx(7);
    node.reply(
        "ain_sendSignedTransaction",
        Reply::Dynamic(Arc::new(|_: &Value| json!({"tx_hash":null,"result":false}))),
    );
    let r = bounded(client.send_signed_transaction(&body, &sig))
        .await
        .unwrap();
    assert_eq!(r, SendResult::NotServing);
    assert!(r.is_transient_failure() && !r.is_success());
    node.reply(
        "ain_sendSignedTransactionDryrun",
        Reply::Dynamic(Arc::new(|p: &Value| {
            let hash = &p["signature"].as_str().unwrap()[..66];
            json!({"tx_hash":hash,"result":{"code":0,"is_dryrun":true,
                "func_results":{"f":{"code":20000}}}})
        })),
    );
    let r = bounded(client.send_signed_transaction_dryrun(&body, &sig))
        .await
        .unwrap();
    assert!(r.is_success());
    assert!(r.result().unwrap().is_dryrun());
    assert_eq!(
        node.requests()[1]["method"],
        "ain_sendSignedTransactionDryrun"
    );
}

#[tokio::test]
async fn get_op_list_and_other_reads() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    node.reply(
        "ain_get",
        Reply::Dynamic(Arc::new(|p: &Value| {
            let ops = p["op_list"].as_array().unwrap();
            Value::Array(ops.iter().map(|op| op["ref"].clone()).collect())
        })),
    );
    let req = GetRequest::Many(vec![
        GetOp::value("/apps/a/x").finalized(),
        GetOp::rule("/apps/a").shallow(),
        GetOp::owner("/apps/a").global(),
        GetOp::function("/apps/a/f"),
    ]);
    let v = bounded(client.get(&req)).await.unwrap();
    assert_eq!(v, json!(["/apps/a/x", "/apps/a", "/apps/a", "/apps/a/f"]));
    let sent = &node.requests()[0]["params"];
    assert_eq!(sent["type"], "GET");
    assert_eq!(
        sent["op_list"][0],
        json!({"type":"GET_VALUE","ref":"/apps/a/x","is_final":true})
    );
    assert_eq!(sent["op_list"][1]["is_shallow"], true);
    assert_eq!(sent["op_list"][2]["is_global"], true);

    let ok = |v: Value| Reply::Dynamic(Arc::new(move |_: &Value| v.clone()));
    node.reply("ain_getProtocolVersion", ok(json!("1.6.0")));
    node.reply(
        "ain_getAddress",
        ok(json!("0x00ADEc28B6a845a085e03591bE7550dd68673C1C")),
    );
    node.reply("ain_getTimestamp", ok(json!(1795461505000u64)));
    node.reply("net_getNetworkId", ok(json!(0)));
    node.reply("ain_getLastBlockNumber", ok(json!(-1)));
    node.reply("ain_getTransactionByHash", ok(Value::Null));
    node.reply("ain_getBlockByHash", ok(Value::Null));
    assert_eq!(
        bounded(client.get_protocol_version()).await.unwrap(),
        "1.6.0"
    );
    let me = bounded(client.get_address()).await.unwrap().unwrap();
    assert_eq!(me.to_string(), "0x00ADEc28B6a845a085e03591bE7550dd68673C1C");
    let ts = bounded(client.get_timestamp(&me, StateView::Committed))
        .await
        .unwrap();
    assert_eq!(ts, 1795461505000);
    assert_eq!(bounded(client.network_id()).await.unwrap(), 0);
    assert_eq!(bounded(client.get_last_block_number()).await.unwrap(), None);
    let h = Hash([7; 32]);
    let none: Option<TxInfo> = bounded(client.get_transaction_by_hash(&h)).await.unwrap();
    assert!(none.is_none());
    let none: Option<Value> = bounded(client.get_block_by_hash(&h, true)).await.unwrap();
    assert!(none.is_none());
    let reqs = node.requests();
    let ts_req = reqs
        .iter()
        .find(|r| r["method"] == "ain_getTimestamp")
        .unwrap();
    assert_eq!(ts_req["params"]["from"], "committed");
    let bh = reqs
        .iter()
        .find(|r| r["method"] == "ain_getBlockByHash")
        .unwrap();
    assert_eq!(bh["params"]["getFullTransactions"], true);
    assert_eq!(bh["params"]["hash"], h.to_string());
    node.assert_proto_ver_everywhere();
}

/// Serves `ain_getBlockList` like the node: at most 20 blocks, `to` exclusive, clipped to the
/// chain, and the last block when asked for `from = last + 1`.
fn block_list_server(blocks: Arc<Vec<Value>>) -> Reply {
    Reply::Dynamic(Arc::new(move |p: &Value| {
        let last = blocks.len() as u64 - 1;
        let from = p["from"].as_u64().unwrap();
        let mut to = p["to"].as_u64().unwrap();
        if from == last + 1 {
            return json!([blocks[last as usize]]);
        }
        to = to.min(from + 20).min(last + 1);
        Value::Array(
            (from..to.max(from))
                .map(|n| blocks[n as usize].clone())
                .collect(),
        )
    }))
}

#[tokio::test]
async fn block_list_splits_ranges_of_more_than_20() {
    let Some(dir) = common::fixtures("block_list_splits_ranges_of_more_than_20") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap();
    let blocks: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(blocks.len(), 47);
    let blocks = Arc::new(blocks);
    let (node, url) = start().await;
    node.reply("ain_getBlockList", block_list_server(blocks.clone()));
    let client = RpcClient::new(&url).unwrap();

    // 0..100 on a chain ending at 46: split into ≤ 20-block calls, stops at the chain's end.
    let got: Vec<Value> = bounded(client.get_block_list(0, 100)).await.unwrap();
    assert_eq!(got.len(), 47);
    assert_eq!(got, *blocks);
    for r in node.requests() {
        let (f, t) = (
            r["params"]["from"].as_u64().unwrap(),
            r["params"]["to"].as_u64().unwrap(),
        );
        assert!(t > f && t - f <= 20, "call {f}..{t} exceeds 20 blocks");
    }
    // A window inside the chain, not aligned to 20.
    let got: Vec<Value> = bounded(client.get_block_list(5, 31)).await.unwrap();
    let numbers: Vec<u64> = got.iter().map(|b| b["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (5..31).collect::<Vec<_>>());
    // Asking past the end: the node's answer (its last block) is dropped, not returned.
    let got: Vec<Value> = bounded(client.get_block_list(47, 60)).await.unwrap();
    assert!(got.is_empty());
    let got: Vec<Value> = bounded(client.get_block_list(10, 10)).await.unwrap();
    assert!(got.is_empty());
    // A node that skips a block is caught.
    let mut gappy: Vec<Value> = (*blocks).clone();
    gappy.remove(3);
    node.reply(
        "ain_getBlockList",
        Reply::Dynamic(Arc::new(move |_: &Value| {
            Value::Array(gappy[..10].to_vec())
        })),
    );
    let err = bounded(client.get_block_list::<Value>(0, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Malformed(_)), "{err:?}");
    node.assert_proto_ver_everywhere();
}

/// ain-blockchain 1.6.0 asked for a block without full transactions replaces the block's txs
/// with their hashes in its own memory; for block 0 that breaks every later genesis check.
#[tokio::test]
async fn genesis_is_asked_with_full_transactions_and_the_base_url_works() {
    let (node, url) = start().await;
    let h = Hash([5; 32]);
    let block = json!({"number": 0, "hash": h.to_string(), "transactions": []});
    node.reply(
        "ain_getBlockByNumber",
        Reply::Dynamic(Arc::new(move |_: &Value| block.clone())),
    );
    // The base URL (as ain-js takes it) reaches the JSON-RPC endpoint.
    let base = url.trim_end_matches("/json-rpc").to_owned();
    let client = RpcClient::new(&base).unwrap();
    assert_eq!(bounded(client.genesis_hash()).await.unwrap(), Some(h));
    let reqs = node.requests();
    let r = reqs
        .iter()
        .find(|r| r["method"] == "ain_getBlockByNumber")
        .unwrap();
    assert_eq!(r["params"]["number"], 0);
    assert_eq!(r["params"]["getFullTransactions"], true);
}

/// The real node's blocks carry `size`: `object-sizeof` of the block without `hash` and `size`.
/// A typed `Block` measures the same counted from its `Serialize` without a `Value` tree (how the
/// built-in chain sizes the blocks it seals) as through the tree, and that less the hash pair is
/// the node's figure.
#[test]
fn block_size_counted_without_a_value_tree_is_the_nodes() {
    let Some(dir) = common::fixtures("block_size_counted_without_a_value_tree_is_the_nodes") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap();
    let raw: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut with_txs = 0;
    for b in raw {
        let node_size = b["size"].as_u64().expect("the node's blocks carry size");
        let mut block: ain_sre::ledger::block::Block = serde_json::from_value(b).unwrap();
        block.size = None;
        let tree = ain_sre::ledger::json::js_object_sizeof(&serde_json::to_value(&block).unwrap());
        let counted = ain_sre::ledger::json::js_sizeof(&block);
        assert_eq!(counted, tree, "block {}", block.number);
        // The node measures its block before `hash` is set: 140 bytes, `"hash": "0x" + 64 hex`.
        let hash_pair = ain_sre::ledger::json::js_sizeof(&serde_json::json!({"hash": block.hash}));
        assert_eq!(hash_pair, 140);
        assert_eq!(
            (counted - hash_pair) as u64,
            node_size,
            "block {}",
            block.number
        );
        with_txs += usize::from(!block.transactions.is_empty());
    }
    assert!(with_txs > 0, "the fixture has blocks with transactions");
}
