//! Blocks as the node serves them (`ain_getBlockList`, ain-protocol.md §4.1), and their hashes.
//!
//! Every hash is the node's `hashString` of stable JSON: `last_votes_hash`, `transactions_hash`
//! (over the 4-field `{tx_body, signature, hash, address}` form), `receipts_hash` and
//! `evidence_hash` over the bodies, and `hash` over the header — every field except `size`, `hash`
//! and the four bodies. The same functions verify a followed block and [`Block::seal`] a produced
//! one, so what the built-in chain produces hashes exactly like the real node.
//!
//! Receipts and evidence keep their JSON as is: their shape varies (a `SET` receipt has
//! `result_list` and no top-level `code`; genesis receipts have no `gas_amount_charged`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value, json};

use super::crypto::{Address, Hash, hash_message};
use super::json::write_stable;
use super::tx::SignedTx;

pub mod consensus;
#[cfg(any(test, feature = "test-util"))]
pub mod synthetic;

/// One validator's entry in a block's `validators`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorInfo {
    /// Staked amount; votes are weighed by it.
    pub stake: u64,
    /// Whether the validator may be selected as proposer.
    pub proposal_right: bool,
}

/// A validator set, keyed by address (serialised with checksummed keys, as the node writes them).
pub type Validators = BTreeMap<Address, ValidatorInfo>;

/// The summed stake of a validator set, without overflow.
pub fn total_stake(validators: &Validators) -> u128 {
    validators.values().map(|v| u128::from(v.stake)).sum()
}

/// A full block. Unknown keys are refused; a new node version that adds one fails loudly here
/// rather than hashing differently later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// The proposal tx and vote txs for the previous block (empty in blocks 0 and 1).
    pub last_votes: Vec<SignedTx>,
    /// Evidence of offenses (`{}` almost always).
    pub evidence: Value,
    /// The block's transactions.
    pub transactions: Vec<SignedTx>,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Value>,
    /// The previous block's hash; `None` (written `""`) only in genesis.
    #[serde(with = "empty_hash")]
    pub last_hash: Option<Hash>,
    /// `hashString(stable(last_votes))`.
    pub last_votes_hash: Hash,
    /// `hashString(stable(evidence))`.
    pub evidence_hash: Hash,
    /// `hashString(stable(transactions))`.
    pub transactions_hash: Hash,
    /// `hashString(stable(receipts))`.
    pub receipts_hash: Hash,
    /// Height, 0 for genesis.
    pub number: u64,
    /// Consensus epoch in which the block was proposed; strictly increasing along the chain.
    pub epoch: u64,
    /// Proposal time, milliseconds.
    pub timestamp: u64,
    /// Root proof hash of the state after the block (`""` is kept as `None`).
    #[serde(with = "empty_hash")]
    pub state_proof_hash: Option<Hash>,
    /// The proposer's address.
    pub proposer: Address,
    /// The validator set whose votes notarize this block.
    pub validators: Validators,
    /// Summed gas amount of the block's transactions.
    pub gas_amount_total: Number,
    /// Summed gas cost (may be fractional in principle, so kept as a JSON number).
    pub gas_cost_total: Number,
    /// `hashString(stable(header))`.
    pub hash: Hash,
    /// The node's `object-sizeof` estimate; informational and outside every hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The four body hashes of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyHashes {
    /// Hash of `last_votes`.
    pub last_votes: Hash,
    /// Hash of `transactions`.
    pub transactions: Hash,
    /// Hash of `receipts`.
    pub receipts: Hash,
    /// Hash of `evidence`.
    pub evidence: Hash,
}

/// `hashString(stable(value))`, the node's hash of any JSON body.
pub fn hash_json(value: &Value) -> Hash {
    let mut out = String::with_capacity(64);
    write_stable(&mut out, value);
    hash_message(&out)
}

/// The hash of a transaction list (`last_votes` or `transactions`) in the 4-field form.
pub fn hash_tx_list(txs: &[SignedTx]) -> Hash {
    let mut out = String::with_capacity(64 + txs.len() * 600);
    out.push('[');
    for (i, tx) in txs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        tx.write_stable(&mut out);
    }
    out.push(']');
    hash_message(&out)
}

/// [`hash_tx_list`] with every body's stable JSON already rendered (`body_texts[i]` belongs to
/// `txs[i]`). Lets a verifier render each body once.
pub fn hash_tx_list_with_texts(txs: &[SignedTx], body_texts: &[String]) -> Hash {
    let len: usize = body_texts.iter().map(|t| t.len() + 300).sum();
    let mut out = String::with_capacity(len + 2);
    out.push('[');
    for (i, (tx, text)) in txs.iter().zip(body_texts).enumerate() {
        if i > 0 {
            out.push(',');
        }
        tx.write_stable_with_body_text(&mut out, text);
    }
    out.push(']');
    hash_message(&out)
}

/// The hash of a receipt list.
pub fn hash_receipts(receipts: &[Value]) -> Hash {
    let mut out = String::with_capacity(2 + receipts.len() * 64);
    out.push('[');
    for (i, r) in receipts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_stable(&mut out, r);
    }
    out.push(']');
    hash_message(&out)
}

impl Block {
    /// Whether the `i`-th transaction succeeded, judged as the node judges an outcome
    /// (`isFailedTx`): a receipt's top-level `code` of 0, or for a `SET` (whose receipt has no
    /// top-level code) a `result_list` whose every op has code 0. A missing receipt counts as
    /// not succeeded.
    pub fn tx_succeeded(&self, i: usize) -> bool {
        self.receipts
            .get(i)
            .is_some_and(|r| crate::rpc::TxResult::new(r.clone()).is_success())
    }

    /// Recomputes the four body hashes from the bodies.
    pub fn compute_body_hashes(&self) -> BodyHashes {
        BodyHashes {
            last_votes: hash_tx_list(&self.last_votes),
            transactions: hash_tx_list(&self.transactions),
            receipts: hash_receipts(&self.receipts),
            evidence: hash_json(&self.evidence),
        }
    }

    /// The header the block hash covers: every field but the bodies, `size` and `hash`, with the
    /// body hashes as currently stored.
    pub fn header_json(&self) -> Value {
        json!({
            "last_hash": empty_hash::text(&self.last_hash),
            "last_votes_hash": self.last_votes_hash,
            "transactions_hash": self.transactions_hash,
            "receipts_hash": self.receipts_hash,
            "evidence_hash": self.evidence_hash,
            "number": self.number,
            "epoch": self.epoch,
            "timestamp": self.timestamp,
            "state_proof_hash": empty_hash::text(&self.state_proof_hash),
            "proposer": self.proposer,
            "validators": self.validators,
            "gas_amount_total": self.gas_amount_total,
            "gas_cost_total": self.gas_cost_total,
        })
    }

    /// `hashString(stable(header))` over the stored header fields.
    pub fn compute_hash(&self) -> Hash {
        hash_json(&self.header_json())
    }

    /// Recomputes the body hashes and then the block hash, making the block self-consistent.
    /// `size` is left as is: it is outside every hash.
    pub fn seal(&mut self) {
        let b = self.compute_body_hashes();
        self.last_votes_hash = b.last_votes;
        self.transactions_hash = b.transactions;
        self.receipts_hash = b.receipts;
        self.evidence_hash = b.evidence;
        self.hash = self.compute_hash();
    }
}

/// Serde for hashes that the node writes as `""` when absent (genesis `last_hash`).
pub(crate) mod empty_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::crypto::Hash;

    pub(crate) fn text(h: &Option<Hash>) -> String {
        h.map(|h| h.to_string()).unwrap_or_default()
    }

    pub(crate) fn serialize<S: Serializer>(h: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(h))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_succeeds_when_every_op_in_its_result_list_did() {
        let mut b = synthetic::genesis(&crate::crypto::PrivateKey::generate(), Validators::new());
        b.receipts = vec![
            json!({"code": 0, "gas_amount_charged": 8, "gas_cost_total": 0}),
            json!({"code": 10905, "gas_amount_charged": 8, "gas_cost_total": 0}),
            // A SET's receipt has no top-level code (as the node and the built-in chain write it).
            json!({"gas_amount_charged": 0, "gas_cost_total": 0, "result_list": {"0": {"code": 0}, "1": {"code": 0}}}),
            json!({"gas_amount_charged": 0, "gas_cost_total": 0, "result_list": {"0": {"code": 0}, "1": {"code": 12103}}}),
            json!({"gas_cost_total": 0}),
        ];
        let got: Vec<bool> = (0..6).map(|i| b.tx_succeeded(i)).collect();
        assert_eq!(got, [true, false, true, false, false, false]);
    }

    #[test]
    fn empty_lists_hash_as_the_protocol_says() {
        assert_eq!(
            hash_tx_list(&[]).to_string(),
            "0x853fb99c831d4952ff90b897bd7d7c5c2f3747e8eda8ad13e7359b731eadc299"
        );
        assert_eq!(hash_receipts(&[]), hash_tx_list(&[]));
        assert_eq!(
            hash_json(&json!({})).to_string(),
            "0xd35126dcb36a3c4b4ef04c4eff63edecbc9eacff867d1c348c1abaf82567a8f8"
        );
    }

    #[test]
    fn header_hash_changes_with_every_header_field_but_not_size() {
        let mut b: Block = serde_json::from_value(json!({
            "last_votes": [], "evidence": {}, "transactions": [], "receipts": [],
            "last_hash": "", "last_votes_hash": format!("0x{}", "00".repeat(32)),
            "evidence_hash": format!("0x{}", "00".repeat(32)),
            "transactions_hash": format!("0x{}", "00".repeat(32)),
            "receipts_hash": format!("0x{}", "00".repeat(32)),
            "number": 0, "epoch": 0, "timestamp": 1, "state_proof_hash": "",
            "proposer": "0x00ADEc28B6a845a085e03591bE7550dd68673C1C", "validators": {},
            "gas_amount_total": 0, "gas_cost_total": 0,
            "hash": format!("0x{}", "00".repeat(32)), "size": 1
        }))
        .unwrap();
        b.seal();
        let sealed = b.hash;
        assert_eq!(b.compute_hash(), sealed);
        b.size = Some(99);
        assert_eq!(b.compute_hash(), sealed);
        b.epoch = 1;
        assert_ne!(b.compute_hash(), sealed);
        let text = serde_json::to_value(&b).unwrap();
        assert_eq!(text["last_hash"], "");
        assert_eq!(text["state_proof_hash"], "");
    }
}
