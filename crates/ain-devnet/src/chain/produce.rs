//! Block production in three steps, so the chain lock is never held while executing a block or
//! waiting for the disk: [`Chain::draft`] (under the lock: what goes in), [`build`] (no lock:
//! execute, receipts, `last_votes`, seal) and [`Chain::commit`] (under the lock, after the block
//! is durable: make it the tip, finalize its parent, re-base the pending state, report events).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::pool::PoolTx;
use super::{Chain, ChainParams, TxRecord};
use crate::codes;
use crate::event_handler::{ChainEvent, EventTx};
use crate::exec::{TxEnv, execute_tx};
use crate::genesis::GENESIS_TIMESTAMP;
use crate::perm::RuleCache;
use crate::state::State;
use crate::store::WriteOp;
use ain_ledger::block::consensus::{ProposalValue, VoteValue, proposal_tx_body, vote_tx_body};
use ain_ledger::block::{Block, hash_json, hash_receipts, hash_tx_list};
use ain_ledger::crypto::{CryptoError, Hash, PrivateKey};
use ain_ledger::json::js_sizeof;

/// What the next block is built from.
pub struct Draft {
    prev: Arc<Block>,
    base: State,
    txs: Vec<PoolTx>,
    params: ChainParams,
    key: Arc<PrivateKey>,
}

/// A built block, not yet durable or visible.
pub struct Built {
    /// The block.
    pub block: Arc<Block>,
    state: State,
    consumed: usize,
    /// `(pool tx, block result)`; `None` when it failed its precheck and was dropped.
    outcomes: Vec<(PoolTx, Option<Value>)>,
    events: Vec<ChainEvent>,
    op: WriteOp,
}

impl Built {
    /// The store write that makes the block durable.
    pub fn write_op(&self) -> WriteOp {
        self.op.clone()
    }
}

/// The node's receipt (`trimExecutionResult`): `code`, `gas_amount_charged`, `gas_cost_total`,
/// and for `SET` each op's `code` under `result_list`.
fn receipt(result: &Value) -> Value {
    let mut r = Map::new();
    for k in ["code", "gas_amount_charged", "gas_cost_total"] {
        if let Some(v) = result.get(k) {
            r.insert(k.into(), v.clone());
        }
    }
    if let Some(list) = result.get("result_list").and_then(Value::as_object) {
        let codes: Map<String, Value> = list
            .iter()
            .map(|(k, v)| (k.clone(), json!({"code": v["code"]})))
            .collect();
        r.insert("result_list".into(), Value::Object(codes));
    }
    Value::Object(r)
}

impl Chain {
    /// Whether a block is due, and what it is built from. `None` while a block is being built or
    /// when there is nothing to include or finalize.
    pub fn draft(&mut self) -> Option<Draft> {
        if self.building {
            return None;
        }
        let tail = self.last_tx_block.is_some_and(|n| self.tip.number < n + 2);
        if self.pool.is_empty() && !tail && !self.params.empty_blocks {
            return None;
        }
        self.building = true;
        let txs = self
            .pool
            .iter()
            .take(self.params.max_txs_per_block)
            .cloned()
            .collect();
        Some(Draft {
            prev: self.tip.clone(),
            base: self.tip_state.clone(),
            txs,
            params: self.params.clone(),
            key: self.key.clone(),
        })
    }

    /// Gives up on a draft (its block could not be stored).
    pub fn abandon(&mut self) {
        self.building = false;
    }

    /// Makes a durable block the tip. Returns the events to emit.
    pub fn commit(&mut self, built: Built) -> Vec<ChainEvent> {
        self.building = false;
        let old_tip = std::mem::replace(&mut self.tip, built.block.clone());
        self.final_state = std::mem::replace(&mut self.tip_state, built.state);
        let mut events = built.events;
        for _ in 0..built.consumed {
            self.remove_from_pool_front();
        }
        for (p, result) in &built.outcomes {
            let after = match result {
                None => "FAILED",
                Some(r) if codes::is_failed_tx(r) => "REVERTED",
                Some(_) => "IN_BLOCK",
            };
            events.push(ChainEvent::TxStateChanged {
                hash: p.tx.hash.to_string(),
                transaction: EventTx::plain(&p.tx),
                before: Some(p.state()),
                after,
            });
        }
        if !built.block.transactions.is_empty() {
            self.last_tx_block = Some(built.block.number);
        }
        // The old tip is final now.
        if old_tip.number > 0 {
            for (index, (tx, r)) in old_tip
                .transactions
                .iter()
                .zip(&old_tip.receipts)
                .enumerate()
            {
                if !codes::is_failed_tx(r) {
                    events.push(ChainEvent::TxStateChanged {
                        hash: tx.hash.to_string(),
                        transaction: EventTx::InBlock {
                            block: old_tip.clone(),
                            index,
                        },
                        before: Some("IN_BLOCK"),
                        after: "FINALIZED",
                    });
                }
            }
            events.push(ChainEvent::BlockFinalized {
                number: old_tip.number,
                hash: old_tip.hash.to_string(),
            });
        }
        self.remember(built.block);
        self.rebase_pending();
        events
    }

    /// Re-executes the pool on the tip state (no events): the pending state after a new block.
    pub(crate) fn rebase_pending(&mut self) {
        let mut pending = self.tip_state.clone();
        let env = TxEnv {
            block_number: self.tip.number + 1,
            block_time: self.tip.timestamp,
            source: None,
        };
        for p in self.pool.iter_mut() {
            let extra = json!({"created_at": p.created_at, "executed_at": p.executed_at});
            let txj = EventTx::with_extra(&p.tx, extra);
            let e = execute_tx(
                &mut pending,
                &mut self.rules,
                &self.params.exec,
                &p.tx,
                &txj,
                env,
            );
            p.result = e.result;
        }
        self.pending = pending;
    }
}

/// Executes and seals the drafted block. Runs without the chain lock.
pub fn build(draft: Draft, rules: &mut RuleCache, now: u64) -> Result<Built, CryptoError> {
    let Draft {
        prev,
        mut base,
        txs,
        params,
        key,
    } = draft;
    let number = prev.number + 1;
    let timestamp = now.max(prev.timestamp + 1);
    let epoch = ((timestamp - GENESIS_TIMESTAMP) / params.interval_ms.max(1)).max(prev.epoch + 1);
    let env = TxEnv {
        block_number: number,
        block_time: timestamp,
        source: Some("BLOCK"),
    };
    let consumed = txs.len();
    // The state after the previous block, so a reload can also rebuild the finalized state.
    let snapshot =
        (params.snapshot_interval > 0 && number % params.snapshot_interval == 0).then(|| {
            (
                prev.number,
                serde_json::to_vec(&base.to_snapshot()).unwrap_or_default(),
            )
        });
    let mut transactions = Vec::new();
    let mut receipts = Vec::new();
    let mut outcomes = Vec::new();
    let mut events = Vec::new();
    let mut records = Vec::new();
    for p in txs {
        let txj = EventTx::with_extra(&p.tx, json!({"created_at": now, "executed_at": now}));
        let e = execute_tx(&mut base, rules, &params.exec, &p.tx, &txj, env);
        if e.precheck_failed {
            outcomes.push((p, None));
            continue;
        }
        events.extend(e.events);
        let rec = TxRecord {
            number,
            index: transactions.len(),
            exec_result: e.result.clone(),
            created_at: p.created_at,
            executed_at: p.executed_at,
        };
        records.push((p.tx.hash.0, serde_json::to_vec(&rec).unwrap_or_default()));
        receipts.push(receipt(&e.result));
        let mut tx = (*p.tx).clone();
        tx.extra = None;
        transactions.push(tx);
        outcomes.push((p, Some(e.result)));
    }
    let mut last_votes = Vec::new();
    if prev.number > 0 {
        let proposal = ProposalValue::for_block(&prev);
        last_votes.push(proposal_tx_body(&proposal, now).sign(&key, params.chain_id)?);
        let vote = VoteValue {
            block_hash: prev.hash,
            stake: prev
                .validators
                .get(&key.address())
                .map_or(params.stake, |v| v.stake),
            is_against: false,
            vote_nonce: now + 1,
            offense_type: None,
        };
        last_votes
            .push(vote_tx_body(prev.number, &key.address(), &vote).sign(&key, params.chain_id)?);
    }
    let transactions_hash = hash_tx_list(&transactions);
    let receipts_hash = hash_receipts(&receipts);
    let prev_sph = prev
        .state_proof_hash
        .map(|h| h.to_string())
        .unwrap_or_default();
    let state_proof_hash = hash_json(&json!([prev_sph, transactions_hash, receipts_hash]));
    let zero = Hash([0; 32]);
    let mut block = Block {
        last_votes,
        evidence: json!({}),
        transactions,
        receipts,
        last_hash: Some(prev.hash),
        last_votes_hash: zero,
        evidence_hash: zero,
        transactions_hash,
        receipts_hash,
        number,
        epoch,
        timestamp,
        state_proof_hash: Some(state_proof_hash),
        proposer: key.address(),
        validators: prev.validators.clone(),
        gas_amount_total: 0.into(),
        gas_cost_total: 0.into(),
        hash: zero,
        size: None,
    };
    block.seal();
    // The node measures the block without its `hash` (its blocks' `size` is 140 bytes, the
    // `"hash": "0x…"` pair, under that of the whole block: tests/ledger_rpc.rs). Counted from
    // `Serialize`: a full block's `Value` tree was built only to be measured.
    let hash_pair = js_sizeof(&json!({"hash": block.hash}));
    block.size = Some(js_sizeof(&block).saturating_sub(hash_pair) as u64);
    let op = WriteOp::Block {
        number,
        hash: block.hash.0,
        block: serde_json::to_vec(&block).unwrap_or_default(),
        txs: records,
        pool_remove: outcomes.iter().map(|(p, _)| p.seq).collect(),
        snapshot,
    };
    Ok(Built {
        block: Arc::new(block),
        state: base,
        consumed,
        outcomes,
        events,
        op,
    })
}
