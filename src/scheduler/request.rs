//! What the node says about a call: whether its request tx stands (an event is only a hint),
//! and reads retried over a node's brief failures.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::call::{Call, Origin};
use crate::journal::CallState;
use crate::ledger::crypto::Hash;
use crate::ledger::rpc::TxState;
use crate::node::{Node, get_value};

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
