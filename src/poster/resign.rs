//! The re-sign loop: a refused or reverted response, while its request stands unanswered, is
//! signed again with a fresh timestamp (the same outcome, a new tx hash) and posted, with backoff
//! and a bounded number of attempts.

use std::collections::HashMap;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::call::now_ms;
use crate::journal::{CallRecord, CallState, SignedResponse};
use crate::ledger::crypto::Hash;
use crate::ledger::sync::LockExt;
use crate::ledger::tx::TxBody;
use crate::node::Node;

use super::standing::{Standing, standing};
use super::{Poster, PosterError};

/// When a refused response is signed again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resign {
    /// `None` while an attempt is under way.
    due: Option<Instant>,
    /// Signings so far after the first.
    attempts: u32,
}

impl<N: Node> Poster<N> {
    pub(super) fn resign_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Resign>> {
        self.resign.lock_or_recover()
    }

    /// Schedules `key`'s refused response to be signed again; `false` when its attempts are
    /// used up (it stays journaled: the next start's recovery tries again).
    pub(super) fn schedule_resign(&self, key: &str) -> bool {
        let mut q = self.resign_lock();
        let attempts = q.get(key).map_or(0, |r| r.attempts + 1);
        if attempts >= self.config.resign_attempts {
            q.remove(key);
            drop(q);
            metrics::counter!("ain_sre_resign_given_up_total").increment(1);
            tracing::error!(
                call = key,
                attempts,
                "refused response signed again as often as allowed; it stays journaled for the next start"
            );
            return false;
        }
        let wait = self
            .config
            .resign_min
            .saturating_mul(1u32 << attempts.min(16))
            .min(self.config.resign_max);
        q.insert(
            key.to_owned(),
            Resign {
                due: Some(Instant::now() + wait),
                attempts,
            },
        );
        true
    }

    /// Refused responses waiting to be signed again.
    pub fn resign_pending(&self) -> usize {
        self.resign_lock().len()
    }

    /// Takes the refused responses whose time has come.
    pub(super) fn resign_due(&self) -> Vec<String> {
        let now = Instant::now();
        let mut q = self.resign_lock();
        q.iter_mut()
            .filter(|(_, r)| r.due.is_some_and(|d| d <= now))
            .map(|(k, r)| {
                r.due = None;
                k.clone()
            })
            .collect()
    }

    /// Signs `key`'s journaled response again with a fresh timestamp and posts it, if it is
    /// scheduled for that and the request still stands unanswered; finishes the call otherwise.
    pub async fn resign(&self, key: &str, cancel: &CancellationToken) {
        if !self.resign_lock().contains_key(key) {
            return;
        }
        match standing(&*self.node, key, &self.worker).await {
            Standing::Open => {}
            Standing::NoRequest => {
                self.resign_lock().remove(key);
                tracing::warn!(
                    call = key,
                    "the refused response's request is gone; nothing is sent"
                );
                metrics::counter!("ain_sre_recovery_dropped_total", "reason" => "no_request")
                    .increment(1);
                self.registry.finish(key, CallState::NoRequest);
                return;
            }
            Standing::Answered { ours } => {
                self.resign_lock().remove(key);
                self.registry.finish(
                    key,
                    if ours {
                        CallState::Confirmed
                    } else {
                        CallState::AnsweredElsewhere
                    },
                );
                return;
            }
            Standing::Unknown => {
                self.schedule_resign(key);
                return;
            }
        }
        let Ok(Some(CallRecord {
            response: Some(old),
            ..
        })) = self.registry.journal().get(key)
        else {
            self.resign_lock().remove(key);
            tracing::error!(call = key, "no journaled response to sign again");
            return;
        };
        let fresh = match self.sign_again(&old) {
            Ok(r) => r,
            Err(e) => {
                self.resign_lock().remove(key);
                tracing::error!(call = key, error = %e, "cannot sign the journaled response again");
                return;
            }
        };
        if let Err(e) = self.registry.signed(key, fresh.clone()).await {
            self.schedule_resign(key);
            tracing::error!(call = key, error = %e, "cannot journal the response signed again");
            return;
        }
        metrics::counter!("ain_sre_responses_resigned_total").increment(1);
        tracing::info!(call = key, old_tx = %old.hash, tx = %fresh.hash, "refused response signed again (same outcome, fresh timestamp)");
        let _ = self.deliver(key, fresh, cancel).await;
    }

    /// The journaled response tx with a fresh timestamp, signed again: the same write, a new
    /// hash.
    pub(super) fn sign_again(&self, old: &SignedResponse) -> Result<SignedResponse, PosterError> {
        let mut body: TxBody = serde_json::from_value(old.tx_body.clone())
            .map_err(|e| PosterError::Malformed(e.to_string()))?;
        let before = body.timestamp.as_u64().unwrap_or(0);
        body.timestamp = serde_json::Number::from(now_ms().max(before + 1));
        self.seal(body)
    }

    /// The signed response the journal holds for `key` (the confirmer keeps only the key).
    pub(super) fn journaled(&self, key: &str, hash: &Hash) -> Option<SignedResponse> {
        match self.registry.journal().get(key) {
            Ok(Some(CallRecord {
                response: Some(r), ..
            })) => Some(r),
            Ok(_) => {
                tracing::error!(call = %key, tx = %hash, "no journaled response for a posted call");
                None
            }
            Err(e) => {
                tracing::error!(call = %key, tx = %hash, error = %e, "cannot read the journaled response");
                None
            }
        }
    }
}
