//! The worker's journal: crash-safe per-call state and the trigger cursor, in redb.
//!
//! Each call moves `Seen → Running → Signed → Posted → Confirmed` (or ends `AnsweredElsewhere`
//! when another worker's response got there first, `LeftToOthers` when this worker cannot serve
//! it). After a crash:
//! - `Seen`/`Running` calls run again (nothing was signed, so nothing can be duplicated);
//! - `Signed`/`Posted` calls re-submit the *same* signed tx (same hash), never re-execute;
//! - `Confirmed` calls are done; the journal dedupes repeated triggers for them.
//!
//! Only the `Signed` transition must be on disk before the worker acts on it (before the tx is
//! submitted), so [`Journal::record_signed`] waits for an fsync. Every other transition is
//! written without waiting: losing one in a crash is harmless because the chain itself (the
//! request without a response, or the write-once response rule) tells the worker what is left.
//! One writer thread applies transitions in batches, so many calls share each fsync.
//!
//! The journal is bounded: a call that reached a final state is forgotten after a [`Retention`]
//! (by age and by count; the oldest finished calls go first), so the worker's disk use does not
//! grow with every call it ever served. Unfinished calls are never forgotten: recovery needs them.
//! The same writer thread prunes, a bounded chunk at a time between batches of transitions, so a
//! large backlog never holds the database's single write lock for long. A final call keeps no
//! signed response (its answer is on chain, or it needs none), so what stays is ~200 bytes a call.
//!
//! What a forgotten call means for dedupe: the journal no longer answers "already seen?" for it,
//! so a later sighting is admitted as new ([`crate::call::Registry::admit`]). It is still never
//! run a second time:
//! - sightings from blocks (a follower catch-up replaying old blocks after a cursor reset) and
//!   from recovery reach the scheduler with their origin, and the scheduler reads the call's
//!   response path before running such a call: a call that ended `Confirmed` or
//!   `AnsweredElsewhere` has its response on chain and ends `AnsweredElsewhere` again, unrun;
//! - a request tx that failed (`RequestFailed`) never appears in a block as a call, and its
//!   event is checked against the tx's outcome again, so it is dropped again;
//! - `LeftToOthers` never ran here: seen again, it is left again (or, if answered by then,
//!   ends `AnsweredElsewhere`); `NoRequest` had no request on chain to run;
//! - a VALUE_CHANGED event fires when the request is written, and requests are write-once, so an
//!   event for a call cannot come again days after its call finished.
//!
//! And should any path run it anyway, the chain's write-once response rule refuses a second
//! response: nothing is ever answered twice.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::ledger::now_ms;

mod retention;
#[cfg(test)]
mod tests;
mod writer;

pub use retention::Retention;

const CALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("calls");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Final calls by the time they became final, oldest first: what pruning takes from.
const FINISHED: TableDefinition<(u64, &str), ()> = TableDefinition::new("finished");
/// Signed responses of unfinished calls, apart from their records: a response is up to 10 KB
/// and lives only from `Signed` to a final state, while a record stays small for its whole life;
/// kept inside the record, it split the record's B-tree leaves, which stayed half empty after
/// the record shrank again (22 MB of pages for 4 MB of data in `bench journal`).
const RESPONSES: TableDefinition<&str, &[u8]> = TableDefinition::new("responses");
/// Set in `META` once `FINISHED` lists every final call (journals from before it are indexed
/// once when opened).
const FINISHED_INDEXED: &str = "finished_indexed";
/// Which chain the journal belongs to (`genesis` → block 0's hash).
const CHAIN: TableDefinition<&str, &str> = TableDefinition::new("chain");

/// Errors of the journal store.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database could not be opened, read or written.
    #[error("journal store: {0}")]
    Store(String),
    /// The writer thread has stopped (the journal is closing or failed).
    #[error("journal writer stopped")]
    Stopped,
}

fn store<E: std::fmt::Display>(e: E) -> JournalError {
    JournalError::Store(e.to_string())
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// The request was seen and verified.
    Seen,
    /// Its function is running.
    Running,
    /// The response tx is signed and durably recorded, not yet accepted by the node.
    Signed,
    /// The node accepted the response tx.
    Posted,
    /// The response is on chain.
    Confirmed,
    /// Another worker's response was written first; nothing more to do.
    AnsweredElsewhere,
    /// The request tx failed on the node (its writes do not stand): dropped, never run.
    RequestFailed,
    /// This worker cannot serve the call (no tier here for its runtime, a profile it does not
    /// accept) and left it to a worker whose registry entry offers it.
    LeftToOthers,
    /// Found at recovery with no request on chain (its tx failed, or the chain is not the one
    /// the call was seen on): nothing to answer.
    NoRequest,
}

impl CallState {
    /// True when nothing more will happen to the call.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallState::Confirmed
                | CallState::AnsweredElsewhere
                | CallState::RequestFailed
                | CallState::LeftToOthers
                | CallState::NoRequest
        )
    }
}

/// A signed response transaction, kept so it can be re-submitted byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedResponse {
    /// The tx body as signed.
    pub tx_body: serde_json::Value,
    /// The AIN signature string.
    pub signature: String,
    /// The tx hash.
    pub hash: String,
}

/// Everything the journal knows about one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Current state.
    pub state: CallState,
    /// Hash of the request tx.
    pub request_tx: String,
    /// The signed response, from `Signed` on.
    pub response: Option<SignedResponse>,
    /// How many times the function was started.
    pub runs: u32,
    /// Last change, ms since the epoch.
    pub updated_at: u64,
}

enum Op {
    Seen {
        key: String,
        request_tx: String,
    },
    State {
        key: String,
        state: CallState,
    },
    Signed {
        key: String,
        response: SignedResponse,
    },
    /// Forgets everything the retention allows, at once (tests, tools).
    Prune(Retention),
    /// Nothing to apply: its commit acknowledges everything sent before it.
    Flush,
    Stop,
}

struct Job {
    op: Op,
    durable: bool,
    done: Option<oneshot::Sender<Result<(), JournalError>>>,
}

/// Handle to the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    db: Arc<Database>,
    writer: std::sync::mpsc::SyncSender<Job>,
}

/// What [`Journal::observe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// First time this call is seen: it is now `Seen`, run it.
    New,
    /// Already known in this state.
    Known(CallRecord),
}

/// The journal's page cache.
const JOURNAL_CACHE_BYTES: usize = 4 << 20;

impl Journal {
    /// Opens (or creates) the journal at `path` with the default [`Retention`] and starts its
    /// writer thread.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(path, Retention::default())
    }

    /// Opens (or creates) the journal at `path` and starts its writer thread, which forgets
    /// finished calls past `retention` every `retention.interval` (and once soon after opening).
    pub fn open_with(path: &Path, retention: Retention) -> Result<Journal, JournalError> {
        // redb caches up to 1 GiB by default, which would let a long-running worker's memory
        // grow with its journal. The journal is written far more than it is read; a small cache
        // changed neither throughput nor memory measurably in `bench e2e`.
        let db = Arc::new(
            Database::builder()
                .set_cache_size(JOURNAL_CACHE_BYTES)
                .create(path)
                .map_err(store)?,
        );
        {
            let txn = db.begin_write().map_err(store)?;
            txn.open_table(CALLS).map_err(store)?;
            txn.open_table(META).map_err(store)?;
            txn.open_table(CHAIN).map_err(store)?;
            txn.open_table(FINISHED).map_err(store)?;
            txn.open_table(RESPONSES).map_err(store)?;
            retention::index_finished(&txn)?;
            txn.commit().map_err(store)?;
        }
        let (writer, jobs) = std::sync::mpsc::sync_channel::<Job>(4096);
        let wdb = db.clone();
        std::thread::Builder::new()
            .name("ain-sre-journal".into())
            .spawn(move || writer::write_loop(wdb, &jobs, retention))
            .map_err(store)?;
        Ok(Journal { db, writer })
    }

    /// Records that a call was seen, unless it is already known. Not fsynced.
    pub fn observe(&self, key: &str, request_tx: &str) -> Result<Observed, JournalError> {
        if let Some(rec) = self.get(key)? {
            return Ok(Observed::Known(rec));
        }
        self.send(
            Op::Seen {
                key: key.to_owned(),
                request_tx: request_tx.to_owned(),
            },
            false,
        )?;
        Ok(Observed::New)
    }

    /// Moves a call to `state` (not `Signed`: use [`Journal::record_signed`]). Not fsynced.
    pub fn set_state(&self, key: &str, state: CallState) -> Result<(), JournalError> {
        debug_assert!(state != CallState::Signed, "use record_signed");
        self.send(
            Op::State {
                key: key.to_owned(),
                state,
            },
            false,
        )
    }

    /// Durably records the signed response. Returns once it is on disk: only then may the tx be
    /// submitted.
    pub async fn record_signed(
        &self,
        key: &str,
        response: SignedResponse,
    ) -> Result<(), JournalError> {
        self.durable(Op::Signed {
            key: key.to_owned(),
            response,
        })
        .await
    }

    /// Waits until every transition sent so far is on disk (for shutdown).
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.durable(Op::Flush).await
    }

    /// Writes everything pending, stops the writer and releases the database file, so it can be
    /// opened again (by a restarted worker or a test).
    pub async fn close(self) -> Result<(), JournalError> {
        self.durable(Op::Stop).await
    }

    /// Forgets, now and in one transaction, every final call `retention` allows (the writer
    /// also does this on its own every `interval`, in chunks); returns once it is on disk.
    pub async fn prune(&self, retention: Retention) -> Result<(), JournalError> {
        self.durable(Op::Prune(retention)).await
    }

    /// How many final calls the journal holds.
    pub fn finished(&self) -> Result<u64, JournalError> {
        let txn = self.db.begin_read().map_err(store)?;
        let t = txn.open_table(FINISHED).map_err(store)?;
        t.len().map_err(store)
    }

    /// Bytes the journal's pages hold, and bytes its data takes in them (for `bench journal`;
    /// takes the write lock briefly, so not for the hot path).
    pub fn space(&self) -> Result<(u64, u64), JournalError> {
        let txn = self.db.begin_write().map_err(store)?;
        let stats = txn.stats().map_err(store)?;
        txn.abort().map_err(store)?;
        Ok((
            stats.allocated_pages() * stats.page_size() as u64,
            stats.stored_bytes() + stats.metadata_bytes(),
        ))
    }

    /// The genesis hash of the chain this journal was made for, once recorded.
    pub fn genesis(&self) -> Result<Option<String>, JournalError> {
        let txn = self.db.begin_read().map_err(store)?;
        let t = txn.open_table(CHAIN).map_err(store)?;
        Ok(t.get("genesis")
            .map_err(store)?
            .map(|v| v.value().to_owned()))
    }

    /// Records `genesis` as the chain this journal belongs to, unless one is recorded already;
    /// returns the recorded one. Durable when it returns. Every call, response and cursor in the
    /// journal is only meaningful on that chain.
    pub fn claim_genesis(&self, genesis: &str) -> Result<String, JournalError> {
        let txn = self.db.begin_write().map_err(store)?;
        let recorded = {
            let mut t = txn.open_table(CHAIN).map_err(store)?;
            let old = t
                .get("genesis")
                .map_err(store)?
                .map(|v| v.value().to_owned());
            match old {
                Some(g) => g,
                None => {
                    t.insert("genesis", genesis).map_err(store)?;
                    genesis.to_owned()
                }
            }
        };
        txn.commit().map_err(store)?;
        Ok(recorded)
    }

    /// The record of one call.
    pub fn get(&self, key: &str) -> Result<Option<CallRecord>, JournalError> {
        let txn = self.db.begin_read().map_err(store)?;
        let t = txn.open_table(CALLS).map_err(store)?;
        let responses = txn.open_table(RESPONSES).map_err(store)?;
        let Some(raw) = t.get(key).map_err(store)? else {
            return Ok(None);
        };
        record(key, raw.value(), &responses).map(Some)
    }

    /// Every call that is not final, for recovery after a restart.
    pub fn unfinished(&self) -> Result<Vec<(String, CallRecord)>, JournalError> {
        let txn = self.db.begin_read().map_err(store)?;
        let t = txn.open_table(CALLS).map_err(store)?;
        let responses = txn.open_table(RESPONSES).map_err(store)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(store)? {
            let (k, v) = row.map_err(store)?;
            let rec = record(k.value(), v.value(), &responses)?;
            if !rec.state.is_final() {
                out.push((k.value().to_owned(), rec));
            }
        }
        Ok(out)
    }

    /// Sends `op` and waits until the batch holding it is fsynced.
    async fn durable(&self, op: Op) -> Result<(), JournalError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Job {
                op,
                durable: true,
                done: Some(tx),
            })
            .map_err(|_| JournalError::Stopped)?;
        rx.await.map_err(|_| JournalError::Stopped)?
    }

    fn send(&self, op: Op, durable: bool) -> Result<(), JournalError> {
        self.writer
            .send(Job {
                op,
                durable,
                done: None,
            })
            .map_err(|_| JournalError::Stopped)
    }
}

/// A stored record with its signed response, wherever it is kept (journals written before
/// `RESPONSES` existed keep it inside the record).
fn record(
    key: &str,
    raw: &[u8],
    responses: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<CallRecord, JournalError> {
    let mut rec: CallRecord = serde_json::from_slice(raw).map_err(store)?;
    if rec.response.is_none()
        && let Some(r) = responses.get(key).map_err(store)?
    {
        rec.response = Some(serde_json::from_slice(r.value()).map_err(store)?);
    }
    Ok(rec)
}
