//! Whose turn a call is: the call's rank in its app's fleet ([`super::assign`]) and the wait for
//! it, and what happens to a call this worker cannot serve ([`super::capable`]): left to a worker
//! that offers what it needs, or rejected when none does.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::call::{Call, now_ms};
use crate::client::AppWorkers;
use crate::journal::CallState;
use crate::ledger::sync::LockExt;
use crate::node::Node;
use crate::onchain::AppPaths;

use super::capable::{self, Unservable};
use super::exec::Executor;
use super::{Reject, Scheduler, assign};

/// What a later-ranked worker's wait for its turn ended in.
pub(super) enum Turn {
    /// Run the call.
    Run,
    /// A response appeared: nothing to do.
    Answered,
    /// The worker is stopping: leave the call (it stays journaled).
    Stopping,
}

impl<N: Node, E: Executor> Scheduler<N, E> {
    /// A call this worker cannot serve (`why`): left to a worker whose registry entry offers it,
    /// or answered `rejected` when none does and this worker is the one designated to say so.
    pub(super) async fn unservable<T>(
        &self,
        call: &Call,
        app: &AppPaths,
        spec: &crate::onchain::FunctionSpec,
        why: String,
        mut rej: Reject,
    ) -> Result<Option<T>, Reject> {
        let Some(workers) = self.worker_registry(app).await else {
            tracing::warn!(reason = %why, "cannot serve the call here and cannot read the worker registry; leaving it");
            self.leave(call, "registry_unreadable");
            return Ok(None);
        };
        let needs_egress = spec.egress.is_some();
        match capable::decide(
            &self.worker,
            &workers,
            &spec.runtime,
            spec.profile(),
            needs_egress,
        ) {
            Unservable::Leave { to } => {
                tracing::info!(reason = %why, to = %to, "this worker cannot serve the call; leaving it");
                self.leave(call, "cannot_serve");
                Ok(None)
            }
            Unservable::Reject(reason) => {
                tracing::info!(reason = %why, "no registered worker serves the call; rejecting it");
                rej.why = reason;
                Err(rej)
            }
        }
    }

    /// Waits until it is this worker's turn to run `call` in the app's fleet
    /// ([`assign`]): at once as rank 1; as rank k, from [`assign::start_after`] on, and only if no
    /// response has appeared by then. The ranking is recomputed at each wake-up, so a worker that
    /// stopped heartbeating or announced draining meanwhile no longer holds a turn. While it
    /// waits, the call gives up its task slot (`permit`) for a deferred slot.
    pub(super) async fn await_turn(
        &self,
        call: &Call,
        app: &AppPaths,
        spec: &crate::onchain::FunctionSpec,
        wall: Duration,
        permit: &mut Option<OwnedSemaphorePermit>,
        intake: &CancellationToken,
    ) -> Turn {
        let failover = spec
            .failover_ms
            .map_or(assign::DEFAULT_FAILOVER, Duration::from_millis);
        let mut deferred: Option<OwnedSemaphorePermit> = None;
        let outcome = |o: &'static str| {
            metrics::counter!("ain_sre_rank_outcomes_total", "outcome" => o).increment(1);
        };
        loop {
            let rank = match self.fleet(app).await {
                Some((read_at, w)) => {
                    let c = assign::candidates(
                        &w,
                        &spec.runtime,
                        spec.profile(),
                        read_at,
                        // A function with an allow-list: only workers offering egress.
                        |entry| spec.egress.is_none() || entry["egress"] == true,
                    );
                    assign::rank_of(&self.worker, &call.key, &c)
                }
                // Without the fleet's state, run: the write-once rule keeps the answer single.
                None => 1,
            };
            let start = assign::start_after(rank, failover, wall, self.config.failover_slack);
            let waited = call.seen_at.elapsed();
            if waited >= start {
                if deferred.is_some() || rank > 1 {
                    let path = app.response(&call.function, &call.call_id);
                    if matches!(self.retry_read(&path).await, Some(v) if !v.is_null()) {
                        outcome("skipped");
                        self.health.rank_skipped.fetch_add(1, Ordering::Relaxed);
                        return Turn::Answered;
                    }
                }
                if permit.is_none() {
                    let Ok(p) = self.admission.clone().acquire_owned().await else {
                        return Turn::Stopping;
                    };
                    *permit = Some(p);
                }
                if deferred.is_none() && rank == 1 {
                    outcome("rank1");
                    self.health.rank_first.fetch_add(1, Ordering::Relaxed);
                } else {
                    tracing::info!(
                        rank,
                        waited_ms = waited.as_millis() as u64,
                        "no response from the workers ranked before this one; taking the call over"
                    );
                    outcome("failover");
                    self.health.rank_failover.fetch_add(1, Ordering::Relaxed);
                }
                return Turn::Run;
            }
            if deferred.is_none() {
                tracing::debug!(
                    rank,
                    start_ms = start.as_millis() as u64,
                    "ranked after other workers; waiting for this rank's turn"
                );
                let slot = tokio::select! {
                    s = self.deferred.clone().acquire_owned() => s,
                    _ = intake.cancelled() => return Turn::Stopping,
                };
                let Ok(slot) = slot else {
                    return Turn::Stopping;
                };
                deferred = Some(slot);
                permit.take();
            }
            tokio::select! {
                _ = tokio::time::sleep(start.saturating_sub(call.seen_at.elapsed())) => {}
                _ = intake.cancelled() => return Turn::Stopping,
            }
        }
    }

    async fn fleet(&self, app: &AppPaths) -> Option<(u64, Arc<AppWorkers>)> {
        let lock = || self.fleets.lock_or_recover();
        if let Some(f) = lock().get(app.app())
            && f.at.elapsed() < self.config.spec_ttl
        {
            return Some((f.read_at_ms, f.workers.clone()));
        }
        let read_at = now_ms();
        let w = match AppWorkers::fetch(&*self.node, app.app()).await {
            Ok(w) => Arc::new(w),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the app's workers; running the call");
                return None;
            }
        };
        let mut m = lock();
        if m.len() > 1_000 {
            m.clear();
        }
        m.insert(
            app.app().to_owned(),
            FleetRead {
                at: Instant::now(),
                read_at_ms: read_at,
                workers: w.clone(),
            },
        );
        Some((read_at, w))
    }

    async fn worker_registry(&self, app: &AppPaths) -> Option<serde_json::Value> {
        let lock = || self.registries.lock_or_recover();
        if let Some((at, v)) = lock().get(app.app())
            && at.elapsed() < self.config.spec_ttl
        {
            return Some(v.clone());
        }
        let v = self.retry_read(&app.workers()).await?;
        let mut m = lock();
        if m.len() > 1_000 {
            m.clear();
        }
        m.insert(app.app().to_owned(), (Instant::now(), v.clone()));
        Some(v)
    }

    pub(super) fn leave(&self, call: &Call, reason: &'static str) {
        metrics::counter!("ain_sre_calls_left_total", "reason" => reason).increment(1);
        self.registry.finish(&call.key, CallState::LeftToOthers);
    }
}

/// An app's fleet as last read: when (monotonic, for the cache's age), the wall-clock time of
/// the read (ms, which liveness is judged against) and what was read.
#[derive(Debug)]
pub(super) struct FleetRead {
    at: Instant,
    read_at_ms: u64,
    workers: Arc<AppWorkers>,
}
