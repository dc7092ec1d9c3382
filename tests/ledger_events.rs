//! `ledger::events`: every captured node frame decodes into the right variant, the encoder writes
//! the captured client frames byte for byte, and the connection manager behaves against a local
//! WebSocket server (registration, PING/PONG, keepalive, reconnect with re-registration,
//! deregistration, malformed frames, dead connections, lifetime, shutdown).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ain_sre::ledger::crypto::Hash;
use ain_sre::ledger::events::{
    ClientEvent, ClientMessage, DeletionReason, EventClient, EventHandle, EventPayload,
    EventSource, EventsConfig, EventsError, Filter, FilterError, Frame, TxState, decode_frame,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Bound on every wait in this file, so no test can hang.
const WAIT: Duration = Duration::from_secs(5);

fn read_lines(test: &str, file: &str) -> Option<Vec<String>> {
    let dir = common::fixtures(test)?;
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    Some(text.lines().map(str::to_owned).collect())
}

#[test]
fn captured_frames_decode_into_expected_variants() {
    let Some(lines) = read_lines(
        "captured_frames_decode_into_expected_variants",
        "ain-1node-events.jsonl",
    ) else {
        return;
    };
    assert_eq!(lines.len(), 65);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut blocks = Vec::new();
    let mut sources = Vec::new();
    let mut deletions = Vec::new();
    let mut tx_states = Vec::new();
    for line in &lines {
        let frame = decode_frame(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let kind = match frame {
            Frame::Ping => "PING",
            Frame::Error(e) => {
                assert_eq!(e.code, 70020);
                assert_eq!(e.filter_id.as_deref(), Some("bad-cfg"));
                assert!(e.message.contains("config.path is missing"));
                "EMIT_ERROR"
            }
            Frame::Other { kind } => panic!("unexpected frame type {kind}"),
            Frame::Event(ev) => match ev.payload {
                EventPayload::BlockFinalized(b) => {
                    assert_eq!(ev.filter_id, "bf-all");
                    blocks.push((b.block_number, b.block_hash));
                    "BLOCK_FINALIZED"
                }
                EventPayload::ValueChanged(vc) => {
                    assert_eq!(ev.filter_id, "vc-req");
                    assert_eq!(
                        vc.filter_path,
                        "/apps/sre_demo/sre/calls/$fn/$call_id/request"
                    );
                    let call = &vc.params["call_id"];
                    assert_eq!(vc.params["fn"], "echo");
                    assert_eq!(
                        vc.matched_path,
                        format!("/apps/sre_demo/sre/calls/echo/{call}/request")
                    );
                    let tx = vc.transaction.expect("a tx caused the write");
                    // The embedded hash is the tx hash, and the signature recovers the signer.
                    assert_eq!(tx.signature.hash, tx.hash);
                    let signer = tx.signature.verify_transaction(&tx.tx_body, 0).unwrap();
                    assert_eq!(signer, tx.address);
                    assert_eq!(vc.auth.and_then(|a| a.addr), Some(tx.address));
                    sources.push((call.clone(), vc.event_source, vc.values.after.is_null()));
                    "VALUE_CHANGED"
                }
                EventPayload::TxStateChanged(t) => {
                    let signer = t
                        .transaction
                        .signature
                        .verify_transaction(&t.transaction.tx_body, 0)
                        .unwrap();
                    assert_eq!(signer, t.transaction.address);
                    tx_states.push((
                        ev.filter_id.clone(),
                        t.tx_state.before,
                        t.tx_state.after,
                        t.transaction.extra.is_some(),
                    ));
                    "TX_STATE_CHANGED"
                }
                EventPayload::FilterDeleted(d) => {
                    assert_eq!(d.filter_id, ev.filter_id);
                    deletions.push((d.filter_id, d.reason));
                    "FILTER_DELETED"
                }
                EventPayload::Unknown { event_type, .. } => panic!("unknown event {event_type}"),
            },
        };
        *counts.entry(kind).or_default() += 1;
    }
    let want: BTreeMap<&str, usize> = [
        ("EMIT_ERROR", 1),
        ("BLOCK_FINALIZED", 44),
        ("VALUE_CHANGED", 8),
        ("TX_STATE_CHANGED", 5),
        ("FILTER_DELETED", 4),
        ("PING", 3),
    ]
    .into();
    assert_eq!(counts, want);

    // Blocks 1..44 in order, each hash equal to the blocks file's.
    let numbers: Vec<u64> = blocks.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=44).collect::<Vec<_>>());
    if let Some(dir) = common::fixtures("captured_frames_decode_into_expected_variants") {
        let text = std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap();
        let file: Vec<Value> = serde_json::from_str(&text).unwrap();
        for (n, h) in &blocks {
            assert_eq!(file[*n as usize]["hash"], h.to_string(), "block {n}");
        }
    }
    // Each write seen at USER, then at BLOCK; one of them is the c2 deletion.
    let users = sources.iter().filter(|s| s.1 == EventSource::User).count();
    assert_eq!(users, 4);
    assert_eq!(
        sources.iter().filter(|s| s.2).count(),
        2,
        "c2 delete at USER and BLOCK"
    );
    for pair in sources.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert_eq!(
            (pair[0].1, pair[1].1),
            (EventSource::User, EventSource::Block)
        );
    }
    use TxState::*;
    let seq: Vec<_> = tx_states
        .iter()
        .map(|(f, b, a, _)| (f.as_str(), b.clone(), a.clone()))
        .collect();
    assert_eq!(
        seq,
        vec![
            ("tx-c1-request", None, Executed),
            ("tx-c1-request", Some(Executed), InBlock),
            ("tx-c1-request", Some(InBlock), Finalized),
            ("tx-fail", None, Pending),
            ("tx-fail", Some(Pending), Reverted),
        ]
    );
    // Only a tx's first event carries `extra`.
    let extras: Vec<bool> = tx_states.iter().map(|t| t.3).collect();
    assert_eq!(extras, vec![true, false, false, true, false]);
    assert_eq!(
        deletions,
        vec![
            ("tx-c1-request".to_owned(), DeletionReason::EndStateReached),
            ("tx-fail".to_owned(), DeletionReason::EndStateReached),
            ("vc-req".to_owned(), DeletionReason::DeletedByUser),
            ("bf-all".to_owned(), DeletionReason::DeletedByUser),
        ]
    );
}

#[test]
fn encoder_matches_captured_sent_frames() {
    let Some(lines) = read_lines(
        "encoder_matches_captured_sent_frames",
        "ain-1node-events-sent.jsonl",
    ) else {
        return;
    };
    assert_eq!(lines.len(), 11);
    let hash = |s: &str| s.parse::<Hash>().unwrap();
    let vc = Filter::value_changed(
        "vc-req",
        "/apps/sre_demo/sre/calls/$fn/$call_id/request",
        None,
    )
    .unwrap();
    let bf = Filter::block_finalized("bf-all", None).unwrap();
    let c1 = Filter::tx_state_changed(
        "tx-c1-request",
        hash("0xe8f50a40ed261aa2f379e9851082bed64ae7c3f8801cf18bd65435ca46b1879c"),
    )
    .unwrap();
    let fail = Filter::tx_state_changed(
        "tx-fail",
        hash("0xe14122d9c9d803be5f973e89777ee66901151e0da3b6471d9abf1bd1d22a33b0"),
    )
    .unwrap();
    let ours: Vec<Option<String>> = vec![
        Some(ClientMessage::SetCustomClientId("sre-fixture-client").to_json()),
        Some(ClientMessage::RegisterFilter(&vc).to_json()),
        Some(ClientMessage::RegisterFilter(&bf).to_json()),
        // `bad-cfg` (config `{}`) was deliberately invalid; the builder cannot express it.
        None,
        Some(ClientMessage::RegisterFilter(&c1).to_json()),
        Some(ClientMessage::Pong.to_json()),
        Some(ClientMessage::RegisterFilter(&fail).to_json()),
        Some(ClientMessage::Pong.to_json()),
        Some(ClientMessage::Pong.to_json()),
        Some(ClientMessage::DeregisterFilter("vc-req").to_json()),
        Some(ClientMessage::DeregisterFilter("bf-all").to_json()),
    ];
    for (i, (line, mine)) in lines.iter().zip(&ours).enumerate() {
        match mine {
            Some(text) => assert_eq!(text, line, "frame {i}"),
            None => {
                let v: Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["data"]["id"], "bad-cfg");
                assert_eq!(v["data"]["config"], json!({}));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A scriptable WebSocket server standing in for the node.

enum ToClient {
    Text(String),
    Binary(Vec<u8>),
    /// Drop the TCP connection without a close handshake.
    Drop,
}

/// One accepted connection: frames the client sent, and a way to send or drop.
struct Conn {
    seen: mpsc::Receiver<String>,
    send: mpsc::Sender<ToClient>,
}

impl Conn {
    /// The next text frame the client sent, parsed.
    async fn next(&mut self) -> Value {
        let text = timeout(WAIT, self.seen.recv())
            .await
            .expect("client sent nothing in time")
            .expect("connection ended");
        serde_json::from_str(&text).unwrap()
    }

    /// Frames until the client is quiet for `quiet`.
    async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(text)) = timeout(quiet, self.seen.recv()).await {
            out.push(serde_json::from_str(&text).unwrap());
        }
        out
    }

    async fn text(&self, t: impl Into<String>) {
        self.send.send(ToClient::Text(t.into())).await.unwrap();
    }

    async fn drop_socket(&self) {
        self.send.send(ToClient::Drop).await.unwrap();
    }

    /// Waits until the client's side of this connection is gone.
    async fn wait_closed(&mut self) {
        loop {
            match timeout(WAIT, self.seen.recv()).await {
                Ok(Some(_)) => continue,
                Ok(None) => return,
                Err(_) => panic!("connection still open"),
            }
        }
    }
}

struct MockNode {
    addr: SocketAddr,
    conns: mpsc::Receiver<Conn>,
}

impl MockNode {
    async fn start() -> MockNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (conn_tx, conns) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                    continue;
                };
                let (seen_tx, seen) = mpsc::channel(256);
                let (send, cmds) = mpsc::channel(256);
                tokio::spawn(serve(ws, cmds, seen_tx));
                if conn_tx.send(Conn { seen, send }).await.is_err() {
                    return;
                }
            }
        });
        MockNode { addr, conns }
    }

    async fn accept(&mut self) -> Conn {
        timeout(WAIT, self.conns.recv())
            .await
            .expect("client did not connect in time")
            .unwrap()
    }

    fn config(&self) -> EventsConfig {
        let mut c = EventsConfig::new(format!("ws://{}", self.addr), "sre-test");
        c.keepalive = Duration::from_secs(60);
        c.ping_timeout = Duration::from_secs(60);
        c.backoff_min = Duration::from_millis(10);
        c.backoff_max = Duration::from_millis(100);
        c
    }
}

async fn serve(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mut cmds: mpsc::Receiver<ToClient>,
    seen: mpsc::Sender<String>,
) {
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if seen.send(t.to_string()).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            c = cmds.recv() => {
                let msg = match c {
                    Some(ToClient::Text(t)) => Message::text(t),
                    Some(ToClient::Binary(b)) => Message::binary(b),
                    Some(ToClient::Drop) | None => return,
                };
                if ws.send(msg).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn next_event(rx: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    timeout(WAIT, rx.recv())
        .await
        .expect("no client event in time")
        .expect("client ended")
}

/// The next event that is not a lifecycle notice.
async fn next_node_event(rx: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    loop {
        match next_event(rx).await {
            ClientEvent::Connected { .. } => continue,
            other => return other,
        }
    }
}

fn registered_ids(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "REGISTER_FILTER")
        .map(|f| f["data"]["id"].as_str().unwrap().to_owned())
        .collect()
}

const BF_FRAME: &str = r#"{"type":"EMIT_EVENT","data":{"type":"BLOCK_FINALIZED","payload":{"block_number":1,"block_hash":"0x9b15267406f9324cd272f8a51eb6c6fb277484ab8a697acae15c3f82878fdb45"},"filter_id":"bf"}}"#;
const PING: &str = r#"{"type":"PING","data":{}}"#;

async fn start_with_filters(
    node: &mut MockNode,
    cfg: EventsConfig,
    filters: Vec<Filter>,
) -> (EventHandle, mpsc::Receiver<ClientEvent>, Conn) {
    let (h, mut rx) = EventClient::connect(cfg).unwrap();
    let want: Vec<String> = filters.iter().map(|f| f.id().to_owned()).collect();
    for f in filters {
        timeout(WAIT, h.register(f)).await.unwrap().unwrap();
    }
    let mut conn = node.accept().await;
    let hello = conn.next().await;
    assert_eq!(
        hello,
        json!({"type":"SET_CUSTOM_CLIENT_ID","data":{"customClientId":"sre-test"}})
    );
    let mut got = Vec::new();
    while got.len() < want.len() {
        let f = conn.next().await;
        assert_eq!(f["type"], "REGISTER_FILTER", "{f}");
        got.push(f["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, want);
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 1 }
    );
    (h, rx, conn)
}

fn vc_filter() -> Filter {
    Filter::value_changed("vc", "/apps/sre_demo/sre/calls/$fn/$call_id/request", None).unwrap()
}

fn bf_filter() -> Filter {
    Filter::block_finalized("bf", None).unwrap()
}

#[tokio::test]
async fn registers_filters_and_receives_events() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, conn) =
        start_with_filters(&mut node, cfg, vec![vc_filter(), bf_filter()]).await;
    conn.text(BF_FRAME).await;
    match next_node_event(&mut rx).await {
        ClientEvent::Event(ev) => {
            assert_eq!(ev.filter_id, "bf");
            let EventPayload::BlockFinalized(b) = ev.payload else {
                panic!("{:?}", ev.payload)
            };
            assert_eq!(b.block_number, 1);
        }
        other => panic!("{other:?}"),
    }
    // A registration made while connected goes out at once.
    let tx = Filter::tx_state_changed("tx", Hash([1; 32])).unwrap();
    let mut conn = conn;
    timeout(WAIT, h.register(tx)).await.unwrap().unwrap();
    let f = conn.next().await;
    assert_eq!(f["data"]["config"]["tx_hash"], Hash([1; 32]).to_string());
    // The node refusing a filter arrives as NodeError and drops it from the set.
    conn.text(r#"{"type":"EMIT_ERROR","data":{"code":70020,"message":"Failed to register filter with filter ID: tx due to error: x","filter_id":"tx"}}"#).await;
    match next_node_event(&mut rx).await {
        ClientEvent::NodeError(e) => {
            assert_eq!((e.code, e.filter_id.as_deref()), (70020, Some("tx")))
        }
        other => panic!("{other:?}"),
    }
    let ids: Vec<String> = h
        .filters()
        .await
        .unwrap()
        .iter()
        .map(|f| f.id().to_owned())
        .collect();
    assert_eq!(ids, vec!["vc", "bf"]);
    assert_eq!(h.stats().generation, 1);
    assert!(h.stats().connected);
    h.shutdown();
}

#[tokio::test]
async fn answers_ping_with_pong() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, _rx, mut conn) = start_with_filters(&mut node, cfg, vec![]).await;
    for _ in 0..3 {
        conn.text(PING).await;
        assert_eq!(conn.next().await, json!({"type":"PONG","data":{}}));
    }
    assert_eq!(h.stats().pongs_sent, 3);
    h.shutdown();
}

#[tokio::test]
async fn sends_keepalive_within_interval() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.keepalive = Duration::from_millis(150);
    let (h, _rx, mut conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        let f = conn.next().await;
        assert_eq!(
            f,
            json!({"type":"SET_CUSTOM_CLIENT_ID","data":{"customClientId":"sre-test"}})
        );
    }
    // Three keepalives at 150 ms take about 450 ms; far less than the 5 s bound.
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(h.stats().keepalives_sent >= 3);
    h.shutdown();
}

#[tokio::test]
async fn reconnects_and_reregisters_every_filter() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, conn) =
        start_with_filters(&mut node, cfg, vec![vc_filter(), bf_filter()]).await;
    conn.drop_socket().await;
    match next_event(&mut rx).await {
        ClientEvent::Disconnected { generation, reason } => {
            assert_eq!(generation, 1);
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let mut conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    let frames = conn2.drain(Duration::from_millis(200)).await;
    assert_eq!(frames[0]["type"], "SET_CUSTOM_CLIENT_ID");
    assert_eq!(registered_ids(&frames), vec!["vc", "bf"]);
    // Events flow on the new connection.
    conn2.text(BF_FRAME).await;
    assert!(matches!(
        next_node_event(&mut rx).await,
        ClientEvent::Event(_)
    ));
    assert_eq!(h.stats().generation, 2);
    h.shutdown();
}

#[tokio::test]
async fn deregistered_and_node_deleted_filters_are_not_reregistered() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let tx = Filter::tx_state_changed("tx", Hash([2; 32])).unwrap();
    let (h, mut rx, mut conn) =
        start_with_filters(&mut node, cfg, vec![vc_filter(), bf_filter(), tx]).await;
    assert!(timeout(WAIT, h.deregister("vc")).await.unwrap().unwrap());
    assert_eq!(
        conn.next().await,
        json!({"type":"DEREGISTER_FILTER","data":{"id":"vc"}})
    );
    assert!(!timeout(WAIT, h.deregister("vc")).await.unwrap().unwrap());
    // The node ends the tx filter on its own.
    conn.text(r#"{"type":"EMIT_EVENT","data":{"type":"FILTER_DELETED","payload":{"filter_id":"tx","reason":"END_STATE_REACHED"},"filter_id":"tx"}}"#).await;
    match next_node_event(&mut rx).await {
        ClientEvent::Event(ev) => assert!(matches!(ev.payload, EventPayload::FilterDeleted(_))),
        other => panic!("{other:?}"),
    }
    conn.drop_socket().await;
    assert!(matches!(
        next_event(&mut rx).await,
        ClientEvent::Disconnected { .. }
    ));
    let mut conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    let frames = conn2.drain(Duration::from_millis(200)).await;
    assert_eq!(registered_ids(&frames), vec!["bf"]);
    h.shutdown();
}

#[tokio::test]
async fn malformed_frames_are_skipped_without_killing_the_connection() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, mut conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    let garbage = [
        "not json at all",
        "[]",
        r#"{"data":{}}"#,
        r#"{"type":5,"data":{}}"#,
        r#"{"type":"EMIT_EVENT"}"#,
        r#"{"type":"EMIT_EVENT","data":{"type":"BLOCK_FINALIZED","payload":{"block_number":"x","block_hash":"0x00"},"filter_id":"bf"}}"#,
        r#"{"type":"EMIT_EVENT","data":{"type":"VALUE_CHANGED","payload":{"matched_path":"/a"},"filter_id":"vc"}}"#,
        r#"{"type":"EMIT_ERROR","data":{"message":"no code"}}"#,
    ];
    for g in garbage {
        conn.text(g).await;
    }
    conn.send
        .send(ToClient::Binary(vec![0xff, 0x00, 0x13]))
        .await
        .unwrap();
    // Unknown frame types are not errors, just ignored.
    conn.text(r#"{"type":"SOMETHING_NEW","data":{}}"#).await;
    conn.text(BF_FRAME).await;
    match next_event(&mut rx).await {
        ClientEvent::Event(ev) => assert_eq!(ev.filter_id, "bf"),
        other => panic!("expected the valid event right after the garbage, got {other:?}"),
    }
    assert_eq!(h.stats().malformed_frames, 9);
    // Still the same, working connection.
    conn.text(PING).await;
    assert_eq!(conn.next().await["type"], "PONG");
    assert_eq!(h.stats().generation, 1);
    assert!(rx.try_recv().is_err(), "no Disconnected");
    h.shutdown();
}

#[tokio::test]
async fn silent_connection_is_treated_as_dead() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.ping_timeout = Duration::from_millis(500);
    let (h, mut rx, conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    // PINGs keep it alive past the timeout...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        conn.text(PING).await;
    }
    assert!(rx.try_recv().is_err(), "pinged connection must stay up");
    // ...and their absence kills it.
    match next_event(&mut rx).await {
        ClientEvent::Disconnected { generation, reason } => {
            assert_eq!(generation, 1);
            assert!(reason.contains("PING"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let _conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    h.shutdown();
}

#[tokio::test]
async fn reconnects_before_channel_lifetime() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.max_lifetime = Some(Duration::from_millis(300));
    let (h, mut rx, mut conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    match next_event(&mut rx).await {
        ClientEvent::Disconnected { reason, .. } => {
            assert!(reason.contains("lifetime"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    conn.wait_closed().await;
    let mut conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    assert_eq!(
        registered_ids(&conn2.drain(Duration::from_millis(100)).await),
        vec!["bf"]
    );
    h.shutdown();
}

#[tokio::test]
async fn keeps_retrying_until_the_node_is_up() {
    // Reserve a port, free it, and only start listening after a few failed attempts.
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let mut cfg = EventsConfig::new(format!("ws://{addr}"), "sre-test");
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(80);
    let (h, mut rx) = EventClient::connect(cfg).unwrap();
    // Filters registered while disconnected are kept and sent on connect.
    timeout(WAIT, h.register(bf_filter()))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!h.stats().connected);
    let listener = TcpListener::bind(addr).await.unwrap();
    let (tcp, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let mut frames = Vec::new();
    for _ in 0..2 {
        let m = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
        frames.push(serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap());
    }
    assert_eq!(frames[0]["type"], "SET_CUSTOM_CLIENT_ID");
    assert_eq!(registered_ids(&frames), vec!["bf"]);
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 1 }
    );
    h.shutdown();
}

#[tokio::test]
async fn local_limits_and_validation() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.max_filters = 2;
    let (h, _rx, _conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    let dup = timeout(WAIT, h.register(bf_filter())).await.unwrap();
    assert_eq!(dup, Err(EventsError::DuplicateFilter("bf".into())));
    timeout(WAIT, h.register(vc_filter()))
        .await
        .unwrap()
        .unwrap();
    let full = Filter::block_finalized("third", Some(9)).unwrap();
    assert_eq!(
        timeout(WAIT, h.register(full)).await.unwrap(),
        Err(EventsError::TooManyFilters(2))
    );
    assert!(matches!(
        Filter::value_changed("a:b", "/apps/x", Some(EventSource::Block)),
        Err(FilterError::IdContainsColon(_))
    ));
    let bad = EventsConfig::new("http://127.0.0.1:1", "x");
    assert!(matches!(
        EventClient::connect(bad),
        Err(EventsError::Config(_))
    ));
    h.shutdown();
}

#[tokio::test]
async fn shutdown_and_dropped_receiver_end_the_client() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, mut conn) = start_with_filters(&mut node, cfg.clone(), vec![]).await;
    h.shutdown();
    assert_eq!(timeout(WAIT, rx.recv()).await.unwrap(), None);
    conn.wait_closed().await;
    assert_eq!(
        timeout(WAIT, h.register(bf_filter())).await.unwrap(),
        Err(EventsError::Closed)
    );

    let (h2, rx2, mut conn2) = start_with_filters(&mut node, cfg, vec![]).await;
    drop(rx2);
    conn2.wait_closed().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while h2.stats().connected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "client still connected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
