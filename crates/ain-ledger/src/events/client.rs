//! The consumer-facing side of the event client: [`EventClient`] starts the connection manager,
//! [`EventHandle`] steers it, and [`ClientEvent`]s come back on a bounded channel.
//!
//! Handles talk to the manager task through a small bounded command queue and get each answer
//! on a oneshot, so a filter change is in the set before `register`/`deregister` return; the
//! frame itself goes out right after, if connected, or on the next connect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::EventsError;
use super::config::EventsConfig;
use super::filter::Filter;
use super::frame::{EmitError, Event};
use super::manager::Manager;

/// Capacity of the command queue from handles to the manager task.
const COMMAND_QUEUE: usize = 32;

/// What the consumer receives: node events and connection lifecycle notices.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A connection is up and every filter is registered on it. `generation` counts connections
    /// from 1. Events may have been missed since the previous `Disconnected`: catch up by reading
    /// state now.
    Connected {
        /// Which connection this is.
        generation: u64,
    },
    /// Connection `generation` ended; the client is reconnecting.
    Disconnected {
        /// The connection that ended.
        generation: u64,
        /// Why, for the log.
        reason: String,
    },
    /// An event for one of the registered filters.
    Event(Event),
    /// The node refused a message. For code 70020 with a `filter_id` that filter was not
    /// registered and has been dropped from the set; register it again to retry.
    NodeError(EmitError),
}

/// Counters of one client, readable at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventStats {
    /// Connections made so far (the latest `Connected` generation).
    pub generation: u64,
    /// Whether a connection is up now.
    pub connected: bool,
    /// Frames skipped because they did not decode (including binary frames).
    pub malformed_frames: u64,
    /// Keepalive messages sent.
    pub keepalives_sent: u64,
    /// PINGs answered.
    pub pongs_sent: u64,
}

/// The counters behind [`EventStats`], shared between the manager and every handle.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) generation: AtomicU64,
    pub(super) connected: AtomicBool,
    pub(super) malformed_frames: AtomicU64,
    pub(super) keepalives_sent: AtomicU64,
    pub(super) pongs_sent: AtomicU64,
}

/// A request from a handle to the manager, answered on the oneshot.
pub(super) enum Command {
    Register(Filter, oneshot::Sender<Result<(), EventsError>>),
    Deregister(String, oneshot::Sender<bool>),
    List(oneshot::Sender<Vec<Filter>>),
}

/// Entry point of the event-handler client.
#[derive(Debug)]
pub struct EventClient;

impl EventClient {
    /// Validates `config` and starts the manager task (which connects in the background). The
    /// task ends when [`EventHandle::shutdown`] is called or the receiver is dropped; the
    /// receiver then yields `None`. Must be called inside a tokio runtime.
    pub fn connect(
        config: EventsConfig,
    ) -> Result<(EventHandle, mpsc::Receiver<ClientEvent>), EventsError> {
        EventClient::connect_with_cancel(config, CancellationToken::new())
    }

    /// As [`connect`](Self::connect), stopping also when `cancel` (for example a child of the
    /// daemon's root token) is cancelled.
    pub fn connect_with_cancel(
        config: EventsConfig,
        cancel: CancellationToken,
    ) -> Result<(EventHandle, mpsc::Receiver<ClientEvent>), EventsError> {
        config.validate()?;
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (out_tx, out_rx) = mpsc::channel(config.channel_capacity);
        let stats = Arc::new(Stats::default());
        let manager = Manager::new(config, cmd_rx, out_tx, cancel.clone(), stats.clone());
        tokio::spawn(manager.run());
        let handle = EventHandle {
            cmd: cmd_tx,
            cancel,
            stats,
        };
        Ok((handle, out_rx))
    }
}

/// Controls a running client. Cheap to clone; every clone drives the same connection.
#[derive(Debug, Clone)]
pub struct EventHandle {
    cmd: mpsc::Sender<Command>,
    cancel: CancellationToken,
    stats: Arc<Stats>,
}

impl EventHandle {
    /// Adds `filter` to the set: registered now if connected, and again after every reconnect
    /// until deregistered or deleted by the node. Refused if the id is already in the set or
    /// the set is full ([`EventsConfig::max_filters`]). The node sends no acknowledgement; a
    /// refusal arrives later as [`ClientEvent::NodeError`].
    pub async fn register(&self, filter: Filter) -> Result<(), EventsError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Register(filter, tx)).await?;
        rx.await.map_err(|_| EventsError::Closed)?
    }

    /// Removes filter `id` from the set and sends `DEREGISTER_FILTER` if connected. Returns
    /// whether it was in the set; it is never re-registered afterwards.
    pub async fn deregister(&self, id: &str) -> Result<bool, EventsError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Deregister(id.to_owned(), tx)).await?;
        rx.await.map_err(|_| EventsError::Closed)
    }

    /// The filters currently in the set, in registration order.
    pub async fn filters(&self) -> Result<Vec<Filter>, EventsError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::List(tx)).await?;
        rx.await.map_err(|_| EventsError::Closed)
    }

    /// Stops the client: the socket is closed and the event receiver ends.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// The token that stops this client.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The current counters.
    pub fn stats(&self) -> EventStats {
        EventStats {
            generation: self.stats.generation.load(Ordering::Relaxed),
            connected: self.stats.connected.load(Ordering::Relaxed),
            malformed_frames: self.stats.malformed_frames.load(Ordering::Relaxed),
            keepalives_sent: self.stats.keepalives_sent.load(Ordering::Relaxed),
            pongs_sent: self.stats.pongs_sent.load(Ordering::Relaxed),
        }
    }

    async fn send(&self, cmd: Command) -> Result<(), EventsError> {
        tokio::select! {
            r = self.cmd.send(cmd) => r.map_err(|_| EventsError::Closed),
            _ = self.cancel.cancelled() => Err(EventsError::Closed),
        }
    }
}
