//! What the node says about a call: whether its request tx stands (an event is only a hint),
//! and reads retried over a node's brief failures.
//!
//! Whether a request stands is first read from the node's state: the request value at its path.
//! A node executes a tx to the end before it answers another JSON-RPC call, so once its event
//! has arrived the value there is the request's if and only if the tx's writes stand (a failed
//! tx is rolled back, and the request rule is write-once). Those reads are batched: one `ain_get`
//! with every path asked about meanwhile (up to the node's 50 operations), so under load a burst
//! of calls costs one exchange, where asking `ain_getTransactionByHash` cost one exchange per
//! call and a whole tx record in each answer. Only when the value is not there (a failed tx, or
//! one already pruned by the app's retention) does the worker ask for the tx's state, as before.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::call::{Call, Origin};
use crate::journal::CallState;
use crate::ledger::crypto::Hash;
use crate::ledger::rpc::{MAX_GET_OPS, TxState};
use crate::node::{Node, get_value};
use crate::onchain::AppPaths;

/// One read waiting for its batch: the path, and where its value (`None`: the read failed) goes.
type Read = (String, oneshot::Sender<Option<Value>>);

/// The batcher of request reads: started on first use, ends with the scheduler (its sender).
#[derive(Default)]
pub(super) struct RequestReads(OnceLock<mpsc::UnboundedSender<Read>>);

/// Serves reads in batches: takes one, adds every read already waiting (up to the node's limit
/// per `ain_get`), reads them in one exchange, answers each. Under load the next batch gathers
/// while this one is in flight; alone, a read goes out at once.
async fn serve_reads<N: Node>(node: std::sync::Arc<N>, mut rx: mpsc::UnboundedReceiver<Read>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_GET_OPS {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let paths: Vec<String> = batch.iter().map(|(p, _)| p.clone()).collect();
        match node.get_values(&paths).await {
            Ok(values) if values.len() == batch.len() => {
                for ((_, tx), v) in batch.into_iter().zip(values) {
                    let _ = tx.send(Some(v));
                }
            }
            other => {
                if let Err(e) = other {
                    tracing::debug!(error = %e, "batched request read failed");
                }
                for (_, tx) in batch {
                    let _ = tx.send(None);
                }
            }
        }
    }
}

use super::Scheduler;
use super::exec::Executor;

/// How a request tx ended, as far as the node says.
enum RequestOutcome {
    /// Its writes stand.
    Succeeded,
    /// It failed; nothing it wrote stands.
    Failed(TxState),
    /// The node did not report it in time.
    Unknown,
}

impl<N: Node, E: Executor> Scheduler<N, E> {
    pub(super) async fn retry_read(&self, path: &str) -> Option<serde_json::Value> {
        for i in 0..5u32 {
            match get_value(&*self.node, path).await {
                Ok(v) => return Some(v),
                Err(e) => {
                    tracing::debug!(error = %e, "read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << i)).await;
                }
            }
        }
        None
    }

    /// Whether `call`'s request tx stands. An event is a hint: a real node fires it while
    /// executing the tx, and the tx may still fail (a later op of its SET, the state budget).
    /// Run and answer only what stands; calls from blocks come from successful txs only. A
    /// failed request is finished here (`RequestFailed`); one the node does not report in time
    /// is left to its block.
    pub(super) async fn request_stands(&self, call: &Call) -> bool {
        if call.origin == Origin::Block {
            return true;
        }
        if self.request_value_stands(call).await {
            return true;
        }
        match self.request_outcome(&call.request_tx).await {
            RequestOutcome::Succeeded => true,
            RequestOutcome::Failed(state) => {
                metrics::counter!("ain_sre_requests_failed_total").increment(1);
                self.health.requests_failed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    ?state,
                    "request tx failed on the node; call dropped without running it"
                );
                self.registry.finish(&call.key, CallState::RequestFailed);
                false
            }
            RequestOutcome::Unknown => {
                tracing::info!(
                    "the node does not report the request tx's outcome yet; leaving the call to its block"
                );
                false
            }
        }
    }

    /// Whether the node's latest state holds `call`'s request value at its path (read in a
    /// batch with other calls'; see the module docs). `false` sends the caller to the tx's state.
    async fn request_value_stands(&self, call: &Call) -> bool {
        let Ok(app) = AppPaths::new(&call.app) else {
            return false;
        };
        let path = app.request(&call.function, &call.call_id);
        let tx = self.request_reads.0.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(serve_reads(self.node.clone(), rx));
            tx
        });
        let (done, value) = oneshot::channel();
        if tx.send((path, done)).is_err() {
            return false;
        }
        matches!(value.await, Ok(Some(v)) if v == call.request)
    }

    /// Asks the node how the request tx ended, retrying while it does not know yet, for up to
    /// `request_known_within`. Success: `EXECUTED`, `IN_BLOCK`, `FINALIZED`. Failure: `PENDING`
    /// (executed with an error, waiting for its block), `REVERTED`, `FAILED`, `TIMED_OUT`.
    async fn request_outcome(&self, hash: &Hash) -> RequestOutcome {
        let deadline = Instant::now() + self.config.request_known_within;
        let mut delay = Duration::from_millis(5);
        loop {
            match self.node.tx_state(hash).await {
                Ok(Some(TxState::Executed | TxState::InBlock | TxState::Finalized)) => {
                    return RequestOutcome::Succeeded;
                }
                Ok(Some(
                    s
                    @ (TxState::Pending | TxState::Reverted | TxState::Failed | TxState::TimedOut),
                )) => return RequestOutcome::Failed(s),
                Ok(None | Some(TxState::Unknown(_))) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the request tx's state; retrying")
                }
            }
            if Instant::now() + delay > deadline {
                return RequestOutcome::Unknown;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }
}
