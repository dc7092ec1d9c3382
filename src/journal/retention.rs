//! How long the journal keeps finished calls, and the pruning that enforces it: an index of final
//! calls by the time they finished, from which the oldest are taken, a bounded chunk at a time.

use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata};

use super::writer::Tables;
use super::{CALLS, CallRecord, FINISHED, FINISHED_INDEXED, JournalError, META, store};

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
pub(super) const PRUNE_CHUNK: usize = 1_000;

/// `d` from now; a year at most (a configured interval of `u64::MAX` seconds must not overflow).
pub(super) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// Lists every final call in `FINISHED`, once, for a journal written before that table existed.
pub(super) fn index_finished(txn: &redb::WriteTransaction) -> Result<(), JournalError> {
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
pub(super) fn prune(
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

pub(super) fn prune_in(
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
