//! The signer and the poster: builds each response tx, signs it with the worker key, journals it
//! durably, submits it, retries transient failures with backoff, and confirms it.
//!
//! Order per call: build (`receipt::build_response`, fitted to the node's tx cap) → sign
//! (SET_VALUE at the response path, nonce -1, a fresh ms timestamp, gas price 0) →
//! `journal.record_signed` (fsync) → submit. A crash after the fsync re-submits the *same* tx.
//! The chain's write-once rule refusing the response (12103) while a response is there means
//! another worker answered: the call is done (`AnsweredElsewhere`), not failed. A duplicate
//! (10701) means this very tx is already in the node, which is acceptance only if the node shows
//! that tx as successful: a failed tx is remembered by the node too (its tracker answers 10701
//! until it restarts), so a duplicate of a failed response is a refusal.
//!
//! A refused or reverted response (state budget 10905, a rule that refused it, a revert found when
//! reading it back) is not dropped: while the request stands unanswered on chain, the journaled
//! response is signed again with a fresh timestamp (the same outcome, never re-executed: a new
//! tx hash, so the node's tracker does not answer 10701) and posted, with backoff and a bounded
//! number of attempts. A response that can never land as signed (too large, malformed) is not
//! retried; it stays journaled.
//!
//! Confirmation: the [`Confirmer`] learns every tx hash of each verified final block from the
//! follower; responses still unconfirmed after a while are read back with
//! `ain_getTransactionByHash` and re-submitted if the node lost them.
//!
//! The worker key lives in an `Arc<PrivateKey>` (zeroized on drop) and is only used to sign; it
//! is never formatted into a log line or an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::call::{Answer, Registry, now_ms};
use crate::journal::{CallState, JournalError, SignedResponse};
use crate::ledger::crypto::{Address, Hash, PrivateKey, Signature};
use crate::ledger::rpc::{TxState, codes};
use crate::ledger::tx::{NONCE_UNORDERED, SimpleOp, TxBody};
use crate::node::{Node, get_value};
use crate::onchain::AppPaths;
use crate::receipt::{CallFacts, build_response};

mod confirm;
mod resign;
mod standing;

pub use confirm::Confirmer;
use resign::Resign;
pub use standing::{Standing, standing};

/// A signed response to submit again (found in the journal after a restart): what the trigger
/// sends the poster.
#[derive(Debug, Clone)]
pub struct Resubmit {
    /// Journal key.
    pub key: String,
    /// The signed tx, byte for byte.
    pub response: SignedResponse,
}

/// Errors of the signer and poster.
#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    /// The journal could not record the signed response; it was not submitted.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// Signing failed (the message never contains key material).
    #[error("signing failed: {0}")]
    Sign(String),
    /// The node refused the response permanently.
    #[error("node refused the response ({}): {message}", crate::ledger::codes::describe(*code))]
    Refused {
        /// The node's code.
        code: Option<i64>,
        /// Its message.
        message: String,
    },
    /// The journaled response is malformed.
    #[error("malformed journaled response: {0}")]
    Malformed(String),
    /// Shutdown came before the node accepted it; it stays journaled as signed.
    #[error("stopped before the response was accepted")]
    Cancelled,
}

impl PosterError {
    /// True when the same response signed again could still land: the node refused it for a
    /// reason of the moment (state budget, a rule over state that may change, a failed earlier
    /// copy), not for its shape (size, format, signature), which a new signature does not change.
    pub fn could_land_later(&self) -> bool {
        match self {
            PosterError::Refused { code, .. } => !matches!(
                code,
                Some(
                    codes::TX_EXCEEDS_SIZE_LIMIT
                        | codes::TX_MISSING_PROPERTIES
                        | codes::TX_INVALID_FORMAT
                        | codes::TX_INVALID_SIGNATURE
                        | codes::TX_INVALID_OPERATION_TYPE
                        | codes::SET_VALUE_INVALID_VALUE_PATH
                        | codes::SET_VALUE_INVALID_VALUE_STATES
                )
            ),
            _ => false,
        }
    }
}

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// The node accepted the tx (now or before).
    Accepted(Hash),
    /// Another worker's response is on chain.
    AnsweredElsewhere,
}

/// Tuning of the poster.
#[derive(Debug, Clone)]
pub struct PosterConfig {
    /// Largest response tx (`tx_bytes_limit`).
    pub tx_limit: usize,
    /// Responses being signed or submitted at once.
    pub max_inflight: usize,
    /// First retry delay.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Read back a response not seen in a final block after this long.
    pub confirm_after: Duration,
    /// First wait before a refused response is signed again; doubles per attempt.
    pub resign_min: Duration,
    /// Longest wait between two signings of a refused response.
    pub resign_max: Duration,
    /// Signings of a refused response after the first one, before it is left journaled for the
    /// next start.
    pub resign_attempts: u32,
}

impl Default for PosterConfig {
    fn default() -> PosterConfig {
        PosterConfig {
            tx_limit: crate::receipt::NODE_TX_BYTES_LIMIT,
            // Enough to keep a local chain busy (a post takes ~1-5 ms); each in-flight response
            // holds its answer and signed tx.
            max_inflight: 32,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
            confirm_after: Duration::from_secs(10),
            // 1 + 2 + 4 + ... capped at 60 s: ten attempts span about six minutes, long enough
            // for an admin to stake the app or for gc to free the budget, short enough that a
            // permanently refused app does not keep the worker posting.
            resign_min: Duration::from_secs(1),
            resign_max: Duration::from_secs(60),
            resign_attempts: 10,
        }
    }
}

/// Signs and posts responses.
pub struct Poster<N: Node> {
    node: Arc<N>,
    key: Arc<PrivateKey>,
    worker: Address,
    chain_id: u64,
    registry: Arc<Registry>,
    confirmer: Arc<Confirmer>,
    config: PosterConfig,
    /// Refused responses to sign again: call key → schedule.
    resign: Mutex<HashMap<String, Resign>>,
}

impl<N: Node> Poster<N> {
    /// A poster signing with `key` for chain `chain_id`.
    pub fn new(
        node: Arc<N>,
        key: Arc<PrivateKey>,
        chain_id: u64,
        registry: Arc<Registry>,
        confirmer: Arc<Confirmer>,
        config: PosterConfig,
    ) -> Poster<N> {
        let worker = key.address();
        Poster {
            node,
            key,
            worker,
            chain_id,
            registry,
            confirmer,
            config,
            resign: Mutex::new(HashMap::new()),
        }
    }

    /// The worker address responses are signed by.
    pub fn worker(&self) -> Address {
        self.worker
    }

    /// Builds and signs the response tx for `answer`.
    pub fn sign(&self, answer: &Answer) -> Result<SignedResponse, PosterError> {
        let call = &answer.call;
        let paths = AppPaths::new(&call.app).map_err(|e| PosterError::Sign(e.to_string()))?;
        let path = paths.response(&call.function, &call.call_id);
        let facts = CallFacts::of(answer, self.worker);
        let value = build_response(&facts, &answer.result, &path, self.config.tx_limit);
        self.seal(TxBody::new(
            SimpleOp::set_value(path, value),
            NONCE_UNORDERED,
            now_ms(),
        ))
    }

    /// Signs `body` with the worker key into the journal's form of a response tx.
    fn seal(&self, body: TxBody) -> Result<SignedResponse, PosterError> {
        let signed = body
            .sign(&self.key, self.chain_id)
            .map_err(|e| PosterError::Sign(e.to_string()))?;
        let tx_body =
            serde_json::to_value(&signed.tx_body).map_err(|e| PosterError::Sign(e.to_string()))?;
        Ok(SignedResponse {
            tx_body,
            signature: signed.signature,
            hash: signed.hash.to_string(),
        })
    }

    /// Submits a signed response until the node accepts it, refuses it for good, or `cancel`.
    pub async fn submit(
        &self,
        resp: &SignedResponse,
        cancel: &CancellationToken,
    ) -> Result<Posted, PosterError> {
        let sig =
            Signature::parse(&resp.signature).map_err(|e| PosterError::Malformed(e.to_string()))?;
        let hash = sig.hash;
        let mut delay = self.config.backoff_min;
        loop {
            let transient = match self.node.send(&resp.tx_body, &sig).await {
                Ok(r) if r.is_success() => return Ok(Posted::Accepted(hash)),
                Ok(r) => match r.failure_code() {
                    Some(codes::TX_ALREADY_RECEIVED) => match self.node.tx_state(&hash).await {
                        Ok(Some(
                            state @ (TxState::Failed | TxState::Reverted | TxState::Pending),
                        )) => {
                            return Err(PosterError::Refused {
                                code: Some(codes::TX_ALREADY_RECEIVED),
                                message: format!(
                                    "the node already has this response tx and it failed ({state:?})"
                                ),
                            });
                        }
                        // Executed, in a block or final; or a state the node no longer reports
                        // (the confirmer reads it back later).
                        Ok(_) => return Ok(Posted::Accepted(hash)),
                        Err(e) => format!("duplicate, state unreadable: {e}"),
                    },
                    Some(codes::EVAL_RULE_FALSE_WRITE_RULE_EVAL) => {
                        return self.refused_by_rule(resp).await;
                    }
                    code if r.is_transient_failure() => format!("code {code:?}"),
                    code => {
                        return Err(PosterError::Refused {
                            code,
                            message: r.message().unwrap_or_default().to_owned(),
                        });
                    }
                },
                Err(e) if e.is_transient() => e.to_string(),
                Err(e) => {
                    return Err(PosterError::Refused {
                        code: e.code(),
                        message: e.to_string(),
                    });
                }
            };
            metrics::counter!("ain_sre_post_retries_total").increment(1);
            tracing::debug!(tx = %hash, reason = %transient, ?delay, "response not accepted yet; retrying");
            tokio::select! {
                _ = cancel.cancelled() => return Err(PosterError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(self.config.backoff_max);
        }
    }

    /// 12103: if a response is there, another worker answered; otherwise the rule refuses this
    /// worker (not registered?).
    async fn refused_by_rule(&self, resp: &SignedResponse) -> Result<Posted, PosterError> {
        let path = resp.tx_body["operation"]["ref"]
            .as_str()
            .unwrap_or_default();
        let mut delay = self.config.backoff_min;
        for _ in 0..5 {
            match get_value(&*self.node, path).await {
                Ok(Value::Null) => {
                    return Err(PosterError::Refused {
                        code: Some(codes::EVAL_RULE_FALSE_WRITE_RULE_EVAL),
                        message: format!(
                            "the app's rule refused the response at {path}: is worker {} approved by the app admin (ain-sre workers add) and does the request exist?",
                            self.worker
                        ),
                    });
                }
                Ok(_) => return Ok(Posted::AnsweredElsewhere),
                Err(_) => tokio::time::sleep(delay).await,
            }
            delay *= 2;
        }
        Err(PosterError::Refused {
            code: Some(codes::EVAL_RULE_FALSE_WRITE_RULE_EVAL),
            message: format!("write rule refused the response at {path}"),
        })
    }

    /// Signs, journals and submits one answer, updating the registry.
    pub async fn answer(
        &self,
        answer: Answer,
        cancel: &CancellationToken,
    ) -> Result<(), PosterError> {
        let key = answer.call.key.clone();
        let status = match &answer.result {
            crate::receipt::CallResult::Ran(o) => o.status(),
            crate::receipt::CallResult::Rejected(_) => "rejected",
            crate::receipt::CallResult::HostFault(_) => "host_error",
        };
        metrics::counter!("ain_sre_calls_total", "status" => status, "tier" => answer.sandbox.clone(),
            "app" => answer.call.app.clone(), "function" => answer.call.function.clone())
        .increment(1);
        let resp = self.sign(&answer)?;
        self.registry.signed(&key, resp.clone()).await?;
        tracing::debug!(tx = %resp.hash, status, "response signed and journaled");
        let t = Instant::now();
        let out = self.deliver(&key, resp, cancel).await;
        metrics::histogram!("ain_sre_stage_seconds", "stage" => "post")
            .record(t.elapsed().as_secs_f64());
        if out.is_ok() {
            metrics::histogram!("ain_sre_stage_seconds", "stage" => "e2e")
                .record(answer.call.seen_at.elapsed().as_secs_f64());
        }
        out
    }

    /// Submits a journaled response and records the outcome.
    pub async fn deliver(
        &self,
        key: &str,
        resp: SignedResponse,
        cancel: &CancellationToken,
    ) -> Result<(), PosterError> {
        match self.submit(&resp, cancel).await {
            Ok(Posted::Accepted(hash)) => {
                self.resign_lock().remove(key);
                self.registry.posted(key)?;
                tracing::info!(call = key, tx = %hash, "response accepted");
                self.confirmer.track(hash, key.to_owned());
                Ok(())
            }
            Ok(Posted::AnsweredElsewhere) => {
                self.resign_lock().remove(key);
                metrics::counter!("ain_sre_answered_elsewhere_total").increment(1);
                tracing::info!(call = key, "another worker answered first");
                self.registry.finish(key, CallState::AnsweredElsewhere);
                Ok(())
            }
            Err(e) => {
                if !matches!(e, PosterError::Cancelled) {
                    metrics::counter!("ain_sre_post_failures_total").increment(1);
                    if e.could_land_later() && self.schedule_resign(key) {
                        tracing::warn!(call = key, tx = %resp.hash, error = %e, "response refused; it will be signed again while the request stands unanswered");
                    } else {
                        tracing::error!(call = key, tx = %resp.hash, error = %e, "response not posted; it stays journaled");
                    }
                }
                Err(e)
            }
        }
    }

    /// Runs the poster: answers and resubmissions in, until both channels close. Each response is
    /// posted on its own task (at most `max_inflight` at once); `hard` abandons retries.
    pub async fn run(
        self: Arc<Self>,
        mut answers: mpsc::Receiver<Answer>,
        mut resubmits: mpsc::Receiver<Resubmit>,
        hard: CancellationToken,
        tracker: TaskTracker,
    ) -> Result<(), PosterError> {
        let slots = Arc::new(Semaphore::new(self.config.max_inflight.max(1)));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut answers_open, mut resubmits_open) = (true, true);
        while answers_open || resubmits_open {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.map_err(|_| PosterError::Cancelled)?,
                _ = hard.cancelled() => return Ok(()),
            };
            tokio::select! {
                a = answers.recv(), if answers_open => match a {
                    Some(answer) => {
                        let me = self.clone();
                        let hard = hard.clone();
                        let span = tracing::info_span!("call", call = %answer.call.key, request_tx = %answer.call.request_tx);
                        tracker.spawn(async move {
                            let _permit = permit;
                            let _ = me.answer(answer, &hard).await;
                        }.instrument(span));
                    }
                    None => answers_open = false,
                },
                r = resubmits.recv(), if resubmits_open => match r {
                    Some(r) => {
                        let me = self.clone();
                        let hard = hard.clone();
                        let span = tracing::info_span!("call", call = %r.key, tx = %r.response.hash);
                        tracker.spawn(async move {
                            let _permit = permit;
                            let _ = me.deliver(&r.key, r.response, &hard).await;
                        }.instrument(span));
                    }
                    None => resubmits_open = false,
                },
                _ = tick.tick() => {
                    drop(permit);
                    self.check_stale(&hard).await;
                    for key in self.resign_due() {
                        let me = self.clone();
                        let hard = hard.clone();
                        let slots = slots.clone();
                        let span = tracing::info_span!("call", call = %key);
                        tracker.spawn(async move {
                            let Ok(_permit) = slots.acquire_owned().await else {
                                return;
                            };
                            me.resign(&key, &hard).await;
                        }.instrument(span));
                    }
                }
                _ = hard.cancelled() => return Ok(()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
