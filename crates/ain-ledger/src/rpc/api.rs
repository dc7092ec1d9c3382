//! The typed node methods: submitting signed txs, reads, account, block and network queries.
//!
//! Method names and params follow `ain-blockchain:json_rpc/*.js` at 1.6.0. Methods that can
//! answer `null` (no such block, unknown tx, no block yet) return `Option`. Block getters are
//! generic so the caller picks the block type; they decode through `serde_json::Value`.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::RpcError;
use super::get::{GetRequest, StateView};
use super::send::SendResult;
use super::{RpcClient, decode_raw};
use crate::crypto::{Address, Hash, Signature};

/// Most txs one `ain_sendSignedTransactionBatch` may carry (`batch_tx_list_size_limit`).
pub const MAX_BATCH_TXS: usize = 50;

/// Most blocks the node returns per `ain_getBlockList` (`CHAIN_SEGMENT_LENGTH`).
pub const MAX_BLOCKS_PER_CALL: u64 = 20;

fn params<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn tx_params(tx_body: &Value, signature: &Signature) -> Map<String, Value> {
    params([
        ("tx_body", tx_body.clone()),
        ("signature", Value::from(signature.to_string())),
    ])
}

impl RpcClient {
    /// `ain_sendSignedTransaction`. API-level rejections (30301 too large, 30302 missing
    /// properties, 30303 invalid format, 30304 invalid signature) are [`RpcError::Node`]; an
    /// execution failure (10701 duplicate, 10712 nonce, 12103 rule, ...) is an `Ok` whose
    /// [`SendResult::is_success`] is false.
    pub async fn send_signed_transaction(
        &self,
        tx_body: &Value,
        signature: &Signature,
    ) -> Result<SendResult, RpcError> {
        let v = self
            .call("ain_sendSignedTransaction", tx_params(tx_body, signature))
            .await?;
        SendResult::from_value(&v.result)
    }

    /// `ain_sendSignedTransactionDryrun`: executes the tx on a copy of the state and reports the
    /// outcome (marked `is_dryrun`) without pooling, broadcasting or emitting events.
    pub async fn send_signed_transaction_dryrun(
        &self,
        tx_body: &Value,
        signature: &Signature,
    ) -> Result<SendResult, RpcError> {
        let v = self
            .call(
                "ain_sendSignedTransactionDryrun",
                tx_params(tx_body, signature),
            )
            .await?;
        SendResult::from_value(&v.result)
    }

    /// `ain_sendSignedTransactionBatch`: one [`SendResult`] per tx, in order. An empty batch or
    /// one of more than [`MAX_BATCH_TXS`] txs is refused locally with
    /// [`RpcError::InvalidRequest`] and nothing is sent. Batch-level rejections (304xx) are
    /// [`RpcError::Node`].
    pub async fn send_signed_transaction_batch(
        &self,
        txs: &[(Value, Signature)],
    ) -> Result<Vec<SendResult>, RpcError> {
        if txs.is_empty() || txs.len() > MAX_BATCH_TXS {
            return Err(RpcError::InvalidRequest(format!(
                "a batch must hold 1 to {MAX_BATCH_TXS} txs, not {}",
                txs.len()
            )));
        }
        let list = txs
            .iter()
            .map(|(body, sig)| Value::Object(tx_params(body, sig)))
            .collect();
        let v = self
            .call(
                "ain_sendSignedTransactionBatch",
                params([("tx_list", Value::Array(list))]),
            )
            .await?;
        SendResult::batch_from_value(&v.result, txs.len())
    }

    /// `ain_get`: the value of a single operation (`null` when nothing is there), or for
    /// [`GetRequest::Many`] a JSON array with one value per operation. An op_list that is empty
    /// or longer than [`MAX_GET_OPS`](super::MAX_GET_OPS) is refused locally.
    pub async fn get(&self, request: &GetRequest) -> Result<Value, RpcError> {
        let p = request.to_params()?;
        Ok(self.call("ain_get", p).await?.result)
    }

    /// `ain_getNonce`: the account's next numbered nonce in the chosen state view (0 for an
    /// account that never used one).
    pub async fn get_nonce(&self, address: &Address, from: StateView) -> Result<i64, RpcError> {
        let p = params([
            ("address", Value::from(address.to_string())),
            ("from", Value::from(from.wire_name())),
        ]);
        self.call_as("ain_getNonce", p).await
    }

    /// `ain_getTimestamp`: the account's last ordered-nonce (`-2`) timestamp in the chosen view.
    pub async fn get_timestamp(&self, address: &Address, from: StateView) -> Result<i64, RpcError> {
        let p = params([
            ("address", Value::from(address.to_string())),
            ("from", Value::from(from.wire_name())),
        ]);
        self.call_as("ain_getTimestamp", p).await
    }

    /// `ain_getLastBlock`: the last finalized block, or `None` before the first one.
    pub async fn get_last_block<T: DeserializeOwned>(&self) -> Result<Option<T>, RpcError> {
        self.call_as("ain_getLastBlock", Map::new()).await
    }

    /// `ain_getLastBlockNumber`: the last finalized block number, or `None` before the first
    /// block (the node says -1).
    pub async fn get_last_block_number(&self) -> Result<Option<u64>, RpcError> {
        let n: i64 = self.call_as("ain_getLastBlockNumber", Map::new()).await?;
        Ok(u64::try_from(n).ok())
    }

    /// `ain_getBlockByNumber`. With `full_txs` false the node lists only tx hashes in
    /// `transactions`. `None` when the node has no such finalized block. Never ask for block 0
    /// without full txs on a real node (see [`genesis_hash`](Self::genesis_hash)).
    pub async fn get_block_by_number<T: DeserializeOwned>(
        &self,
        number: u64,
        full_txs: bool,
    ) -> Result<Option<T>, RpcError> {
        let p = params([
            ("number", Value::from(number)),
            ("getFullTransactions", Value::Bool(full_txs)),
        ]);
        self.call_as("ain_getBlockByNumber", p).await
    }

    /// The hash of the node's genesis block (`None` when it serves none). Asks with full
    /// transactions: ain-blockchain 1.6.0 answering a request without them replaces the genesis
    /// block's txs with their hashes *in its memory*, and every later reader of block 0 (a
    /// follower verifying genesis) then gets a block that no longer verifies.
    pub async fn genesis_hash(&self) -> Result<Option<Hash>, RpcError> {
        let b: Option<Value> = self.get_block_by_number(0, true).await?;
        b.map(|b| {
            b.get("hash")
                .and_then(Value::as_str)
                .and_then(|h| h.parse::<Hash>().ok())
                .ok_or_else(|| RpcError::Malformed(format!("block 0 without a valid hash: {b}")))
        })
        .transpose()
    }

    /// `ain_getBlockByHash`, as [`get_block_by_number`](Self::get_block_by_number).
    pub async fn get_block_by_hash<T: DeserializeOwned>(
        &self,
        hash: &Hash,
        full_txs: bool,
    ) -> Result<Option<T>, RpcError> {
        let p = params([
            ("hash", Value::from(hash.to_string())),
            ("getFullTransactions", Value::Bool(full_txs)),
        ]);
        self.call_as("ain_getBlockByHash", p).await
    }

    /// Full blocks `from..to` (`to` exclusive), in order, via `ain_getBlockList`.
    ///
    /// A range wider than [`MAX_BLOCKS_PER_CALL`] is **split** into consecutive calls. The result
    /// stops early at the node's last finalized block, so it may be shorter than the range (or
    /// empty). Blocks outside the requested window are dropped: asked for `from = last + 1`, the
    /// node answers with its last block. A gap or a block without a `number` is
    /// [`RpcError::Malformed`].
    pub async fn get_block_list<T: DeserializeOwned>(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<T>, RpcError> {
        let mut out = Vec::new();
        let mut cursor = from;
        while cursor < to {
            let end = to.min(cursor.saturating_add(MAX_BLOCKS_PER_CALL));
            let p = params([("from", Value::from(cursor)), ("to", Value::from(end))]);
            // Each block goes from the body straight into `T` (no `Value` tree in between):
            // a block list of a busy chain is megabytes.
            let decode = |raw: &RawValue| {
                let list: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
                    RpcError::Malformed("ain_getBlockList result is not a list".into())
                })?;
                let mut blocks = Vec::with_capacity(list.len());
                let mut next = cursor;
                for block in list {
                    let number = serde_json::from_str::<BlockNumber>(block.get())
                        .ok()
                        .and_then(|b| b.number)
                        .ok_or_else(|| {
                            RpcError::Malformed("ain_getBlockList block without a number".into())
                        })?;
                    if !(cursor..end).contains(&number) {
                        continue;
                    }
                    if number != next {
                        return Err(RpcError::Malformed(format!(
                            "ain_getBlockList gave block {number} where {next} was expected"
                        )));
                    }
                    blocks.push(decode_raw::<T>("ain_getBlockList", block)?);
                    next = number + 1;
                }
                Ok((blocks, next))
            };
            let (blocks, next) = self.call_with("ain_getBlockList", p, decode).await?.result;
            out.extend(blocks);
            if next == cursor {
                break;
            }
            cursor = next;
        }
        Ok(out)
    }

    /// `ain_getTransactionByHash`: the node's tracking record (see [`TxInfo`] for a ready
    /// type), or `None` for an unknown hash or one older than the tracker timeout (24 h).
    pub async fn get_transaction_by_hash<T: DeserializeOwned>(
        &self,
        hash: &Hash,
    ) -> Result<Option<T>, RpcError> {
        let p = params([("hash", Value::from(hash.to_string()))]);
        self.call_as("ain_getTransactionByHash", p).await
    }

    /// `net_getChainId`: the chain id signatures must be made for (0 local/testnet, 1 mainnet).
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        self.call_as("net_getChainId", Map::new()).await
    }

    /// `net_getNetworkId`.
    pub async fn network_id(&self) -> Result<u64, RpcError> {
        self.call_as("net_getNetworkId", Map::new()).await
    }

    /// `ain_checkProtocolVersion` with this client's `protoVer`: `Ok` when the node accepts it,
    /// [`RpcError::Protocol`] (30101-30103) when it does not.
    pub async fn check_protocol_version(&self) -> Result<(), RpcError> {
        match self
            .call("ain_checkProtocolVersion", Map::new())
            .await?
            .result
        {
            Value::Bool(true) => Ok(()),
            other => Err(RpcError::Malformed(format!(
                "ain_checkProtocolVersion answered {other} without an error code"
            ))),
        }
    }

    /// `ain_getProtocolVersion`: the node's own protocol version, for example `"1.6.0"`.
    pub async fn get_protocol_version(&self) -> Result<String, RpcError> {
        self.call_as("ain_getProtocolVersion", Map::new()).await
    }

    /// `ain_getAddress`: the node's own account address, `None` if it runs without one.
    pub async fn get_address(&self) -> Result<Option<Address>, RpcError> {
        self.call_as("ain_getAddress", Map::new()).await
    }
}

/// A transaction's state as the node tracks it (`TransactionStates`). Unknown names from a newer
/// node are kept, not refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxState {
    /// Accepted but failed execution; waiting to be put in a block as REVERTED.
    Pending,
    /// Executed successfully and pooled.
    Executed,
    /// In a proposed block that is not final yet.
    InBlock,
    /// In a finalized block.
    Finalized,
    /// Failed but included in a block (gas charged). The node may report it before that block
    /// is finalized.
    Reverted,
    /// Failed and not included in a block.
    Failed,
    /// Dropped from the pool after its timeout.
    TimedOut,
    /// A state name this version does not know.
    Unknown(String),
}

impl TxState {
    /// Parses the node's state name; never fails.
    pub fn from_wire(s: &str) -> TxState {
        match s {
            "PENDING" => TxState::Pending,
            "EXECUTED" => TxState::Executed,
            "IN_BLOCK" => TxState::InBlock,
            "FINALIZED" => TxState::Finalized,
            "REVERTED" => TxState::Reverted,
            "FAILED" => TxState::Failed,
            "TIMED_OUT" => TxState::TimedOut,
            other => TxState::Unknown(other.to_owned()),
        }
    }

    /// The node's name for this state.
    pub fn wire_name(&self) -> &str {
        match self {
            TxState::Pending => "PENDING",
            TxState::Executed => "EXECUTED",
            TxState::InBlock => "IN_BLOCK",
            TxState::Finalized => "FINALIZED",
            TxState::Reverted => "REVERTED",
            TxState::Failed => "FAILED",
            TxState::TimedOut => "TIMED_OUT",
            TxState::Unknown(s) => s,
        }
    }

    /// True for the node's end states (`isEndState`: FINALIZED, REVERTED, FAILED, TIMED_OUT),
    /// after which it stops reporting changes and deletes TX_STATE_CHANGED filters.
    pub fn is_end_state(&self) -> bool {
        matches!(
            self,
            TxState::Finalized | TxState::Reverted | TxState::Failed | TxState::TimedOut
        )
    }
}

impl fmt::Display for TxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

impl<'de> Deserialize<'de> for TxState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TxState, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(TxState::from_wire(&s))
    }
}

impl serde::Serialize for TxState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.wire_name())
    }
}

/// The record `ain_getTransactionByHash` returns. Only `state` and the tx itself are required;
/// the bookkeeping fields default when a node omits them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TxInfo {
    /// Current state.
    pub state: TxState,
    /// Block number, -1 while not in a block.
    #[serde(default = "minus_one")]
    pub number: i64,
    /// Index in the block (or in the pool while pending).
    #[serde(default = "minus_one")]
    pub index: i64,
    /// The signer.
    #[serde(default)]
    pub address: Option<Address>,
    /// The tx body's timestamp.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Whether the node executed it.
    #[serde(default)]
    pub is_executed: bool,
    /// Whether its block is final.
    #[serde(default)]
    pub is_finalized: bool,
    /// When the node began tracking it (ms).
    #[serde(default)]
    pub tracked_at: Option<i64>,
    /// When the node executed it (ms), -1 if not.
    #[serde(default)]
    pub executed_at: Option<i64>,
    /// When it became final (ms), -1 if not.
    #[serde(default)]
    pub finalized_at: Option<i64>,
    /// The execution outcome, as in a send result.
    #[serde(default)]
    pub exec_result: Option<Value>,
    /// The signed tx `{tx_body, signature, hash, address}`.
    pub transaction: Value,
    /// The block receipt once included.
    #[serde(default)]
    pub receipt: Option<Value>,
}

fn minus_one() -> i64 {
    -1
}

/// Just a block's `number`; the rest of the block is skipped unparsed.
#[derive(Deserialize)]
struct BlockNumber {
    number: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tx_state_names_round_trip() {
        for name in [
            "PENDING",
            "EXECUTED",
            "IN_BLOCK",
            "FINALIZED",
            "REVERTED",
            "FAILED",
            "TIMED_OUT",
        ] {
            let s = TxState::from_wire(name);
            assert!(!matches!(s, TxState::Unknown(_)), "{name}");
            assert_eq!(s.wire_name(), name);
        }
        assert_eq!(
            TxState::from_wire("LIMBO"),
            TxState::Unknown("LIMBO".into())
        );
        assert!(TxState::Reverted.is_end_state());
        assert!(!TxState::InBlock.is_end_state());
    }

    #[test]
    fn tx_info_decodes_minimal_and_full() {
        let t: TxInfo =
            serde_json::from_value(json!({"state":"EXECUTED","transaction":{}})).unwrap();
        assert_eq!(t.state, TxState::Executed);
        assert_eq!(t.number, -1);
        assert!(serde_json::from_value::<TxInfo>(json!({"state":"EXECUTED"})).is_err());
    }
}
