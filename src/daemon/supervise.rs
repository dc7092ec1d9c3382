//! Stage supervision and the node-retry policy: a stage that fails, panics or ends before intake
//! stops is reported to the supervisor by name; calls to a node that is not up yet are retried
//! with one backoff, permanent errors end at once.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{DaemonError, StageError};

pub(super) type Death = mpsc::Sender<(String, StageError)>;

/// Spawns a stage; if it fails, panics, or ends before intake stops, the supervisor hears of it.
pub(super) fn supervise<F, E>(
    name: &str,
    fut: F,
    death: &Death,
    intake: &CancellationToken,
) -> JoinHandle<()>
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<StageError> + Send + 'static,
{
    let inner = tokio::spawn(fut);
    let (name, death, intake) = (name.to_owned(), death.clone(), intake.clone());
    tokio::spawn(async move {
        let reason = match inner.await {
            Ok(Ok(())) if intake.is_cancelled() => return,
            Ok(Ok(())) => "ended unexpectedly".into(),
            Ok(Err(e)) => e.into(),
            Err(e) => Box::new(e),
        };
        if !intake.is_cancelled() {
            let _ = death.send((name, reason)).await;
        }
    })
}

/// Runs `f` until the node answers: a transient failure (unreachable, timed out, 5xx) is retried
/// with the backoff the follower uses at run time (500 ms doubling to 30 s, one warning per try),
/// for at most `wait` (`None`: as long as it takes), so a worker started before its node waits
/// for it. A permanent error ends at once.
pub async fn with_node_retry<T, E, F, Fut>(
    what: &str,
    wait: Option<Duration>,
    is_transient: impl Fn(&E) -> bool,
    f: F,
) -> Result<T, String>
where
    E: std::fmt::Display,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = wait.map(|w| Instant::now() + w);
    let mut delay = Duration::from_millis(500);
    let mut tries = 0u32;
    loop {
        match f().await {
            Ok(v) => {
                if tries > 0 {
                    tracing::info!(tries, "{what}: the node answers");
                }
                return Ok(v);
            }
            Err(e) if is_transient(&e) && deadline.is_none_or(|d| Instant::now() + delay < d) => {
                tries += 1;
                tracing::warn!(error = %e, tries, next_try_in = ?delay, "{what}: node not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

pub(super) async fn with_retry<T, F, Fut>(
    what: &str,
    wait: Option<Duration>,
    f: F,
) -> Result<T, DaemonError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, crate::ledger::rpc::RpcError>>,
{
    with_node_retry(
        what,
        wait,
        |e: &crate::ledger::rpc::RpcError| e.is_transient(),
        f,
    )
    .await
    .map_err(DaemonError::Node)
}
