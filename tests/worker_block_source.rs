//! The worker's follower treats node errors by the one policy of `ledger::follower::rpc_source`
//! (the same `ain-sre follow` uses): an error the node may not repeat (HTTP 503) is retried and
//! the worker goes on answering; one it will repeat (a JSON-RPC "method not found" for
//! `ain_getBlockList`, as from a gateway that denies the method) stops the worker with the node's
//! answer as the reason, instead of retrying forever behind a worker that looks alive.
//!
//! Between the worker and the built-in chain sits a proxy that forwards every JSON-RPC request
//! except `ain_getBlockList`, which it answers as the test says.

mod worker_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ain_sre::client::ChainClient;
use ain_sre::daemon::DaemonError;
use ain_sre::ledger::crypto::PrivateKey;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use worker_support::*;

/// What the proxy does with `ain_getBlockList`.
#[derive(Clone, Copy)]
enum BlockList {
    /// HTTP 503 for this many requests, then forward.
    Unavailable(u32),
    /// A JSON-RPC error -32601, always.
    MethodNotFound,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    mode: BlockList,
    refused: AtomicU32,
}

async fn handle(
    State(p): State<Arc<Proxy>>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if request["method"] == "ain_getBlockList" {
        let refused = p.refused.load(Ordering::Relaxed);
        match p.mode {
            BlockList::Unavailable(n) if refused < n => {
                p.refused.fetch_add(1, Ordering::Relaxed);
                return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
            }
            BlockList::MethodNotFound => {
                p.refused.fetch_add(1, Ordering::Relaxed);
                let err = json!({
                    "jsonrpc": "2.0",
                    "id": request["id"],
                    "error": {"code": -32601, "message": "Method not found"}
                });
                return axum::Json(err).into_response();
            }
            BlockList::Unavailable(_) => {}
        }
    }
    let url = format!(
        "{}{}",
        p.upstream,
        uri.path_and_query().map(|q| q.as_str()).unwrap_or("/")
    );
    match p
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            (status, r.bytes().await.unwrap_or_default()).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Starts the proxy in front of the chain at `rpc_url`; returns its JSON-RPC URL.
async fn proxy(rpc_url: &str, mode: BlockList) -> (String, Arc<Proxy>) {
    let base = rpc_url.trim_end_matches("/json-rpc").to_owned();
    let p = Arc::new(Proxy {
        upstream: base,
        http: reqwest::Client::new(),
        mode,
        refused: AtomicU32::new(0),
    });
    let app = axum::Router::new()
        .fallback(axum::routing::post(handle))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/json-rpc"), p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_error_that_may_pass_is_retried_and_the_worker_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "src", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "src").await;
    let (url, p) = proxy(&dev.rpc_url(), BlockList::Unavailable(5)).await;
    let w = worker_at(&url, &dev.events_url(), &["src"], &key, dir.path()).await;
    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    let (_, _, resp) = call_wait(&caller, "src", "echo", "still here").await;
    assert_eq!(resp["status"], "ok");
    // The follower got past the outage: it verified blocks after it.
    let h = w.health.clone();
    assert!(
        eventually(Duration::from_secs(20), async || {
            h.follower_height.load(Ordering::Relaxed) != u64::MAX
        })
        .await,
        "the follower caught up after the node's 503s"
    );
    assert_eq!(p.refused.load(Ordering::Relaxed), 5, "the 503s were seen");
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_error_that_will_repeat_stops_the_worker_with_the_nodes_answer() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "src", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "src").await;
    let (url, p) = proxy(&dev.rpc_url(), BlockList::MethodNotFound).await;
    let w = worker_at(&url, &dev.events_url(), &["src"], &key, dir.path()).await;
    let ended = tokio::time::timeout(Duration::from_secs(20), w.wait()).await;
    let err = match ended {
        Ok(Err(e)) => e,
        Ok(Ok(())) => panic!("the worker ended without an error"),
        Err(_) => panic!(
            "the worker kept retrying a permanent node error ({} refusals)",
            p.refused.load(Ordering::Relaxed)
        ),
    };
    match &err {
        DaemonError::StageFailed { stage, reason } => {
            assert!(stage == "follower" || stage == "trigger-blocks", "{err}");
            // The stage's own error is kept as the source, not flattened into text.
            let source = std::error::Error::source(&err).expect("the stage's error is the source");
            assert_eq!(source.to_string(), reason.to_string());
            let reason = reason.to_string();
            assert!(
                reason.contains("-32601") && reason.contains("Method not found"),
                "{err}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        p.refused.load(Ordering::Relaxed),
        1,
        "asked once: the answer would not change"
    );
    dev.shutdown().await;
}
