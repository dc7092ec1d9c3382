//! Confirmation: the [`Confirmer`] learns every tx hash of each verified final block from the
//! follower; responses still unconfirmed after a while are read back (`Poster::check_stale`) and
//! re-submitted if the node lost them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::call::Registry;
use crate::journal::CallState;
use crate::ledger::crypto::Hash;
use crate::ledger::rpc::TxState;
use crate::ledger::sync::LockExt;
use crate::node::{Node, get_value};

use super::Poster;
use super::standing::{Standing, standing};

/// Posted responses waiting to be seen in a final block.
#[derive(Debug)]
pub struct Confirmer {
    registry: Arc<Registry>,
    /// Posted response tx → (call key, when last looked at, times read back). The signed
    /// response itself stays in the journal: during a catch-up thousands of responses wait here
    /// for the follower to reach their block, and holding each tx body in memory cost ~10 KB per
    /// call.
    waiting: Mutex<HashMap<Hash, (String, Instant, u32)>>,
}

/// Read-backs after which a response the node still reports as executed or in a block, but not
/// final, is looked at on chain: a real node that restarted keeps tracker entries `IN_BLOCK`
/// for txs its new chain no longer has (ain-protocol.md §6).
pub(super) const STUCK_LOOKS: u32 = 6;

impl Confirmer {
    /// A confirmer finishing calls in `registry`.
    pub fn new(registry: Arc<Registry>) -> Confirmer {
        Confirmer {
            registry,
            waiting: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, (String, Instant, u32)>> {
        self.waiting.lock_or_recover()
    }

    /// Waits for `hash` to appear in a final block.
    pub fn track(&self, hash: Hash, key: String) {
        self.lock().insert(hash, (key, Instant::now(), 0));
    }

    /// Every tx hash of a verified final block: the responses among them are confirmed.
    pub fn on_block(&self, hashes: &[Hash]) {
        let done: Vec<String> = {
            let mut w = self.lock();
            hashes
                .iter()
                .filter_map(|h| w.remove(h).map(|e| e.0))
                .collect()
        };
        for key in done {
            self.registry.finish(&key, CallState::Confirmed);
        }
    }

    fn stale(&self, age: Duration) -> Vec<(Hash, String, u32)> {
        let mut w = self.lock();
        let now = Instant::now();
        w.iter_mut()
            .filter(|(_, e)| now.duration_since(e.1) >= age)
            .map(|(h, e)| {
                e.1 = now;
                e.2 += 1;
                (*h, e.0.clone(), e.2)
            })
            .collect()
    }

    fn forget(&self, hash: &Hash) -> Option<String> {
        self.lock().remove(hash).map(|e| e.0)
    }

    /// Responses waiting.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }
}

impl<N: Node> Poster<N> {
    /// Reads back responses not confirmed by a final block in time.
    pub async fn check_stale(&self, cancel: &CancellationToken) {
        for (hash, key, looks) in self.confirmer.stale(self.config.confirm_after) {
            match self.node.tx_state(&hash).await {
                Ok(Some(TxState::Finalized)) => {
                    if let Some(k) = self.confirmer.forget(&hash) {
                        self.registry.finish(&k, CallState::Confirmed);
                    }
                }
                Ok(Some(TxState::Reverted | TxState::Failed | TxState::Pending)) => {
                    self.confirmer.forget(&hash);
                    let Some(resp) = self.journaled(&key, &hash) else {
                        continue;
                    };
                    let path = resp.tx_body["operation"]["ref"]
                        .as_str()
                        .unwrap_or_default();
                    if matches!(get_value(&*self.node, path).await, Ok(v) if !v.is_null()) {
                        self.registry.finish(&key, CallState::AnsweredElsewhere);
                    } else if self.schedule_resign(&key) {
                        tracing::warn!(call = %key, tx = %hash, "response reverted and nothing is on chain; it will be signed again while the request stands unanswered");
                    }
                }
                Ok(None | Some(TxState::TimedOut)) => {
                    self.confirmer.forget(&hash);
                    let Some(resp) = self.journaled(&key, &hash) else {
                        continue;
                    };
                    tracing::warn!(call = %key, tx = %hash, "the node lost the response; submitting it again");
                    let _ = self.deliver(&key, resp, cancel).await;
                }
                Ok(Some(_)) if looks >= STUCK_LOOKS => {
                    // Executed or in a block for minutes, never final: what the chain holds
                    // decides.
                    match standing(&*self.node, &key, &self.worker).await {
                        Standing::Open => {
                            self.confirmer.forget(&hash);
                            if self.schedule_resign(&key) {
                                tracing::warn!(call = %key, tx = %hash, "the node reports the response but never finalized it, and nothing is on chain; it will be signed again");
                            }
                        }
                        Standing::NoRequest => {
                            self.confirmer.forget(&hash);
                            tracing::warn!(call = %key, tx = %hash, "the node never finalized the response and the request is gone; nothing is sent");
                            self.registry.finish(&key, CallState::NoRequest);
                        }
                        Standing::Answered { ours } => {
                            // Final once the follower reaches its block; by another worker:
                            // nothing more to do.
                            if !ours {
                                self.confirmer.forget(&hash);
                                self.registry.finish(&key, CallState::AnsweredElsewhere);
                            }
                        }
                        Standing::Unknown => {}
                    }
                }
                Ok(Some(_)) | Err(_) => {}
            }
        }
    }
}
