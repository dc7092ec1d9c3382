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
use crate::call::{Answer, Call, Origin, Registry, Stage, now_ms};
use crate::client::AppWorkers;
use crate::config::profiles::ProfileCatalog;
use crate::config::runtimes::RuntimeCatalog;
use crate::finality::FinalityGate;
use crate::journal::CallState;
use crate::ledger::crypto::{Address, Hash};
use crate::ledger::rpc::TxState;
use crate::node::{Node, get_value};
use crate::observe::Health;
use crate::onchain::{AppPaths, Finality, Request};
use crate::receipt::CallResult;
use crate::sandbox::{Failure, Invocation, NetworkPolicy, Outcome, Sandbox, SandboxError, Usage};

pub mod assign;
pub mod capable;
pub mod code;
mod egress;
pub mod exec;

use capable::Unservable;
use code::{CodeError, Library};
use exec::Executor;

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
    fleets: Mutex<HashMap<String, (Instant, u64, Arc<AppWorkers>)>>,
    /// Task slots (`max_tasks`).
    admission: Arc<Semaphore>,
    /// Slots of calls waiting for their turn as a later rank (`max_deferred`).
    deferred: Arc<Semaphore>,
}

/// What a later-ranked worker's wait for its turn ended in.
enum Turn {
    /// Run the call.
    Run,
    /// A response appeared: nothing to do.
    Answered,
    /// The worker is stopping: leave the call (it stays journaled).
    Stopping,
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

/// How a request tx ended, as far as the node says.
enum RequestOutcome {
    /// Its writes stand.
    Succeeded,
    /// It failed; nothing it wrote stands.
    Failed(TxState),
    /// The node did not report it in time.
    Unknown,
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

    async fn execute(
        &self,
        call: &Call,
        (input_out, refs_out): (&mut Arc<[u8]>, &mut Refs),
        permit: &mut Option<OwnedSemaphorePermit>,
        intake: &CancellationToken,
    ) -> Result<Option<Ran>, Reject> {
        let mut rej = Reject {
            why: String::new(),
            host: false,
            code_hash: String::new(),
            runtime: String::new(),
            profile: "default".into(),
            request_checked: false,
        };
        let reject = |mut r: Reject, why: String| {
            r.why = why;
            Err(r)
        };
        // The details (host paths, engine messages) go to the log only: the answer is public.
        let host_fault = |mut r: Reject, detail: &str| {
            tracing::error!(error = %detail, "sandbox host fault; answering host_error");
            metrics::counter!("ain_sre_host_faults_total").increment(1);
            r.why = "the worker's sandbox failed on its host while running the call (not the function's fault; the details are in the worker's log)".into();
            r.host = true;
            Err(r)
        };
        let app = match AppPaths::new(&call.app) {
            Ok(a) => a,
            Err(e) => return reject(rej, e.to_string()),
        };
        // Calls found in blocks or the journal may have been answered by someone else meanwhile.
        if call.origin != Origin::Event {
            let path = app.response(&call.function, &call.call_id);
            if matches!(self.retry_read(&path).await, Some(v) if !v.is_null()) {
                self.registry
                    .finish(&call.key, CallState::AnsweredElsewhere);
                return Ok(None);
            }
        }
        let request = match Request::from_value(&call.request) {
            Ok(r) => r,
            Err(e) => return reject(rej, e.to_string()),
        };
        // The receipt's input_hash covers what the caller sent, rejected or not, so `call`
        // can verify a rejection too.
        let too_long = request.input.len() > self.config.max_input_bytes;
        let len = request.input.len();
        *input_out = Arc::from(request.input);
        // What the sandbox reads: the inline bytes, or the `input_ref`'s blob (an open file
        // for a large one; the answer keeps only the inline bytes, the receipt hashes the ref).
        let mut call_input = crate::sandbox::Input::from(input_out.clone());
        refs_out.input = request.input_ref;
        if too_long {
            return reject(
                rej,
                format!(
                    "input of {len} bytes exceeds the worker's limit of {} bytes",
                    self.config.max_input_bytes
                ),
            );
        }
        let spec = loop {
            match self.library.spec(&app, &call.function).await {
                Ok(Some(s)) => break s,
                Ok(None) => {
                    return reject(
                        rej,
                        format!("unknown function `{}` in app `{}`", call.function, call.app),
                    );
                }
                Err(CodeError::Node(e)) => {
                    tracing::warn!(error = %e, "cannot read the function spec; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return reject(rej, e.to_string()),
            }
        };
        rej.code_hash = spec.code_hash.clone();
        rej.runtime = spec.runtime.clone();
        rej.profile = spec.profile().to_owned();
        if spec.finality() == Finality::Finalized && call.origin == Origin::Event {
            // A request that failed or was dropped never reaches a final block.
            if !self.request_stands(call).await {
                return Ok(None);
            }
            rej.request_checked = true;
            tracing::debug!("waiting for the request's block to be final");
            self.gate.wait(call.request_tx).await;
        }
        let runtime = match self.runtimes.resolve(&spec.runtime) {
            Ok(r) => r,
            Err(e) => return reject(rej, e.to_string()),
        };
        if let Some(accepted) = &self.config.accepted_runtimes
            && !accepted.contains(&runtime.name)
        {
            // The operator's choice, not the code's fault: another worker may accept it.
            let why = format!(
                "runtime `{}` is not accepted by this worker's operator",
                runtime.name
            );
            return self.unservable(call, &app, &spec, why, rej).await;
        }
        let profile = match self.profiles.get(spec.profile()) {
            Ok(p) => p,
            // Profiles are the operator's choice: another worker may accept this one.
            Err(e) => return self.unservable(call, &app, &spec, e.to_string(), rej).await,
        };
        if let Some(r) = refs_out.input.clone() {
            // Before the code is fetched or a slot taken: a bad reference costs nothing else.
            match self.config.blobs.fetch(&r, profile.max_input_bytes).await {
                Ok(input) => call_input = input,
                Err(e) => return reject(rej, e.to_string()),
            }
        }
        let mut limits = profile.limits.clone();
        if let Some(t) = spec.timeout_ms {
            limits.wall_time = limits.wall_time.min(Duration::from_millis(t.max(1)));
        }
        if let Some(m) = spec.memory_mb {
            limits.memory_bytes = limits.memory_bytes.min(m.max(1) << 20);
        }
        let egress = match egress::for_call(call, &spec, &profile, &self.config.egress) {
            Ok(e) => e,
            Err(egress::Refused::Unservable(why)) => {
                return self.unservable(call, &app, &spec, why, rej).await;
            }
            Err(egress::Refused::Invalid(why)) => return reject(rej, why),
        };
        if let Some(e) = &egress {
            limits.network = NetworkPolicy::Proxy(crate::egress::EgressHandle(e.clone()));
        }
        let secret_env = match self.secrets(call, &app, &spec).await {
            Ok(env) => env,
            Err(why) => return self.unservable(call, &app, &spec, why, rej).await,
        };
        let ready = loop {
            match self.library.ready(&app, &runtime, &spec).await {
                Ok(r) => break r,
                Err(CodeError::Node(e)) => {
                    tracing::warn!(error = %e, "cannot fetch the function code; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(CodeError::Unservable(why)) => {
                    return self.unservable(call, &app, &spec, why, rej).await;
                }
                Err(CodeError::Host(detail)) => return host_fault(rej, &detail),
                Err(e) => return reject(rej, e.to_string()),
            }
        };
        match self
            .await_turn(call, &app, &spec, limits.wall_time, permit, intake)
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
        if !rej.request_checked {
            if !self.request_stands(call).await {
                return Ok(None);
            }
            rej.request_checked = true;
        }
        let fn_sem = self.fn_semaphore(&call.app, &call.function);
        let Ok(_g) = self.global.acquire().await else {
            return reject(rej, "worker is stopping".into());
        };
        let Ok(_f) = fn_sem.acquire().await else {
            return reject(rej, "worker is stopping".into());
        };
        metrics::histogram!("ain_sre_stage_seconds", "stage" => "queue")
            .record(call.seen_at.elapsed().as_secs_f64());
        self.registry.set_stage(&call.key, Stage::Running);
        if let Err(e) = self
            .registry
            .journal()
            .set_state(&call.key, CallState::Running)
        {
            tracing::error!(error = %e, "journal write failed");
        }
        let invocation = Invocation {
            input: call_input,
            env: vec![
                ("SRE_FUNCTION".into(), call.function.clone()),
                ("SRE_CALL_ID".into(), call.call_id.clone()),
                ("SRE_CALLER".into(), call.caller.to_string()),
            ]
            .into_iter()
            .chain(secret_env)
            .collect(),
            limits: limits.clone(),
        };
        let backstop = limits.wall_time + self.config.host_backstop;
        let exec = self.library.executor();
        let started_at = now_ms();
        let queued_us = call.seen_at.elapsed().as_micros() as u64;
        let t = Instant::now();
        let mut attempts = 0;
        let outcome = loop {
            let run = async {
                exec.sandbox(ready.tier)?
                    .run(&ready.prepared, invocation.clone())
                    .await
            };
            match tokio::time::timeout(backstop, run).await {
                Ok(Ok(o)) => break o,
                Ok(Err(SandboxError::Host { why, .. })) if attempts < 2 => {
                    attempts += 1;
                    tracing::warn!(%why, attempt = attempts, "sandbox host fault; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Err(e @ (SandboxError::Unavailable { .. } | SandboxError::NoTier { .. }))) => {
                    return self.unservable(call, &app, &spec, e.to_string(), rej).await;
                }
                Ok(Err(e @ SandboxError::Host { .. })) => return host_fault(rej, &e.to_string()),
                Ok(Err(SandboxError::Rejected(why))) => return reject(rej, why),
                Err(_) => {
                    break Outcome::Failed {
                        failure: Failure::Timeout,
                        stdout: Vec::new(),
                        stderr_tail: Vec::new(),
                        usage: Usage {
                            wall_us: t.elapsed().as_micros() as u64,
                            ..Usage::default()
                        },
                    };
                }
            }
        };
        metrics::histogram!("ain_sre_stage_seconds", "stage" => "sandbox")
            .record(t.elapsed().as_secs_f64());
        let outcome = if spec.public_stderr == Some(true) {
            outcome
        } else {
            outcome.without_success_stderr()
        };
        self.health.executions.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(status = outcome.status(), tier = %ready.tier, "call ran");
        let timeout_limit = match &outcome {
            Outcome::Failed {
                failure: Failure::Timeout,
                usage,
                ..
            } => Some(limit_hit(usage, &limits)),
            _ => None,
        };
        refs_out.output = match &outcome {
            Outcome::Completed { stdout, .. } | Outcome::Failed { stdout, .. } => {
                self.config.blobs.store_output(self.worker, stdout).await
            }
        };
        Ok(Some(Ran {
            result: CallResult::Ran(outcome),
            code_hash: spec.code_hash.clone(),
            runtime: runtime.name.clone(),
            sandbox: ready.tier.as_str().to_owned(),
            profile: profile.name.clone(),
            started_at,
            queued_us,
            timeout_limit,
            egress: egress.map(|e| e.summary()),
        }))
    }

    /// A call this worker cannot serve (`why`): left to a worker whose registry entry offers it,
    /// or answered `rejected` when none does and this worker is the one designated to say so.
    async fn unservable(
        &self,
        call: &Call,
        app: &AppPaths,
        spec: &crate::onchain::FunctionSpec,
        why: String,
        mut rej: Reject,
    ) -> Result<Option<Ran>, Reject> {
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
    async fn await_turn(
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
        let lock = || self.fleets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, read_at, v)) = lock().get(app.app())
            && at.elapsed() < self.config.spec_ttl
        {
            return Some((*read_at, v.clone()));
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
        m.insert(app.app().to_owned(), (Instant::now(), read_at, w.clone()));
        Some((read_at, w))
    }

    async fn worker_registry(&self, app: &AppPaths) -> Option<serde_json::Value> {
        let lock = || self.registries.lock().unwrap_or_else(|p| p.into_inner());
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

    fn leave(&self, call: &Call, reason: &'static str) {
        metrics::counter!("ain_sre_calls_left_total", "reason" => reason).increment(1);
        self.registry.finish(&call.key, CallState::LeftToOthers);
    }

    /// The secrets of `spec`'s function opened for this worker ([`egress::secret_env`]).
    async fn secrets(
        &self,
        call: &Call,
        app: &AppPaths,
        spec: &crate::onchain::FunctionSpec,
    ) -> Result<Vec<(String, String)>, String> {
        if spec.secrets.as_deref().unwrap_or("").trim().is_empty() {
            return Ok(Vec::new());
        }
        let path = crate::secrets::store::holder_path(app, &call.function, &self.worker);
        let stored = self
            .retry_read(&path)
            .await
            .ok_or("cannot read the function's secrets from the node")?;
        egress::secret_env(spec, &stored, self.config.worker_key.as_ref())
    }

    async fn retry_read(&self, path: &str) -> Option<serde_json::Value> {
        for i in 0..5u32 {
            match get_value(&*self.node, path).await {
                Ok(v) => return Some(v),
                Err(e) => {
                    tracing::debug!(error = %e, "read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << i)).await;
                }
            }
        }
        None
    }

    /// Whether `call`'s request tx stands. An event is a hint: a real node fires it while
    /// executing the tx, and the tx may still fail (a later op of its SET, the state budget).
    /// Run and answer only what stands; calls from blocks come from successful txs only. A
    /// failed request is finished here (`RequestFailed`); one the node does not report in time
    /// is left to its block.
    async fn request_stands(&self, call: &Call) -> bool {
        if call.origin == Origin::Block {
            return true;
        }
        match self.request_outcome(&call.request_tx).await {
            RequestOutcome::Succeeded => true,
            RequestOutcome::Failed(state) => {
                metrics::counter!("ain_sre_requests_failed_total").increment(1);
                self.health.requests_failed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    ?state,
                    "request tx failed on the node; call dropped without running it"
                );
                self.registry.finish(&call.key, CallState::RequestFailed);
                false
            }
            RequestOutcome::Unknown => {
                tracing::info!(
                    "the node does not report the request tx's outcome yet; leaving the call to its block"
                );
                false
            }
        }
    }

    /// Asks the node how the request tx ended, retrying while it does not know yet, for up to
    /// `request_known_within`. Success: `EXECUTED`, `IN_BLOCK`, `FINALIZED`. Failure: `PENDING`
    /// (executed with an error, waiting for its block), `REVERTED`, `FAILED`, `TIMED_OUT`.
    async fn request_outcome(&self, hash: &Hash) -> RequestOutcome {
        let deadline = Instant::now() + self.config.request_known_within;
        let mut delay = Duration::from_millis(5);
        loop {
            match self.node.tx_state(hash).await {
                Ok(Some(TxState::Executed | TxState::InBlock | TxState::Finalized)) => {
                    return RequestOutcome::Succeeded;
                }
                Ok(Some(
                    s
                    @ (TxState::Pending | TxState::Reverted | TxState::Failed | TxState::TimedOut),
                )) => return RequestOutcome::Failed(s),
                Ok(None | Some(TxState::Unknown(_))) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the request tx's state; retrying")
                }
            }
            if Instant::now() + delay > deadline {
                return RequestOutcome::Unknown;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    fn fn_semaphore(&self, app: &str, function: &str) -> Arc<Semaphore> {
        let mut m = self.per_fn.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(format!("{app}/{function}"))
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_function.max(1))))
            .clone()
    }
}

/// Which limit a timed-out call ran into, for its error: the wall-time limit when it ran about
/// that long, else the CPU-time one (the process tier's RLIMIT_CPU, the WASM tier's fuel), which
/// only a call that kept the CPU busy reaches first.
fn limit_hit(usage: &crate::sandbox::Usage, limits: &crate::sandbox::Limits) -> String {
    let wall = limits.wall_time.as_millis() as u64;
    if usage.wall_us / 1000 >= wall.saturating_mul(9) / 10 {
        format!("the wall-time limit of {wall} ms")
    } else {
        format!(
            "the CPU-time limit of {} ms",
            limits.cpu_time.as_millis() as u64
        )
    }
}

#[cfg(test)]
mod tests;
