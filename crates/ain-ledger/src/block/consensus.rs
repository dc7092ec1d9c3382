//! Consensus transactions: block proposals and votes, parsed from and built into signed txs.
//!
//! There is no block signature. A proposer signs a *proposal tx* (nonce -1, gas_price 0) that
//! writes `/consensus/number/<N>/propose`, and validators sign *vote txs* writing
//! `/consensus/number/<N>/<block_hash>/vote/<addr>`. Both travel in block N+1's `last_votes`.
//! The node wraps the proposal in a `SET` (`op_list[0]`, sometimes followed by clean-up ops);
//! older blocks may carry it as a bare `SET_VALUE`, which is accepted too.

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use super::{Block, Validators, empty_hash, total_stake};
use crate::crypto::{Address, Hash};
use crate::tx::state::parse_path;
use crate::tx::{NONCE_UNORDERED, OpType, Operation, SimpleOp, TxBody};

/// The value of a proposal write. Field for field what `getProposalTx` signs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalValue {
    /// The proposed block's number.
    pub number: u64,
    /// Its epoch.
    pub epoch: u64,
    /// Its validator set.
    pub validators: Validators,
    /// Summed stake of that set.
    pub total_at_stake: u64,
    /// The proposer (the signer).
    pub proposer: Address,
    /// The proposed block's hash: what the signature commits to.
    pub block_hash: Hash,
    /// The proposed block's parent hash.
    #[serde(with = "empty_hash")]
    pub last_hash: Option<Hash>,
    /// The proposed block's timestamp.
    pub timestamp: u64,
    /// The proposed block's gas cost total.
    pub gas_cost_total: Number,
    /// Offenses the proposer records (absent when there are none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offenses: Option<Value>,
}

impl ProposalValue {
    /// The proposal value for a sealed block, as its proposer signs it.
    pub fn for_block(block: &Block) -> ProposalValue {
        ProposalValue {
            number: block.number,
            epoch: block.epoch,
            validators: block.validators.clone(),
            total_at_stake: u64::try_from(total_stake(&block.validators)).unwrap_or(u64::MAX),
            proposer: block.proposer,
            block_hash: block.hash,
            last_hash: block.last_hash,
            timestamp: block.timestamp,
            gas_cost_total: block.gas_cost_total.clone(),
            offenses: None,
        }
    }
}

/// The value of a vote write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteValue {
    /// The block voted on (for or against).
    pub block_hash: Hash,
    /// The voter's stake as the voter claims it.
    pub stake: u64,
    /// True for a vote against an invalid proposal; such a vote never notarizes.
    pub is_against: bool,
    /// Milliseconds; makes each vote tx unique.
    pub vote_nonce: u64,
    /// The offense an against-vote reports (`"INVALID_PROPOSAL"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offense_type: Option<String>,
}

/// A parsed consensus transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsensusTx {
    /// A proposal for block `number`.
    Proposal {
        /// From the path.
        number: u64,
        /// The written value.
        value: ProposalValue,
    },
    /// A vote on block `number` with hash `block_hash`.
    Vote {
        /// From the path.
        number: u64,
        /// From the path; equal to `value.block_hash`.
        block_hash: Hash,
        /// From the path; must be the signer.
        voter: Address,
        /// The written value.
        value: VoteValue,
    },
}

/// Why a transaction is not a well-formed proposal or vote.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConsensusTxError {
    /// The operation is neither a propose write nor a vote write.
    #[error("not a consensus write: {0}")]
    NotConsensus(String),
    /// The path has the right shape but a bad number, hash or address.
    #[error("malformed consensus path {path}: {why}")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The written value does not have the proposal/vote shape.
    #[error("malformed {kind} value: {why}")]
    BadValue {
        /// `"proposal"` or `"vote"`.
        kind: &'static str,
        /// The parse error.
        why: String,
    },
    /// The path and the value disagree (number or block hash).
    #[error("path and value disagree on {0}")]
    Inconsistent(&'static str),
}

/// The `/consensus/number/<N>/propose` path.
pub fn proposal_path(number: u64) -> String {
    format!("/consensus/number/{number}/propose")
}

/// The `/consensus/number/<N>/<block_hash>/vote/<voter>` path (checksummed voter).
pub fn vote_path(number: u64, block_hash: &Hash, voter: &Address) -> String {
    format!("/consensus/number/{number}/{block_hash}/vote/{voter}")
}

/// Builds the proposal tx body the node signs: `SET` with one `SET_VALUE` at the propose path,
/// nonce -1, gas_price 0, timestamp `timestamp_ms` (the node uses the signing time).
pub fn proposal_tx_body(value: &ProposalValue, timestamp_ms: u64) -> TxBody {
    let v = serde_json::to_value(value).unwrap_or(Value::Null);
    let op = SimpleOp::set_value(proposal_path(value.number), v);
    TxBody::new(Operation::Set(vec![op]), NONCE_UNORDERED, timestamp_ms)
}

/// Builds a vote tx body: `SET_VALUE` at the vote path, nonce -1, gas_price 0; the tx timestamp
/// is the vote's `vote_nonce`, as the node writes it.
pub fn vote_tx_body(number: u64, voter: &Address, value: &VoteValue) -> TxBody {
    let v = serde_json::to_value(value).unwrap_or(Value::Null);
    let op = SimpleOp::set_value(vote_path(number, &value.block_hash, voter), v);
    TxBody::new(op, NONCE_UNORDERED, value.vote_nonce)
}

/// Classifies a tx body as a proposal or a vote and parses its value. Does not look at the
/// signature: callers check the signer against the path (votes) or the proposer (proposals).
pub fn parse_consensus_tx(body: &TxBody) -> Result<ConsensusTx, ConsensusTxError> {
    let op = match &body.operation {
        Operation::Simple(op) => op,
        Operation::Set(ops) => ops
            .first()
            .ok_or_else(|| ConsensusTxError::NotConsensus("empty op_list".into()))?,
    };
    if op.op_type != OpType::SetValue {
        return Err(ConsensusTxError::NotConsensus(format!(
            "{} at {}",
            op.op_type.as_str(),
            op.path
        )));
    }
    let labels = parse_path(&op.path);
    let bad_path = |why: &str| ConsensusTxError::BadPath {
        path: op.path.clone(),
        why: why.to_owned(),
    };
    let value = op.value.as_ref().unwrap_or(&Value::Null);
    match labels.as_slice() {
        ["consensus", "number", n, "propose"] => {
            let number = parse_number(n).ok_or_else(|| bad_path("number"))?;
            let value =
                ProposalValue::deserialize(value).map_err(|e| ConsensusTxError::BadValue {
                    kind: "proposal",
                    why: e.to_string(),
                })?;
            if value.number != number {
                return Err(ConsensusTxError::Inconsistent("number"));
            }
            Ok(ConsensusTx::Proposal { number, value })
        }
        ["consensus", "number", n, hash, "vote", voter] => {
            let number = parse_number(n).ok_or_else(|| bad_path("number"))?;
            let block_hash: Hash = hash.parse().map_err(|_| bad_path("block hash"))?;
            let voter: Address = voter.parse().map_err(|_| bad_path("voter address"))?;
            let value = VoteValue::deserialize(value).map_err(|e| ConsensusTxError::BadValue {
                kind: "vote",
                why: e.to_string(),
            })?;
            if value.block_hash != block_hash {
                return Err(ConsensusTxError::Inconsistent("block_hash"));
            }
            Ok(ConsensusTx::Vote {
                number,
                block_hash,
                voter,
                value,
            })
        }
        _ => Err(ConsensusTxError::NotConsensus(op.path.clone())),
    }
}

/// A decimal block number label without sign, leading zeros or anything else.
fn parse_number(label: &str) -> Option<u64> {
    let canonical = label == "0" || (!label.starts_with('0') && !label.is_empty());
    if !canonical || !label.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    label.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PrivateKey;
    use serde_json::json;

    const NODE_SK: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";

    fn sample_proposal() -> ProposalValue {
        serde_json::from_value(json!({
            "number": 1, "epoch": 154466305,
            "validators": {"0x00ADEc28B6a845a085e03591bE7550dd68673C1C": {"stake": 10000000, "proposal_right": true}},
            "total_at_stake": 10000000,
            "proposer": "0x00ADEc28B6a845a085e03591bE7550dd68673C1C",
            "block_hash": "0x9b15267406f9324cd272f8a51eb6c6fb277484ab8a697acae15c3f82878fdb45",
            "last_hash": "0x596e941f1e662150244ec8b6390a6b58fa0bbc5a39d9b0a7d430c1f405d2c1bc",
            "timestamp": 1795461505164u64, "gas_cost_total": 0
        }))
        .unwrap()
    }

    #[test]
    fn rebuilds_the_real_block_1_proposal_byte_for_byte() {
        // The proposal for block 1 of the fixture chain, as it sits in block 2's last_votes.
        let key = PrivateKey::from_hex(NODE_SK).unwrap();
        let tx = proposal_tx_body(&sample_proposal(), 1795461505205)
            .sign(&key, 0)
            .unwrap();
        assert_eq!(
            tx.signature,
            "0xcb51fcbc39e7924e8bd0b6794d65440bbde0608728c50677ed49c927665e971532f1a6f9c02e5f0333e70d214391e8650339fc0de2b5b4aea9d19582e55b3a0869c2bba8ba6a3ba7a533a74048386fe753a2ce2741c78a88cbc4bbcd214b1ab11b"
        );
        match parse_consensus_tx(&tx.tx_body).unwrap() {
            ConsensusTx::Proposal { number, value } => {
                assert_eq!(number, 1);
                assert_eq!(value, sample_proposal());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rebuilds_the_real_block_1_vote_byte_for_byte() {
        let key = PrivateKey::from_hex(NODE_SK).unwrap();
        let value = VoteValue {
            block_hash: sample_proposal().block_hash,
            stake: 10000000,
            is_against: false,
            vote_nonce: 1795461505294,
            offense_type: None,
        };
        let tx = vote_tx_body(1, &key.address(), &value)
            .sign(&key, 0)
            .unwrap();
        assert_eq!(
            tx.hash.to_string(),
            "0xc03c0076d1f6bdf05b110c9eb7d78e7f4edbf00f018adecdfa473c9158eb37dc"
        );
        let parsed = parse_consensus_tx(&tx.tx_body).unwrap();
        assert_eq!(
            parsed,
            ConsensusTx::Vote {
                number: 1,
                block_hash: value.block_hash,
                voter: key.address(),
                value
            }
        );
    }

    #[test]
    fn rejects_malformed_consensus_writes() {
        let a = Address([1; 20]);
        let h = Hash([2; 32]);
        let ok_vote = json!({"block_hash": h, "stake": 1, "is_against": false, "vote_nonce": 1});
        let cases = [
            (
                SimpleOp::set_value("/apps/x", json!(1)),
                "not a consensus write",
            ),
            (
                SimpleOp::inc_value(proposal_path(1), 1),
                "not a consensus write",
            ),
            (
                SimpleOp::set_value("/consensus/number/01/propose", json!({})),
                "malformed consensus path",
            ),
            (
                SimpleOp::set_value(proposal_path(1), json!({"number": 1})),
                "malformed proposal value",
            ),
            (
                SimpleOp::set_value(
                    format!("/consensus/number/1/0x12/vote/{a}"),
                    ok_vote.clone(),
                ),
                "block hash",
            ),
            (
                SimpleOp::set_value(vote_path(1, &Hash([3; 32]), &a), ok_vote.clone()),
                "disagree on block_hash",
            ),
            (
                SimpleOp::set_value(vote_path(1, &h, &a), json!({"block_hash": h})),
                "malformed vote value",
            ),
        ];
        for (op, want) in cases {
            let body = TxBody::new(op, -1, 1);
            let err = parse_consensus_tx(&body).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        let mut p = serde_json::to_value(sample_proposal()).unwrap();
        p["number"] = json!(2);
        let body = TxBody::new(SimpleOp::set_value(proposal_path(1), p), -1, 1);
        assert_eq!(
            parse_consensus_tx(&body),
            Err(ConsensusTxError::Inconsistent("number"))
        );
    }
}
