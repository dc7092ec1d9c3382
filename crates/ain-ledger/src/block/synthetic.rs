//! Synthetic chains signed with our own keys: sealed blocks with real proposals and votes, for
//! tests, benchmarks and tools that need a valid chain without a node.

use serde_json::{Number, json};

use super::consensus::{ProposalValue, VoteValue, proposal_tx_body, vote_tx_body};
use super::{Block, ValidatorInfo, Validators};
use crate::crypto::{Hash, PrivateKey};
use crate::tx::SignedTx;

/// A proposal tx for `block`, signed by `key`, as the node builds it (chain id 0).
pub fn proposal_for(block: &Block, key: &PrivateKey) -> SignedTx {
    let ts = block.timestamp + 40;
    proposal_tx_body(&ProposalValue::for_block(block), ts)
        .sign(key, 0)
        .expect("chain id 0 is valid")
}

/// A vote tx by `key` for `block` claiming `stake` (chain id 0).
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
        .expect("chain id 0 is valid")
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

/// A sealed genesis block (no txs) with `validators`.
pub fn genesis(proposer: &PrivateKey, validators: Validators) -> Block {
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

/// A sealed successor of `prev` carrying `last_votes` and `transactions` (receipts all code 0).
pub fn next(
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

/// A single-validator chain of `blocks` blocks after genesis, each carrying `txs_per_block`
/// SET_VALUE txs from a few rotating user keys, with the proposal and vote of its predecessor.
pub fn single_validator_chain(
    validator: &PrivateKey,
    blocks: usize,
    txs_per_block: usize,
) -> Vec<Block> {
    use crate::tx::{Operation, SimpleOp, TxBody};
    let stake = 10_000_000;
    let validators = validator_set(&[(validator, stake)]);
    let users: Vec<PrivateKey> = (0..8).map(|_| PrivateKey::generate()).collect();
    let mut chain = vec![genesis(validator, validators.clone())];
    for n in 1..=blocks {
        let prev = &chain[n - 1];
        let last_votes = if n >= 2 {
            vec![
                proposal_for(prev, validator),
                vote_for(prev, validator, stake, false),
            ]
        } else {
            vec![]
        };
        let txs = (0..txs_per_block)
            .map(|i| {
                let op = SimpleOp::set_value(
                    format!("/apps/bench/values/b{n}/t{i}"),
                    json!({"n": n, "i": i}),
                );
                TxBody::new(Operation::Simple(op), -1, prev.timestamp + i as u64)
                    .sign(&users[i % users.len()], 0)
                    .expect("chain id 0 is valid")
            })
            .collect();
        let block = next(prev, validator, validators.clone(), last_votes, txs);
        chain.push(block);
    }
    chain
}
