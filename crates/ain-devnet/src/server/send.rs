//! `ain_sendSignedTransaction[Dryrun|Batch]`, with the node's checks in its order (§1.8):
//! `tx_body` and `signature` present (30302), size (30301, the node's `object-sizeof` measure of
//! `tx_body`: 2 bytes per UTF-16 unit of keys and strings, 8 per number, 4 per bool), format
//! (30303, `ledger::tx` strictness), signature (30304: the embedded hash must be the body's hash
//! and must recover under the chain id), then the pool and execution ([`Chain::accept`]).
//!
//! An accepted tx is answered only after its pool entry is durable in the store, so an answer
//! with a `tx_hash` survives kill -9.
//!
//! [`Chain::accept`]: crate::chain::Chain::accept

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Server;
use super::methods::Answer;
use crate::codes;
use ain_ledger::crypto::Signature;
use ain_ledger::json::js_object_sizeof;
use ain_ledger::now_ms;
use ain_ledger::tx::{SignedTx, TxBody};

/// JS truthiness.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Why a tx was refused before the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    Missing,
    TooBig,
    Format,
    Signature,
}

fn prepare(
    body: Option<&Value>,
    signature: Option<&Value>,
    limit: usize,
    chain_id: u64,
) -> Result<SignedTx, Refused> {
    let (Some(body), Some(signature)) = (
        body.filter(|b| truthy(Some(b))),
        signature.filter(|s| truthy(Some(s))),
    ) else {
        return Err(Refused::Missing);
    };
    if js_object_sizeof(body) > limit {
        return Err(Refused::TooBig);
    }
    let tx_body: TxBody = serde_json::from_value(body.clone()).map_err(|_| Refused::Format)?;
    let sig_text = signature.as_str().ok_or(Refused::Signature)?;
    let sig = Signature::parse(sig_text).map_err(|_| Refused::Signature)?;
    let hash = tx_body.hash();
    if sig.hash != hash {
        return Err(Refused::Signature);
    }
    let address = sig.recover(chain_id).map_err(|_| Refused::Signature)?;
    Ok(SignedTx {
        tx_body,
        signature: sig_text.to_owned(),
        hash,
        address,
        extra: None,
    })
}

fn refusal(code: i64, message: String) -> Answer {
    let mut m = Map::new();
    m.insert("result".into(), Value::Null);
    m.insert("code".into(), json!(code));
    m.insert("message".into(), json!(message));
    Ok(m)
}

async fn finish(server: &Arc<Server>, seq: Option<u64>) -> Result<(), String> {
    if let Some(seq) = seq {
        server
            .persister
            .wait(seq)
            .await
            .map_err(|e| format!("the transaction could not be stored: {e}"))?;
    }
    server.flush_events();
    Ok(())
}

/// `ain_sendSignedTransaction` and its dry-run variant.
pub(super) async fn send(server: &Arc<Server>, p: &Map<String, Value>, dryrun: bool) -> Answer {
    let cfg = &server.config;
    let tx = match prepare(
        p.get("tx_body"),
        p.get("signature"),
        cfg.tx_bytes_limit,
        cfg.chain_id,
    ) {
        Ok(tx) => tx,
        Err(Refused::Missing) => {
            return refusal(codes::TX_MISSING_PROPERTIES, "Missing properties.".into());
        }
        Err(Refused::TooBig) => {
            return refusal(
                codes::TX_EXCEEDS_SIZE_LIMIT,
                format!(
                    "Transaction size exceeds its limit: {} bytes.",
                    cfg.tx_bytes_limit
                ),
            );
        }
        Err(Refused::Format) => {
            return refusal(
                codes::TX_INVALID_FORMAT,
                "Invalid transaction format.".into(),
            );
        }
        Err(Refused::Signature) => {
            return refusal(
                codes::TX_INVALID_SIGNATURE,
                "Invalid transaction signature.".into(),
            );
        }
    };
    let (answer, seq) = {
        let mut chain = server.chain();
        let a = chain
            .accept(tx, now_ms(), dryrun)
            .map_err(|e| e.to_string())?;
        // Queued under the chain lock, so events leave in acceptance order.
        server.queue_events(a.durable_seq, a.events);
        (a.answer, a.durable_seq)
    };
    finish(server, seq).await?;
    let mut m = Map::new();
    m.insert("result".into(), answer);
    Ok(m)
}

/// `ain_sendSignedTransactionBatch`: every tx is checked before any is executed.
pub(super) async fn send_batch(server: &Arc<Server>, p: &Map<String, Value>) -> Answer {
    let cfg = &server.config;
    let Some(list) = p
        .get("tx_list")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return refusal(
            codes::BATCH_INVALID_FORMAT,
            "Invalid batch transaction format.".into(),
        );
    };
    if list.len() > cfg.batch_tx_list_size_limit {
        return refusal(
            codes::BATCH_TX_LIST_EXCEEDS_SIZE_LIMIT,
            format!(
                "Batch transaction list size exceeds its limit: {}.",
                cfg.batch_tx_list_size_limit
            ),
        );
    }
    let mut txs = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        match prepare(
            item.get("tx_body"),
            item.get("signature"),
            cfg.tx_bytes_limit,
            cfg.chain_id,
        ) {
            Ok(tx) => txs.push(tx),
            Err(Refused::Missing) => {
                return refusal(
                    codes::BATCH_TX_MISSING_PROPERTIES,
                    format!("Missing properties of transaction[{i}]."),
                );
            }
            Err(Refused::TooBig) => {
                return refusal(
                    codes::BATCH_TX_EXCEEDS_SIZE_LIMIT,
                    format!(
                        "Transaction[{i}]'s size exceededs its limit: {} bytes.",
                        cfg.tx_bytes_limit
                    ),
                );
            }
            Err(Refused::Format) => {
                return refusal(
                    codes::BATCH_TX_INVALID_FORMAT,
                    format!("Invalid format of transaction[{i}]."),
                );
            }
            Err(Refused::Signature) => {
                return refusal(
                    codes::BATCH_TX_INVALID_SIGNATURE,
                    format!("Invalid signature of transaction[{i}]."),
                );
            }
        }
    }
    let mut answers = Vec::with_capacity(txs.len());
    let mut seq = None;
    {
        let mut chain = server.chain();
        let now = now_ms();
        for tx in txs {
            let a = chain.accept(tx, now, false).map_err(|e| e.to_string())?;
            answers.push(a.answer);
            server.queue_events(a.durable_seq, a.events);
            seq = seq.max(a.durable_seq);
        }
    }
    finish(server, seq).await?;
    let mut m = Map::new();
    m.insert("result".into(), Value::Array(answers));
    Ok(m)
}
