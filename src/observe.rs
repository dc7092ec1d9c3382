//! Observability of the daemon: Prometheus metrics and a `/healthz` endpoint on a local port.
//!
//! Metric names (all prefixed `ain_sre_`), each with a HELP line:
//! - `calls_total{status, tier, app, function}`: answers this worker produced (executions, and
//!   `rejected` decisions with tier `none`), whether or not they won the race to the chain;
//! - `rank_outcomes_total{outcome}`: in a fleet, `rank1` (ran at once as rank 1), `failover`
//!   (took a call over after the workers ranked before it gave no response), `skipped` (a
//!   later rank found the call answered elsewhere before its turn);
//! - `answered_elsewhere_total`: executions that lost the race (another worker's response was
//!   on chain first);
//! - `heartbeats_total{outcome}`: liveness writes to the registry entry (`ok`, `failed`);
//! - `build_info{version}`: 1;
//! - `queue_depth`: calls admitted and not yet answered by the scheduler;
//! - `stage_seconds{stage}`: latency per stage (`queue`: seen → sandbox start, `sandbox`: the
//!   run, `post`: answer → response accepted, `e2e`: seen → response accepted);
//! - `sandbox_prepare_seconds{tier,outcome}`: code preparation (compile, resolve) per code hash,
//!   `outcome` `ok`, `rejected` or `host_error` (refused code costs time too);
//! - `follower_height`, `chain_lag_blocks`: how far the worker has verified, and how far behind
//!   the node's last block it is; `events_connected`: 1 while the event channel is up;
//! - `bad_events_total{reason}`, `post_retries_total`, `answered_elsewhere_total`,
//!   `post_failures_total`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Histogram buckets, seconds: 100 µs to 30 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
/// `None` when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            let installed = metrics::set_global_recorder(recorder).ok().map(|_| handle);
            if installed.is_some() {
                describe();
            }
            installed
        })
        .clone()
}

/// HELP lines for every metric, and the build-info gauge.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "ain_sre_calls_total",
        "Answers this worker produced (executions, and rejected decisions with tier none), by status, tier, app and function, whether or not they won the race to the chain"
    );
    describe_counter!(
        "ain_sre_rank_outcomes_total",
        "Fleet turns: rank1 = ran at once as rank 1; failover = took a call over after the ranks before it gave no response; skipped = found it answered before its turn"
    );
    describe_counter!(
        "ain_sre_answered_elsewhere_total",
        "Responses that lost the race: another worker's response was on chain first"
    );
    describe_counter!(
        "ain_sre_heartbeats_total",
        "Liveness writes to this worker's registry entries, by outcome"
    );
    describe_counter!(
        "ain_sre_calls_left_total",
        "Calls left to other workers because this one cannot serve them, by reason"
    );
    describe_counter!(
        "ain_sre_requests_failed_total",
        "Calls dropped because their request tx failed on the node"
    );
    describe_counter!("ain_sre_post_retries_total", "Response submissions retried");
    describe_counter!(
        "ain_sre_post_failures_total",
        "Responses not posted (they stay journaled)"
    );
    describe_counter!(
        "ain_sre_bad_events_total",
        "Events and block entries ignored as malformed, by reason"
    );
    describe_gauge!(
        "ain_sre_queue_depth",
        "Calls admitted and not yet answered by the scheduler"
    );
    describe_gauge!(
        "ain_sre_follower_height",
        "Highest block the follower verified"
    );
    describe_gauge!(
        "ain_sre_chain_lag_blocks",
        "Blocks between the node's last block and the follower's height"
    );
    describe_gauge!(
        "ain_sre_events_connected",
        "1 while the event channel is connected"
    );
    describe_gauge!("ain_sre_build_info", "The worker's version; always 1");
    describe_histogram!(
        "ain_sre_stage_seconds",
        "Latency per stage: queue, sandbox, post, e2e"
    );
    describe_histogram!(
        "ain_sre_sandbox_prepare_seconds",
        "Code preparation per code hash, by tier and outcome"
    );
    metrics::gauge!("ain_sre_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Live state for `/healthz`, shared by the stages.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    /// Event channels currently connected.
    pub events_connected: AtomicUsize,
    /// Highest block the follower delivered (u64::MAX before the first).
    pub follower_height: AtomicU64,
    /// Calls admitted and not yet answered by the scheduler.
    pub queue_depth: AtomicU64,
    /// Calls dropped because their request tx failed on the node.
    pub requests_failed: AtomicU64,
    /// Set once the daemon is stopping.
    pub stopping: AtomicBool,
    /// Sandbox runs (executions) of calls.
    pub executions: AtomicU64,
    /// Fleet turns taken at once as rank 1.
    pub rank_first: AtomicU64,
    /// Calls taken over as a later rank after the earlier ranks gave no response.
    pub rank_failover: AtomicU64,
    /// Calls a later rank found answered before its turn.
    pub rank_skipped: AtomicU64,
    /// The follower's handle, once it runs: node reachability and progress for readiness.
    pub follower: OnceLock<crate::ledger::follower::FollowerHandle>,
}

/// How long the follower may sit behind the node without delivering before it counts as stalled.
const STALL_AFTER: Duration = Duration::from_secs(60);

impl Default for Health {
    fn default() -> Health {
        Health {
            started: Instant::now(),
            events_connected: AtomicUsize::new(0),
            follower_height: AtomicU64::new(u64::MAX),
            queue_depth: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            executions: AtomicU64::new(0),
            rank_first: AtomicU64::new(0),
            rank_failover: AtomicU64::new(0),
            rank_skipped: AtomicU64::new(0),
            follower: OnceLock::new(),
        }
    }
}

impl Health {
    /// Why the worker is not ready to take calls; empty when it is: stopping, the event stream
    /// down, the node not answering the follower, or the follower stalled behind the node.
    pub fn not_ready(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.stopping.load(Ordering::Relaxed) {
            why.push("stopping".to_owned());
        }
        if self.events_connected.load(Ordering::Relaxed) == 0 {
            why.push("the node's event stream is not connected".to_owned());
        }
        let Some(f) = self.follower.get() else {
            why.push("the follower has not started".to_owned());
            return why;
        };
        let s = f.stats();
        let now = unix_ms();
        let ago = |t: u64| Duration::from_millis(now.saturating_sub(t)).as_secs();
        if s.source_failures > 0 {
            why.push(match s.source_ok_at_ms {
                Some(t) => format!(
                    "the node does not answer: {} tries failed in a row, last answer {} s ago",
                    s.source_failures,
                    ago(t)
                ),
                None => format!(
                    "the node does not answer: {} tries failed, none answered yet",
                    s.source_failures
                ),
            });
        }
        let since = s.delivered_at_ms.map_or(self.started.elapsed(), |t| {
            Duration::from_millis(now.saturating_sub(t))
        });
        if let Some(tip) = s.source_tip
            && tip > s.delivered_height.map_or(0, |d| d + 2)
            && since >= STALL_AFTER
        {
            why.push(format!(
                "the follower is stalled: nothing delivered for {} s while the node is at block {tip} (delivered: {})",
                since.as_secs(),
                s.delivered_height.map_or("none".to_owned(), |d| d.to_string())
            ));
        }
        why
    }

    /// The `/healthz` body.
    pub fn report(&self) -> serde_json::Value {
        let h = self.follower_height.load(Ordering::Relaxed);
        let not_ready = self.not_ready();
        let status = if self.stopping.load(Ordering::Relaxed) {
            "stopping"
        } else if not_ready.is_empty() {
            "ok"
        } else {
            "not_ready"
        };
        serde_json::json!({
            "status": status,
            "ready": not_ready.is_empty(),
            "not_ready": not_ready,
            "uptime_s": self.started.elapsed().as_secs(),
            "events_connected": self.events_connected.load(Ordering::Relaxed),
            "follower_height": (h != u64::MAX).then_some(h),
            "queue_depth": self.queue_depth.load(Ordering::Relaxed),
            "requests_failed": self.requests_failed.load(Ordering::Relaxed),
            "executions": self.executions.load(Ordering::Relaxed),
            "rank": {
                "first": self.rank_first.load(Ordering::Relaxed),
                "failover": self.rank_failover.load(Ordering::Relaxed),
                "skipped": self.rank_skipped.load(Ordering::Relaxed),
            },
        })
    }
}

/// `/healthz` and `/readyz`: 200 when ready to take calls, 503 with the reasons otherwise.
async fn readiness(
    axum::extract::State(h): axum::extract::State<Arc<Health>>,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    let report = h.report();
    let code = if report["ready"] == true {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(report))
}

/// Milliseconds since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Serves `/metrics`, `/healthz` (= `/readyz`, readiness with reasons) and `/livez` on `addr`
/// until `cancel`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let handle = install();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let h = health.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move {
                    match handle {
                        Some(h) => {
                            h.run_upkeep();
                            h.render()
                        }
                        None => "# metrics recorder not installed\n".to_owned(),
                    }
                }
            }),
        )
        .route("/healthz", axum::routing::get(readiness))
        .route("/readyz", axum::routing::get(readiness))
        .route(
            "/livez",
            axum::routing::get(move || {
                let h = h.clone();
                async move {
                    // Alive while running, whatever the node does: restarting the worker would
                    // not bring the node back.
                    let code = if h.stopping.load(Ordering::Relaxed) {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        axum::http::StatusCode::OK
                    };
                    (
                        code,
                        axum::Json(serde_json::json!({"alive": code.is_success()})),
                    )
                }
            }),
        )
        .with_state(health);
    tokio::spawn(async move {
        let stop = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(addr = %bound, "serving /metrics and /healthz");
    Ok(bound)
}
