//! The trigger: turns the node's hints (VALUE_CHANGED events) and the follower's verified blocks
//! into verified [`Call`]s, each admitted once.
//!
//! An event is a hint, not proof: [`verify_event`] checks the request tx itself (its hash, its
//! signature, and that it really writes the event's value at the event's path) before anything
//! runs. Blocks come from the follower already verified; [`calls_in_block`] picks the successful
//! request writes of the served apps out of them. The tasks that drive both live in [`run`].

use std::time::Instant;

use serde_json::Value;

use crate::call::{Call, Origin};
use crate::journal::JournalError;
use crate::ledger::block::Block;
use crate::ledger::crypto::{Address, Hash};
use crate::ledger::events::ValueChanged;
use crate::ledger::tx::{OpType, TxVerifyError};
use crate::onchain::{AppPaths, call_key};

/// The finality gate lives in [`crate::finality`] (the scheduler waits on it too); this path stays.
pub use crate::finality as gate;
pub mod run;

/// Why an event was ignored (logged and counted, never fatal).
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The path is not a request path of a served app.
    #[error("not a request path of a served app: {0}")]
    Path(String),
    /// The event carries no transaction to check.
    #[error("event without a transaction")]
    NoTransaction,
    /// The tx hash is not the body's hash.
    #[error("request tx hash {claimed} is not the body's hash {computed}")]
    Hash {
        /// What the event claimed.
        claimed: Hash,
        /// What the body hashes to.
        computed: Hash,
    },
    /// The signature does not parse or does not recover to the claimed signer.
    #[error("request tx signature is invalid: {0}")]
    Signature(#[source] TxVerifyError),
    /// The tx does not write the event's value at the event's path.
    #[error("request tx does not write the event's value at {0}")]
    Mismatch(String),
    /// A deletion (value null): nothing to run.
    #[error("request deleted")]
    Deleted,
    /// A stage downstream has stopped.
    #[error("the scheduler has stopped")]
    SchedulerGone,
    /// The journal failed.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The follower stopped.
    #[error("follower: {0}")]
    Follower(#[source] crate::ledger::follower::VerifyError),
}

impl TriggerError {
    /// A short label for the `bad_events_total{reason}` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            TriggerError::Path(_) => "path",
            TriggerError::NoTransaction => "no_tx",
            TriggerError::Hash { .. } => "hash",
            TriggerError::Signature(_) => "signature",
            TriggerError::Mismatch(_) => "mismatch",
            TriggerError::Deleted => "deleted",
            _ => "other",
        }
    }
}

/// The served apps, in the order given.
#[derive(Debug, Clone)]
pub struct Apps(pub Vec<AppPaths>);

impl Apps {
    /// The app and `(fn, call_id)` a concrete request path belongs to.
    pub fn parse(&self, path: &str) -> Option<(&AppPaths, String, String)> {
        self.0
            .iter()
            .find_map(|a| a.parse_request(path).map(|(f, c)| (a, f, c)))
    }
}

fn make_call(
    app: &AppPaths,
    function: String,
    call_id: String,
    request_tx: Hash,
    caller: Address,
    request: Value,
    origin: Origin,
) -> Call {
    Call {
        key: call_key(app.app(), &function, &call_id),
        app: app.app().to_owned(),
        function,
        call_id,
        request_tx,
        caller,
        request,
        origin,
        seen_at: Instant::now(),
    }
}

/// Verifies a VALUE_CHANGED event on a request path and returns the call it announces.
pub fn verify_event(apps: &Apps, ev: &ValueChanged, chain_id: u64) -> Result<Call, TriggerError> {
    let (app, function, call_id) = apps
        .parse(&ev.matched_path)
        .ok_or_else(|| TriggerError::Path(ev.matched_path.clone()))?;
    if ev.values.after.is_null() {
        return Err(TriggerError::Deleted);
    }
    let tx = ev.transaction.as_ref().ok_or(TriggerError::NoTransaction)?;
    // The body was typed when the frame was decoded (a body that does not parse is a malformed
    // frame); what is left is the node's own check of hash and signer.
    let signer = tx.verify(chain_id).map_err(|e| match e {
        TxVerifyError::Hash { claimed, computed } => TriggerError::Hash { claimed, computed },
        e => TriggerError::Signature(e),
    })?;
    let writes = tx.tx_body.operation.ops().iter().any(|op| {
        op.op_type == OpType::SetValue
            && op.path == ev.matched_path
            && op.value.as_ref() == Some(&ev.values.after)
    });
    if !writes {
        return Err(TriggerError::Mismatch(ev.matched_path.clone()));
    }
    Ok(make_call(
        app,
        function,
        call_id,
        tx.hash,
        signer,
        ev.values.after.clone(),
        Origin::Event,
    ))
}

/// Every successful request write to a served app in a verified block, and every tx hash in it.
pub fn calls_in_block(apps: &Apps, block: &Block) -> (Vec<Call>, Vec<Hash>) {
    let mut calls = Vec::new();
    let mut hashes = Vec::with_capacity(block.transactions.len());
    for (i, tx) in block.transactions.iter().enumerate() {
        hashes.push(tx.hash);
        if !block.tx_succeeded(i) {
            continue;
        }
        for op in tx.tx_body.operation.ops() {
            if op.op_type != OpType::SetValue {
                continue;
            }
            let Some(value) = op.value.as_ref().filter(|v| !v.is_null()) else {
                continue;
            };
            if let Some((app, f, c)) = apps.parse(&op.path) {
                calls.push(make_call(
                    app,
                    f,
                    c,
                    tx.hash,
                    tx.address,
                    value.clone(),
                    Origin::Block,
                ));
            }
        }
    }
    (calls, hashes)
}

#[cfg(test)]
mod tests;
