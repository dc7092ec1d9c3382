//! What travels between the stages — a [`Call`] from the trigger to the scheduler, an [`Answer`]
//! from the scheduler to the poster — and the [`Registry`] that admits each call exactly once per
//! process, in front of the journal.
//!
//! The journal's `Seen` write is not waited for, and events for one call arrive on several paths
//! (USER and BLOCK events, the follower's blocks, recovery), so admission is decided under one
//! lock: calls in flight in this process, then recently finished calls, then the journal.

use crate::ledger::sync::LockExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use crate::journal::{CallState, Journal, JournalError, Observed, SignedResponse};
use crate::ledger::crypto::{Address, Hash};
use crate::receipt::CallResult;
use crate::recent::Recent;

/// How the worker learned of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A VALUE_CHANGED event (not necessarily final).
    Event,
    /// A request tx in a block the follower verified as final.
    Block,
    /// The journal, after a restart.
    Recovery,
}

/// A verified request to run.
#[derive(Debug, Clone)]
pub struct Call {
    /// Journal key `<app>/<fn>/<call_id>`.
    pub key: String,
    /// App name.
    pub app: String,
    /// Function name.
    pub function: String,
    /// Call id.
    pub call_id: String,
    /// Hash of the request tx (verified).
    pub request_tx: Hash,
    /// Signer of the request tx.
    pub caller: Address,
    /// The request value as written.
    pub request: Value,
    /// Where it came from.
    pub origin: Origin,
    /// When the worker first saw it.
    pub seen_at: Instant,
}

/// The scheduler's result for a call, for the signer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The call.
    pub call: Call,
    /// What happened.
    pub result: CallResult,
    /// Code hash (hex) that ran or was expected; empty when unknown.
    pub code_hash: String,
    /// Runtime name; empty when unknown.
    pub runtime: String,
    /// Tier that ran it, `none` when nothing ran.
    pub sandbox: String,
    /// Profile applied.
    pub profile: String,
    /// Input bytes.
    pub input: Arc<[u8]>,
    /// The call's blob references (`input_ref`, `output_ref`); empty for an inline call.
    pub refs: crate::blobs::worker::Refs,
    /// When the sandbox started (for a rejected call: the decision), ms since the epoch.
    pub started_at: u64,
    /// How long the call waited in this worker before `started_at`, µs.
    pub queued_us: u64,
    /// End, ms since the epoch.
    pub finished_at: u64,
    /// For a timeout: which limit ran out ("the wall-time limit of 5000 ms").
    pub timeout_limit: Option<String>,
    /// What the call reached through the egress proxy (`None`: it had no egress).
    pub egress: Option<crate::egress::EgressSummary>,
}

/// What to do with a call that was seen.
#[derive(Debug, Clone, PartialEq)]
pub enum Admit {
    /// Run it (first sighting, or it was running when the worker died).
    Run,
    /// Its response was signed before a restart: submit that same tx again.
    Resubmit(SignedResponse),
    /// Already in flight here or finished: ignore.
    Duplicate,
}

/// Calls in flight in this process, and a window of recently finished ones.
pub struct Registry {
    inner: Mutex<Inner>,
    journal: Journal,
}

#[derive(Debug)]
struct Inner {
    /// Where each admitted, unfinished call is: the same [`CallState`] the journal keeps (one
    /// of `Seen`, `Running`, `Signed`, `Posted`), changed only together with the journal's.
    inflight: HashMap<String, CallState>,
    /// Finished calls, as digests of their keys: 16 bytes each instead of a ~60-byte string
    /// with its allocation, so the window costs ~40 bytes a call.
    recent: Recent<u128>,
}

/// The first 16 bytes of the key's Keccak-256: distinct keys collide with probability 2^-128
/// per pair, far below anything a worker could meet.
fn digest(key: &str) -> u128 {
    let d = crate::ledger::crypto::keccak256(key.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&d[..16]);
    u128::from_be_bytes(first)
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({} in flight)", self.inflight())
    }
}

impl Registry {
    /// A registry over `journal`, remembering `recent_cap` finished calls in memory. The memory
    /// is a fast path for the repeated sightings of a call (its two events and its block, within
    /// seconds of each other); older calls are found in the journal.
    pub fn new(journal: Journal, recent_cap: usize) -> Registry {
        Registry {
            inner: Mutex::new(Inner {
                inflight: HashMap::new(),
                recent: Recent::new(recent_cap),
            }),
            journal,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock_or_recover()
    }

    /// The journal behind the registry.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Decides what to do with a sighting of call `key` (request tx `request_tx`).
    pub fn admit(&self, key: &str, request_tx: &Hash) -> Result<Admit, JournalError> {
        let mut inner = self.lock();
        if inner.inflight.contains_key(key) || inner.recent.contains(&digest(key)) {
            return Ok(Admit::Duplicate);
        }
        let rec = match self.journal.observe(key, &request_tx.to_string())? {
            Observed::New => {
                inner.inflight.insert(key.to_owned(), CallState::Seen);
                return Ok(Admit::Run);
            }
            Observed::Known(rec) => rec,
        };
        match (rec.state, rec.response) {
            (s, _) if s.is_final() => {
                remember(&mut inner, key);
                Ok(Admit::Duplicate)
            }
            (CallState::Signed | CallState::Posted, Some(resp)) => {
                inner.inflight.insert(key.to_owned(), rec.state);
                Ok(Admit::Resubmit(resp))
            }
            _ => {
                inner.inflight.insert(key.to_owned(), CallState::Seen);
                Ok(Admit::Run)
            }
        }
    }

    /// Records that `key`'s function started running (here and in the journal).
    pub fn running(&self, key: &str) {
        self.advance(key, CallState::Running);
    }

    /// Durably records `key`'s signed response; returns once it is on disk, and only then
    /// marks the call signed here, so [`Registry::is_settled`] never runs ahead of the disk.
    pub async fn signed(&self, key: &str, response: SignedResponse) -> Result<(), JournalError> {
        self.journal.record_signed(key, response).await?;
        self.set(key, CallState::Signed);
        Ok(())
    }

    /// Records that the node accepted `key`'s response (here and in the journal).
    pub fn posted(&self, key: &str) -> Result<(), JournalError> {
        self.set(key, CallState::Posted);
        self.journal.set_state(key, CallState::Posted)
    }

    /// The state `key` has in this process, while it is in flight.
    pub fn state(&self, key: &str) -> Option<CallState> {
        self.lock().inflight.get(key).copied()
    }

    fn advance(&self, key: &str, state: CallState) {
        self.set(key, state);
        if let Err(e) = self.journal.set_state(key, state) {
            tracing::error!(call = key, error = %e, "journal write failed");
        }
    }

    fn set(&self, key: &str, state: CallState) {
        if let Some(s) = self.lock().inflight.get_mut(key) {
            *s = state;
        }
    }

    /// Marks `key` finished in this process and sets its final journal state.
    pub fn finish(&self, key: &str, state: CallState) {
        if let Err(e) = self.journal.set_state(key, state) {
            tracing::error!(call = key, error = %e, "journal write failed");
        }
        let mut inner = self.lock();
        inner.inflight.remove(key);
        remember(&mut inner, key);
    }

    /// Forgets `key` without a final state (it will be admitted again when seen again).
    pub fn release(&self, key: &str) {
        self.lock().inflight.remove(key);
    }

    /// True when `key` was admitted in this process and has not finished.
    pub fn is_in_flight(&self, key: &str) -> bool {
        self.lock().inflight.contains_key(key)
    }

    /// True when nothing is left that only this process's memory knows: the call is not in
    /// flight, or its response is durably signed.
    pub fn is_settled(&self, key: &str) -> bool {
        self.lock()
            .inflight
            .get(key)
            .is_none_or(|s| matches!(s, CallState::Signed | CallState::Posted))
    }

    /// Calls in flight.
    pub fn inflight(&self) -> usize {
        self.lock().inflight.len()
    }
}

fn remember(inner: &mut Inner, key: &str) {
    inner.recent.insert(digest(key));
}

pub use crate::ledger::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_once_and_resubmits_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.redb");
        let j = Journal::open(&path).unwrap();
        let reg = Registry::new(j.clone(), 2);
        let h = Hash([1; 32]);
        assert_eq!(reg.admit("a/f/1", &h).unwrap(), Admit::Run);
        assert_eq!(reg.admit("a/f/1", &h).unwrap(), Admit::Duplicate);
        assert!(!reg.is_settled("a/f/1"));
        let resp = SignedResponse {
            tx_body: serde_json::json!({"x": 1}),
            signature: "0x".into(),
            hash: "0xh".into(),
        };
        reg.running("a/f/1");
        assert!(!reg.is_settled("a/f/1"));
        reg.signed("a/f/1", resp.clone()).await.unwrap();
        assert!(reg.is_settled("a/f/1"));
        assert_eq!(reg.state("a/f/1"), Some(CallState::Signed));
        assert_eq!(reg.admit("a/f/2", &h).unwrap(), Admit::Run);
        reg.finish("a/f/2", CallState::Confirmed);
        assert_eq!(reg.admit("a/f/2", &h).unwrap(), Admit::Duplicate);
        j.flush().await.unwrap();

        // A new process: the signed call is resubmitted, the finished one ignored, and a call
        // that was only seen runs again.
        assert_eq!(reg.admit("a/f/3", &h).unwrap(), Admit::Run);
        j.flush().await.unwrap();
        let reg2 = Registry::new(j.clone(), 2);
        assert_eq!(reg2.admit("a/f/1", &h).unwrap(), Admit::Resubmit(resp));
        assert_eq!(reg2.admit("a/f/2", &h).unwrap(), Admit::Duplicate);
        assert_eq!(reg2.admit("a/f/3", &h).unwrap(), Admit::Run);
    }
}
