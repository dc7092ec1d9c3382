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
use std::time::{Duration, Instant};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::ledger::now_ms;

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
/// Transitions applied per write transaction at most. 128 saved only ~0.5 MB of dirty pages in a
/// heap profile of a 10,000-call catch-up but cost sustained throughput (more commits per call),
/// so the batch stays at 512.
const BATCH: usize = 512;

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

/// How long and how many finished calls the journal keeps.
///
/// A finished entry only serves dedupe: it lets a repeated sighting of the call be ignored
/// without a node read. Sightings come within seconds (a call's events and its block), and after
/// a restart the follower replays only blocks past its cursor, which it acknowledges just behind
/// the calls still in flight; so a window of minutes would do. The defaults are generous on
/// purpose: 7 days outlasts any outage a worker is restarted after, so such a catch-up is deduped
/// from the journal alone, and the count bound keeps the disk use fixed whatever the call rate
/// (100,000 finished entries take 34 MB on disk, measured by `ain-sre bench journal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Finished calls are forgotten this long after they finished. Default 7 days.
    pub max_age: Duration,
    /// At most this many finished calls are kept; the oldest go first. Default 100,000.
    pub max_finished: u64,
    /// How often the writer looks for calls to forget. Default 60 s.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_finished: 100_000,
            interval: Duration::from_secs(60),
        }
    }
}

/// Finished calls forgotten per write transaction when pruning in the background: a few
/// milliseconds of the writer thread, after which pending transitions are applied before the
/// next chunk.
const PRUNE_CHUNK: usize = 1_000;

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
            index_finished(&txn)?;
            txn.commit().map_err(store)?;
        }
        let (writer, jobs) = std::sync::mpsc::sync_channel::<Job>(4096);
        let wdb = db.clone();
        std::thread::Builder::new()
            .name("ain-sre-journal".into())
            .spawn(move || write_loop(wdb, &jobs, retention))
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

/// The tables a write transaction changes.
struct Tables<'t> {
    calls: redb::Table<'t, &'static str, &'static [u8]>,
    finished: redb::Table<'t, (u64, &'static str), ()>,
    responses: redb::Table<'t, &'static str, &'static [u8]>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Tables<'t>, JournalError> {
        Ok(Tables {
            calls: txn.open_table(CALLS).map_err(store)?,
            finished: txn.open_table(FINISHED).map_err(store)?,
            responses: txn.open_table(RESPONSES).map_err(store)?,
        })
    }
}

/// How long a batch of transitions nobody waits for may wait for more before it is committed.
/// Each commit has a fixed cost (redb's commit, and an fsync when durable) beside the work per
/// transition, and a profile of `bench e2e` put the journal's commits at a fifth of the worker's
/// CPU, so lingering lets one commit carry many calls. A durable transition (one somebody waits for) ends the wait.
const LINGER: Duration = Duration::from_millis(5);

fn write_loop(db: Arc<Database>, jobs: &std::sync::mpsc::Receiver<Job>, retention: Retention) {
    use std::sync::mpsc::RecvTimeoutError;
    // The first look soon after opening, so a worker restarted more often than `interval` still
    // prunes; after it, one every `interval`, or one chunk after each batch while a backlog lasts.
    let mut next_prune = after(Duration::from_secs(1).min(retention.interval));
    let mut backlog = false;
    loop {
        if backlog || Instant::now() >= next_prune {
            match prune(&db, &retention, now_ms(), PRUNE_CHUNK, Durability::None) {
                Ok(n) => backlog = n == PRUNE_CHUNK,
                Err(e) => {
                    backlog = false;
                    tracing::error!(error = %e, "journal prune failed");
                }
            }
            if !backlog {
                next_prune = after(retention.interval);
            }
        }
        let wait = if backlog {
            Duration::ZERO
        } else {
            next_prune.saturating_duration_since(Instant::now())
        };
        let first = match jobs.recv_timeout(wait) {
            Ok(j) => j,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut durable = first.durable;
        let mut batch = vec![first];
        let linger_until = Instant::now() + LINGER;
        while batch.len() < BATCH {
            let next = if durable {
                jobs.try_recv().ok()
            } else {
                jobs.recv_timeout(linger_until.saturating_duration_since(Instant::now()))
                    .ok()
            };
            let Some(j) = next else { break };
            durable |= j.durable;
            batch.push(j);
        }
        let result = apply(&db, &batch, durable);
        if let Err(e) = &result {
            tracing::error!(error = %e, "journal write failed");
        }
        let acknowledge = |batch: Vec<Job>| {
            for job in batch {
                if let Some(done) = job.done {
                    let _ = done.send(
                        result
                            .as_ref()
                            .map(|_| ())
                            .map_err(|e| JournalError::Store(e.to_string())),
                    );
                }
            }
        };
        if batch.iter().any(|j| matches!(j.op, Op::Stop)) {
            // Release the file before acknowledging, so the caller may reopen it at once.
            drop(db);
            acknowledge(batch);
            return;
        }
        acknowledge(batch);
    }
}

/// `d` from now; a year at most (a configured interval of `u64::MAX` seconds must not overflow).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// Lists every final call in `FINISHED`, once, for a journal written before that table existed.
fn index_finished(txn: &redb::WriteTransaction) -> Result<(), JournalError> {
    let mut meta = txn.open_table(META).map_err(store)?;
    if meta.get(FINISHED_INDEXED).map_err(store)?.is_some() {
        return Ok(());
    }
    let calls = txn.open_table(CALLS).map_err(store)?;
    let mut finished = txn.open_table(FINISHED).map_err(store)?;
    for row in calls.iter().map_err(store)? {
        let (k, v) = row.map_err(store)?;
        if let Ok(rec) = serde_json::from_slice::<CallRecord>(v.value())
            && rec.state.is_final()
        {
            finished
                .insert((rec.updated_at, k.value()), ())
                .map_err(store)?;
        }
    }
    meta.insert(FINISHED_INDEXED, 1).map_err(store)?;
    Ok(())
}

/// Forgets up to `limit` final calls that `retention` no longer keeps, oldest first, in one
/// transaction; returns how many.
fn prune(
    db: &Database,
    retention: &Retention,
    now: u64,
    limit: usize,
    durability: Durability,
) -> Result<usize, JournalError> {
    let mut txn = db.begin_write().map_err(store)?;
    txn.set_durability(durability).map_err(store)?;
    let n = prune_in(&mut Tables::open(&txn)?, retention, now, limit)?;
    if n == 0 {
        // Nothing changed: no commit to pay for.
        txn.abort().map_err(store)?;
        return Ok(0);
    }
    txn.commit().map_err(store)?;
    Ok(n)
}

fn prune_in(
    t: &mut Tables<'_>,
    retention: &Retention,
    now: u64,
    limit: usize,
) -> Result<usize, JournalError> {
    let max_age_ms = u64::try_from(retention.max_age.as_millis()).unwrap_or(u64::MAX);
    let cutoff = now.saturating_sub(max_age_ms);
    let mut n = 0;
    while n < limit {
        let over = t.finished.len().map_err(store)? > retention.max_finished;
        let (at, key) = match t.finished.first().map_err(store)? {
            Some((k, _)) => {
                let (at, key) = k.value();
                (at, key.to_owned())
            }
            None => break,
        };
        if !over && at >= cutoff {
            break;
        }
        t.finished.remove((at, key.as_str())).map_err(store)?;
        // The index lists final calls only, and a record's index entry moves with its
        // `updated_at`; the check is a guard so an unfinished call is never lost whatever
        // happened to the index.
        let still_final = match t.calls.get(key.as_str()).map_err(store)? {
            Some(v) => serde_json::from_slice::<CallRecord>(v.value())
                .is_ok_and(|r| r.state.is_final() && r.updated_at == at),
            None => false,
        };
        if still_final {
            t.calls.remove(key.as_str()).map_err(store)?;
            t.responses.remove(key.as_str()).map_err(store)?;
        }
        n += 1;
    }
    Ok(n)
}

fn apply(db: &Database, batch: &[Job], durable: bool) -> Result<(), JournalError> {
    let mut txn = db.begin_write().map_err(store)?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })
    .map_err(store)?;
    {
        let mut t = Tables::open(&txn)?;
        let now = now_ms();
        for job in batch {
            match &job.op {
                Op::Seen { key, request_tx } => {
                    if t.calls.get(key.as_str()).map_err(store)?.is_none() {
                        let rec = CallRecord {
                            state: CallState::Seen,
                            request_tx: request_tx.clone(),
                            response: None,
                            runs: 0,
                            updated_at: now,
                        };
                        t.calls
                            .insert(
                                key.as_str(),
                                serde_json::to_vec(&rec).map_err(store)?.as_slice(),
                            )
                            .map_err(store)?;
                    }
                }
                Op::State { key, state } => update(&mut t, key, now, |rec| {
                    if *state == CallState::Running {
                        rec.runs += 1;
                    }
                    rec.state = *state;
                })?,
                Op::Signed { key, response } => update(&mut t, key, now, |rec| {
                    rec.state = CallState::Signed;
                    rec.response = Some(response.clone());
                })?,
                Op::Prune(retention) => {
                    prune_in(&mut t, retention, now, usize::MAX)?;
                }
                Op::Flush | Op::Stop => {}
            }
        }
    }
    txn.commit().map_err(store)
}

fn update(
    t: &mut Tables<'_>,
    key: &str,
    now: u64,
    f: impl FnOnce(&mut CallRecord),
) -> Result<(), JournalError> {
    let existing = t.calls.get(key).map_err(store)?.map(|v| v.value().to_vec());
    let mut rec = match existing {
        Some(raw) => serde_json::from_slice(&raw).map_err(store)?,
        // A transition for a call whose `Seen` was lost is still recorded.
        None => CallRecord {
            state: CallState::Seen,
            request_tx: String::new(),
            response: None,
            runs: 0,
            updated_at: now,
        },
    };
    if rec.state.is_final() {
        t.finished.remove((rec.updated_at, key)).map_err(store)?;
    }
    f(&mut rec);
    rec.updated_at = now;
    // The record is stored without its response: a new one (or one kept inside the record by an
    // older version) goes to `RESPONSES`.
    let response = rec.response.take();
    if rec.state.is_final() {
        // Its answer is on chain, or it needs none: the signed response (up to the node's
        // 10 KB tx limit) is dead weight from here on, and dropping it is what keeps a finished
        // entry at ~150 bytes.
        t.responses.remove(key).map_err(store)?;
        t.finished.insert((now, key), ()).map_err(store)?;
    } else if let Some(r) = response {
        t.responses
            .insert(key, serde_json::to_vec(&r).map_err(store)?.as_slice())
            .map_err(store)?;
    }
    t.calls
        .insert(key, serde_json::to_vec(&rec).map_err(store)?.as_slice())
        .map_err(store)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(n: u8) -> SignedResponse {
        SignedResponse {
            tx_body: serde_json::json!({"n": n}),
            signature: format!("0x{n:02x}"),
            hash: format!("0xh{n}"),
        }
    }

    #[tokio::test]
    async fn transitions_nobody_waits_for_linger_briefly_then_commit() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
        assert_eq!(j.observe("a/echo/c1", "0xr1").unwrap(), Observed::New);
        j.set_state("a/echo/c1", CallState::Running).unwrap();
        // No durable transition follows: the batch is committed once its linger is over.
        let deadline = Instant::now() + Duration::from_secs(5);
        let state = loop {
            let state = j.get("a/echo/c1").unwrap().map(|r| r.state);
            if state == Some(CallState::Running) || Instant::now() > deadline {
                break state;
            }
            tokio::time::sleep(LINGER).await;
        };
        assert_eq!(state, Some(CallState::Running));
        // A durable transition ends the linger: once it is acknowledged, it and everything sent
        // before it are on disk.
        let started = Instant::now();
        assert_eq!(j.observe("a/echo/c2", "0xr2").unwrap(), Observed::New);
        j.record_signed("a/echo/c2", signed(2)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        let rec = j.get("a/echo/c2").unwrap().unwrap();
        assert_eq!(rec.state, CallState::Signed);
    }

    #[tokio::test]
    async fn the_first_genesis_recorded_stays_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.redb");
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.genesis().unwrap(), None);
        assert_eq!(j.claim_genesis("0xaa").unwrap(), "0xaa");
        assert_eq!(
            j.claim_genesis("0xbb").unwrap(),
            "0xaa",
            "the first chain stays"
        );
        j.close().await.unwrap();
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.genesis().unwrap().as_deref(), Some("0xaa"));
        j.close().await.unwrap();
    }

    #[tokio::test]
    async fn lifecycle_dedupe_and_recovery_view() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.redb");
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.observe("a/echo/c1", "0xr1").unwrap(), Observed::New);
        j.set_state("a/echo/c1", CallState::Running).unwrap();
        j.record_signed("a/echo/c1", signed(1)).await.unwrap();
        assert_eq!(j.observe("a/echo/c2", "0xr2").unwrap(), Observed::New);
        j.set_state("a/echo/c2", CallState::Running).unwrap();
        assert_eq!(j.observe("a/echo/c3", "0xr3").unwrap(), Observed::New);
        j.set_state("a/echo/c3", CallState::Confirmed).unwrap();
        j.flush().await.unwrap();

        match j.observe("a/echo/c1", "0xr1").unwrap() {
            Observed::Known(rec) => {
                assert_eq!(rec.state, CallState::Signed);
                assert_eq!(rec.response, Some(signed(1)));
                assert_eq!(rec.runs, 1);
            }
            other => panic!("{other:?}"),
        }
        let mut unfinished: Vec<String> = j
            .unfinished()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        unfinished.sort();
        assert_eq!(unfinished, ["a/echo/c1", "a/echo/c2"]);
        j.close().await.unwrap();

        // Reopened: the same view.
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.unfinished().unwrap().len(), 2);
        j.prune(Retention {
            max_age: Duration::ZERO,
            ..Retention::default()
        })
        .await
        .unwrap();
        assert!(
            j.get("a/echo/c3").unwrap().is_none(),
            "final calls are pruned"
        );
        assert!(
            j.get("a/echo/c1").unwrap().is_some(),
            "unfinished calls are kept"
        );
    }
    /// Moves `key` through its states to `end`, the way the worker does.
    async fn finish(j: &Journal, key: &str, end: CallState) {
        assert_eq!(j.observe(key, "0xr").unwrap(), Observed::New);
        j.set_state(key, CallState::Running).unwrap();
        j.record_signed(key, signed(1)).await.unwrap();
        j.set_state(key, CallState::Posted).unwrap();
        j.set_state(key, end).unwrap();
    }

    #[tokio::test]
    async fn the_count_bound_keeps_the_newest_finished_calls_and_every_unfinished_one() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
        let finals = [
            CallState::Confirmed,
            CallState::AnsweredElsewhere,
            CallState::RequestFailed,
            CallState::LeftToOthers,
            CallState::NoRequest,
        ];
        for i in 0..10 {
            finish(&j, &format!("a/f/done{i}"), finals[i % finals.len()]).await;
            // Distinct finishing times, so "the oldest" is well defined.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Unfinished calls in every non-final state, older than every finished one would not
        // matter: they are never pruned.
        j.observe("a/f/seen", "0xr").unwrap();
        j.observe("a/f/running", "0xr").unwrap();
        j.set_state("a/f/running", CallState::Running).unwrap();
        j.observe("a/f/signed", "0xr").unwrap();
        j.record_signed("a/f/signed", signed(2)).await.unwrap();
        j.observe("a/f/posted", "0xr").unwrap();
        j.record_signed("a/f/posted", signed(3)).await.unwrap();
        j.set_state("a/f/posted", CallState::Posted).unwrap();
        j.flush().await.unwrap();
        assert_eq!(j.finished().unwrap(), 10);
        // A final call keeps no signed response.
        assert_eq!(j.get("a/f/done0").unwrap().unwrap().response, None);

        j.prune(Retention {
            max_finished: 3,
            ..Retention::default()
        })
        .await
        .unwrap();
        assert_eq!(j.finished().unwrap(), 3);
        for i in 0..10 {
            let kept = j.get(&format!("a/f/done{i}")).unwrap().is_some();
            assert_eq!(kept, i >= 7, "done{i}: only the 3 newest stay");
        }
        let mut unfinished: Vec<String> = j
            .unfinished()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        unfinished.sort();
        assert_eq!(
            unfinished,
            ["a/f/posted", "a/f/running", "a/f/seen", "a/f/signed"]
        );
        assert_eq!(
            j.get("a/f/signed").unwrap().unwrap().response,
            Some(signed(2)),
            "an unfinished call keeps its signed response"
        );
        // Pruning to zero leaves only them.
        j.prune(Retention {
            max_finished: 0,
            ..Retention::default()
        })
        .await
        .unwrap();
        assert_eq!(j.finished().unwrap(), 0);
        assert_eq!(j.unfinished().unwrap().len(), 4);
        j.close().await.unwrap();
    }

    #[tokio::test]
    async fn the_writer_prunes_by_age_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open_with(
            &dir.path().join("journal.redb"),
            Retention {
                max_age: Duration::from_millis(300),
                max_finished: u64::MAX,
                interval: Duration::from_millis(50),
            },
        )
        .unwrap();
        finish(&j, "a/f/old", CallState::Confirmed).await;
        j.observe("a/f/open", "0xr").unwrap();
        j.flush().await.unwrap();
        assert!(j.get("a/f/old").unwrap().is_some(), "not old enough yet");
        let deadline = Instant::now() + Duration::from_secs(10);
        while j.get("a/f/old").unwrap().is_some() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            j.get("a/f/old").unwrap().is_none(),
            "pruned in the background"
        );
        assert_eq!(j.finished().unwrap(), 0);
        assert_eq!(
            j.unfinished().unwrap().len(),
            1,
            "the unfinished call stays"
        );
        j.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_retention_of_forever_keeps_everything_and_does_not_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let forever = Retention {
            max_age: Duration::from_secs(u64::MAX),
            max_finished: u64::MAX,
            interval: Duration::from_secs(u64::MAX),
        };
        let j = Journal::open_with(&dir.path().join("journal.redb"), forever).unwrap();
        finish(&j, "a/f/1", CallState::Confirmed).await;
        // Past the writer's first background prune, which schedules the next one.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        j.prune(forever).await.unwrap();
        assert!(j.get("a/f/1").unwrap().is_some());
        j.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_call_final_again_is_indexed_once_at_its_last_time() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
        finish(&j, "a/f/1", CallState::AnsweredElsewhere).await;
        j.set_state("a/f/1", CallState::Confirmed).unwrap();
        // Back to a non-final state (a late transition): no longer counted, never pruned.
        finish(&j, "a/f/2", CallState::Confirmed).await;
        j.set_state("a/f/2", CallState::Posted).unwrap();
        j.flush().await.unwrap();
        assert_eq!(j.finished().unwrap(), 1);
        j.prune(Retention {
            max_finished: 0,
            ..Retention::default()
        })
        .await
        .unwrap();
        assert!(j.get("a/f/1").unwrap().is_none());
        assert_eq!(j.get("a/f/2").unwrap().unwrap().state, CallState::Posted);
        j.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_journal_from_before_the_index_is_indexed_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.redb");
        {
            // The layout older versions wrote: calls and meta, no index.
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut calls = txn.open_table(CALLS).unwrap();
                for (key, state, response) in [
                    ("a/f/1", CallState::Confirmed, None),
                    ("a/f/2", CallState::Seen, None),
                    ("a/f/3", CallState::Signed, Some(signed(3))),
                ] {
                    let rec = CallRecord {
                        state,
                        request_tx: "0xr".into(),
                        response,
                        runs: 1,
                        updated_at: 1,
                    };
                    calls
                        .insert(key, serde_json::to_vec(&rec).unwrap().as_slice())
                        .unwrap();
                }
                txn.open_table(META).unwrap();
            }
            txn.commit().unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.finished().unwrap(), 1);
        // Finished at ms 1 of the epoch: far past the default age.
        j.prune(Retention::default()).await.unwrap();
        assert!(j.get("a/f/1").unwrap().is_none());
        assert!(j.get("a/f/2").unwrap().is_some());
        // A response kept inside its record is read, and moves out at the next transition.
        assert_eq!(j.unfinished().unwrap().len(), 2);
        assert_eq!(j.get("a/f/3").unwrap().unwrap().response, Some(signed(3)));
        j.set_state("a/f/3", CallState::Posted).unwrap();
        j.flush().await.unwrap();
        let rec = j.get("a/f/3").unwrap().unwrap();
        assert_eq!(
            (rec.state, rec.response),
            (CallState::Posted, Some(signed(3)))
        );
        j.close().await.unwrap();
    }
}
