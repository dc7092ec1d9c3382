//! The devnet feeds its event handler as the node does: VALUE_CHANGED twice per write (USER on
//! acceptance, BLOCK when the block executes), TX_STATE_CHANGED through EXECUTED, IN_BLOCK and
//! FINALIZED (or PENDING to REVERTED for a failing tx), BLOCK_FINALIZED per block, and the
//! current state at once for a filter registered after the fact.

mod common;
mod devnet_support;

use std::time::Duration;

use ain_sre::ledger::tx::{SimpleOp, TxBody};
use devnet_support::{Client, SK, create_app, key, shape_diff, ts};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s");
        if let Some(Ok(Message::Text(t))) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "PING" {
                send(ws, json!({"type": "PONG", "data": {}})).await;
                continue;
            }
            return v;
        }
        assert!(matches!(msg, Some(Ok(_))), "connection ended: {msg:?}");
    }
}

async fn register(ws: &mut Ws, id: &str, ty: &str, config: Value) {
    send(
        ws,
        json!({"type": "REGISTER_FILTER", "data": {"id": id, "type": ty, "config": config}}),
    )
    .await;
}

/// Waits until the devnet's event handler holds `n` filters (registration is unacknowledged).
async fn wait_filters(c: &Client, n: u64) {
    for _ in 0..500 {
        let info = c.result("net_getEventHandlerNetworkInfo", json!({})).await;
        if info["numEventFilters"] == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the event handler never had {n} filters");
}

/// Collects events until `done` says so.
async fn collect(ws: &mut Ws, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    while !done(&out) {
        out.push(next(ws).await);
    }
    out
}

fn tx_states(events: &[Value], filter: &str) -> Vec<(Value, Value)> {
    events
        .iter()
        .filter(|e| e["data"]["type"] == "TX_STATE_CHANGED" && e["data"]["filter_id"] == filter)
        .map(|e| {
            let s = &e["data"]["payload"]["tx_state"];
            (s["before"].clone(), s["after"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_a_write_to_finality() {
    let h = devnet_support::start().await;
    let c = Client::of(&h);
    create_app(&c, SK, "ev").await;
    let rule = SimpleOp::set_rule(
        "/apps/ev/calls/$id/response",
        json!({".rule": {"write": "data === null"}}),
    );
    c.send_ok(devnet_support::signed(SK, rule, -1)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(h.events_url())
        .await
        .unwrap();
    register(
        &mut ws,
        "vc",
        "VALUE_CHANGED",
        json!({"path": "/apps/ev/calls/$id/request", "event_source": null}),
    )
    .await;
    register(
        &mut ws,
        "bf",
        "BLOCK_FINALIZED",
        json!({"block_number": null}),
    )
    .await;
    let tx = TxBody::new(
        SimpleOp::set_value("/apps/ev/calls/c1/request", json!({"input": "hi"})),
        -1,
        ts(),
    )
    .sign(&key(SK), 0)
    .unwrap();
    register(
        &mut ws,
        "tx1",
        "TX_STATE_CHANGED",
        json!({"tx_hash": tx.hash}),
    )
    .await;
    wait_filters(&c, 3).await;
    c.send_ok(json!({"tx_body": tx.tx_body, "signature": tx.signature}))
        .await;
    let events = collect(&mut ws, |ev| {
        ev.iter()
            .any(|e| e["type"] == "EMIT_EVENT" && e["data"]["type"] == "FILTER_DELETED")
    })
    .await;
    let vc: Vec<&Value> = events
        .iter()
        .filter(|e| e["data"]["type"] == "VALUE_CHANGED")
        .collect();
    assert_eq!(vc.len(), 2, "{events:#?}");
    assert_eq!(vc[0]["data"]["payload"]["event_source"], "USER");
    assert_eq!(vc[1]["data"]["payload"]["event_source"], "BLOCK");
    let p = &vc[0]["data"]["payload"];
    assert_eq!(p["params"], json!({"id": "c1"}));
    assert_eq!(
        p["values"],
        json!({"before": null, "after": {"input": "hi"}})
    );
    assert_eq!(p["transaction"]["hash"], json!(tx.hash));
    assert!(p["transaction"]["extra"]["created_at"].is_u64());
    assert_eq!(
        tx_states(&events, "tx1"),
        vec![
            (json!(null), json!("EXECUTED")),
            (json!("EXECUTED"), json!("IN_BLOCK")),
            (json!("IN_BLOCK"), json!("FINALIZED"))
        ]
    );
    let deleted = events
        .iter()
        .find(|e| e["data"]["type"] == "FILTER_DELETED")
        .unwrap();
    assert_eq!(
        deleted["data"]["payload"],
        json!({"filter_id": "tx1", "reason": "END_STATE_REACHED"})
    );
    assert!(
        events
            .iter()
            .any(|e| e["data"]["type"] == "BLOCK_FINALIZED")
    );
    if let Some(dir) = common::fixtures("events_follow_a_write_to_finality") {
        let frames = std::fs::read_to_string(dir.join("ain-1node-events.jsonl")).unwrap();
        let theirs: Vec<Value> = frames
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for ty in [
            "VALUE_CHANGED",
            "TX_STATE_CHANGED",
            "BLOCK_FINALIZED",
            "FILTER_DELETED",
        ] {
            let a = events.iter().find(|e| e["data"]["type"] == ty).unwrap();
            let b = theirs.iter().find(|e| e["data"]["type"] == ty).unwrap();
            let skip = [
                ".data.payload.transaction.tx_body.operation.value",
                ".data.payload.values.after",
                ".data.payload.params",
                ".data.payload.transaction.extra.gas",
                ".data.payload.transaction.extra",
            ];
            let d = shape_diff(a, b, &skip);
            assert!(d.is_empty(), "{ty}: {d:#?}\n{a}\n{b}");
        }
    }

    // A failing write: PENDING, then REVERTED when its block is made; no VALUE_CHANGED.
    let bad = TxBody::new(
        SimpleOp::set_value("/apps/ev/calls/c1/request", json!(null)),
        -1,
        ts(),
    )
    .sign(&devnet_support::key(devnet_support::SK2), 0)
    .unwrap();
    register(
        &mut ws,
        "tx2",
        "TX_STATE_CHANGED",
        json!({"tx_hash": bad.hash}),
    )
    .await;
    wait_filters(&c, 3).await;
    let r = c
        .send(json!({"tx_body": bad.tx_body, "signature": bad.signature}))
        .await;
    assert_eq!(r["result"]["code"], 12103);
    let events = collect(&mut ws, |ev| {
        ev.iter().any(|e| e["data"]["type"] == "FILTER_DELETED")
    })
    .await;
    assert_eq!(
        tx_states(&events, "tx2"),
        vec![
            (json!(null), json!("PENDING")),
            (json!("PENDING"), json!("REVERTED"))
        ]
    );
    assert!(
        !events.iter().any(|e| e["data"]["type"] == "VALUE_CHANGED"),
        "{events:#?}"
    );

    // A filter registered after the fact gets the current state at once.
    c.wait_final(&tx.hash.to_string()).await;
    register(
        &mut ws,
        "late",
        "TX_STATE_CHANGED",
        json!({"tx_hash": tx.hash}),
    )
    .await;
    let late = collect(&mut ws, |ev| {
        ev.iter().any(|e| e["data"]["filter_id"] == "late")
    })
    .await;
    assert_eq!(
        tx_states(&late, "late"),
        vec![(json!(null), json!("FINALIZED"))]
    );
    h.shutdown().await;
}
