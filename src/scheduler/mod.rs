//! The scheduler: a bounded queue of admitted calls, global and per-function concurrency,
//! per-call deadlines from the profile, finality waits, and code fetched once per hash.
//!
//! Calls wait in a bounded queue (`queue_capacity`; when it is full the trigger waits:
//! backpressure). Each call taken from it becomes one task holding an *admission* permit (at most
//! `max_tasks` at once), then a global and a per-function run permit while its sandbox runs. Anything that means the call can never run —
//! malformed request, oversize input, unknown function or runtime, code hash mismatch — becomes a
//! `rejected` answer; nothing runs. What only *this* host cannot do (no tier here for the runtime,
//! a profile this worker does not accept) is left to a worker that can ([`capable`]). A call
//! whose request tx failed on the node (the event fired before the failure) is dropped first,
//! unanswered.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::blobs::worker::{Refs, WorkerBlobs};
use crate::call::{Answer, Call, Registry, now_ms};
use crate::config::profiles::ProfileCatalog;
use crate::config::runtimes::RuntimeCatalog;
use crate::finality::FinalityGate;
use crate::journal::CallState;
use crate::ledger::crypto::Address;
use crate::ledger::sync::LockExt;
use crate::node::Node;
use crate::observe::Health;
use crate::receipt::CallResult;

pub mod assign;
pub mod capable;
pub mod code;
mod egress;
pub mod exec;
mod prepare;
mod request;
mod run;
mod turn;

use code::Library;
use exec::Executor;
use turn::Turn;

/// Errors that stop the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The poster has stopped.
    #[error("the poster has stopped")]
    PosterGone,
}

/// Tuning of the scheduler. Defaults in [`SchedulerConfig::default`].
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Calls queued between the trigger and the scheduler (the bounded queue: when it is full
    /// the trigger waits, and so does the follower: calls beyond it stay on chain, which is the
    /// durable queue, so the worker's memory does not grow with a backlog). Default 512: four
    /// times the tasks taken at once, and 1,024 bought no throughput in `bench e2e` but held
    /// ~2 MB more during a catch-up.
    pub queue_capacity: usize,
    /// Calls taken from the queue at once (preparing, waiting for finality or a permit, running).
    /// Each is a task, so this bounds the scheduler's memory. Default 128 (twice the sandbox
    /// concurrency: the next calls are prepared while the current ones run).
    pub max_tasks: usize,
    /// Sandboxes running at once. Default 64.
    pub max_concurrency: usize,
    /// Sandboxes of one function running at once. Default 64.
    pub per_function: usize,
    /// Largest input accepted; larger ones are rejected. Default 4,096 bytes (a request tx on a
    /// real node holds at most ~4,900 characters).
    pub max_input_bytes: usize,
    /// Largest function code. Default 16 MiB.
    pub max_code_bytes: usize,
    /// How long a function spec read from the chain is reused. Default 1 s.
    pub spec_ttl: Duration,
    /// Extra time past the profile's wall deadline before the host gives up on a sandbox.
    pub host_backstop: Duration,
    /// How long a call seen in an event waits for the node to report its request tx's outcome
    /// before it is left to the follower (which only delivers requests whose tx succeeded).
    /// A real node fires the event while it executes the tx, before it tracks it. Default 2 s.
    pub request_known_within: Duration,
    /// In a fleet, what rank k adds to rank k−1's wall-time limit before it may take a call over:
    /// the time rank k−1 needs to post its response and for it to become readable. Default 1 s.
    pub failover_slack: Duration,
    /// Calls waiting for their turn as a later rank (they hold no task slot while they wait).
    /// Default 8,192 (~2 KB each); when full, the next such call waits holding its task slot.
    pub max_deferred: usize,
    /// The runtimes this worker's operator accepts (`accepted_runtimes`); `None`: every runtime
    /// of the catalog. A call for another known runtime is left to a worker that offers it.
    pub accepted_runtimes: Option<std::collections::BTreeSet<String>>,
    /// The operator's egress policy (`egress` in the worker config): the final say over every
    /// function's allow-list.
    pub egress: Arc<crate::egress::OperatorEgress>,
    /// The worker's key, to open the secrets encrypted to it (`None`: functions with secrets are
    /// left to other workers).
    pub worker_key: Option<crate::secrets::WorkerKey>,
    /// Blobs: how `input_ref`s are fetched, where large outputs are stored.
    pub blobs: WorkerBlobs,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            queue_capacity: 512,
            max_tasks: 128,
            max_concurrency: 64,
            per_function: 64,
            max_input_bytes: 4096,
            max_code_bytes: 16 << 20,
            spec_ttl: Duration::from_secs(1),
            host_backstop: Duration::from_secs(2),
            request_known_within: Duration::from_secs(2),
            failover_slack: Duration::from_secs(1),
            max_deferred: 8192,
            accepted_runtimes: None,
            egress: Arc::new(crate::egress::OperatorEgress::default()),
            worker_key: None,
            blobs: WorkerBlobs::default(),
        }
    }
}

/// The scheduler stage.
pub struct Scheduler<N: Node, E: Executor> {
    node: Arc<N>,
    library: Library<N, E>,
    runtimes: RuntimeCatalog,
    profiles: ProfileCatalog,
    registry: Arc<Registry>,
    gate: Arc<FinalityGate>,
    health: Arc<Health>,
    worker: Address,
    config: SchedulerConfig,
    global: Arc<Semaphore>,
    per_fn: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Each app's worker registry as last read, reused for `spec_ttl`: a burst of calls this
    /// worker cannot serve reads it once, not once per call.
    registries: Mutex<HashMap<String, (Instant, serde_json::Value)>>,
    /// Each app's fleet (policy, approved set, registry with liveness) as last read, reused for
    /// `spec_ttl`: the ranking reads it for every call.
    /// The wall-clock time of the read (ms) goes with it: liveness is judged as of the read, so
    /// the cache's age does not eat into the liveness window.
    fleets: Mutex<HashMap<String, turn::FleetRead>>,
    /// Task slots (`max_tasks`).
    admission: Arc<Semaphore>,
    /// Slots of calls waiting for their turn as a later rank (`max_deferred`).
    deferred: Arc<Semaphore>,
    /// Batched reads of request values ([`request::RequestReads`]).
    request_reads: request::RequestReads,
}

/// Everything the scheduler needs besides its config.
pub struct SchedulerParts<N, E> {
    /// The node.
    pub node: Arc<N>,
    /// The sandboxes.
    pub exec: Arc<E>,
    /// Runtimes.
    pub runtimes: RuntimeCatalog,
    /// Profiles.
    pub profiles: ProfileCatalog,
    /// Admission registry.
    pub registry: Arc<Registry>,
    /// Finality waits.
    pub gate: Arc<FinalityGate>,
    /// Health counters.
    pub health: Arc<Health>,
    /// This worker's address (decides which worker rejects a call nobody serves).
    pub worker: Address,
}

/// What a call that ran produced.
struct Ran {
    result: CallResult,
    code_hash: String,
    runtime: String,
    sandbox: String,
    profile: String,
    /// When its sandbox started (ms since the epoch): after the finality wait, the code fetch
    /// and the permits, so the receipt's `started_at`..`finished_at` is the run alone.
    started_at: u64,
    /// From the call's first sighting here to `started_at`, µs.
    queued_us: u64,
    /// For a timeout: which limit ran out.
    timeout_limit: Option<String>,
    /// What a call with egress reached.
    egress: Option<crate::egress::EgressSummary>,
}

struct Reject {
    why: String,
    /// The worker's host failed (answered `host_error`, not `rejected`); `why` is public.
    host: bool,
    code_hash: String,
    runtime: String,
    profile: String,
    /// The request tx's outcome was already asked (and it stands).
    request_checked: bool,
}

impl Reject {
    fn new() -> Reject {
        Reject {
            why: String::new(),
            host: false,
            code_hash: String::new(),
            runtime: String::new(),
            profile: "default".into(),
            request_checked: false,
        }
    }

    /// Answers the call `rejected` with `why`.
    fn reject<T>(mut self, why: String) -> Result<T, Reject> {
        self.why = why;
        Err(self)
    }

    /// Answers the call `host_error`. The details (host paths, engine messages) go to the log
    /// only: the answer is public.
    fn host_fault<T>(mut self, detail: &str) -> Result<T, Reject> {
        tracing::error!(error = %detail, "sandbox host fault; answering host_error");
        metrics::counter!("ain_sre_host_faults_total").increment(1);
        self.why = "the worker's sandbox failed on its host while running the call (not the function's fault; the details are in the worker's log)".into();
        self.host = true;
        Err(self)
    }
}

impl<N: Node, E: Executor> Scheduler<N, E> {
    /// A scheduler.
    pub fn new(parts: SchedulerParts<N, E>, config: SchedulerConfig) -> Scheduler<N, E> {
        Scheduler {
            library: Library::new(
                parts.node.clone(),
                parts.exec,
                config.spec_ttl,
                config.max_code_bytes,
            )
            .with_code_refs(config.blobs.clone()),
            node: parts.node,
            runtimes: parts.runtimes,
            profiles: parts.profiles,
            registry: parts.registry,
            gate: parts.gate,
            health: parts.health,
            worker: parts.worker,
            global: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            per_fn: Mutex::new(HashMap::new()),
            registries: Mutex::new(HashMap::new()),
            fleets: Mutex::new(HashMap::new()),
            admission: Arc::new(Semaphore::new(config.max_tasks.max(1))),
            deferred: Arc::new(Semaphore::new(config.max_deferred.max(1))),
            request_reads: Default::default(),
            config,
        }
    }

    /// Takes calls until `calls` closes or `intake` is cancelled; each runs on `tracker`. `hard`
    /// abandons calls still waiting (for finality or a permit).
    pub async fn run(
        self: Arc<Self>,
        mut calls: mpsc::Receiver<Call>,
        answers: mpsc::Sender<Answer>,
        intake: CancellationToken,
        hard: CancellationToken,
        tracker: TaskTracker,
    ) -> Result<(), SchedulerError> {
        let admission = self.admission.clone();
        loop {
            let permit = tokio::select! {
                p = admission.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return Ok(()) },
                _ = intake.cancelled() => return Ok(()),
            };
            let call = tokio::select! {
                c = calls.recv() => match c { Some(c) => c, None => return Ok(()) },
                _ = intake.cancelled() => return Ok(()),
            };
            if answers.is_closed() {
                return Err(SchedulerError::PosterGone);
            }
            let me = self.clone();
            let answers = answers.clone();
            let hard = hard.clone();
            let intake = intake.clone();
            let span = tracing::info_span!("call", call = %call.key, request_tx = %call.request_tx);
            tracker.spawn(
                async move {
                    // Given up while the call waits for a later rank's turn.
                    let mut permit = Some(permit);
                    let key = call.key.clone();
                    let out = tokio::select! {
                        a = me.process(call, &mut permit, &intake) => a,
                        _ = hard.cancelled() => None,
                    };
                    me.health.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    metrics::gauge!("ain_sre_queue_depth").decrement(1.0);
                    match out {
                        Some(answer) => {
                            if answers.send(answer).await.is_err() {
                                me.registry.release(&key);
                            }
                        }
                        None => me.registry.release(&key),
                    }
                }
                .instrument(span),
            );
        }
    }

    /// Runs one call to an answer; `None` when there is nothing to answer (already answered on
    /// chain).
    async fn process(
        &self,
        call: Call,
        permit: &mut Option<OwnedSemaphorePermit>,
        intake: &CancellationToken,
    ) -> Option<Answer> {
        let mut input: Arc<[u8]> = Arc::from(&[][..]);
        let mut refs = Refs::default();
        let result = self
            .execute(&call, (&mut input, &mut refs), permit, intake)
            .await;
        let ran = match result {
            Ok(None) => return None,
            Ok(Some(r)) => r,
            Err(rej) => {
                // An answer, even a rejection, only to a request that stands.
                if !rej.request_checked && !self.request_stands(&call).await {
                    return None;
                }
                if !rej.host {
                    tracing::info!(reason = %rej.why, "call rejected");
                }
                // Nothing ran: the receipt's span is the moment of the decision.
                Ran {
                    result: if rej.host {
                        CallResult::HostFault(rej.why)
                    } else {
                        CallResult::Rejected(rej.why)
                    },
                    code_hash: rej.code_hash,
                    runtime: rej.runtime,
                    sandbox: "none".to_owned(),
                    profile: rej.profile,
                    started_at: now_ms(),
                    queued_us: call.seen_at.elapsed().as_micros() as u64,
                    timeout_limit: None,
                    egress: None,
                }
            }
        };
        Some(Answer {
            call,
            result: ran.result,
            code_hash: ran.code_hash,
            runtime: ran.runtime,
            sandbox: ran.sandbox,
            profile: ran.profile,
            input,
            refs,
            started_at: ran.started_at,
            queued_us: ran.queued_us,
            finished_at: now_ms(),
            timeout_limit: ran.timeout_limit,
            egress: ran.egress,
        })
    }

    /// Runs one call through its stages ([`prepare`], its turn and the run permits, [`run`]).
    async fn execute(
        &self,
        call: &Call,
        (input_out, refs_out): (&mut Arc<[u8]>, &mut Refs),
        permit: &mut Option<OwnedSemaphorePermit>,
        intake: &CancellationToken,
    ) -> Result<Option<Ran>, Reject> {
        let Some(mut p) = self
            .prepare(call, (&mut *input_out, &mut *refs_out))
            .await?
        else {
            return Ok(None);
        };
        match self
            .await_turn(call, &p.app, &p.spec, p.limits.wall_time, permit, intake)
            .await
        {
            Turn::Run => {}
            Turn::Answered => {
                self.registry
                    .finish(&call.key, CallState::AnsweredElsewhere);
                return Ok(None);
            }
            Turn::Stopping => return Ok(None),
        }
        // Asked only now, by the worker whose turn it is: a fleet asks once per call, not
        // once per worker (ranked-after workers mostly find the call answered).
        if !p.rej.request_checked {
            if !self.request_stands(call).await {
                return Ok(None);
            }
            p.rej.request_checked = true;
        }
        let fn_sem = self.fn_semaphore(&call.app, &call.function);
        let Ok(_g) = self.global.acquire().await else {
            return p.rej.reject("worker is stopping".into());
        };
        let Ok(_f) = fn_sem.acquire().await else {
            return p.rej.reject("worker is stopping".into());
        };
        metrics::histogram!("ain_sre_stage_seconds", "stage" => "queue")
            .record(call.seen_at.elapsed().as_secs_f64());
        self.registry.running(&call.key);
        self.run_sandbox(call, p, refs_out).await
    }

    fn fn_semaphore(&self, app: &str, function: &str) -> Arc<Semaphore> {
        let mut m = self.per_fn.lock_or_recover();
        m.entry(format!("{app}/{function}"))
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_function.max(1))))
            .clone()
    }
}

#[cfg(test)]
mod tests;
