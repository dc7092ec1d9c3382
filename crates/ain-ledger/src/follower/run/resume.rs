//! The follower's start: resume from the persisted cursor, or fetch the trusted genesis, verify it
//! and deliver it as the first block.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::block::Block;
use crate::crypto::Hash;

use super::super::verify::{Anchor, verify_genesis};
use super::super::{BlockSource, Follower, FollowerError, TrustedGenesis};
use super::{Progress, Step, blocking, race};

impl<S: BlockSource> Follower<S> {
    /// Resumes from the cursor, or verifies and delivers the trusted genesis.
    pub(super) async fn start(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<Step<Progress>, FollowerError> {
        let store = self.store.clone();
        let stored = blocking(move || store.load()).await??;
        let genesis = match &self.genesis {
            TrustedGenesis::Block(b) => {
                let started = Instant::now();
                let signatures = verify_genesis(b, None, self.config.chain_id)?;
                self.stats.record_verified(signatures, started.elapsed());
                Some(Arc::new((**b).clone()))
            }
            TrustedGenesis::Hash(_) => None,
        };
        let genesis_hash = match (&self.genesis, &genesis) {
            (_, Some(b)) => b.hash,
            (TrustedGenesis::Hash(h), None) => *h,
            (TrustedGenesis::Block(b), None) => b.hash,
        };
        if let Some(c) = stored {
            if c.chain_id != self.config.chain_id || c.genesis_hash != genesis_hash {
                return Err(FollowerError::CursorMismatch(format!(
                    "cursor is for chain {} genesis {}, configured chain {} genesis {}",
                    c.chain_id, c.genesis_hash, self.config.chain_id, genesis_hash
                )));
            }
            tracing::info!(height = c.anchor.number, hash = %c.anchor.hash, "follower resuming from cursor");
            self.stats
                .delivered
                .store(c.anchor.number, Ordering::Relaxed);
            self.stats
                .persisted
                .store(c.anchor.number, Ordering::Relaxed);
            return Ok(Step::Done(Progress {
                genesis_hash,
                delivered: Some(c.anchor.number),
                persisted: Some(c.anchor.number),
                persisted_anchor: Some(c.anchor.clone()),
                resumed_parent: Some(c.previous),
                verified: c.anchor,
                held: None,
                unacked: VecDeque::new(),
                last_ack: None,
            }));
        }
        let genesis = match genesis {
            Some(g) => g,
            None => match self.fetch_genesis(&genesis_hash, cancel).await? {
                Step::Done(g) => g,
                Step::Stop(s) => return Ok(Step::Stop(s)),
            },
        };
        tracing::info!(hash = %genesis.hash, "follower starting from the trusted genesis");
        let anchor = Anchor::new(&genesis, None);
        let mut p = Progress {
            genesis_hash,
            verified: anchor.clone(),
            held: None,
            delivered: None,
            unacked: VecDeque::new(),
            persisted: None,
            persisted_anchor: None,
            resumed_parent: None,
            last_ack: None,
        };
        // Genesis is trusted by configuration, not by votes: deliver it at once.
        if let Some(stop) = self.deliver(&mut p, genesis, anchor, cancel).await {
            return Ok(Step::Stop(stop));
        }
        Ok(Step::Done(p))
    }

    pub(super) async fn fetch_genesis(
        &mut self,
        trusted: &Hash,
        cancel: &CancellationToken,
    ) -> Result<Step<Arc<Block>>, FollowerError> {
        loop {
            let answer = race(cancel, self.source.block_list(0, 1)).await;
            match self.after_source(answer, cancel).await? {
                Step::Stop(s) => return Ok(Step::Stop(s)),
                Step::Done(Some(blocks)) if !blocks.is_empty() => {
                    let Some(block) = blocks.into_iter().next() else {
                        continue;
                    };
                    let started = Instant::now();
                    let signatures = verify_genesis(&block, Some(trusted), self.config.chain_id)?;
                    self.stats.record_verified(signatures, started.elapsed());
                    return Ok(Step::Done(Arc::new(block)));
                }
                Step::Done(_) => {
                    if let Some(stop) = self.idle(cancel, self.config.retry_interval).await {
                        return Ok(Step::Stop(stop));
                    }
                }
            }
        }
    }
}
