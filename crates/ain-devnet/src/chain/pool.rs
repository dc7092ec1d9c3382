//! Pool admission (`executeTransactionAndAddToPool`) and the tx tracker
//! (`ain_getTransactionByHash`, the event handler's late TX_STATE_CHANGED lookups).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Chain, ChainError, TxRecord, tx_json, tx_json_with_extra};
use crate::codes;
use crate::event_handler::{ChainEvent, EventTx};
use crate::exec::{TxEnv, execute_tx, tx_result};
use crate::store::WriteOp;
use ain_ledger::crypto::Hash;
use ain_ledger::tx::SignedTx;

/// A tx waiting for a block.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PoolTx {
    pub seq: u64,
    pub tx: Arc<SignedTx>,
    pub created_at: u64,
    pub executed_at: u64,
    pub result: Value,
    /// The tx's place among its sender's pooled txs when it was added, which the node's tracker
    /// records once (`tx-pool.js` `addTransaction`) and `ain_getTransactionByHash` reports as
    /// `index`. Set by [`Chain::add_to_pool`], so not stored.
    #[serde(skip)]
    pub account_index: usize,
}

impl PoolTx {
    pub(crate) fn executed(&self) -> bool {
        !codes::is_failed_tx(&self.result)
    }

    pub(crate) fn state(&self) -> &'static str {
        if self.executed() {
            "EXECUTED"
        } else {
            "PENDING"
        }
    }

    fn is_free(&self) -> bool {
        is_free(&self.tx)
    }

    pub(crate) fn extra(&self) -> Value {
        let mut extra = json!({"created_at": self.created_at, "executed_at": self.executed_at});
        if let Some(g) = self.result.get("gas_amount_total") {
            extra["gas"] = g.clone();
        }
        extra
    }
}

/// `Transaction.isFreeTransaction`: no gas price or a zero one.
fn is_free(tx: &SignedTx) -> bool {
    tx.tx_body
        .gas_price
        .as_ref()
        .is_none_or(|g| g.as_f64() == Some(0.0))
}

/// The outcome of [`Chain::accept`].
#[derive(Debug)]
pub struct Accepted {
    /// `{tx_hash, result}` as `ain_sendSignedTransaction` returns it.
    pub answer: Value,
    /// The store sequence to wait for before answering (accepted into the pool).
    pub durable_seq: Option<u64>,
    /// Events to emit once durable.
    pub events: Vec<ChainEvent>,
}

/// What the tracker knows of a tx (`ain_getTransactionByHash`).
#[derive(Debug, Clone)]
pub struct TxInfo {
    /// `PENDING`, `EXECUTED`, `IN_BLOCK`, `FINALIZED` or `REVERTED`.
    pub state: &'static str,
    /// The full answer object.
    pub json: Value,
    /// The tx object (with `extra` while pooled).
    pub transaction: Value,
}

impl Chain {
    fn pool_error(hash: &Hash, code: i64, message: String) -> Accepted {
        Accepted {
            answer: json!({"tx_hash": hash, "result": tx_result(code, Some(message), 0)}),
            durable_seq: None,
            events: Vec::new(),
        }
    }

    fn is_known(&self, hash: &Hash) -> Result<bool, ChainError> {
        Ok(self.pool_hashes.contains_key(hash) || self.store.tx_record(&hash.0)?.is_some())
    }

    /// Admits a verified tx: pool limits, replay check, execution on the pending state. With
    /// `dryrun` the tx is executed on a copy and forgotten (`is_dryrun: true`).
    pub fn accept(&mut self, tx: SignedTx, now: u64, dryrun: bool) -> Result<Accepted, ChainError> {
        const H: &str = "[executeTransactionAndAddToPool]";
        let limits = &self.params.pool;
        let free = is_free(&tx);
        let hash = tx.hash;
        if self.pool.len() >= limits.max_txs {
            let msg = format!(
                "{H} Tx pool does NOT have enough room ({}).",
                self.pool.len()
            );
            return Ok(Self::pool_error(&hash, codes::TX_POOL_NOT_ENOUGH_ROOM, msg));
        }
        if free && self.free_txs >= limits.max_free_txs {
            let msg = format!(
                "{H} Tx pool does NOT have enough free room ({}).",
                self.free_txs
            );
            return Ok(Self::pool_error(
                &hash,
                codes::TX_POOL_NOT_ENOUGH_FREE_ROOM,
                msg,
            ));
        }
        if self.is_known(&hash)? {
            // Serialized from the struct, so keys keep the node's order (tx_body, signature, …).
            let mut shown = tx.clone();
            shown.extra = Some(json!({"created_at": now, "executed_at": null}));
            let pretty = serde_json::to_string_pretty(&shown).unwrap_or_default();
            let msg = format!("{H} Already received transaction: {pretty}");
            return Ok(Self::pool_error(&hash, codes::TX_ALREADY_RECEIVED, msg));
        }
        let (mine, mine_free) = self.per_account.get(&tx.address).copied().unwrap_or((0, 0));
        if mine >= limits.max_txs_per_account {
            let msg = format!(
                "{H} Tx pool does NOT have enough room ({mine}) for account: {}",
                tx.address
            );
            return Ok(Self::pool_error(
                &hash,
                codes::TX_POOL_NOT_ENOUGH_ROOM_FOR_ACCOUNT,
                msg,
            ));
        }
        if free && mine_free >= limits.max_free_txs_per_account {
            let msg = format!(
                "{H} Tx pool does NOT have enough free room ({mine_free}) for account: {}",
                tx.address
            );
            return Ok(Self::pool_error(
                &hash,
                codes::TX_POOL_NOT_ENOUGH_FREE_ROOM_FOR_ACCOUNT,
                msg,
            ));
        }
        let env = TxEnv {
            block_number: self.tip.number + 1,
            block_time: self.tip.timestamp,
            source: if dryrun { None } else { Some("USER") },
        };
        let tx = Arc::new(tx);
        let event_tx = EventTx::with_extra(&tx, json!({"created_at": now, "executed_at": now}));
        let mut scratch;
        let state = if dryrun {
            scratch = self.pending.clone();
            &mut scratch
        } else {
            &mut self.pending
        };
        let exec = execute_tx(
            state,
            &mut self.rules,
            &self.params.exec,
            &tx,
            &event_tx,
            env,
        );
        let mut result = exec.result;
        if dryrun && !exec.precheck_failed {
            result["is_dryrun"] = json!(true);
        }
        let answer = json!({"tx_hash": hash, "result": result});
        if dryrun || exec.precheck_failed {
            return Ok(Accepted {
                answer,
                durable_seq: None,
                events: Vec::new(),
            });
        }
        let entry = PoolTx {
            seq: self.next_pool_seq,
            tx,
            created_at: now,
            executed_at: now,
            result,
            account_index: 0,
        };
        self.next_pool_seq += 1;
        let bytes = serde_json::to_vec(&entry).unwrap_or_default();
        let seq = self.persister.enqueue(WriteOp::PoolAdd {
            seq: entry.seq,
            entry: bytes,
        });
        let mut events = exec.events;
        events.push(ChainEvent::TxStateChanged {
            hash: hash.to_string(),
            transaction: EventTx::with_extra(&entry.tx, entry.extra()),
            before: None,
            after: entry.state(),
        });
        self.add_to_pool(entry);
        Ok(Accepted {
            answer,
            durable_seq: Some(seq),
            events,
        })
    }

    pub(crate) fn add_to_pool(&mut self, mut entry: PoolTx) {
        let free = entry.is_free();
        let c = self.per_account.entry(entry.tx.address).or_insert((0, 0));
        entry.account_index = c.0;
        c.0 += 1;
        if free {
            c.1 += 1;
            self.free_txs += 1;
        }
        self.pool_hashes.insert(entry.tx.hash, entry.seq);
        self.pool.push_back(entry);
    }

    pub(crate) fn remove_from_pool_front(&mut self) -> Option<PoolTx> {
        let entry = self.pool.pop_front()?;
        let free = entry.is_free();
        if let Some(c) = self.per_account.get_mut(&entry.tx.address) {
            c.0 = c.0.saturating_sub(1);
            if free {
                c.1 = c.1.saturating_sub(1);
            }
            if c.0 == 0 {
                self.per_account.remove(&entry.tx.address);
            }
        }
        if free {
            self.free_txs = self.free_txs.saturating_sub(1);
        }
        self.pool_hashes.remove(&entry.tx.hash);
        Some(entry)
    }

    /// What the tracker knows of `hash`, as `ain_getTransactionByHash` returns it.
    pub fn tx_info(&self, hash: &Hash) -> Result<Option<TxInfo>, ChainError> {
        if let Some(seq) = self.pool_hashes.get(hash) {
            // The pool is in `seq` order (added at the back, taken from the front): every
            // worker asks this for each request it sees, so no scan of a deep pool.
            let Ok(at) = self.pool.binary_search_by_key(seq, |p| p.seq) else {
                return Ok(None);
            };
            let p = &self.pool[at];
            let index = p.account_index;
            let transaction = tx_json_with_extra(&p.tx, p.extra());
            let json = json!({
                "state": p.state(), "number": -1, "index": index, "address": p.tx.address,
                "timestamp": p.tx.tx_body.timestamp, "is_executed": p.executed(),
                "is_finalized": false, "tracked_at": p.created_at, "executed_at": p.executed_at,
                "finalized_at": -1, "exec_result": p.result, "transaction": transaction,
            });
            return Ok(Some(TxInfo {
                state: p.state(),
                json,
                transaction,
            }));
        }
        let Some(bytes) = self.store.tx_record(&hash.0)? else {
            return Ok(None);
        };
        let rec: TxRecord = serde_json::from_slice(&bytes)
            .map_err(|e| ChainError::Invalid(format!("stored tx record {hash}: {e}")))?;
        let Some(block) = self.any_block(rec.number)? else {
            return Ok(None);
        };
        let (Some(tx), Some(receipt)) = (
            block.transactions.get(rec.index),
            block.receipts.get(rec.index),
        ) else {
            return Ok(None);
        };
        let failed = codes::is_failed_tx(receipt);
        let finalized = rec.number <= self.finalized_number();
        let finalized_at = if finalized {
            self.any_block(rec.number + 1)?
                .map_or(block.timestamp, |b| b.timestamp)
        } else {
            0
        };
        let state = match (failed, finalized) {
            (true, _) => "REVERTED",
            (false, true) => "FINALIZED",
            (false, false) => "IN_BLOCK",
        };
        let transaction = tx_json(tx);
        let json = json!({
            "state": state, "number": rec.number, "index": rec.index, "address": tx.address,
            "timestamp": tx.tx_body.timestamp, "is_executed": true, "is_finalized": finalized,
            "tracked_at": if finalized { finalized_at } else { rec.executed_at },
            "executed_at": rec.executed_at,
            "finalized_at": if finalized { json!(finalized_at) } else { json!(-1) },
            "exec_result": rec.exec_result, "transaction": transaction, "receipt": receipt,
        });
        Ok(Some(TxInfo {
            state,
            json,
            transaction,
        }))
    }

    /// `ain_getPendingTransactions`: pooled txs by signer, with their `extra`.
    pub fn pending_transactions(&self) -> Value {
        let mut out = serde_json::Map::new();
        for p in &self.pool {
            let list = out
                .entry(p.tx.address.to_checksum())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(l) = list {
                l.push(tx_json_with_extra(&p.tx, p.extra()));
            }
        }
        Value::Object(out)
    }
}
