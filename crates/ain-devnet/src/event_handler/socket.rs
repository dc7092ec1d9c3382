//! One WebSocket connection: the upgrade, the read and write loops, the heartbeat (PING, and
//! termination when a PONG is missing) and the idle and lifetime limits.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use super::EventHandler;
use super::filter::is_truthy;

pub(super) async fn upgrade(State(handler): State<EventHandler>, ws: WebSocketUpgrade) -> Response {
    let max = handler.inner.config.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(handler, socket))
}

/// One connection: a reader loop, a writer draining the bounded queue, and the liveness checks.
pub(super) async fn serve(handler: EventHandler, socket: WebSocket) {
    let Some((id, mut outgoing, close)) = handler.open_channel() else {
        // Too many channels: the node terminates the socket without a message.
        drop(socket);
        return;
    };
    let cfg = handler.inner.config.clone();
    let (mut sink, mut stream) = socket.split();
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + cfg.heartbeat, cfg.heartbeat);
    let mut idle_check = tokio::time::interval(cfg.idle_check);
    let mut alive = true;
    loop {
        tokio::select! {
            () = close.cancelled() => break,
            frame = outgoing.recv() => match frame {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if is_pong(&text) {
                        alive = true;
                    }
                    handler.handle_text(id, &text);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    // The `ws` library hands binary frames to the same JSON parser.
                    handler.handle_text(id, &String::from_utf8_lossy(&bytes));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {} // Transport-level ping/pong.
            },
            _ = heartbeat.tick() => {
                if !alive {
                    tracing::debug!(channel = id, "no PONG since the last PING; terminating");
                    break;
                }
                alive = false;
                let ping = json!({"type": "PING", "data": {}}).to_string();
                if sink.send(Message::Text(ping.into())).await.is_err() { break }
            }
            _ = idle_check.tick() => {
                let expired = {
                    let reg = handler.lock();
                    reg.channels.get(&id).is_none_or(|ch| {
                        ch.last_message.elapsed() > cfg.idle_limit || ch.opened.elapsed() > cfg.lifetime
                    })
                };
                if expired {
                    tracing::debug!(channel = id, "closing idle or expired event channel");
                    break;
                }
            }
        }
    }
    handler.close_channel(id);
    let _ = sink.close().await;
}

pub(super) fn is_pong(text: &str) -> bool {
    serde_json::from_str::<Value>(text).ok().is_some_and(|v| {
        v.get("type").and_then(Value::as_str) == Some("PONG")
            && v.get("data").is_some_and(is_truthy)
    })
}
