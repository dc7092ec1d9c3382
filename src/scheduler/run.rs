//! The last stage of a call: its sandbox run. The invocation is built, the tier's sandbox runs
//! it under the host's backstop (a host fault is retried twice), and the outcome is shaped into
//! what the receipt says: stderr kept only where the function makes it public, which limit a
//! timeout hit, a large output stored as a blob.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::blobs::worker::Refs;
use crate::call::{Call, now_ms};
use crate::node::Node;
use crate::receipt::CallResult;
use crate::sandbox::{Failure, Invocation, Outcome, Sandbox, SandboxError, Usage};

use super::exec::{Executor, PreparedOf};
use super::prepare::Prepared;
use super::{Ran, Reject, Scheduler};

impl<N: Node, E: Executor> Scheduler<N, E> {
    /// Runs the prepared call; a large output's reference goes to `refs_out`. The caller holds
    /// the run permits.
    pub(super) async fn run_sandbox(
        &self,
        call: &Call,
        p: Prepared<PreparedOf<E>>,
        refs_out: &mut Refs,
    ) -> Result<Option<Ran>, Reject> {
        let Prepared {
            rej,
            app,
            spec,
            runtime,
            profile,
            limits,
            egress,
            secret_env,
            ready,
            input,
        } = p;
        let invocation = Invocation {
            input,
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
                Ok(Err(e @ SandboxError::Host { .. })) => return rej.host_fault(&e.to_string()),
                Ok(Err(SandboxError::Rejected(why))) => return rej.reject(why),
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
