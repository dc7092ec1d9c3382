//! The chain core: blocks, the three states (finalized, tip, pending), the tx pool and the
//! tx tracker. All methods are synchronous and quick; the server holds the chain behind one mutex
//! and never across an await, a disk write or an event emission.
//!
//! Finality with one validator: block N is final once block N+1 is built (N+1 carries N's
//! proposal and vote). The block APIs serve finalized blocks only, as the node does, so the tip
//! is not served until its successor exists; `is_final` reads and `from: committed` nonces read
//! the state after the last finalized block. To make every tx block final and provable by a
//! served successor, the producer keeps building (empty) blocks until the tip is two blocks past
//! the last block with transactions.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::exec::ExecParams;
use super::perm::RuleCache;
use super::state::State;
use super::store::{Persister, Store, StoreError};
use ain_ledger::block::Block;
use ain_ledger::crypto::{Address, CryptoError, Hash, PrivateKey};
use ain_ledger::tx::SignedTx;

mod load;
mod pool;
mod produce;

pub use pool::{Accepted, TxInfo};
pub use produce::{Built, Draft, build};

/// Why the chain cannot start or continue.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("signing: {0}")]
    Crypto(#[from] CryptoError),
    /// The data directory does not belong to this configuration, or is corrupt.
    #[error("{0}")]
    Invalid(String),
}

/// Chain parameters fixed at start.
#[derive(Clone, Debug)]
pub struct ChainParams {
    /// Execution parameters.
    pub exec: ExecParams,
    /// Chain id.
    pub chain_id: u64,
    /// Network id.
    pub network_id: u64,
    /// Validator stake.
    pub stake: u64,
    /// Pool limits.
    pub pool: super::config::PoolLimits,
    /// Block interval in ms (epoch length).
    pub interval_ms: u64,
    /// Most txs per block.
    pub max_txs_per_block: usize,
    /// Produce blocks with nothing to finalize.
    pub empty_blocks: bool,
    /// Snapshot every this many blocks.
    pub snapshot_interval: u64,
    /// Genesis timestamp of a chain created by [`Chain::open`]; `None`: the moment it is
    /// created. A chain read from a store keeps its stored genesis.
    pub genesis_timestamp: Option<u64>,
    /// Accounts funded at genesis (see `DevnetConfig::genesis_balances`).
    pub genesis_balances: Vec<(String, u64)>,
}

/// Where an in-block tx is, as stored in the `txs` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TxRecord {
    pub number: u64,
    pub index: usize,
    pub exec_result: Value,
    pub created_at: u64,
    pub executed_at: u64,
}

/// Blocks kept in memory besides the store.
const RECENT_BLOCKS: usize = 64;

/// The chain (see the module docs).
pub struct Chain {
    params: ChainParams,
    key: Arc<PrivateKey>,
    validator: Address,
    genesis_hash: Hash,
    tip: Arc<Block>,
    tip_state: State,
    final_state: State,
    pending: State,
    pool: VecDeque<pool::PoolTx>,
    pool_hashes: HashMap<Hash, u64>,
    per_account: HashMap<Address, (usize, usize)>,
    free_txs: usize,
    next_pool_seq: u64,
    recent: VecDeque<Arc<Block>>,
    last_tx_block: Option<u64>,
    building: bool,
    rules: RuleCache,
    store: Store,
    persister: Persister,
}

impl Chain {
    /// The validator's address.
    pub fn validator(&self) -> Address {
        self.validator
    }

    /// The genesis block hash (what a follower trusts).
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The persister, for waiting on durability.
    pub fn persister(&self) -> &Persister {
        &self.persister
    }

    /// The newest block, final or not.
    pub fn tip(&self) -> &Arc<Block> {
        &self.tip
    }

    /// The newest finalized block number.
    pub fn finalized_number(&self) -> u64 {
        self.tip.number.saturating_sub(1)
    }

    /// The state including pool txs (`ain_get` default, `from: pending`).
    pub fn pending_state(&self) -> &State {
        &self.pending
    }

    /// The state after the last finalized block (`is_final`, `from: committed`).
    pub fn final_state(&self) -> &State {
        &self.final_state
    }

    /// Transactions in the pool.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    fn cached(&self, number: u64) -> Option<Arc<Block>> {
        let first = self.recent.front()?.number;
        let i = number.checked_sub(first)? as usize;
        self.recent.get(i).cloned()
    }

    /// Block `number` whether final or not.
    pub(crate) fn any_block(&self, number: u64) -> Result<Option<Arc<Block>>, ChainError> {
        if number > self.tip.number {
            return Ok(None);
        }
        if let Some(b) = self.cached(number) {
            return Ok(Some(b));
        }
        match self.store.block_bytes(number)? {
            Some(bytes) => {
                let b: Block = serde_json::from_slice(&bytes)
                    .map_err(|e| ChainError::Invalid(format!("stored block {number}: {e}")))?;
                Ok(Some(Arc::new(b)))
            }
            None => Ok(None),
        }
    }

    /// Finalized block `number` (what the block APIs serve).
    pub fn block(&self, number: u64) -> Result<Option<Arc<Block>>, ChainError> {
        if number > self.finalized_number() {
            return Ok(None);
        }
        self.any_block(number)
    }

    /// Finalized block with `hash`.
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<Arc<Block>>, ChainError> {
        match self.store.block_number(&hash.0)? {
            Some(n) => self.block(n),
            None => Ok(None),
        }
    }

    /// `getBlockList(from, to)`: finalized blocks `from..to` (at most 20), with the node's
    /// quirks (`from` one past the last block gives the last block; bad bounds are clamped).
    pub fn block_list(
        &self,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<Arc<Block>>, ChainError> {
        let last = self.finalized_number();
        if from == Some(last as i64 + 1) {
            return Ok(self.block(last)?.into_iter().collect());
        }
        let from = from.filter(|f| *f >= 0).unwrap_or(0) as u64;
        let mut to = to.filter(|t| *t >= 0).map_or(last + 1, |t| t as u64);
        to = to.min(from.saturating_add(20)).min(last + 1);
        let mut out = Vec::new();
        for n in from..to {
            if let Some(b) = self.block(n)? {
                out.push(b);
            }
        }
        Ok(out)
    }

    fn remember(&mut self, block: Arc<Block>) {
        self.recent.push_back(block);
        while self.recent.len() > RECENT_BLOCKS {
            self.recent.pop_front();
        }
    }

    /// The account nonce and timestamp in the pending or final state.
    pub fn nonce_and_timestamp(&self, addr: &Address, pending: bool) -> (Value, Value) {
        let state = if pending {
            &self.pending
        } else {
            &self.final_state
        };
        let a = addr.to_checksum();
        let or_zero = |v: Value| if v.is_null() { Value::from(0) } else { v };
        (
            or_zero(state.value(&["accounts", &a, "nonce"])),
            or_zero(state.value(&["accounts", &a, "timestamp"])),
        )
    }

    /// Stops the store writer once everything queued is durable.
    pub fn close(&self) {
        self.persister.close();
    }
}

/// The 4-field tx object (`{tx_body, signature, hash, address}`) as JSON.
pub(crate) fn tx_json(tx: &SignedTx) -> Value {
    let mut four = tx.clone();
    four.extra = None;
    serde_json::to_value(&four).unwrap_or(Value::Null)
}

/// The tx object with an `extra`.
pub(crate) fn tx_json_with_extra(tx: &SignedTx, extra: Value) -> Value {
    let mut v = tx_json(tx);
    v["extra"] = extra;
    v
}

#[cfg(test)]
mod tests;
