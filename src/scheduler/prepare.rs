//! The first stage of a call: everything settled before it waits for its turn. The request is
//! read, the function's spec, runtime and profile resolved, the input reference fetched, the
//! limits, egress allow-list and secrets worked out, and the code made ready in its tier. What
//! means the call can never run is a rejection; what only this worker cannot do leaves the call
//! to a worker that can.

use std::sync::Arc;
use std::time::Duration;

use crate::blobs::worker::Refs;
use crate::call::{Call, Origin};
use crate::config::profiles::Profile;
use crate::config::runtimes::Runtime;
use crate::egress::EgressCall;
use crate::journal::CallState;
use crate::node::Node;
use crate::onchain::{AppPaths, Finality, FunctionSpec, Request};
use crate::sandbox::{Limits, NetworkPolicy};

use super::code::{CodeError, Ready};
use super::exec::{Executor, PreparedOf};
use super::{Reject, Scheduler, egress};

/// What [`Scheduler::prepare`] settled for a call that may run.
pub(super) struct Prepared<P> {
    /// The call's rejection so far (what it is answered if it stops here).
    pub(super) rej: Reject,
    pub(super) app: AppPaths,
    pub(super) spec: FunctionSpec,
    pub(super) runtime: Arc<Runtime>,
    pub(super) profile: Arc<Profile>,
    /// The profile's limits, narrowed by the spec and with the call's egress proxy.
    pub(super) limits: Limits,
    pub(super) egress: Option<Arc<EgressCall>>,
    pub(super) secret_env: Vec<(String, String)>,
    pub(super) ready: Arc<Ready<P>>,
    /// What the sandbox reads: the inline bytes, or the `input_ref`'s blob (an open file for a
    /// large one; the answer keeps only the inline bytes, the receipt hashes the ref).
    pub(super) input: crate::sandbox::Input,
}

impl<N: Node, E: Executor> Scheduler<N, E> {
    /// Settles everything `call` needs before its turn; the caller's input goes to `input_out`
    /// (fetched when it came by reference) and its reference to `refs_out`. `Ok(None)`: nothing
    /// to answer (answered elsewhere, left to another worker, or the request failed).
    pub(super) async fn prepare(
        &self,
        call: &Call,
        (input_out, refs_out): (&mut Arc<[u8]>, &mut Refs),
    ) -> Result<Option<Prepared<PreparedOf<E>>>, Reject> {
        let mut rej = Reject::new();
        let app = match AppPaths::new(&call.app) {
            Ok(a) => a,
            Err(e) => return rej.reject(e.to_string()),
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
            Err(e) => return rej.reject(e.to_string()),
        };
        // The receipt's input_hash covers what the caller sent, rejected or not, so `call`
        // can verify a rejection too.
        let too_long = request.input.len() > self.config.max_input_bytes;
        let len = request.input.len();
        *input_out = Arc::from(request.input);
        let mut call_input = crate::sandbox::Input::from(input_out.clone());
        refs_out.input = request.input_ref;
        if too_long {
            return rej.reject(format!(
                "input of {len} bytes exceeds the worker's limit of {} bytes",
                self.config.max_input_bytes
            ));
        }
        let spec = loop {
            match self.library.spec(&app, &call.function).await {
                Ok(Some(s)) => break s,
                Ok(None) => {
                    return rej.reject(format!(
                        "unknown function `{}` in app `{}`",
                        call.function, call.app
                    ));
                }
                Err(CodeError::Node(e)) => {
                    tracing::warn!(error = %e, "cannot read the function spec; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return rej.reject(e.to_string()),
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
            Err(e) => return rej.reject(e.to_string()),
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
                Err(e) => return rej.reject(e.to_string()),
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
            Err(egress::Refused::Invalid(why)) => return rej.reject(why),
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
                Err(CodeError::Host(detail)) => return rej.host_fault(&detail),
                Err(e) => return rej.reject(e.to_string()),
            }
        };
        Ok(Some(Prepared {
            rej,
            app,
            spec,
            runtime,
            profile,
            limits,
            egress,
            secret_env,
            ready,
            input: call_input,
        }))
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
}
