//! The built-in chain's event-handler server against a real WebSocket client: filters, matching,
//! error codes, TX state tracking, limits and liveness, as `ain-protocol.md` §2 describes the node.

use std::sync::Arc;
use std::time::Duration;

use ain_sre::ledger::devnet::event_handler::{
    ChainEvent, EventHandler, EventHandlerConfig, EventTx, TxLookup,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const KNOWN_TX: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const UNKNOWN_TX: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";

async fn start(config: EventHandlerConfig) -> (EventHandler, String) {
    let lookup: TxLookup =
        Arc::new(|hash: &str| (hash == KNOWN_TX).then(|| ("EXECUTED", json!({"hash": KNOWN_TX}))));
    let handler = EventHandler::new(config, lookup);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let router = handler.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (handler, url)
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Next JSON frame that is not a PING (PINGs are answered with PONG on the way).
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "PING" {
                    send(ws, json!({"type": "PONG", "data": {}})).await;
                    continue;
                }
                return v;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

async fn register(ws: &mut Ws, id: &str, ty: &str, config: Value) {
    send(
        ws,
        json!({"type": "REGISTER_FILTER", "data": {"id": id, "type": ty, "config": config}}),
    )
    .await;
}

/// Waits until the handler has `n` filters (registration is asynchronous and unacknowledged).
async fn wait_filters(h: &EventHandler, n: usize) {
    for _ in 0..200 {
        if h.filter_count() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("expected {n} filters, have {}", h.filter_count());
}

fn value_changed(path: &str, source: &'static str, after: Value) -> ChainEvent {
    ChainEvent::ValueChanged {
        path: path
            .split('/')
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        auth: json!({"addr": "0x00ADEc28B6a845a085e03591bE7550dd68673C1C"}),
        transaction: EventTx::None,
        source,
        before: Value::Null,
        after,
    }
}

#[tokio::test]
async fn value_changed_matches_captures_and_respects_event_source() {
    let (h, url) = start(EventHandlerConfig::default()).await;
    let mut ws = connect(&url).await;
    send(
        &mut ws,
        json!({"type": "SET_CUSTOM_CLIENT_ID", "data": {"customClientId": "worker-1"}}),
    )
    .await;
    register(
        &mut ws,
        "vc",
        "VALUE_CHANGED",
        json!({"path": "/apps/a/sre/calls/$fn/$call_id/request", "event_source": null}),
    )
    .await;
    register(
        &mut ws,
        "vc-block",
        "VALUE_CHANGED",
        json!({"path": "/apps/a/sre/calls/*/$call_id/request", "event_source": "BLOCK"}),
    )
    .await;
    wait_filters(&h, 2).await;

    // Wrong depth and wrong app: nothing. Then a USER write: only `vc`.
    h.emit(&value_changed(
        "/apps/a/sre/calls/echo/c1/request/x",
        "USER",
        json!(1),
    ));
    h.emit(&value_changed(
        "/apps/b/sre/calls/echo/c1/request",
        "USER",
        json!(1),
    ));
    h.emit(&value_changed(
        "/apps/a/sre/calls/echo/c1/request",
        "USER",
        json!({"input": "{}"}),
    ));
    let ev = next(&mut ws).await;
    assert_eq!(ev["type"], "EMIT_EVENT");
    assert_eq!(ev["data"]["filter_id"], "vc");
    assert_eq!(ev["data"]["type"], "VALUE_CHANGED");
    let p = &ev["data"]["payload"];
    assert_eq!(p["params"], json!({"fn": "echo", "call_id": "c1"}));
    assert_eq!(p["matched_path"], "/apps/a/sre/calls/echo/c1/request");
    assert_eq!(p["filter_path"], "/apps/a/sre/calls/$fn/$call_id/request");
    assert_eq!(p["event_source"], "USER");
    assert_eq!(
        p["values"],
        json!({"before": null, "after": {"input": "{}"}})
    );

    // A BLOCK write reaches both filters; `*` captures nothing.
    h.emit(&value_changed(
        "/apps/a/sre/calls/echo/c1/request",
        "BLOCK",
        json!({"input": "{}"}),
    ));
    let mut ids = vec![];
    for _ in 0..2 {
        let ev = next(&mut ws).await;
        if ev["data"]["filter_id"] == "vc-block" {
            assert_eq!(ev["data"]["payload"]["params"], json!({"call_id": "c1"}));
        }
        ids.push(ev["data"]["filter_id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["vc", "vc-block"]);

    send(
        &mut ws,
        json!({"type": "DEREGISTER_FILTER", "data": {"id": "vc"}}),
    )
    .await;
    let ev = next(&mut ws).await;
    assert_eq!(ev["data"]["type"], "FILTER_DELETED");
    assert_eq!(
        ev["data"]["payload"],
        json!({"filter_id": "vc", "reason": "DELETED_BY_USER"})
    );
    wait_filters(&h, 1).await;
}

#[tokio::test]
async fn errors_use_node_codes_and_never_close_the_channel() {
    let (h, url) = start(EventHandlerConfig::default()).await;
    let mut ws = connect(&url).await;
    let cases = [
        ("not json at all".to_owned(), 70005),
        (json!("a JSON string").to_string(), 70003),
        (json!({"data": {}}).to_string(), 70003),
        (json!({"type": "REGISTER_FILTER"}).to_string(), 70004),
        (
            json!({"type": "BOGUS", "data": {"x": 1}}).to_string(),
            70005,
        ),
        (
            json!({"type": "SET_CUSTOM_CLIENT_ID", "data": {"customClientId": 5}}).to_string(),
            70040,
        ),
    ];
    for (frame, code) in cases {
        ws.send(Message::Text(frame.clone().into())).await.unwrap();
        let ev = next(&mut ws).await;
        assert_eq!(ev["type"], "EMIT_ERROR", "{frame}");
        assert_eq!(ev["data"]["code"], code, "{frame}: {ev}");
    }
    ws.send(Message::Binary(vec![0xff, 0x00, 0x13].into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], "EMIT_ERROR");

    register(&mut ws, "bad-cfg", "VALUE_CHANGED", json!({"x": 1})).await;
    let ev = next(&mut ws).await;
    assert_eq!(ev["data"]["code"], 70020);
    assert_eq!(ev["data"]["filter_id"], "bad-cfg");
    assert!(
        ev["data"]["message"]
            .as_str()
            .unwrap()
            .contains("config.path is missing"),
        "{ev}"
    );

    // Five filters per channel, the sixth refused; duplicate ids refused.
    for i in 0..5 {
        register(
            &mut ws,
            &format!("bf{i}"),
            "BLOCK_FINALIZED",
            json!({"block_number": null}),
        )
        .await;
    }
    wait_filters(&h, 5).await;
    register(
        &mut ws,
        "bf5",
        "BLOCK_FINALIZED",
        json!({"block_number": null}),
    )
    .await;
    let ev = next(&mut ws).await;
    assert_eq!(ev["data"]["code"], 70020);
    assert!(
        ev["data"]["message"]
            .as_str()
            .unwrap()
            .contains("per channel"),
        "{ev}"
    );
    assert_eq!(h.filter_count(), 5);

    // Still serving: a finalized block reaches all five.
    h.emit(&ChainEvent::BlockFinalized {
        number: 7,
        hash: "0x07".into(),
    });
    for _ in 0..5 {
        let ev = next(&mut ws).await;
        assert_eq!(
            ev["data"]["payload"],
            json!({"block_number": 7, "block_hash": "0x07"})
        );
    }
}

#[tokio::test]
async fn tx_state_filters_report_now_follow_and_end() {
    let cfg = EventHandlerConfig {
        filter_deletion_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (h, url) = start(cfg).await;
    let mut ws = connect(&url).await;

    // Known tx: its current state is sent at once with before = null.
    register(
        &mut ws,
        "tx-known",
        "TX_STATE_CHANGED",
        json!({"tx_hash": KNOWN_TX}),
    )
    .await;
    let ev = next(&mut ws).await;
    assert_eq!(
        ev["data"]["payload"]["tx_state"],
        json!({"before": null, "after": "EXECUTED"})
    );
    h.emit(&ChainEvent::TxStateChanged {
        hash: KNOWN_TX.into(),
        transaction: EventTx::None,
        before: Some("EXECUTED"),
        after: "IN_BLOCK",
    });
    assert_eq!(
        next(&mut ws).await["data"]["payload"]["tx_state"]["after"],
        "IN_BLOCK"
    );
    h.emit(&ChainEvent::TxStateChanged {
        hash: KNOWN_TX.into(),
        transaction: EventTx::None,
        before: Some("IN_BLOCK"),
        after: "FINALIZED",
    });
    assert_eq!(
        next(&mut ws).await["data"]["payload"]["tx_state"]["after"],
        "FINALIZED"
    );
    let ev = next(&mut ws).await;
    assert_eq!(
        ev["data"]["payload"],
        json!({"filter_id": "tx-known", "reason": "END_STATE_REACHED"})
    );

    // Unknown tx with no events: deleted by timeout.
    register(
        &mut ws,
        "tx-unknown",
        "TX_STATE_CHANGED",
        json!({"tx_hash": UNKNOWN_TX}),
    )
    .await;
    let ev = next(&mut ws).await;
    assert_eq!(
        ev["data"]["payload"],
        json!({"filter_id": "tx-unknown", "reason": "FILTER_TIMEOUT"})
    );
    assert_eq!(h.filter_count(), 0);
}

#[tokio::test]
async fn pings_terminate_silent_clients_and_idle_channels_close() {
    let cfg = EventHandlerConfig {
        heartbeat: Duration::from_millis(100),
        idle_limit: Duration::from_millis(600),
        idle_check: Duration::from_millis(50),
        ..Default::default()
    };
    let (h, url) = start(cfg).await;

    // A client that never answers PING is terminated after the second heartbeat.
    let mut silent = connect(&url).await;
    let first = tokio::time::timeout(Duration::from_secs(2), silent.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(first.to_text().unwrap()).unwrap(),
        json!({"type": "PING", "data": {}})
    );
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(Message::Text(_))) = silent.next().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "a client ignoring PINGs must be disconnected"
    );

    // One that answers PINGs but sends nothing else is closed at the idle limit; a keepalive
    // (SET_CUSTOM_CLIENT_ID) keeps another one open past it.
    let mut pong_only = connect(&url).await;
    let mut kept = connect(&url).await;
    let started = std::time::Instant::now();
    let mut pong_only_closed_at = None;
    while started.elapsed() < Duration::from_millis(1500) {
        tokio::select! {
            m = pong_only.next(), if pong_only_closed_at.is_none() => match m {
                Some(Ok(Message::Text(_))) => send(&mut pong_only, json!({"type": "PONG", "data": {}})).await,
                Some(Ok(_)) => {}
                _ => pong_only_closed_at = Some(started.elapsed()),
            },
            m = kept.next() => match m {
                Some(Ok(Message::Text(_))) => {
                    send(&mut kept, json!({"type": "PONG", "data": {}})).await;
                    send(&mut kept, json!({"type": "SET_CUSTOM_CLIENT_ID", "data": {"customClientId": "k"}})).await;
                }
                Some(Ok(_)) => {}
                other => panic!("the keepalive client was closed: {other:?}"),
            },
        }
    }
    let at = pong_only_closed_at.expect("a PONG-only client must be closed when idle");
    assert!(at >= Duration::from_millis(550), "closed too early: {at:?}");
    assert_eq!(h.channel_count(), 1);
}

#[tokio::test]
async fn channel_limit_terminates_extra_connections() {
    let (h, url) = start(EventHandlerConfig {
        max_channels: 2,
        ..Default::default()
    })
    .await;
    let _a = connect(&url).await;
    let _b = connect(&url).await;
    for _ in 0..100 {
        if h.channel_count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut c = connect(&url).await;
    let end = tokio::time::timeout(Duration::from_secs(2), c.next())
        .await
        .unwrap();
    assert!(
        !matches!(end, Some(Ok(Message::Text(_)))),
        "third channel must be dropped: {end:?}"
    );
    assert_eq!(h.channel_count(), 2);
}
