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

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

const CALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("calls");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
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
    Cursor {
        name: String,
        value: u64,
    },
    Prune {
        older_than_ms: u64,
    },
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
    /// Opens (or creates) the journal at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
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
            txn.commit().map_err(store)?;
        }
        let (writer, jobs) = std::sync::mpsc::sync_channel::<Job>(4096);
        let wdb = db.clone();
        std::thread::Builder::new()
            .name("ain-sre-journal".into())
            .spawn(move || write_loop(wdb, &jobs))
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

    /// Durably stores a named cursor (e.g. the last block fully scanned for requests).
    pub async fn set_cursor(&self, name: &str, value: u64) -> Result<(), JournalError> {
        self.durable(Op::Cursor {
            name: name.to_owned(),
            value,
        })
        .await
    }

    /// Waits until every transition sent so far is on disk (for shutdown).
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.durable(Op::Prune { older_than_ms: 0 }).await
    }

    /// Writes everything pending, stops the writer and releases the database file, so it can be
    /// opened again (by a restarted worker or a test).
    pub async fn close(self) -> Result<(), JournalError> {
        self.durable(Op::Stop).await
    }

    /// Forgets final calls last changed more than `age_ms` ago (their dedupe window is over).
    pub fn prune(&self, age_ms: u64) -> Result<(), JournalError> {
        self.send(
            Op::Prune {
                older_than_ms: now_ms().saturating_sub(age_ms),
            },
            false,
        )
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

    /// A named cursor, if set.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, JournalError> {
        let txn = self.db.begin_read().map_err(store)?;
        let t = txn.open_table(META).map_err(store)?;
        Ok(t.get(name).map_err(store)?.map(|v| v.value()))
    }

    /// The record of one call.
    pub fn get(&self, key: &str) -> Result<Option<CallRecord>, JournalError> {
        let txn = self.db.begin_read().map_err(store)?;
        let t = txn.open_table(CALLS).map_err(store)?;
        let raw = t.get(key).map_err(store)?;
        raw.map(|v| serde_json::from_slice(v.value()).map_err(store))
            .transpose()
    }

    /// Every call that is not final, for recovery after a restart.
    pub fn unfinished(&self) -> Result<Vec<(String, CallRecord)>, JournalError> {
        let txn = self.db.begin_read().map_err(store)?;
        let t = txn.open_table(CALLS).map_err(store)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(store)? {
            let (k, v) = row.map_err(store)?;
            let rec: CallRecord = serde_json::from_slice(v.value()).map_err(store)?;
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How long a batch of transitions nobody waits for may wait for more before it is committed.
/// Each commit has a fixed cost (redb's commit, and an fsync when durable) beside the work per
/// transition, and a profile of `bench e2e` put the journal's commits at a fifth of the worker's
/// CPU, so lingering lets one commit carry many calls. A durable transition (one somebody waits for) ends the wait.
const LINGER: Duration = Duration::from_millis(5);

fn write_loop(db: Arc<Database>, jobs: &std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
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
        let stop = batch.iter().any(|j| matches!(j.op, Op::Stop));
        if stop {
            // Release the file before acknowledging, so the caller may reopen it at once.
            drop(db);
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
            return;
        }
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
    }
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
        let mut calls = txn.open_table(CALLS).map_err(store)?;
        let mut meta = txn.open_table(META).map_err(store)?;
        let now = now_ms();
        for job in batch {
            match &job.op {
                Op::Seen { key, request_tx } => {
                    if calls.get(key.as_str()).map_err(store)?.is_none() {
                        let rec = CallRecord {
                            state: CallState::Seen,
                            request_tx: request_tx.clone(),
                            response: None,
                            runs: 0,
                            updated_at: now,
                        };
                        calls
                            .insert(
                                key.as_str(),
                                serde_json::to_vec(&rec).map_err(store)?.as_slice(),
                            )
                            .map_err(store)?;
                    }
                }
                Op::State { key, state } => update(&mut calls, key, now, |rec| {
                    if *state == CallState::Running {
                        rec.runs += 1;
                    }
                    rec.state = *state;
                })?,
                Op::Signed { key, response } => update(&mut calls, key, now, |rec| {
                    rec.state = CallState::Signed;
                    rec.response = Some(response.clone());
                })?,
                Op::Cursor { name, value } => {
                    meta.insert(name.as_str(), *value).map_err(store)?;
                }
                Op::Prune { older_than_ms } if *older_than_ms > 0 => {
                    let cutoff = *older_than_ms;
                    calls
                        .retain(|_, v| {
                            serde_json::from_slice::<CallRecord>(v)
                                .map_or(true, |r| !(r.state.is_final() && r.updated_at < cutoff))
                        })
                        .map_err(store)?;
                }
                Op::Prune { .. } | Op::Stop => {}
            }
        }
    }
    txn.commit().map_err(store)
}

fn update(
    calls: &mut redb::Table<'_, &str, &[u8]>,
    key: &str,
    now: u64,
    f: impl FnOnce(&mut CallRecord),
) -> Result<(), JournalError> {
    let existing = calls.get(key).map_err(store)?.map(|v| v.value().to_vec());
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
    f(&mut rec);
    rec.updated_at = now;
    calls
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
        j.set_cursor("blocks", 42).await.unwrap();
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
        assert_eq!(j.cursor("blocks").unwrap(), Some(42));
        assert_eq!(j.unfinished().unwrap().len(), 2);
        j.prune(0).unwrap();
        j.flush().await.unwrap();
        assert!(
            j.get("a/echo/c3").unwrap().is_none(),
            "final calls are pruned"
        );
        assert!(
            j.get("a/echo/c1").unwrap().is_some(),
            "unfinished calls are kept"
        );
    }
}
