//! The pure block verifier (ain-protocol.md §4.3): no I/O, no clocks, one block at a time.
//!
//! Checks run in a fixed order, and the first failure is reported with the block number and the
//! check's name, so a tampered block always fails at the first check its tampering breaks:
//!
//! 1. integrity: `last_votes_hash`, `transactions_hash`, `receipts_hash`, `evidence_hash`, then
//!    the header `hash`;
//! 2. linkage: `number == prev.number + 1`, `last_hash == prev.hash`, `epoch > prev.epoch`;
//! 3. content: one receipt per tx; every tx's hash, signature and signer;
//! 4. the previous block's notarization, carried in `last_votes`: every entry's hash and
//!    signature, exactly one proposal for `prev.number` whose `block_hash` is `prev.hash` and whose
//!    signer is `prev.proposer`, and votes that are well-formed and for `prev.hash`. The proposer
//!    plus the for-votes, each validator counted once with its stake in `prev.validators` (a vote
//!    declaring a different stake does not count, as in the node), must reach
//!    `3·got ≥ 2·total` of `prev.validators`.
//! 5. when `prev` changed the validator set, the same signers must also hold 2/3 of the set
//!    before it (`parent_validators`). Each block carries its own set, so without this a proposer
//!    could name a set of its own keys and notarize itself; with it, trust flows from genesis.
//!
//! A block is only proven by its successor: its own proposal and votes travel in the next block.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::block::consensus::{ConsensusTx, parse_consensus_tx};
use crate::block::{
    Block, Validators, hash_json, hash_receipts, hash_tx_list_with_texts, total_stake,
};
use crate::crypto::{Address, Hash};

pub use super::check::{FailedCheck, TxList, VerifyError};
use crate::tx::{SignedTx, TxVerifyError};

/// What must be known of a verified block to verify its successor. Small enough to persist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The block's number.
    pub number: u64,
    /// The block's (verified) hash.
    pub hash: Hash,
    /// The block's epoch.
    pub epoch: u64,
    /// The block's proposer, who must sign its proposal.
    pub proposer: Address,
    /// The block's validator set, which must notarize it.
    pub validators: Validators,
    /// The parent's validator set, when known; endorses a change of `validators`.
    pub parent_validators: Option<Validators>,
}

impl Anchor {
    /// The anchor of a block verified after `prev` (or of a trusted block when `prev` is `None`).
    pub fn new(block: &Block, prev: Option<&Anchor>) -> Anchor {
        Anchor {
            number: block.number,
            hash: block.hash,
            epoch: block.epoch,
            proposer: block.proposer,
            validators: block.validators.clone(),
            parent_validators: prev.map(|p| p.validators.clone()),
        }
    }
}

fn fail(block: &Block, check: FailedCheck) -> VerifyError {
    VerifyError {
        number: block.number,
        check,
    }
}

/// Checks the block's body hashes and header hash; returns each tx body's stable JSON
/// (`transactions`, then `last_votes`) for reuse.
fn check_integrity(block: &Block) -> Result<(Vec<String>, Vec<String>), VerifyError> {
    let txs: Vec<String> = block
        .transactions
        .iter()
        .map(|t| t.tx_body.stable_json())
        .collect();
    let votes: Vec<String> = block
        .last_votes
        .iter()
        .map(|t| t.tx_body.stable_json())
        .collect();
    let computed = hash_tx_list_with_texts(&block.last_votes, &votes);
    if computed != block.last_votes_hash {
        let claimed = block.last_votes_hash;
        return Err(fail(
            block,
            FailedCheck::LastVotesHash { claimed, computed },
        ));
    }
    let computed = hash_tx_list_with_texts(&block.transactions, &txs);
    if computed != block.transactions_hash {
        let claimed = block.transactions_hash;
        return Err(fail(
            block,
            FailedCheck::TransactionsHash { claimed, computed },
        ));
    }
    let computed = hash_receipts(&block.receipts);
    if computed != block.receipts_hash {
        let claimed = block.receipts_hash;
        return Err(fail(block, FailedCheck::ReceiptsHash { claimed, computed }));
    }
    let computed = hash_json(&block.evidence);
    if computed != block.evidence_hash {
        let claimed = block.evidence_hash;
        return Err(fail(block, FailedCheck::EvidenceHash { claimed, computed }));
    }
    let computed = block.compute_hash();
    if computed != block.hash {
        let claimed = block.hash;
        return Err(fail(block, FailedCheck::HeaderHash { claimed, computed }));
    }
    Ok((txs, votes))
}

/// The block's own transactions: one receipt each, then every tx hash and signature.
fn check_transactions(block: &Block, texts: &[String], chain_id: u64) -> Result<(), VerifyError> {
    if block.receipts.len() != block.transactions.len() {
        let check = FailedCheck::ReceiptsCount {
            receipts: block.receipts.len(),
            transactions: block.transactions.len(),
        };
        return Err(fail(block, check));
    }
    check_txs(
        block,
        TxList::Transactions,
        &block.transactions,
        texts,
        chain_id,
    )?;
    Ok(())
}

/// Verifies one tx list's hashes and signatures; returns the signers.
fn check_txs(
    block: &Block,
    list: TxList,
    txs: &[SignedTx],
    texts: &[String],
    chain_id: u64,
) -> Result<Vec<Address>, VerifyError> {
    let mut signers = Vec::with_capacity(txs.len());
    for (index, (tx, text)) in txs.iter().zip(texts).enumerate() {
        let check = match tx.verify_with_body_text(text, chain_id) {
            Ok(signer) => {
                signers.push(signer);
                continue;
            }
            Err(TxVerifyError::Hash { claimed, computed }) => FailedCheck::TxHash {
                list,
                index,
                claimed,
                computed,
            },
            Err(TxVerifyError::Signature(reason)) => FailedCheck::TxSignature {
                list,
                index,
                reason,
            },
            Err(TxVerifyError::Signer { claimed, recovered }) => FailedCheck::TxSigner {
                list,
                index,
                claimed,
                recovered,
            },
        };
        return Err(fail(block, check));
    }
    Ok(signers)
}

/// Verifies a genesis block: number 0, self-consistent hashes, valid tx signatures, no
/// `last_votes`, and — when given — the trusted hash. Returns the number of signatures checked.
pub fn verify_genesis(
    block: &Block,
    trusted_hash: Option<&Hash>,
    chain_id: u64,
) -> Result<u64, VerifyError> {
    if block.number != 0 {
        return Err(fail(block, FailedCheck::GenesisNumber(block.number)));
    }
    let (txs, _) = check_integrity(block)?;
    if let Some(expected) = trusted_hash.filter(|h| **h != block.hash) {
        let check = FailedCheck::GenesisHash {
            expected: *expected,
            got: block.hash,
        };
        return Err(fail(block, check));
    }
    if !block.last_votes.is_empty() {
        let count = block.last_votes.len();
        return Err(fail(block, FailedCheck::UnexpectedLastVotes { count }));
    }
    check_transactions(block, &txs, chain_id)?;
    Ok(block.transactions.len() as u64)
}

/// Verifies `block` as the successor of the verified block `prev`. Returns the number of
/// signatures checked.
pub fn verify_block_after(prev: &Anchor, block: &Block, chain_id: u64) -> Result<u64, VerifyError> {
    let (txs, votes) = check_integrity(block)?;
    let expected = prev.number.saturating_add(1);
    if block.number != expected {
        let got = block.number;
        return Err(fail(block, FailedCheck::Number { expected, got }));
    }
    if block.last_hash != Some(prev.hash) {
        let check = FailedCheck::ParentLink {
            last_hash: block.last_hash,
            prev_hash: prev.hash,
        };
        return Err(fail(block, check));
    }
    if block.epoch <= prev.epoch {
        let check = FailedCheck::Epoch {
            epoch: block.epoch,
            prev_epoch: prev.epoch,
        };
        return Err(fail(block, check));
    }
    check_transactions(block, &txs, chain_id)?;
    let signers = check_txs(
        block,
        TxList::LastVotes,
        &block.last_votes,
        &votes,
        chain_id,
    )?;
    if prev.number == 0 {
        // Genesis is trusted, not voted on: block 1 carries no last_votes.
        if !block.last_votes.is_empty() {
            let count = block.last_votes.len();
            return Err(fail(block, FailedCheck::UnexpectedLastVotes { count }));
        }
    } else {
        check_notarization(prev, block, &signers).map_err(|check| fail(block, check))?;
    }
    Ok((block.transactions.len() + block.last_votes.len()) as u64)
}

/// [`verify_block_after`] with the previous block itself (the validator-set endorsement check
/// needs the grandparent's set, so it is skipped here; the [`super::Follower`] always has it).
pub fn verify_block(prev: &Block, block: &Block, chain_id: u64) -> Result<u64, VerifyError> {
    verify_block_after(&Anchor::new(prev, None), block, chain_id)
}

/// Checks that `block.last_votes` notarize `prev`; `signers[i]` is the verified signer of
/// `last_votes[i]`.
fn check_notarization(
    prev: &Anchor,
    block: &Block,
    signers: &[Address],
) -> Result<(), FailedCheck> {
    let mut proposal_seen = false;
    let mut counted: BTreeSet<Address> = BTreeSet::new();
    for (index, (tx, signer)) in block.last_votes.iter().zip(signers).enumerate() {
        let invalid = |reason: String| FailedCheck::VoteInvalid { index, reason };
        match parse_consensus_tx(&tx.tx_body).map_err(|e| invalid(e.to_string()))? {
            ConsensusTx::Proposal { number, value } => {
                if number != prev.number {
                    return Err(invalid(format!(
                        "proposal for block {number}, expected {}",
                        prev.number
                    )));
                }
                if proposal_seen {
                    return Err(FailedCheck::DuplicateProposal { index });
                }
                proposal_seen = true;
                if value.block_hash != prev.hash {
                    let (got, expected) = (value.block_hash, prev.hash);
                    return Err(FailedCheck::ProposalBlockHash {
                        index,
                        got,
                        expected,
                    });
                }
                if *signer != prev.proposer {
                    let (signer, expected) = (*signer, prev.proposer);
                    return Err(FailedCheck::ProposalSigner {
                        index,
                        signer,
                        expected,
                    });
                }
                // The proposal counts as the proposer's vote.
                counted.insert(*signer);
            }
            ConsensusTx::Vote {
                number,
                block_hash,
                voter,
                value,
            } => {
                if number != prev.number {
                    return Err(invalid(format!(
                        "vote for block {number}, expected {}",
                        prev.number
                    )));
                }
                if voter != *signer {
                    return Err(invalid(format!("vote as {voter} signed by {signer}")));
                }
                if value.is_against {
                    // Recorded by the chain as evidence, never counted towards notarization.
                    continue;
                }
                if block_hash != prev.hash {
                    return Err(invalid(format!(
                        "vote for {block_hash}, previous block is {}",
                        prev.hash
                    )));
                }
                if prev
                    .validators
                    .get(&voter)
                    .is_some_and(|v| v.stake == value.stake)
                {
                    counted.insert(voter);
                }
            }
        }
    }
    if !proposal_seen {
        return Err(FailedCheck::MissingProposal {
            for_number: prev.number,
        });
    }
    let (got, total) = tally(&counted, &prev.validators);
    if got == 0 || 3 * got < 2 * total {
        return Err(FailedCheck::InsufficientVotes { got, total });
    }
    if let Some(parent) = prev
        .parent_validators
        .as_ref()
        .filter(|p| **p != prev.validators)
    {
        let (got, total) = tally(&counted, parent);
        if got == 0 || 3 * got < 2 * total {
            return Err(FailedCheck::ValidatorSetNotEndorsed { got, total });
        }
    }
    Ok(())
}

/// Stake of `signers` within `set`, and the set's total stake.
fn tally(signers: &BTreeSet<Address>, set: &Validators) -> (u128, u128) {
    let got = signers
        .iter()
        .filter_map(|a| set.get(a))
        .map(|v| u128::from(v.stake))
        .sum();
    (got, total_stake(set))
}

/// Verifies a whole chain segment starting at genesis (`blocks[0]`, checked against
/// `trusted_genesis` when given) with no I/O: the entry point for benchmarks and offline checks.
/// Returns the anchor of the last block and the number of signatures checked.
pub fn verify_chain(
    blocks: &[Block],
    trusted_genesis: Option<&Hash>,
    chain_id: u64,
) -> Result<(Option<Anchor>, u64), VerifyError> {
    let Some(genesis) = blocks.first() else {
        return Ok((None, 0));
    };
    let mut signatures = verify_genesis(genesis, trusted_genesis, chain_id)?;
    let mut anchor = Anchor::new(genesis, None);
    for block in &blocks[1..] {
        signatures += verify_block_after(&anchor, block, chain_id)?;
        anchor = Anchor::new(block, Some(&anchor));
    }
    Ok((Some(anchor), signatures))
}
