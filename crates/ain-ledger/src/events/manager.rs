//! The connection manager: one task that owns the WebSocket, keeps it alive, and rebuilds it.
//!
//! The task holds the set of filters the consumer wants. On every (re)connect it sends
//! `SET_CUSTOM_CLIENT_ID`, re-registers every filter, and only then announces
//! [`ClientEvent::Connected`], so a consumer that rescans state on that notice cannot miss a write
//! made after its rescan. It answers `PING` with `PONG`, sends the client id again as a keepalive
//! (a `PONG` does not count as activity for the node's 600 s idle limit), treats a silent
//! connection as dead, reconnects before the node's 1 h channel lifetime, and backs off
//! exponentially with jitter between attempts. Filters the node deletes for good (tx end state,
//! timeout, error, refused registration) leave the set, so they are not re-registered.
//!
//! Every queue is bounded: commands, events to the consumer (backpressure, see
//! [`EventsConfig::channel_capacity`]) and frame sizes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::EventsError;
use super::client::{ClientEvent, Command, Stats};
use super::config::{EventsConfig, backoff_delay};
use super::filter::{ClientMessage, Filter};
use super::frame::{DeletionReason, EventPayload, FAILED_TO_REGISTER_FILTER, Frame, decode_frame};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a closing handshake may take on shutdown or proactive reconnect.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How a session ended.
enum End {
    /// Stop the task.
    Shutdown,
    /// Reconnect; `announced` tells whether `Connected` went out for this connection.
    Lost { reason: String, announced: bool },
}

/// What a command asks to send on the socket, if connected.
enum Outgoing {
    Register(Filter),
    Deregister(String),
}

/// The task state: settings, the desired filter set, and the channels to handles and consumer.
pub(super) struct Manager {
    cfg: EventsConfig,
    cmd_rx: mpsc::Receiver<Command>,
    cmd_open: bool,
    out: mpsc::Sender<ClientEvent>,
    cancel: CancellationToken,
    filters: Vec<Filter>,
    stats: Arc<Stats>,
    generation: u64,
}

impl Manager {
    pub(super) fn new(
        cfg: EventsConfig,
        cmd_rx: mpsc::Receiver<Command>,
        out: mpsc::Sender<ClientEvent>,
        cancel: CancellationToken,
        stats: Arc<Stats>,
    ) -> Manager {
        Manager {
            cfg,
            cmd_rx,
            cmd_open: true,
            out,
            cancel,
            filters: Vec::new(),
            stats,
            generation: 0,
        }
    }

    /// Connects, serves and reconnects until shut down.
    pub(super) async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let ws = match self.connect().await {
                None => return,
                Some(Ok(ws)) => ws,
                Some(Err(reason)) => {
                    tracing::warn!(url = %self.cfg.url, %reason, "event handler connect failed");
                    attempt = attempt.saturating_add(1);
                    if !self.pause(attempt).await {
                        return;
                    }
                    continue;
                }
            };
            self.generation += 1;
            let started = Instant::now();
            let end = self.session(ws).await;
            self.stats.connected.store(false, Ordering::Relaxed);
            match end {
                End::Shutdown => return,
                End::Lost { reason, announced } => {
                    tracing::warn!(generation = self.generation, %reason, "event channel lost");
                    if announced {
                        let notice = ClientEvent::Disconnected {
                            generation: self.generation,
                            reason,
                        };
                        if !self.emit(notice).await {
                            return;
                        }
                    }
                }
            }
            if started.elapsed() >= self.cfg.backoff_max {
                attempt = 0;
            }
            attempt = attempt.saturating_add(1);
            if !self.pause(attempt).await {
                return;
            }
        }
    }

    /// Opens the socket while still serving commands. `None` means stop.
    async fn connect(&mut self) -> Option<Result<Ws, String>> {
        let ws_config = WebSocketConfig::default()
            .max_frame_size(Some(self.cfg.max_frame_bytes))
            .max_message_size(Some(self.cfg.max_frame_bytes));
        let url = self.cfg.url.clone();
        let opening = tokio::time::timeout(
            self.cfg.connect_timeout,
            tokio_tungstenite::connect_async_with_config(url, Some(ws_config), true),
        );
        tokio::pin!(opening);
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return None,
                _ = self.out.closed() => return None,
                cmd = self.cmd_rx.recv(), if self.cmd_open => {
                    self.apply(cmd);
                }
                res = &mut opening => {
                    return Some(match res {
                        Err(_) => Err("connect timed out".to_owned()),
                        Ok(Err(e)) => Err(format!("connect failed: {e}")),
                        Ok(Ok((ws, _response))) => Ok(ws),
                    });
                }
            }
        }
    }

    /// Sleeps the backoff for `attempt` while serving commands; false means stop.
    async fn pause(&mut self, attempt: u32) -> bool {
        let delay = backoff_delay(self.cfg.backoff_min, self.cfg.backoff_max, attempt);
        tracing::debug!(?delay, attempt, "event client backing off");
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return false,
                _ = self.out.closed() => return false,
                cmd = self.cmd_rx.recv(), if self.cmd_open => {
                    self.apply(cmd);
                }
                _ = &mut sleep => return true,
            }
        }
    }

    async fn session(&mut self, mut ws: Ws) -> End {
        let lost = |reason: String, announced| End::Lost { reason, announced };
        let hello = ClientMessage::SetCustomClientId(&self.cfg.client_id).to_json();
        if let Err(r) = self.write(&mut ws, hello).await {
            return lost(r, false);
        }
        for text in self
            .filters
            .iter()
            .map(|f| ClientMessage::RegisterFilter(f).to_json())
            .collect::<Vec<_>>()
        {
            if let Err(r) = self.write(&mut ws, text).await {
                return lost(r, false);
            }
        }
        self.stats
            .generation
            .store(self.generation, Ordering::Relaxed);
        self.stats.connected.store(true, Ordering::Relaxed);
        tracing::info!(
            generation = self.generation,
            filters = self.filters.len(),
            "event channel up"
        );
        if !self
            .emit(ClientEvent::Connected {
                generation: self.generation,
            })
            .await
        {
            close(&mut ws).await;
            return End::Shutdown;
        }

        let period = self.cfg.keepalive;
        let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let silence = tokio::time::sleep(self.cfg.ping_timeout);
        tokio::pin!(silence);
        let lifetime = tokio::time::sleep(self.cfg.max_lifetime.unwrap_or(Duration::MAX / 4));
        tokio::pin!(lifetime);
        let has_lifetime = self.cfg.max_lifetime.is_some();
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    close(&mut ws).await;
                    return End::Shutdown;
                }
                _ = self.out.closed() => {
                    close(&mut ws).await;
                    return End::Shutdown;
                }
                msg = ws.next() => {
                    let text = match msg {
                        None => return lost("closed by the node".into(), true),
                        Some(Err(e)) => return lost(format!("read failed: {e}"), true),
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Binary(b))) => {
                            self.stats.malformed_frames.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(bytes = b.len(), "skipping binary frame from event handler");
                            continue;
                        }
                        // Control frames: tungstenite answers pings itself; close ends the stream.
                        Some(Ok(_)) => continue,
                    };
                    match self.on_text(&mut ws, text.as_str()).await {
                        Ok(true) => {
                            let deadline = Instant::now() + self.cfg.ping_timeout;
                            silence.as_mut().reset(deadline);
                        }
                        Ok(false) => {}
                        Err(None) => {
                            close(&mut ws).await;
                            return End::Shutdown;
                        }
                        Err(Some(reason)) => return lost(reason, true),
                    }
                }
                _ = keepalive.tick() => {
                    let text = ClientMessage::SetCustomClientId(&self.cfg.client_id).to_json();
                    if let Err(r) = self.write(&mut ws, text).await {
                        return lost(r, true);
                    }
                    self.stats.keepalives_sent.fetch_add(1, Ordering::Relaxed);
                }
                _ = &mut silence => {
                    let reason = format!("no PING from the node for {:?}", self.cfg.ping_timeout);
                    return lost(reason, true);
                }
                _ = &mut lifetime, if has_lifetime => {
                    close(&mut ws).await;
                    return lost("channel lifetime reached; reconnecting before the node closes it".into(), true);
                }
                cmd = self.cmd_rx.recv(), if self.cmd_open => {
                    let text = match self.apply(cmd) {
                        Some(Outgoing::Register(f)) => ClientMessage::RegisterFilter(&f).to_json(),
                        Some(Outgoing::Deregister(id)) => ClientMessage::DeregisterFilter(&id).to_json(),
                        None => continue,
                    };
                    if let Err(r) = self.write(&mut ws, text).await {
                        return lost(r, true);
                    }
                }
            }
        }
    }

    /// Handles one text frame. `Ok(true)` for a PING, `Err(None)` to stop, `Err(Some)` to
    /// reconnect.
    async fn on_text(&mut self, ws: &mut Ws, text: &str) -> Result<bool, Option<String>> {
        let frame = match decode_frame(text) {
            Ok(f) => f,
            Err(e) => {
                self.stats.malformed_frames.fetch_add(1, Ordering::Relaxed);
                let start: String = text.chars().take(120).collect();
                tracing::warn!(error = %e, frame = %start, "skipping malformed frame from event handler");
                return Ok(false);
            }
        };
        let event = match frame {
            Frame::Ping => {
                self.write(ws, ClientMessage::Pong.to_json())
                    .await
                    .map_err(Some)?;
                self.stats.pongs_sent.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
            Frame::Other { kind } => {
                tracing::debug!(%kind, "ignoring event handler frame type");
                return Ok(false);
            }
            Frame::Event(ev) => {
                // DELETED_BY_USER answers our own deregister, which already left the set; acting
                // on it could drop a filter re-registered under the same id since.
                if let EventPayload::FilterDeleted(d) = &ev.payload
                    && d.reason != DeletionReason::DeletedByUser
                {
                    self.forget(&d.filter_id);
                }
                ClientEvent::Event(ev)
            }
            Frame::Error(err) => {
                if err.code == FAILED_TO_REGISTER_FILTER
                    && let Some(id) = &err.filter_id
                {
                    self.forget(id);
                }
                tracing::warn!(code = err.code, message = %err.message, "event handler error");
                ClientEvent::NodeError(err)
            }
        };
        if self.emit(event).await {
            Ok(false)
        } else {
            Err(None)
        }
    }

    fn forget(&mut self, id: &str) {
        self.filters.retain(|f| f.id() != id);
    }

    /// Applies a command to the filter set; returns what to send if connected.
    fn apply(&mut self, cmd: Option<Command>) -> Option<Outgoing> {
        let Some(cmd) = cmd else {
            // Every handle is gone: nobody can send commands, but events still flow.
            self.cmd_open = false;
            return None;
        };
        match cmd {
            Command::Register(filter, reply) => {
                let result = if self.filters.iter().any(|f| f.id() == filter.id()) {
                    Err(EventsError::DuplicateFilter(filter.id().to_owned()))
                } else if self.filters.len() >= self.cfg.max_filters {
                    Err(EventsError::TooManyFilters(self.cfg.max_filters))
                } else {
                    Ok(())
                };
                let out = result.is_ok().then(|| {
                    self.filters.push(filter.clone());
                    Outgoing::Register(filter)
                });
                let _ = reply.send(result);
                out
            }
            Command::Deregister(id, reply) => {
                let before = self.filters.len();
                self.forget(&id);
                let removed = self.filters.len() != before;
                let _ = reply.send(removed);
                removed.then_some(Outgoing::Deregister(id))
            }
            Command::List(reply) => {
                let _ = reply.send(self.filters.clone());
                None
            }
        }
    }

    /// Delivers to the consumer, waiting for room; false when the client must stop.
    async fn emit(&self, event: ClientEvent) -> bool {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => false,
            r = self.out.send(event) => r.is_ok(),
        }
    }

    async fn write(&self, ws: &mut Ws, text: String) -> Result<(), String> {
        match tokio::time::timeout(self.cfg.write_timeout, ws.send(Message::text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }
}

async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(None)).await;
}
