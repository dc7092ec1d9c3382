//! Typed txs and blocks against the real 1-node chain fixtures, and the block verifier: every
//! check is shown failing on a tampered copy of a real (or synthetic, signed-by-us) block.

mod common;
mod ledger_support;

use ain_sre::ledger::block::Block;
use ain_sre::ledger::block::consensus::{ConsensusTx, parse_consensus_tx};
use ain_sre::ledger::crypto::{Hash, PrivateKey, hash_transaction};
use ain_sre::ledger::follower::{
    Anchor, FailedCheck, TxList, VerifyError, verify_block, verify_block_after, verify_chain,
    verify_genesis,
};
use ain_sre::ledger::json::stable_stringify;
use ain_sre::ledger::tx::{SignedTx, TxBody};
use ledger_support::*;
use serde_json::json;

fn fixture_blocks(test: &str) -> Option<Vec<Block>> {
    common::fixtures(test).map(|d| blocks(&d))
}

#[test]
fn every_fixture_tx_round_trips_with_an_identical_hash() {
    let Some(dir) = common::fixtures("every_fixture_tx_round_trips_with_an_identical_hash") else {
        return;
    };
    let txs = raw_txs(&dir);
    assert_eq!(txs.len(), 14);
    for entry in &txs {
        let name = entry["name"].as_str().unwrap();
        let raw = &entry["tx_body"];
        let body: TxBody = serde_json::from_value(raw.clone()).unwrap();
        let expected: Hash = entry["hash"].as_str().unwrap().parse().unwrap();
        assert_eq!(body.hash(), expected, "{name}");
        assert_eq!(
            hash_transaction(&serde_json::to_value(&body).unwrap()),
            expected,
            "{name}"
        );
        assert_eq!(&serde_json::to_value(&body).unwrap(), raw, "{name}");
        assert_eq!(body.stable_json(), stable_stringify(raw), "{name}");
        let signed = SignedTx {
            tx_body: body,
            signature: entry["signature"].as_str().unwrap().to_owned(),
            hash: expected,
            address: entry["signer"].as_str().unwrap().parse().unwrap(),
            extra: None,
        };
        assert_eq!(signed.verify(0).unwrap(), signed.address, "{name}");
    }
}

#[test]
fn fixture_blocks_round_trip_and_their_hashes_recompute() {
    let Some(dir) = common::fixtures("fixture_blocks_round_trip_and_their_hashes_recompute") else {
        return;
    };
    for raw in raw_blocks(&dir) {
        let block: Block = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&block).unwrap(),
            raw,
            "block {}",
            block.number
        );
        let mut resealed = block.clone();
        resealed.seal();
        assert_eq!(resealed, block, "block {} re-seals to itself", block.number);
        for tx in block.transactions.iter().chain(&block.last_votes) {
            assert_eq!(tx.tx_body.hash(), tx.hash);
        }
    }
}

#[test]
fn verifies_the_whole_fixture_chain() {
    let Some(blocks) = fixture_blocks("verifies_the_whole_fixture_chain") else {
        return;
    };
    assert_eq!(blocks.len(), 47);
    let (anchor, signatures) = verify_chain(&blocks, Some(&genesis_hash()), 0).unwrap();
    let anchor = anchor.unwrap();
    assert_eq!(anchor.number, 46);
    assert_eq!(anchor.hash, blocks[46].hash);
    // 4 genesis txs, 14 user txs, one proposal and one vote in each of blocks 2..=46.
    assert_eq!(signatures, 4 + 14 + 2 * 45);
    // The real proposals and votes parse as such.
    match parse_consensus_tx(&blocks[2].last_votes[0].tx_body).unwrap() {
        ConsensusTx::Proposal { number, value } => {
            assert_eq!(number, 1);
            assert_eq!(value.block_hash, blocks[1].hash);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_consensus_tx(&blocks[2].last_votes[1].tx_body).unwrap(),
        ConsensusTx::Vote { number: 1, .. }
    ));
}

#[test]
fn genesis_is_checked_against_the_trusted_hash() {
    let Some(blocks) = fixture_blocks("genesis_is_checked_against_the_trusted_hash") else {
        return;
    };
    assert_eq!(verify_genesis(&blocks[0], Some(&genesis_hash()), 0), Ok(4));
    let err = verify_genesis(&blocks[0], Some(&Hash([1; 32])), 0).unwrap_err();
    assert_eq!(err.check.name(), "genesis_hash");
    assert_eq!(
        verify_genesis(&blocks[1], None, 0)
            .unwrap_err()
            .check
            .name(),
        "genesis_number"
    );
    let mut g = blocks[0].clone();
    g.timestamp += 1;
    assert_eq!(
        verify_genesis(&g, None, 0).unwrap_err().check.name(),
        "header_hash"
    );
}

/// Verifies `block` (a tampered copy of fixture block `n`) after the genuine block `n - 1`.
fn check_after(blocks: &[Block], n: usize, block: &Block) -> Result<u64, VerifyError> {
    let parent = (n >= 2).then(|| Anchor::new(&blocks[n - 2], None));
    let prev = Anchor::new(&blocks[n - 1], parent.as_ref());
    verify_block_after(&prev, block, 0)
}

fn expect_check(result: Result<u64, VerifyError>, number: u64, name: &str) -> FailedCheck {
    let err = result.expect_err(name);
    assert_eq!(err.number, number, "{err}");
    assert_eq!(err.check.name(), name, "{err}");
    err.check
}

#[test]
fn each_integrity_and_linkage_check_fails_on_its_own_tampering() {
    let Some(blocks) =
        fixture_blocks("each_integrity_and_linkage_check_fails_on_its_own_tampering")
    else {
        return;
    };
    let b14 = &blocks[14];
    assert!(check_after(&blocks, 14, b14).is_ok());
    let alter_value = |b: &mut Block| {
        let op = match &mut b.transactions[2].tx_body.operation {
            ain_sre::ledger::tx::Operation::Simple(op) => op,
            other => panic!("{other:?}"),
        };
        op.value = Some(json!({"text": "forged"}));
    };

    let mut b = b14.clone();
    alter_value(&mut b);
    expect_check(check_after(&blocks, 14, &b), 14, "transactions_hash");

    seal_bodies_only(&mut b);
    expect_check(check_after(&blocks, 14, &b), 14, "header_hash");

    b.seal();
    let c = expect_check(check_after(&blocks, 14, &b), 14, "tx_hash");
    assert!(matches!(
        c,
        FailedCheck::TxHash {
            list: TxList::Transactions,
            index: 2,
            ..
        }
    ));

    let mut b = b14.clone();
    b.last_votes.swap(0, 1);
    expect_check(check_after(&blocks, 14, &b), 14, "last_votes_hash");

    let mut b = b14.clone();
    b.receipts[0]["gas_amount_charged"] = json!(1);
    expect_check(check_after(&blocks, 14, &b), 14, "receipts_hash");

    let mut b = b14.clone();
    b.evidence = json!({"0x00ADEc28B6a845a085e03591bE7550dd68673C1C": []});
    expect_check(check_after(&blocks, 14, &b), 14, "evidence_hash");

    let mut b = b14.clone();
    b.timestamp += 1;
    expect_check(check_after(&blocks, 14, &b), 14, "header_hash");

    let mut b = b14.clone();
    b.number = 15;
    b.seal();
    let c = expect_check(check_after(&blocks, 14, &b), 15, "number");
    assert_eq!(
        c,
        FailedCheck::Number {
            expected: 14,
            got: 15
        }
    );

    let mut b = b14.clone();
    b.last_hash = Some(blocks[12].hash);
    b.seal();
    expect_check(check_after(&blocks, 14, &b), 14, "parent_link");

    let mut b = b14.clone();
    b.epoch = blocks[13].epoch;
    b.seal();
    expect_check(check_after(&blocks, 14, &b), 14, "epoch");

    let mut b = b14.clone();
    b.receipts.pop();
    b.seal();
    expect_check(check_after(&blocks, 14, &b), 14, "receipts_count");

    // A genuine block in the wrong place fails linkage, not integrity.
    expect_check(check_after(&blocks, 14, &blocks[15]), 15, "number");
}

#[test]
fn each_tx_check_fails_on_its_own_tampering() {
    let Some(blocks) = fixture_blocks("each_tx_check_fails_on_its_own_tampering") else {
        return;
    };
    let key2 = second_key();

    // Signed by another key while claiming the validator's address.
    let mut b = blocks[14].clone();
    let forged = resign(&b.transactions[1], &key2);
    b.transactions[1].signature = forged.signature;
    b.seal();
    let c = expect_check(check_after(&blocks, 14, &b), 14, "tx_signer");
    assert!(
        matches!(c, FailedCheck::TxSigner { index: 1, recovered, .. } if recovered == key2.address())
    );

    // A `v` byte no chain-0 signature has.
    let mut b = blocks[14].clone();
    let sig = &mut b.transactions[0].signature;
    sig.replace_range(sig.len() - 2.., "30");
    b.seal();
    let c = expect_check(check_after(&blocks, 14, &b), 14, "tx_signature");
    assert!(matches!(
        c,
        FailedCheck::TxSignature {
            list: TxList::Transactions,
            index: 0,
            ..
        }
    ));

    // The `hash` field of a tx disagrees with its body (and the signature).
    let mut b = blocks[23].clone();
    b.transactions[1].hash = b.transactions[0].hash;
    b.seal();
    expect_check(check_after(&blocks, 23, &b), 23, "tx_hash");

    // A vote in last_votes with an altered body.
    let mut b = blocks[10].clone();
    b.last_votes[1].tx_body.timestamp = 1u64.into();
    b.seal();
    let c = expect_check(check_after(&blocks, 10, &b), 10, "tx_hash");
    assert!(matches!(
        c,
        FailedCheck::TxHash {
            list: TxList::LastVotes,
            index: 1,
            ..
        }
    ));
}

#[test]
fn each_notarization_check_fails_on_a_tampered_real_block() {
    let Some(blocks) = fixture_blocks("each_notarization_check_fails_on_a_tampered_real_block")
    else {
        return;
    };
    let validator = validator_key();
    let key2 = second_key();

    let mut b = blocks[10].clone();
    b.last_votes.remove(0);
    b.seal();
    let c = expect_check(check_after(&blocks, 10, &b), 10, "missing_proposal");
    assert_eq!(c, FailedCheck::MissingProposal { for_number: 9 });

    // A validly signed proposal, but for another block hash.
    let mut b = blocks[10].clone();
    let mut other = blocks[9].clone();
    other.timestamp += 1;
    other.seal();
    b.last_votes[0] = proposal_for(&other, &validator);
    b.seal();
    expect_check(check_after(&blocks, 10, &b), 10, "proposal_block_hash");

    // The right proposal, signed (validly) by a key that is not the proposer.
    let mut b = blocks[10].clone();
    b.last_votes[0] = resign(&b.last_votes[0], &key2);
    b.seal();
    let c = expect_check(check_after(&blocks, 10, &b), 10, "proposal_signer");
    assert!(matches!(c, FailedCheck::ProposalSigner { signer, .. } if signer == key2.address()));

    let mut b = blocks[10].clone();
    b.last_votes.push(b.last_votes[0].clone());
    b.seal();
    expect_check(check_after(&blocks, 10, &b), 10, "duplicate_proposal");

    // A vote for the right block but posing as the validator while signed by key2.
    let mut b = blocks[10].clone();
    b.last_votes[1] = resign(&b.last_votes[1], &key2);
    b.seal();
    let c = expect_check(check_after(&blocks, 10, &b), 10, "vote_invalid");
    assert!(matches!(c, FailedCheck::VoteInvalid { index: 1, .. }));

    // A vote for an older block is no vote for the previous one.
    let mut b = blocks[10].clone();
    b.last_votes[1] = vote_for(&blocks[8], &validator, 10_000_000, false);
    b.seal();
    expect_check(check_after(&blocks, 10, &b), 10, "vote_invalid");

    // A user tx smuggled into last_votes.
    let mut b = blocks[10].clone();
    b.last_votes.push(blocks[2].transactions[0].clone());
    b.seal();
    expect_check(check_after(&blocks, 10, &b), 10, "vote_invalid");

    // Block 1 cannot carry votes: genesis is not voted on.
    let mut b = blocks[1].clone();
    b.last_votes = blocks[2].last_votes.clone();
    b.seal();
    expect_check(verify_block(&blocks[0], &b, 0), 1, "unexpected_last_votes");

    // On the real chain the proposal alone notarizes: its signer is the sole validator.
    let mut b = blocks[10].clone();
    b.last_votes.truncate(1);
    b.seal();
    assert!(check_after(&blocks, 10, &b).is_ok());
}

/// Keys and blocks of a synthetic two-validator chain: A (stake 1) proposes, B (stake 2) votes.
struct TwoValidators {
    a: PrivateKey,
    b: PrivateKey,
    genesis: Block,
    block1: Block,
}

fn two_validators() -> TwoValidators {
    let a = PrivateKey::generate();
    let b = PrivateKey::generate();
    let set = validator_set(&[(&a, 1), (&b, 2)]);
    let genesis = synthetic_genesis(&a, set.clone());
    let block1 = synthetic_next(&genesis, &a, set, vec![], vec![]);
    TwoValidators {
        a,
        b,
        genesis,
        block1,
    }
}

fn block2(t: &TwoValidators, last_votes: Vec<SignedTx>) -> Result<u64, VerifyError> {
    let next = synthetic_next(
        &t.block1,
        &t.a,
        t.block1.validators.clone(),
        last_votes,
        vec![],
    );
    let g = Anchor::new(&t.genesis, None);
    verify_block_after(&Anchor::new(&t.block1, Some(&g)), &next, 0)
}

#[test]
fn two_thirds_of_stake_is_required_and_counted_once() {
    let t = two_validators();
    assert_eq!(
        verify_chain(&[t.genesis.clone(), t.block1.clone()], None, 0)
            .unwrap()
            .1,
        0
    );
    let proposal = proposal_for(&t.block1, &t.a);
    let vote_b = vote_for(&t.block1, &t.b, 2, false);

    // 1 + 2 of 3: notarized.
    assert_eq!(block2(&t, vec![proposal.clone(), vote_b.clone()]), Ok(2));

    // The proposer alone holds 1 of 3.
    let c = expect_check(block2(&t, vec![proposal.clone()]), 2, "insufficient_votes");
    assert_eq!(c, FailedCheck::InsufficientVotes { got: 1, total: 3 });

    // The proposer voting again is still counted once.
    let vote_a = vote_for(&t.block1, &t.a, 1, false);
    let c = expect_check(
        block2(&t, vec![proposal.clone(), vote_a]),
        2,
        "insufficient_votes",
    );
    assert_eq!(c, FailedCheck::InsufficientVotes { got: 1, total: 3 });

    // An against-vote is valid but never counted.
    let against = vote_for(&t.block1, &t.b, 2, true);
    let c = expect_check(
        block2(&t, vec![proposal.clone(), against]),
        2,
        "insufficient_votes",
    );
    assert_eq!(c, FailedCheck::InsufficientVotes { got: 1, total: 3 });

    // A vote claiming another stake than the validator set's does not count (as in the node).
    let inflated = vote_for(&t.block1, &t.b, 5, false);
    expect_check(
        block2(&t, vec![proposal.clone(), inflated]),
        2,
        "insufficient_votes",
    );

    // A stranger's vote does not count.
    let stranger = vote_for(&t.block1, &PrivateKey::generate(), 2, false);
    expect_check(
        block2(&t, vec![proposal.clone(), stranger]),
        2,
        "insufficient_votes",
    );

    // Votes alone, without the proposal, are not a notarization.
    expect_check(block2(&t, vec![vote_b]), 2, "missing_proposal");
}

#[test]
fn a_self_made_validator_set_is_not_endorsed() {
    let t = two_validators();
    // Block 1 replaces the genesis validators with a key of its own and notarizes itself.
    let intruder = PrivateKey::generate();
    let own_set = validator_set(&[(&intruder, 1_000)]);
    let block1 = synthetic_next(&t.genesis, &intruder, own_set.clone(), vec![], vec![]);
    let block2 = synthetic_next(
        &block1,
        &intruder,
        own_set,
        vec![proposal_for(&block1, &intruder)],
        vec![],
    );
    let g = Anchor::new(&t.genesis, None);
    let prev = Anchor::new(&block1, Some(&g));
    let c = expect_check(
        verify_block_after(&prev, &block2, 0),
        2,
        "validator_set_not_endorsed",
    );
    assert_eq!(c, FailedCheck::ValidatorSetNotEndorsed { got: 0, total: 3 });

    // A change backed by 2/3 of the old set is accepted: A and B vote B's stake up.
    let grown = validator_set(&[(&t.a, 1), (&t.b, 3)]);
    let block1 = synthetic_next(&t.genesis, &t.a, grown.clone(), vec![], vec![]);
    let votes = vec![
        proposal_for(&block1, &t.a),
        vote_for(&block1, &t.b, 3, false),
    ];
    let block2 = synthetic_next(&block1, &t.a, grown, votes, vec![]);
    assert!(verify_chain(&[t.genesis.clone(), block1, block2], None, 0).is_ok());
}

#[test]
fn synthetic_chains_carry_real_looking_transactions() {
    let t = two_validators();
    let user = PrivateKey::generate();
    let tx: TxBody = serde_json::from_value(
        json!({"operation":{"type":"SET_VALUE","ref":"/apps/x/v","value":1},"nonce":-1,"timestamp":5}),
    )
    .unwrap();
    let signed = tx.sign(&user, 0).unwrap();
    let votes = vec![
        proposal_for(&t.block1, &t.a),
        vote_for(&t.block1, &t.b, 2, false),
    ];
    let block2 = synthetic_next(
        &t.block1,
        &t.a,
        t.block1.validators.clone(),
        votes,
        vec![signed],
    );
    let round: Block = serde_json::from_value(serde_json::to_value(&block2).unwrap()).unwrap();
    assert_eq!(round, block2);
    let chain = [t.genesis.clone(), t.block1.clone(), block2];
    assert_eq!(verify_chain(&chain, Some(&t.genesis.hash), 0).unwrap().1, 3);
    // Same chain, wrong chain id: every signature's v is off.
    let err = verify_chain(&chain, None, 1).unwrap_err();
    assert_eq!(err.check.name(), "tx_signature");
}
