//! `ledger::rpc` against a local HTTP server that answers like an ain-blockchain 1.6.0 node:
//! every captured response in `ain-rpc-samples.json` replayed for its method, plus JSON-RPC
//! errors, HTTP failures, a hanging server, garbage bodies and local refusals.

mod common;
#[path = "ledger_rpc/errors.rs"]
mod errors;
#[path = "ledger_rpc/samples.rs"]
mod samples;
#[path = "ledger_rpc/sends_and_reads.rs"]
mod sends_and_reads;

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
