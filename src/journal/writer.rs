//! The journal's single writer thread: transitions applied in batches (many calls share each
//! commit and fsync), with pruning between batches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable};

use super::retention::{PRUNE_CHUNK, Retention, after, prune, prune_in};
use super::{
    CALLS, CallRecord, CallState, FINISHED, Job, JournalError, Op, RESPONSES, now_ms, store,
};

/// Transitions applied per write transaction at most. 128 saved only ~0.5 MB of dirty pages in a
/// heap profile of a 10,000-call catch-up but cost sustained throughput (more commits per call),
/// so the batch stays at 512.
const BATCH: usize = 512;

/// The tables a write transaction changes.
pub(super) struct Tables<'t> {
    pub(super) calls: redb::Table<'t, &'static str, &'static [u8]>,
    pub(super) finished: redb::Table<'t, (u64, &'static str), ()>,
    pub(super) responses: redb::Table<'t, &'static str, &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub(super) fn open(txn: &'t redb::WriteTransaction) -> Result<Tables<'t>, JournalError> {
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
pub(super) const LINGER: Duration = Duration::from_millis(5);

pub(super) fn write_loop(
    db: Arc<Database>,
    jobs: &std::sync::mpsc::Receiver<Job>,
    retention: Retention,
) {
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
