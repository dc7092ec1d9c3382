//! The journal bounded: drives a [`Journal`] directly with calls through the worker's states
//! (`Seen → Running → Signed` (fsynced) `→ Posted → Confirmed`), with the default retention
//! (100,000 finished calls, 7 days) pruning in the background, and prints the file size and this
//! process's RSS before, after the first 100,000 calls (the retention full) and after each further
//! 100,000 (every call now makes an older one go): the first figure is the bound, the next ones
//! show it holds and that memory stays flat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::Stats;
use crate::journal::{CallState, Journal, Retention, SignedResponse};

/// Rounds of `calls` calls: the first fills the retention, the others show the bound holds.
const ROUNDS: u64 = 5;

/// Calls in flight at once, like a worker's scheduler and poster with a deep queue.
const CONCURRENCY: usize = 256;

/// This process's resident set, in KB.
fn rss_kb() -> u64 {
    super::child::rss_kb(std::process::id()).unwrap_or(0)
}

/// A response like the ones a worker signs (~900 bytes of JSON with its receipt).
fn response(i: u64) -> SignedResponse {
    SignedResponse {
        tx_body: super::ledger::response_body(i, &format!("0x{i:064x}")),
        signature: format!("0x{:0130x}", i),
        hash: format!("0x{:064x}", i + 1),
    }
}

/// Runs calls `from..to` through their states, `CONCURRENCY` at a time; returns each call's
/// latency from its sighting to its durable `Signed` (the part a call waits for).
async fn drive(j: &Journal, from: u64, to: u64) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(Mutex::new(from));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (j, next) = (j.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = {
                    let mut n = next.lock().await;
                    if *n >= to {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                let key = format!("bench/echo/c{i:08}");
                let t = Instant::now();
                j.observe(&key, &format!("0x{i:064x}"))?;
                j.set_state(&key, CallState::Running)?;
                j.record_signed(&key, response(i)).await?;
                samples.push(t.elapsed());
                j.set_state(&key, CallState::Posted)?;
                j.set_state(&key, CallState::Confirmed)?;
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Waits until the background pruning brought the finished calls within `max` (or 30 s).
async fn settle(j: &Journal, max: u64) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        j.flush().await?;
        let n = j.finished()?;
        if n <= max || Instant::now() > deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the measurement: `ROUNDS` rounds of 100,000 calls (20,000 with `quick`).
pub async fn run(quick: bool) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let calls: u64 = if quick { 20_000 } else { 100_000 };
    let dir = super::ScratchDir::new("ain-sre-bench-journal")?;
    measure(calls, &dir.path().join("journal.redb")).await
}

async fn measure(calls: u64, path: &std::path::Path) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let retention = Retention {
        max_finished: calls,
        // The default's 60 s would leave the end of a minute-long run unpruned; the bound is the
        // same, only reached sooner.
        interval: Duration::from_secs(1),
        ..Retention::default()
    };
    let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    let rss0 = rss_kb();
    let j = Journal::open_with(path, retention)?;
    let size0 = size();

    // Round 0 fills the retention; every later round forgets as many calls as it adds.
    let mut rows = Vec::new();
    let mut after = Vec::new();
    for round in 0..ROUNDS {
        let cpu = super::process_cpu_time();
        let t = Instant::now();
        let samples = drive(&j, round * calls, (round + 1) * calls).await?;
        let name = if round == 0 {
            format!("journal: {calls} calls to Signed (fsync), retention filling")
        } else {
            format!(
                "journal: {calls} more calls (round {}), as many pruned",
                round + 1
            )
        };
        rows.push(
            Stats::from_samples(&name, samples, t.elapsed())
                .with_cpu(super::process_cpu_time() - cpu),
        );
        let kept = settle(&j, calls).await?;
        after.push((kept, size(), j.space()?, rss_kb()));
    }
    let unfinished = j.unfinished()?.len();
    j.close().await?;

    let mut notes = vec![format!(
        "retention: keep_finished_max {calls}, keep_finished_secs {}, prune every {} s; journal file {:.1} MB empty, process RSS {:.1} MB before opening; {unfinished} unfinished calls left (must be 0)",
        retention.max_age.as_secs(),
        retention.interval.as_secs(),
        mb(size0),
        rss0 as f64 / 1024.0,
    )];
    for (round, (kept, size, (pages, data), rss)) in after.iter().enumerate() {
        let total = (round as u64 + 1) * calls;
        notes.push(format!(
            "after {total} calls: {kept} finished kept, {} forgotten; journal file {:.1} MB ({:.0} bytes per kept call; pages in use {:.1} MB, data {:.1} MB); process RSS {:.1} MB",
            total - kept,
            mb(*size),
            *size as f64 / (*kept).max(1) as f64,
            mb(*pages),
            mb(*data),
            *rss as f64 / 1024.0,
        ));
    }
    if unfinished != 0 || after.iter().any(|a| a.0 > calls) {
        anyhow::bail!("the journal was not bounded: {notes:?}");
    }
    Ok((rows, notes))
}
