//! Helpers shared by the ledger integration tests: fixture loading, keys, re-sealing tampered
//! blocks, and a synthetic chain signed with our own keys.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use ain_sre::ledger::block::{Block, hash_receipts, hash_tx_list};
use ain_sre::ledger::crypto::{Hash, PrivateKey};
use ain_sre::ledger::tx::SignedTx;
use serde_json::Value;

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

// The synthetic-chain builders live in the library (benchmarks use them too).
#[allow(unused_imports)]
pub use ain_sre::ledger::block::synthetic::{
    genesis as synthetic_genesis, next as synthetic_next, proposal_for, validator_set, vote_for,
};
