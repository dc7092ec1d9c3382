//! `ledger::events`: every captured node frame decodes into the right variant, the encoder writes
//! the captured client frames byte for byte, and the connection manager behaves against a local
//! WebSocket server (registration, PING/PONG, keepalive, reconnect with re-registration,
//! deregistration, malformed frames, dead connections, lifetime, shutdown).

mod common;
#[path = "ledger_events/connection.rs"]
mod connection;
#[path = "ledger_events/frames.rs"]
mod frames;

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
