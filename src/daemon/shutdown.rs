//! The supervisor's end: waits for a stop, a kill or a stage's death, then shuts the stages down
//! in order (presence draining, intake, in-flight calls up to the grace period, the poster, the
//! journal).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::journal::Journal;
use crate::observe::Health;
use crate::presence::Presence;

use super::{DaemonError, StageError};
use crate::poster::PosterError;

/// The running stages' handles, as the supervisor needs them to stop the worker.
pub(super) struct Running {
    pub(super) stop: CancellationToken,
    pub(super) kill: CancellationToken,
    pub(super) death_rx: mpsc::Receiver<(String, StageError)>,
    pub(super) health: Arc<Health>,
    pub(super) intake: CancellationToken,
    pub(super) hard: CancellationToken,
    pub(super) sched: JoinHandle<()>,
    pub(super) post: JoinHandle<Result<(), PosterError>>,
    pub(super) journal: Journal,
    pub(super) presence: Arc<Presence>,
    pub(super) grace: Duration,
    pub(super) sched_tasks: TaskTracker,
    pub(super) post_tasks: TaskTracker,
}

impl Running {
    /// Runs until the worker stops; its result is [`super::DaemonHandle::wait`]'s.
    pub(super) async fn supervise(self) -> Result<(), DaemonError> {
        let Running {
            stop: s,
            kill: k,
            mut death_rx,
            health: h,
            intake,
            hard,
            sched,
            post,
            journal,
            presence,
            grace,
            sched_tasks,
            post_tasks,
        } = self;
        let failure = tokio::select! {
            _ = s.cancelled() => None,
            d = death_rx.recv() => d,
            _ = k.cancelled() => {
                tracing::warn!("killed: every stage cancelled at once, no drain");
                h.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
                intake.cancel();
                hard.cancel();
                let _ = sched.await;
                let _ = tokio::time::timeout(Duration::from_secs(2), post).await;
                let _ = journal.close().await;
                return Ok(());
            }
        };
        if let Some((stage, reason)) = &failure {
            tracing::error!(%stage, %reason, "a stage died; stopping the worker");
        } else {
            tracing::info!("stopping: no new calls; draining in-flight calls");
            // Before intake stops: the other workers stop ranking this one while it finishes.
            presence.announce_draining(Duration::from_secs(2)).await;
        }
        h.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        intake.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        let _ = sched.await;
        sched_tasks.close();
        if tokio::time::timeout_at(deadline, sched_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; calls still running stay journaled");
        }
        drain_poster(&hard, deadline, post, post_tasks).await;
        if let Err(e) = journal.flush().await {
            tracing::error!(error = %e, "journal flush failed");
        }
        let closed = journal.close().await;
        tracing::info!("worker stopped");
        match failure {
            Some((stage, reason)) => Err(DaemonError::StageFailed { stage, reason }),
            None => closed.map_err(DaemonError::from),
        }
    }
}

/// Lets the poster finish what it holds until `deadline`, then abandons the rest (it stays
/// journaled as signed and is re-submitted at the next start).
pub(super) async fn drain_poster(
    hard: &CancellationToken,
    deadline: tokio::time::Instant,
    post: JoinHandle<Result<(), PosterError>>,
    tasks: TaskTracker,
) {
    let drained = async {
        let _ = post.await;
        tasks.close();
        tasks.wait().await;
    };
    if tokio::time::timeout_at(deadline, drained).await.is_err() {
        tracing::warn!("grace period over; unposted responses stay journaled for the next start");
    }
    hard.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await;
}
