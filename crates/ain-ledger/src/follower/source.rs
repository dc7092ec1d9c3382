//! Where the follower gets blocks: the [`BlockSource`] seam, and an in-memory source.
//!
//! The JSON-RPC client implements [`BlockSource`] with `ain_getLastBlockNumber` and
//! `ain_getBlockList` (`rpc_source`, which also states the transient/permanent error policy); [`MemorySource`] serves fixture or synthetic blocks to tests and offline
//! tools. The follower trusts a source for nothing but availability: every block is verified.

use crate::sync::LockExt;
use std::future::Future;
use std::sync::Mutex;

use crate::block::Block;

/// The node caps `ain_getBlockList` at this many blocks per call (`CHAIN_SEGMENT_LENGTH`).
pub const MAX_BLOCKS_PER_CALL: u64 = 20;

/// Why a source could not answer: transient or permanent, by the one policy documented in
/// [`super::rpc_source`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Transient: the node is unreachable, busy or not serving yet; the follower retries later,
    /// for as long as it takes.
    #[error("block source unavailable: {0}")]
    Unavailable(String),
    /// Permanent: the node answered, and asking again would get the same answer — it refused
    /// the request (protocol version, unknown method, bad parameters, HTTP 4xx) or sent
    /// something that is not a block list (for example a block that does not parse). The
    /// follower stops with this as the reason.
    #[error("block source failed for good: {0}")]
    Malformed(String),
}

/// A supplier of finalized blocks.
pub trait BlockSource: Send + Sync + 'static {
    /// The number of the newest finalized block the source can serve.
    fn last_block_number(&self) -> impl Future<Output = Result<u64, SourceError>> + Send;

    /// Full blocks `from..to_exclusive` in order (at most [`MAX_BLOCKS_PER_CALL`]; the follower
    /// never asks for more). A shorter answer, even empty, means "not available yet".
    fn block_list(
        &self,
        from: u64,
        to_exclusive: u64,
    ) -> impl Future<Output = Result<Vec<Block>, SourceError>> + Send;
}

/// Serves blocks from memory: `blocks[i]` is served as block `i`, whatever it claims, so tests
/// can plant tampered blocks. The visible tip can be held back to simulate a growing chain.
#[derive(Debug, Default)]
pub struct MemorySource {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    blocks: Vec<Block>,
    visible_tip: Option<u64>,
    unavailable: u32,
    calls: u64,
}

impl MemorySource {
    /// A source serving all of `blocks`.
    pub fn new(blocks: Vec<Block>) -> MemorySource {
        MemorySource {
            inner: Mutex::new(Inner {
                blocks,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicked test thread must not wedge the others; the data stays usable.
        self.inner.lock_or_recover()
    }

    /// Serves only blocks up to `tip` (all of them with `None`).
    pub fn set_visible_tip(&self, tip: Option<u64>) {
        self.lock().visible_tip = tip;
    }

    /// Appends a block.
    pub fn push(&self, block: Block) {
        self.lock().blocks.push(block);
    }

    /// Replaces the block served at position `index`.
    pub fn replace(&self, index: usize, block: Block) {
        if let Some(slot) = self.lock().blocks.get_mut(index) {
            *slot = block;
        }
    }

    /// Makes the next `n` calls fail with [`SourceError::Unavailable`].
    pub fn fail_next(&self, n: u32) {
        self.lock().unavailable = n;
    }

    /// How many calls were answered or refused so far.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    fn tip(inner: &Inner) -> Option<u64> {
        let last = (inner.blocks.len() as u64).checked_sub(1)?;
        Some(inner.visible_tip.map_or(last, |t| t.min(last)))
    }

    fn refuse(inner: &mut Inner) -> Result<(), SourceError> {
        inner.calls += 1;
        if inner.unavailable > 0 {
            inner.unavailable -= 1;
            return Err(SourceError::Unavailable("simulated outage".into()));
        }
        Ok(())
    }
}

impl BlockSource for MemorySource {
    async fn last_block_number(&self) -> Result<u64, SourceError> {
        let mut inner = self.lock();
        MemorySource::refuse(&mut inner)?;
        MemorySource::tip(&inner).ok_or_else(|| SourceError::Unavailable("no blocks yet".into()))
    }

    async fn block_list(&self, from: u64, to_exclusive: u64) -> Result<Vec<Block>, SourceError> {
        let mut inner = self.lock();
        MemorySource::refuse(&mut inner)?;
        let Some(tip) = MemorySource::tip(&inner) else {
            return Ok(Vec::new());
        };
        let end = to_exclusive
            .min(tip.saturating_add(1))
            .min(from.saturating_add(MAX_BLOCKS_PER_CALL));
        Ok((from..end)
            .filter_map(|i| inner.blocks.get(usize::try_from(i).ok()?).cloned())
            .collect())
    }
}
