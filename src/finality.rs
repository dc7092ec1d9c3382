//! The finality gate: calls of `finality: "finalized"` functions wait here until the follower has
//! verified their request tx in a final block.

use crate::ledger::sync::LockExt;
use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::ledger::crypto::Hash;
use crate::recent::Recent;

/// Tx hashes seen in verified final blocks (a bounded window) and the calls waiting for them.
#[derive(Debug)]
pub struct FinalityGate {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    final_txs: Recent<Hash>,
    waiting: HashMap<Hash, Vec<oneshot::Sender<()>>>,
}

impl FinalityGate {
    /// A gate remembering the last `cap` final tx hashes.
    pub fn new(cap: usize) -> FinalityGate {
        FinalityGate {
            inner: Mutex::new(Inner {
                final_txs: Recent::new(cap),
                waiting: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock_or_recover()
    }

    /// Records the txs of a verified final block and releases their waiters.
    pub fn on_block(&self, hashes: &[Hash]) {
        let mut inner = self.lock();
        for h in hashes {
            inner.final_txs.insert(*h);
            if let Some(ws) = inner.waiting.remove(h) {
                for w in ws {
                    let _ = w.send(());
                }
            }
        }
    }

    /// Resolves once `hash` is in a verified final block (at once if it already was).
    pub async fn wait(&self, hash: Hash) {
        let rx = {
            let mut inner = self.lock();
            if inner.final_txs.contains(&hash) {
                return;
            }
            let (tx, rx) = oneshot::channel();
            inner.waiting.entry(hash).or_default().push(tx);
            rx
        };
        // A dropped sender only happens when the gate is dropped: then nothing will come.
        if rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Calls waiting.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_until_final_and_remembers() {
        let gate = Arc::new(FinalityGate::new(2));
        let g = gate.clone();
        let w = tokio::spawn(async move { g.wait(Hash([1; 32])).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!w.is_finished());
        assert_eq!(gate.waiting(), 1);
        gate.on_block(&[Hash([1; 32]), Hash([2; 32])]);
        tokio::time::timeout(Duration::from_secs(1), w)
            .await
            .unwrap()
            .unwrap();
        // Already final: returns at once.
        tokio::time::timeout(Duration::from_millis(100), gate.wait(Hash([2; 32])))
            .await
            .unwrap();
        gate.on_block(&[Hash([3; 32]), Hash([4; 32])]);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), gate.wait(Hash([1; 32])))
                .await
                .is_err(),
            "the window is bounded"
        );
    }
}
