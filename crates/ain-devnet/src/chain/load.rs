//! Opening a chain: a new genesis in an empty store, or the stored chain reloaded: the latest
//! state snapshot, the blocks after it re-executed (no events), the pool re-admitted.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};

use super::pool::PoolTx;
use super::{Chain, ChainError, ChainParams, TxRecord};
use crate::event_handler::EventTx;
use crate::exec::{TxEnv, execute_trusted, execute_tx};
use crate::genesis::{GENESIS_TIMESTAMP, GenesisParams, build_genesis};
use crate::perm::RuleCache;
use crate::state::State;
use crate::store::{Persister, Store, WriteOp};
use ain_ledger::block::Block;
use ain_ledger::crypto::PrivateKey;
use ain_ledger::tx::Operation;

fn invalid(msg: impl Into<String>) -> ChainError {
    ChainError::Invalid(msg.into())
}

fn read_block(store: &Store, n: u64) -> Result<Block, ChainError> {
    let bytes = store
        .block_bytes(n)?
        .ok_or_else(|| invalid(format!("block {n} is missing from the store")))?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(format!("stored block {n}: {e}")))
}

/// The state genesis leaves, from the genesis block's own ops.
fn genesis_state(genesis: &Block, rules: &mut RuleCache) -> Result<State, ChainError> {
    let tx = genesis
        .transactions
        .first()
        .ok_or_else(|| invalid("genesis block has no transactions"))?;
    let ops = match &tx.tx_body.operation {
        Operation::Set(ops) => ops.clone(),
        Operation::Simple(op) => vec![op.clone()],
    };
    let mut state = State::default();
    execute_trusted(&mut state, rules, &ops, &tx.address.to_checksum());
    Ok(state)
}

/// The genesis time of a new chain: now, and never the same twice in this process (two chains
/// created in one millisecond would otherwise share a genesis hash).
fn fresh_genesis_time() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = ain_ledger::now_ms().max(GENESIS_TIMESTAMP);
    let prev = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(0);
    now.max(prev + 1)
}

impl Chain {
    /// Opens the chain in `store` (creating genesis when it is empty).
    pub fn open(
        store: Store,
        key: Arc<PrivateKey>,
        params: ChainParams,
    ) -> Result<Chain, ChainError> {
        let validator = key.address();
        let mut rules = RuleCache::default();
        let last = match store.last_block_number()? {
            Some(n) => n,
            None => {
                let gp = GenesisParams {
                    chain_id: params.chain_id,
                    network_id: params.network_id,
                    stake: params.stake,
                    timestamp: params.genesis_timestamp.unwrap_or_else(fresh_genesis_time),
                    balances: params.genesis_balances.clone(),
                };
                let (genesis, _) = build_genesis(&key, &gp)?;
                let txs = genesis
                    .transactions
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let rec = TxRecord {
                            number: 0,
                            index: i,
                            exec_result: genesis.receipts[i].clone(),
                            created_at: genesis.timestamp,
                            executed_at: genesis.timestamp,
                        };
                        (t.hash.0, serde_json::to_vec(&rec).unwrap_or_default())
                    })
                    .collect();
                let meta = json!({"validator": validator, "chain_id": params.chain_id,
                                  "network_id": params.network_id});
                store.write(&[
                    WriteOp::Meta {
                        key: "config".into(),
                        value: serde_json::to_vec(&meta).unwrap_or_default(),
                    },
                    WriteOp::Block {
                        number: 0,
                        hash: genesis.hash.0,
                        block: serde_json::to_vec(&genesis).unwrap_or_default(),
                        txs,
                        pool_remove: Vec::new(),
                        snapshot: None,
                    },
                ])?;
                0
            }
        };
        if let Some(bytes) = store.meta("config")? {
            let meta: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let want = json!({"validator": validator, "chain_id": params.chain_id,
                              "network_id": params.network_id});
            if meta != want {
                return Err(invalid(format!(
                    "the data directory holds a chain created with {meta}, not {want}"
                )));
            }
        }
        let genesis = read_block(&store, 0)?;
        let (from, mut state) = match store.snapshot()? {
            Some((n, bytes)) if n <= last => {
                let v: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| invalid(format!("stored snapshot {n}: {e}")))?;
                (n, State::from_snapshot(&v))
            }
            _ => (0, genesis_state(&genesis, &mut rules)?),
        };
        let mut final_state = state.clone();
        let mut recent = VecDeque::new();
        let mut tip = Arc::new(read_block(&store, from)?);
        let mut last_tx_block = None;
        if !tip.transactions.is_empty() && tip.number > 0 {
            last_tx_block = Some(tip.number);
        }
        recent.push_back(tip.clone());
        for n in from + 1..=last {
            let block = Arc::new(read_block(&store, n)?);
            if block.last_hash != Some(tip.hash) {
                return Err(invalid(format!(
                    "stored block {n} does not extend block {}",
                    n - 1
                )));
            }
            final_state = state.clone();
            let env = TxEnv {
                block_number: n,
                block_time: block.timestamp,
                source: None,
            };
            for (i, tx) in block.transactions.iter().enumerate() {
                let e = execute_tx(
                    &mut state,
                    &mut rules,
                    &params.exec,
                    tx,
                    &EventTx::None,
                    env,
                );
                let stored = block.receipts.get(i).and_then(|r| r.get("code"));
                if stored.is_some() && stored != e.result.get("code") {
                    tracing::warn!(
                        block = n,
                        index = i,
                        "replayed tx result differs from its receipt"
                    );
                }
            }
            if !block.transactions.is_empty() {
                last_tx_block = Some(n);
            }
            recent.push_back(block.clone());
            if recent.len() > super::RECENT_BLOCKS {
                recent.pop_front();
            }
            tip = block;
        }
        let persister = Persister::start(store.clone())?;
        let mut chain = Chain {
            params,
            key,
            validator,
            genesis_hash: genesis.hash,
            tip,
            tip_state: state,
            final_state,
            pending: State::default(),
            pool: VecDeque::new(),
            pool_hashes: HashMap::new(),
            per_account: HashMap::new(),
            free_txs: 0,
            next_pool_seq: 1,
            recent,
            last_tx_block,
            building: false,
            rules,
            store: store.clone(),
            persister,
        };
        for (seq, bytes) in store.pool()? {
            let mut entry: PoolTx = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("stored pool entry {seq}: {e}")))?;
            entry.seq = seq;
            chain.next_pool_seq = chain.next_pool_seq.max(seq + 1);
            chain.add_to_pool(entry);
        }
        chain.rebase_pending();
        Ok(chain)
    }
}
