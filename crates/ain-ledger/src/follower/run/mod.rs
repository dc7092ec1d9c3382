//! The follower's loop: resume, fetch, verify, hold, deliver, persist acknowledged heights.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::verify::{Anchor, FailedCheck, verify_block_after};
use super::{
    Ack, BlockSource, Cursor, Follower, FollowerError, FollowerEvent, FollowerExit, SourceError,
    VerifyError,
};
use crate::block::Block;
use crate::crypto::Hash;

mod resume;

/// Where the loop stands.
struct Progress {
    genesis_hash: Hash,
    /// The newest verified block.
    verified: Anchor,
    /// The newest verified block while it waits for its successor to prove it.
    held: Option<Arc<Block>>,
    delivered: Option<u64>,
    /// Anchors of delivered blocks not yet persisted, oldest first.
    unacked: VecDeque<Anchor>,
    persisted: Option<u64>,
    /// The anchor the cursor was last saved with (the parent of the next one saved).
    persisted_anchor: Option<Anchor>,
    /// After resuming from a cursor, until the first block after it is looked at: the parent
    /// anchor the cursor kept (if any), to re-verify a block the node re-finalized.
    resumed_parent: Option<Option<Anchor>>,
    /// The last acknowledgement acted on.
    last_ack: Option<Ack>,
}

/// Why the loop must stop without an error.
type Stop = FollowerExit;

/// Outcome of a step that can be interrupted.
enum Step<T> {
    Done(T),
    Stop(Stop),
}

impl<S: BlockSource> Follower<S> {
    /// Runs until cancelled, until [`super::FollowerConfig::to`] is reached and acknowledged, until
    /// the consumer goes away, or until a block fails verification (an error naming the block and
    /// the check). The latest acknowledgement is persisted before returning.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<FollowerExit, FollowerError> {
        let mut p = match self.start(&cancel).await? {
            Step::Done(p) => p,
            Step::Stop(s) => return Ok(s),
        };
        let result = self.follow(&mut p, &cancel).await;
        // Whatever happened, keep what the consumer finished.
        self.absorb_acks(&mut p).await?;
        result
    }

    async fn follow(
        &mut self,
        p: &mut Progress,
        cancel: &CancellationToken,
    ) -> Result<FollowerExit, FollowerError> {
        loop {
            self.absorb_acks(p).await?;
            if let Some(to) = self.config.to
                && p.delivered.is_some_and(|d| d >= to)
            {
                return self.await_target(p, to, cancel).await;
            }
            if p.unacked.len() >= self.config.max_unacked {
                if let Some(stop) = self.idle(cancel, Duration::MAX).await {
                    return Ok(stop);
                }
                continue;
            }
            let next = p.verified.number.saturating_add(1);
            let answer = race(cancel, self.source.last_block_number()).await;
            let last = match self.after_source(answer, cancel).await? {
                Step::Done(Some(n)) => {
                    self.stats.source_tip.store(n, Ordering::Relaxed);
                    n
                }
                Step::Done(None) => continue,
                Step::Stop(s) => return Ok(s),
            };
            let upper = match self.config.to {
                Some(to) => last.min(to.saturating_add(1)),
                None => last,
            };
            if next > upper {
                if let Some(stop) = self.idle(cancel, self.config.poll_interval).await {
                    return Ok(stop);
                }
                continue;
            }
            let end = upper
                .saturating_add(1)
                .min(next.saturating_add(self.config.batch_size));
            // Fetch only when a delivery could go out at once: a block fetched while the
            // consumer is behind would wait decoded in memory beside the one already queued (a
            // full devnet block is ~3 MB decoded), and gets no sooner to the consumer.
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(FollowerExit::Cancelled),
                room = self.events.reserve() => {
                    if room.is_err() {
                        return Ok(FollowerExit::ConsumerGone);
                    }
                }
            }
            let answer = race(cancel, self.source.block_list(next, end)).await;
            let mut blocks = match self.after_source(answer, cancel).await? {
                Step::Done(Some(b)) => b,
                Step::Done(None) => continue,
                Step::Stop(s) => return Ok(s),
            };
            // A source that over-answers must not push deliveries past `to`.
            blocks.truncate(usize::try_from(end - next).unwrap_or(usize::MAX));
            if blocks.is_empty() {
                if let Some(stop) = self.idle(cancel, self.config.retry_interval).await {
                    return Ok(stop);
                }
                continue;
            }
            for block in blocks {
                if let Some(stop) = self.accept(p, block, cancel).await? {
                    return Ok(stop);
                }
            }
        }
    }

    /// Verifies the next block; on success delivers the block it proves and holds this one.
    async fn accept(
        &mut self,
        p: &mut Progress,
        block: Block,
        cancel: &CancellationToken,
    ) -> Result<Option<Stop>, FollowerError> {
        let started = Instant::now();
        let mut verified = verify_block_after(&p.verified, &block, self.config.chain_id);
        let resumed_parent = p.resumed_parent.take();
        // Where a block at the last verified height may be replaced from: the first block after
        // a restart does not follow the cursor's block (delivered before the restart), or the
        // next block does not follow the held one (verified, but never proven or delivered).
        let parent = match (resumed_parent, &p.held) {
            (Some(parent), _) => Some(parent),
            (None, Some(_)) => Some(
                p.unacked
                    .back()
                    .cloned()
                    .or_else(|| p.persisted_anchor.clone()),
            ),
            (None, None) => None,
        };
        if let Err(error) = &verified
            && matches!(error.check, FailedCheck::ParentLink { .. })
            && let Some(parent) = parent
        {
            match self.refinalized(p, parent, error, cancel).await? {
                Step::Done(()) => {
                    verified = verify_block_after(&p.verified, &block, self.config.chain_id)
                }
                Step::Stop(stop) => return Ok(Some(stop)),
            }
        }
        match verified {
            Ok(signatures) => self.stats.record_verified(signatures, started.elapsed()),
            Err(error) => return Err(self.halt(error, cancel).await),
        }
        tracing::debug!(
            number = block.number,
            txs = block.transactions.len(),
            "block verified"
        );
        let anchor = Anchor::new(&block, Some(&p.verified));
        let proven_anchor = std::mem::replace(&mut p.verified, anchor);
        match p.held.replace(Arc::new(block)) {
            Some(proven) => Ok(self.deliver(p, proven, proven_anchor, cancel).await),
            None => Ok(None),
        }
    }

    /// The node's next block does not link to the last verified one: after a restart, the
    /// cursor's block (delivered before); while running, the held block (verified, not yet
    /// proven, never delivered). A 1-node ain-blockchain chain re-proposes and re-finalizes its
    /// last finalized block with a new hash after a restart (ain-protocol.md §6): if the node's
    /// block at that height is validly notarized on the same `parent` (kept in the cursor, or the
    /// last delivered block), it replaces ours and following goes on from it; it is delivered
    /// once its successor proves it (after a restart consumers see that height twice).
    /// Otherwise the follower halts, saying what the node did.
    async fn refinalized(
        &mut self,
        p: &mut Progress,
        parent: Option<Anchor>,
        error: &VerifyError,
        cancel: &CancellationToken,
    ) -> Result<Step<()>, FollowerError> {
        let n = p.verified.number;
        let ours = p.verified.hash;
        let delivered_before = p.held.is_none();
        let Some(parent) = parent.filter(|a| a.number.saturating_add(1) == n) else {
            tracing::error!(
                number = n,
                hash = %ours,
                "the node's block {} does not follow block {n} as this worker verified it: the node replaced a final block (ain-blockchain re-finalizes its last block with a new hash after a restart; the cursor predates the parent anchor that would let it re-verify), or it serves another chain; restarting will not help: follow again from genesis with a new data dir",
                n + 1
            );
            return Err(self.halt(error.clone(), cancel).await);
        };
        let answer = race(cancel, self.source.block_list(n, n + 1)).await;
        let replaced = match answer {
            None => return Ok(Step::Stop(FollowerExit::Cancelled)),
            Some(Ok(blocks)) => blocks.into_iter().next().filter(|b| b.number == n),
            Some(Err(e)) => {
                tracing::warn!(number = n, error = %e, "cannot read the node's block to re-verify it");
                None
            }
        };
        let Some(replaced) = replaced.filter(|b| b.hash != ours) else {
            return Err(self.halt(error.clone(), cancel).await);
        };
        let started = Instant::now();
        match verify_block_after(&parent, &replaced, self.config.chain_id) {
            Ok(signatures) => self.stats.record_verified(signatures, started.elapsed()),
            Err(why) => {
                tracing::error!(
                    number = n,
                    was = %ours,
                    now = %replaced.hash,
                    %why,
                    "the node replaced final block {n} with one that does not verify on its parent {}: the node's chain diverged from the one this worker verified",
                    parent.number
                );
                return Err(self.halt(error.clone(), cancel).await);
            }
        }
        tracing::warn!(
            number = n,
            was = %ours,
            now = %replaced.hash,
            "the node re-finalized block {n} with a different hash (ain-blockchain re-proposes its last finalized block after a restart); the new block verifies on the same parent, so following goes on from it and its calls are read again"
        );
        metrics::counter!("ain_sre_refinalized_blocks_total").increment(1);
        p.verified = Anchor::new(&replaced, Some(&parent));
        p.held = Some(Arc::new(replaced));
        if delivered_before {
            // The next cursor saved is the replacement (height n) on `parent`.
            p.persisted_anchor = Some(parent);
        }
        Ok(Step::Done(()))
    }

    async fn deliver(
        &mut self,
        p: &mut Progress,
        block: Arc<Block>,
        anchor: Anchor,
        cancel: &CancellationToken,
    ) -> Option<Stop> {
        let number = block.number;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Some(FollowerExit::Cancelled),
            sent = self.events.send(FollowerEvent::Committed { block }) => {
                if sent.is_err() {
                    return Some(FollowerExit::ConsumerGone);
                }
            }
        }
        p.delivered = Some(number);
        p.unacked.push_back(anchor);
        self.stats.delivered.store(number, Ordering::Relaxed);
        self.stats
            .delivered_at_ms
            .store(super::unix_ms(), Ordering::Relaxed);
        None
    }

    async fn halt(&mut self, error: VerifyError, cancel: &CancellationToken) -> FollowerError {
        tracing::error!(number = error.number, check = error.check.name(), %error, "follower halted at an invalid block");
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.events.send(FollowerEvent::Halted { error: error.clone() }) => {}
        }
        FollowerError::InvalidBlock(error)
    }

    /// Persists the newest acknowledged height, if it moved.
    async fn absorb_acks(&mut self, p: &mut Progress) -> Result<(), FollowerError> {
        let ack = *self.acks.borrow_and_update();
        // Act on each acknowledgement once: a capped one must not cover later deliveries.
        if ack == p.last_ack {
            return Ok(());
        }
        p.last_ack = ack;
        let (Some(Ack { height: acked, .. }), Some(delivered)) = (ack, p.delivered) else {
            return Ok(());
        };
        if acked > delivered {
            tracing::warn!(
                acked,
                delivered,
                "acknowledgement beyond the delivered height; capped"
            );
        }
        let acked = acked.min(delivered);
        let mut newest = None;
        let mut previous = p.persisted_anchor.take();
        while p.unacked.front().is_some_and(|a| a.number <= acked) {
            if let Some(a) = newest.take() {
                previous = Some(a);
            }
            newest = p.unacked.pop_front();
        }
        let Some(anchor) = newest else {
            p.persisted_anchor = previous;
            return Ok(());
        };
        p.persisted_anchor = Some(anchor.clone());
        let cursor = Cursor {
            chain_id: self.config.chain_id,
            genesis_hash: p.genesis_hash,
            previous: previous.filter(|a| a.number.saturating_add(1) == anchor.number),
            anchor,
        };
        let store = self.store.clone();
        blocking(move || store.save(&cursor)).await??;
        p.persisted = Some(acked);
        self.stats.persisted.store(acked, Ordering::Relaxed);
        Ok(())
    }

    /// After delivering the target: wait for its acknowledgement.
    async fn await_target(
        &mut self,
        p: &mut Progress,
        to: u64,
        cancel: &CancellationToken,
    ) -> Result<FollowerExit, FollowerError> {
        loop {
            self.absorb_acks(p).await?;
            if p.persisted.is_some_and(|h| h >= to) {
                return Ok(FollowerExit::ReachedTarget(to));
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(FollowerExit::Cancelled),
                _ = self.events.closed() => return Ok(FollowerExit::ConsumerGone),
                _ = ack_changed(&mut self.acks) => {}
            }
        }
    }

    /// Waits for a wake-up, an acknowledgement or `timeout`; `Some` when the run must stop.
    async fn idle(&mut self, cancel: &CancellationToken, timeout: Duration) -> Option<Stop> {
        let sleep = tokio::time::sleep(timeout.min(Duration::from_secs(86_400)));
        tokio::select! {
            _ = cancel.cancelled() => Some(FollowerExit::Cancelled),
            _ = self.events.closed() => Some(FollowerExit::ConsumerGone),
            _ = self.wake.notified() => None,
            _ = ack_changed(&mut self.acks) => None,
            _ = sleep => None,
        }
    }

    /// Interprets a source answer: `Done(None)` after an outage (already waited out), an error
    /// when the source sent malformed data; `answer` is `None` when cancelled mid-call.
    async fn after_source<T>(
        &mut self,
        answer: Option<Result<T, SourceError>>,
        cancel: &CancellationToken,
    ) -> Result<Step<Option<T>>, FollowerError> {
        match answer {
            None => Ok(Step::Stop(FollowerExit::Cancelled)),
            Some(Ok(v)) => {
                self.stats.record_source(true);
                if self.failures > 0 {
                    tracing::info!(tries = self.failures, "block source available again");
                    self.failures = 0;
                }
                Ok(Step::Done(Some(v)))
            }
            Some(Err(SourceError::Unavailable(why))) => {
                self.stats.record_source(false);
                self.failures = self.failures.saturating_add(1);
                let wait = retry_wait(
                    self.config.retry_interval,
                    self.config.retry_max,
                    self.failures,
                );
                tracing::warn!(%why, tries = self.failures, next_try_in = ?wait, "block source unavailable; retrying");
                match self.idle(cancel, wait).await {
                    Some(stop) => Ok(Step::Stop(stop)),
                    None => Ok(Step::Done(None)),
                }
            }
            Some(Err(e @ SourceError::Malformed(_))) => Err(FollowerError::Source(e)),
        }
    }
}

/// The wait before the next try after `failures` failed tries in a row: `first`, doubling,
/// capped at `max`.
fn retry_wait(first: Duration, max: Duration, failures: u32) -> Duration {
    first
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max.max(first))
}

/// Runs `call` unless `cancel` fires first.
async fn race<T>(cancel: &CancellationToken, call: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        r = call => Some(r),
    }
}

/// `changed()` that never resolves once every handle is gone (instead of resolving forever).
async fn ack_changed(acks: &mut tokio::sync::watch::Receiver<Option<Ack>>) {
    if acks.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs blocking store I/O off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FollowerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FollowerError::Task(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_the_cap() {
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (1..=9)
            .map(|n| retry_wait(ms(500), ms(30_000), n))
            .collect();
        assert_eq!(
            waits,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000].map(ms)
        );
        // An outage of two minutes: 9 tries (and warnings), not 240.
        let mut t = Duration::ZERO;
        let mut tries = 0;
        while t < Duration::from_secs(121) {
            tries += 1;
            t += retry_wait(ms(500), ms(30_000), tries);
        }
        assert_eq!(tries, 9);
        assert_eq!(
            retry_wait(ms(500), ms(100), 3),
            ms(500),
            "the cap is never below the first wait"
        );
    }
}
