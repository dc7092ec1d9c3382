//! Helpers shared by the ledger integration tests: fixture loading, keys, re-sealing tampered
//! blocks, and a synthetic chain signed with our own keys.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use ain_sre::ledger::block::consensus::{ProposalValue, VoteValue, proposal_tx_body, vote_tx_body};
use ain_sre::ledger::block::{Block, ValidatorInfo, Validators, hash_receipts, hash_tx_list};
use ain_sre::ledger::crypto::{Hash, PrivateKey};
use ain_sre::ledger::tx::SignedTx;
use serde_json::{Number, Value, json};

/// The 1-node chain's validator key (public test key of `blockchain-configs/1-node`).
pub const VALIDATOR_SK: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";
/// The fixtures' second, never-funded signer.
pub const SECOND_SK: &str = "d36d9bd96fc4d28d1c282bfdc71656e1d40fabcb0cccb7fb7b0a127a0a574d5e";
/// The fixture chain's genesis hash.
pub const GENESIS_HASH: &str = "0x596e941f1e662150244ec8b6390a6b58fa0bbc5a39d9b0a7d430c1f405d2c1bc";

pub fn validator_key() -> PrivateKey {
    PrivateKey::from_hex(VALIDATOR_SK).unwrap()
}

pub fn second_key() -> PrivateKey {
    PrivateKey::from_hex(SECOND_SK).unwrap()
}

pub fn genesis_hash() -> Hash {
    GENESIS_HASH.parse().unwrap()
}

/// The fixture blocks as raw JSON values (exactly as the node sent them).
pub fn raw_blocks(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fixture blocks, typed.
pub fn blocks(dir: &Path) -> Vec<Block> {
    raw_blocks(dir)
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

/// The fixture tx index (`ain-1node-txs.json`).
pub fn raw_txs(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("ain-1node-txs.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Recomputes the four body hashes but not the header hash (so only `hash` is then wrong).
pub fn seal_bodies_only(block: &mut Block) {
    block.last_votes_hash = hash_tx_list(&block.last_votes);
    block.transactions_hash = hash_tx_list(&block.transactions);
    block.receipts_hash = hash_receipts(&block.receipts);
    block.evidence_hash = ain_sre::ledger::block::hash_json(&block.evidence);
}

/// Re-signs a tx's body with `key` and claims `key`'s address (a fully valid tx by `key`).
pub fn resign(tx: &SignedTx, key: &PrivateKey) -> SignedTx {
    tx.tx_body.clone().sign(key, 0).unwrap()
}

/// A proposal tx for `block`, signed by `key`, as the node builds it.
pub fn proposal_for(block: &Block, key: &PrivateKey) -> SignedTx {
    let ts = block.timestamp + 40;
    proposal_tx_body(&ProposalValue::for_block(block), ts)
        .sign(key, 0)
        .unwrap()
}

/// A vote tx by `key` for `block` claiming `stake`.
pub fn vote_for(block: &Block, key: &PrivateKey, stake: u64, is_against: bool) -> SignedTx {
    let value = VoteValue {
        block_hash: block.hash,
        stake,
        is_against,
        vote_nonce: block.timestamp + 90,
        offense_type: is_against.then(|| "INVALID_PROPOSAL".to_owned()),
    };
    vote_tx_body(block.number, &key.address(), &value)
        .sign(key, 0)
        .unwrap()
}

/// A validator set from `(key, stake)` pairs, all with proposal rights.
pub fn validator_set(members: &[(&PrivateKey, u64)]) -> Validators {
    members
        .iter()
        .map(|(k, stake)| {
            (
                k.address(),
                ValidatorInfo {
                    stake: *stake,
                    proposal_right: true,
                },
            )
        })
        .collect()
}

/// A sealed synthetic genesis block (no txs) with `validators`.
pub fn synthetic_genesis(proposer: &PrivateKey, validators: Validators) -> Block {
    let mut b = Block {
        last_votes: vec![],
        evidence: json!({}),
        transactions: vec![],
        receipts: vec![],
        last_hash: None,
        last_votes_hash: Hash::default(),
        evidence_hash: Hash::default(),
        transactions_hash: Hash::default(),
        receipts_hash: Hash::default(),
        number: 0,
        epoch: 0,
        timestamp: 1_640_995_199_999,
        state_proof_hash: Some(Hash([0x5a; 32])),
        proposer: proposer.address(),
        validators,
        gas_amount_total: Number::from(0u64),
        gas_cost_total: Number::from(0u64),
        hash: Hash::default(),
        size: None,
    };
    b.seal();
    b
}

/// A sealed synthetic successor of `prev` carrying `last_votes` and `transactions`.
pub fn synthetic_next(
    prev: &Block,
    proposer: &PrivateKey,
    validators: Validators,
    last_votes: Vec<SignedTx>,
    transactions: Vec<SignedTx>,
) -> Block {
    let receipts = transactions
        .iter()
        .map(|_| json!({"code": 0, "gas_amount_charged": 0, "gas_cost_total": 0}))
        .collect();
    let mut b = Block {
        last_votes,
        evidence: json!({}),
        transactions,
        receipts,
        last_hash: Some(prev.hash),
        number: prev.number + 1,
        epoch: prev.epoch.max(1000) + 1,
        timestamp: prev.timestamp + 1000,
        proposer: proposer.address(),
        validators,
        ..prev.clone()
    };
    b.seal();
    b
}
