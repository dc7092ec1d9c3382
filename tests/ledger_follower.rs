//! The follower driver over the real 1-node chain fixtures: delivery, acknowledgements, cursor
//! persistence across restarts, invalid blocks, wake-ups, back-pressure and source outages.

mod common;
mod ledger_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ain_sre::ledger::block::Block;
use ain_sre::ledger::follower::{
    CursorError, CursorStore, FileCursorStore, Follower, FollowerConfig, FollowerError,
    FollowerEvent, FollowerExit, FollowerHandle, MemoryCursorStore, MemorySource, TrustedGenesis,
    verify_chain,
};
use ledger_support::*;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

type RunResult = Result<FollowerExit, FollowerError>;

fn config(to: Option<u64>) -> FollowerConfig {
    FollowerConfig {
        poll_interval: Duration::from_millis(50),
        retry_interval: Duration::from_millis(10),
        to,
        ..FollowerConfig::default()
    }
}

struct Running {
    events: mpsc::Receiver<FollowerEvent>,
    handle: FollowerHandle,
    cancel: CancellationToken,
    task: JoinHandle<RunResult>,
}

fn spawn(
    source: Arc<MemorySource>,
    genesis: TrustedGenesis,
    store: Arc<dyn CursorStore>,
    config: FollowerConfig,
) -> Running {
    let (follower, events, handle) = Follower::new(SharedSource(source), genesis, store, config);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follower.run(cancel.clone()));
    Running {
        events,
        handle,
        cancel,
        task,
    }
}

/// Lets a test keep a handle on the source it gave the follower.
struct SharedSource(Arc<MemorySource>);

impl ain_sre::ledger::follower::BlockSource for SharedSource {
    async fn last_block_number(&self) -> Result<u64, ain_sre::ledger::follower::SourceError> {
        self.0.last_block_number().await
    }
    async fn block_list(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<Block>, ain_sre::ledger::follower::SourceError> {
        self.0.block_list(from, to).await
    }
}

/// Receives the next `Committed` block within a generous deadline.
async fn next_block(r: &mut Running) -> Arc<Block> {
    match tokio::time::timeout(Duration::from_secs(20), r.events.recv()).await {
        Ok(Some(FollowerEvent::Committed { block })) => block,
        other => panic!("expected a committed block, got {other:?}"),
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn fixture(test: &str) -> Option<Vec<Block>> {
    common::fixtures(test).map(|d| blocks(&d))
}

#[tokio::test]
async fn follows_and_verifies_all_fixture_blocks() {
    let Some(blocks) = fixture("follows_and_verifies_all_fixture_blocks") else {
        return;
    };
    for genesis in [
        TrustedGenesis::Hash(genesis_hash()),
        TrustedGenesis::Block(Box::new(blocks[0].clone())),
    ] {
        let source = Arc::new(MemorySource::new(blocks.clone()));
        let store = Arc::new(MemoryCursorStore::new());
        let mut r = spawn(source, genesis, store.clone(), config(Some(45)));
        for n in 0..=45 {
            let b = next_block(&mut r).await;
            assert_eq!(b.number, n);
            assert_eq!(b.hash, blocks[n as usize].hash);
            r.handle.finished_height(n);
        }
        assert_eq!(
            r.task.await.unwrap().unwrap(),
            FollowerExit::ReachedTarget(45)
        );
        assert!(r.events.recv().await.is_none(), "nothing after the target");
        assert_eq!(store.get().unwrap().height(), 45);
        let stats = r.handle.stats();
        // 0..=46 verified: block 46 is what proves block 45.
        assert_eq!(stats.blocks_verified, 47);
        assert_eq!(stats.signatures_verified, 4 + 14 + 2 * 45);
        assert_eq!(
            (stats.delivered_height, stats.persisted_height),
            (Some(45), Some(45))
        );
    }
}

#[tokio::test]
async fn the_newest_block_waits_for_its_proof() {
    let Some(blocks) = fixture("the_newest_block_waits_for_its_proof") else {
        return;
    };
    let source = Arc::new(MemorySource::new(blocks));
    source.set_visible_tip(Some(10));
    let mut r = spawn(
        source.clone(),
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(MemoryCursorStore::new()),
        config(None),
    );
    for n in 0..=9 {
        assert_eq!(next_block(&mut r).await.number, n);
    }
    // Block 10 is verified but unproven while block 11 is not served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(r.events.try_recv().is_err());
    assert_eq!(r.handle.stats().blocks_verified, 11);
    source.set_visible_tip(Some(11));
    assert_eq!(next_block(&mut r).await.number, 10);
    r.cancel.cancel();
    assert_eq!(r.task.await.unwrap().unwrap(), FollowerExit::Cancelled);
}

#[tokio::test]
async fn restart_resumes_after_the_acknowledged_height() {
    let Some(blocks) = fixture("restart_resumes_after_the_acknowledged_height") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("follower-cursor.json");
    let source = Arc::new(MemorySource::new(blocks.clone()));
    source.set_visible_tip(Some(31));

    // First run: 0..=30 delivered, only 0..=20 acknowledged, then a "crash" (cancel).
    let mut r = spawn(
        source.clone(),
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(FileCursorStore::new(&path)),
        config(None),
    );
    for n in 0..=30 {
        let b = next_block(&mut r).await;
        assert_eq!(b.number, n);
        if n <= 20 {
            r.handle.finished_height(n);
        }
    }
    wait_until("cursor at 20", || {
        r.handle.stats().persisted_height == Some(20)
    })
    .await;
    r.cancel.cancel();
    assert_eq!(r.task.await.unwrap().unwrap(), FollowerExit::Cancelled);
    let stored = FileCursorStore::new(&path).load().unwrap().unwrap();
    assert_eq!(stored.height(), 20);
    assert_eq!(stored.anchor.hash, blocks[20].hash);

    // Second run: delivery resumes at 21 and nothing is skipped.
    source.set_visible_tip(None);
    let mut r = spawn(
        source,
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(FileCursorStore::new(&path)),
        config(Some(40)),
    );
    for n in 21..=40 {
        let b = next_block(&mut r).await;
        assert_eq!(b.number, n, "resumed delivery must be contiguous from 21");
        r.handle.finished_height(n);
    }
    assert_eq!(
        r.task.await.unwrap().unwrap(),
        FollowerExit::ReachedTarget(40)
    );
    // The resumed run verified from the cursor, not from genesis: blocks 21..=41.
    assert_eq!(r.handle.stats().blocks_verified, 21);
    assert_eq!(
        FileCursorStore::new(&path)
            .load()
            .unwrap()
            .unwrap()
            .height(),
        40
    );
}

#[tokio::test]
async fn a_corrupt_or_foreign_cursor_stops_the_follower() {
    let Some(blocks) = fixture("a_corrupt_or_foreign_cursor_stops_the_follower") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cursor.json");

    // A valid cursor for this chain, at height 5.
    let source = Arc::new(MemorySource::new(blocks.clone()));
    let mut r = spawn(
        source.clone(),
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(FileCursorStore::new(&path)),
        config(Some(5)),
    );
    for n in 0..=5 {
        assert_eq!(next_block(&mut r).await.number, n);
        r.handle.finished_height(n);
    }
    r.task.await.unwrap().unwrap();
    let good = std::fs::read_to_string(&path).unwrap();

    // Truncated (a partial write from some other tool) or edited: refused, nothing delivered.
    for damaged in [
        good[..good.len() / 3].to_owned(),
        good.replace("\"number\": 5", "\"number\": 40"),
    ] {
        std::fs::write(&path, damaged).unwrap();
        let mut r = spawn(
            source.clone(),
            TrustedGenesis::Hash(genesis_hash()),
            Arc::new(FileCursorStore::new(&path)),
            config(None),
        );
        let err = r.task.await.unwrap().unwrap_err();
        assert!(
            matches!(err, FollowerError::Cursor(CursorError::Corrupt { .. })),
            "{err}"
        );
        assert!(r.events.recv().await.is_none());
    }

    // A cursor from another genesis is refused too.
    std::fs::write(&path, &good).unwrap();
    let other = synthetic_genesis(&validator_key(), blocks[0].validators.clone());
    let r = spawn(
        source,
        TrustedGenesis::Block(Box::new(other)),
        Arc::new(FileCursorStore::new(&path)),
        config(None),
    );
    let err = r.task.await.unwrap().unwrap_err();
    assert!(matches!(err, FollowerError::CursorMismatch(_)), "{err}");
}

#[tokio::test]
async fn an_invalid_block_halts_the_follower_with_block_and_check() {
    let Some(blocks) = fixture("an_invalid_block_halts_the_follower_with_block_and_check") else {
        return;
    };
    let mut bad = blocks[20].clone();
    bad.transactions[0].signature = resign(&bad.transactions[0], &second_key()).signature;
    bad.seal();
    let source = Arc::new(MemorySource::new(blocks));
    source.replace(20, bad);
    let store = Arc::new(MemoryCursorStore::new());
    let mut r = spawn(
        source,
        TrustedGenesis::Hash(genesis_hash()),
        store.clone(),
        config(None),
    );
    // Block 19 is never delivered: only block 20 could prove it.
    for n in 0..=18 {
        assert_eq!(next_block(&mut r).await.number, n);
        r.handle.finished_height(n);
    }
    match tokio::time::timeout(Duration::from_secs(20), r.events.recv()).await {
        Ok(Some(FollowerEvent::Halted { error })) => {
            assert_eq!((error.number, error.check.name()), (20, "tx_signer"));
        }
        other => panic!("expected Halted, got {other:?}"),
    }
    match r.task.await.unwrap() {
        Err(FollowerError::InvalidBlock(e)) => {
            assert_eq!((e.number, e.check.name()), (20, "tx_signer"));
            let text = FollowerError::InvalidBlock(e).to_string();
            assert!(
                text.contains("block 20") && text.contains("tx_signer"),
                "{text}"
            );
        }
        other => panic!("expected InvalidBlock, got {other:?}"),
    }
    assert!(r.events.recv().await.is_none());
    // Acknowledgements that arrive after the halt are not persisted (re-delivered on restart),
    // but the cursor never passes the last block delivered before the invalid one.
    assert!(store.get().is_none_or(|c| c.height() <= 18));
}

#[tokio::test]
async fn a_wake_up_beats_a_long_poll_interval() {
    let Some(blocks) = fixture("a_wake_up_beats_a_long_poll_interval") else {
        return;
    };
    let source = Arc::new(MemorySource::new(blocks));
    source.set_visible_tip(Some(10));
    let cfg = FollowerConfig {
        poll_interval: Duration::from_secs(3600),
        ..config(None)
    };
    let mut r = spawn(
        source.clone(),
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(MemoryCursorStore::new()),
        cfg,
    );
    for n in 0..=9 {
        assert_eq!(next_block(&mut r).await.number, n);
    }
    let calls = source.calls();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(source.calls(), calls, "idle: no polling within the hour");
    source.set_visible_tip(Some(20));
    r.handle.wake();
    for n in 10..=19 {
        assert_eq!(next_block(&mut r).await.number, n);
    }
    r.cancel.cancel();
    assert_eq!(r.task.await.unwrap().unwrap(), FollowerExit::Cancelled);
}

#[tokio::test]
async fn unacknowledged_blocks_apply_back_pressure() {
    let Some(blocks) = fixture("unacknowledged_blocks_apply_back_pressure") else {
        return;
    };
    let source = Arc::new(MemorySource::new(blocks));
    let cfg = FollowerConfig {
        max_unacked: 5,
        batch_size: 1,
        ..config(None)
    };
    let mut r = spawn(
        source,
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(MemoryCursorStore::new()),
        cfg,
    );
    for n in 0..=4 {
        assert_eq!(next_block(&mut r).await.number, n);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        r.events.try_recv().is_err(),
        "must pause with 5 blocks unacknowledged"
    );
    r.handle.finished_height(2);
    for n in 5..=7 {
        assert_eq!(next_block(&mut r).await.number, n);
    }
    // An acknowledgement beyond what was delivered is capped to it ...
    r.handle.finished_height(1_000);
    wait_until("cursor capped at 7", || {
        r.handle.stats().persisted_height == Some(7)
    })
    .await;
    // ... and does not cover what is delivered afterwards.
    for n in 8..=12 {
        assert_eq!(next_block(&mut r).await.number, n);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        r.events.try_recv().is_err(),
        "paused again at 5 unacknowledged"
    );
    assert_eq!(r.handle.stats().persisted_height, Some(7));
    r.handle.finished_height(12);
    wait_until("cursor at 12", || {
        r.handle.stats().persisted_height == Some(12)
    })
    .await;
    r.cancel.cancel();
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn source_outages_are_retried() {
    let Some(blocks) = fixture("source_outages_are_retried") else {
        return;
    };
    let source = Arc::new(MemorySource::new(blocks));
    source.fail_next(5);
    let mut r = spawn(
        source.clone(),
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(MemoryCursorStore::new()),
        config(Some(3)),
    );
    for n in 0..=3 {
        assert_eq!(next_block(&mut r).await.number, n);
        r.handle.finished_height(n);
    }
    assert_eq!(
        r.task.await.unwrap().unwrap(),
        FollowerExit::ReachedTarget(3)
    );
    assert!(source.calls() > 5);
}

#[tokio::test]
async fn a_source_serving_another_genesis_is_refused() {
    let Some(blocks) = fixture("a_source_serving_another_genesis_is_refused") else {
        return;
    };
    let source = Arc::new(MemorySource::new(blocks));
    let mut r = spawn(
        source,
        TrustedGenesis::Hash(ain_sre::ledger::crypto::Hash([7; 32])),
        Arc::new(MemoryCursorStore::new()),
        config(None),
    );
    match r.task.await.unwrap() {
        Err(FollowerError::InvalidBlock(e)) => {
            assert_eq!((e.number, e.check.name()), (0, "genesis_hash"))
        }
        other => panic!("expected a genesis_hash failure, got {other:?}"),
    }
    assert!(r.events.recv().await.is_none(), "nothing delivered");
}

#[tokio::test]
async fn dropping_the_receiver_ends_the_run() {
    let Some(blocks) = fixture("dropping_the_receiver_ends_the_run") else {
        return;
    };
    let source = Arc::new(MemorySource::new(blocks));
    let r = spawn(
        source,
        TrustedGenesis::Hash(genesis_hash()),
        Arc::new(MemoryCursorStore::new()),
        config(None),
    );
    drop(r.events);
    assert_eq!(r.task.await.unwrap().unwrap(), FollowerExit::ConsumerGone);
}

/// Signatures per second of the pure verifier over the real chain (transactions and votes).
fn signature_rate(blocks: &[Block], rounds: usize) -> f64 {
    let started = Instant::now();
    let mut signatures = 0;
    for _ in 0..rounds {
        signatures += verify_chain(blocks, Some(&genesis_hash()), 0).unwrap().1;
    }
    let rate = signatures as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "verified {signatures} signatures in {:?}: {rate:.0}/s",
        started.elapsed()
    );
    rate
}

/// Reports the rate without judging it: test builds are unoptimised and share the machine.
#[test]
fn verifier_signature_throughput_is_reported() {
    let Some(blocks) = fixture("verifier_signature_throughput_is_reported") else {
        return;
    };
    assert!(signature_rate(&blocks, 5) > 0.0);
}

/// The performance target, for an optimised build on an idle core:
/// `cargo test --release --test ledger_follower -- --ignored --test-threads 1`.
#[test]
#[ignore = "timing: run with --release on an idle core"]
fn verifier_meets_ten_thousand_signatures_per_second() {
    let Some(blocks) = fixture("verifier_meets_ten_thousand_signatures_per_second") else {
        return;
    };
    let rate = signature_rate(&blocks, 200);
    assert!(rate >= 10_000.0, "{rate:.0} signatures/s");
}

/// A chain whose block `n` and later are replaced by a fork on block `n - 1`: what a 1-node
/// ain-blockchain chain serves after it re-finalized its last block with a new hash on restart.
fn refinalized_at(
    chain: &[Block],
    n: usize,
    validator: &ain_sre::ledger::crypto::PrivateKey,
) -> Vec<Block> {
    use ain_sre::ledger::block::synthetic::{next, proposal_for, validator_set, vote_for};
    let stake = 10_000_000;
    let validators = validator_set(&[(validator, stake)]);
    let mut out = chain[..n].to_vec();
    for i in n..chain.len() {
        let prev = out[i - 1].clone();
        let last_votes = if i >= 2 {
            vec![
                proposal_for(&prev, validator),
                vote_for(&prev, validator, stake, false),
            ]
        } else {
            vec![]
        };
        let mut b = next(&prev, validator, validators.clone(), last_votes, vec![]);
        if i == n {
            // Re-proposed later: another timestamp, so another hash.
            b.timestamp += 7;
            b.seal();
        }
        out.push(b);
    }
    out
}

/// A follower over `chain` (tip 5) that delivered and acknowledged blocks 0..=4, then stopped:
/// its cursor store, at block 4 (block 5 was verified and held, unproven).
async fn followed_to_4(chain: &[Block], genesis: &TrustedGenesis) -> Arc<dyn CursorStore> {
    let store: Arc<dyn CursorStore> = Arc::new(MemoryCursorStore::new());
    let source = Arc::new(MemorySource::new(chain.to_vec()));
    source.set_visible_tip(Some(5));
    let mut r = spawn(source, genesis.clone(), store.clone(), config(None));
    for n in 0..=4 {
        assert_eq!(next_block(&mut r).await.number, n);
        r.handle.finished_height(n);
    }
    wait_until("cursor at 4", || {
        r.handle.stats().persisted_height == Some(4)
    })
    .await;
    r.cancel.cancel();
    r.task.await.unwrap().unwrap();
    store
}

#[tokio::test]
async fn a_block_the_node_refinalized_after_a_restart_is_reverified_on_its_parent() {
    use ain_sre::ledger::block::synthetic::single_validator_chain;
    let validator = ain_sre::ledger::crypto::PrivateKey::generate();
    let chain = single_validator_chain(&validator, 8, 1);
    let genesis = TrustedGenesis::Hash(chain[0].hash);
    // First run: blocks 0..=4 delivered and acknowledged (5 is verified, held unproven).
    let store = followed_to_4(&chain, &genesis).await;
    let stored = store.load().unwrap().unwrap();
    assert_eq!(stored.anchor.hash, chain[4].hash);
    assert_eq!(
        stored.previous.as_ref().map(|a| a.hash),
        Some(chain[3].hash),
        "the cursor keeps its block's parent"
    );

    // The node restarted and re-finalized block 4 with another hash; 5.. follow the new 4.
    let forked = refinalized_at(&chain, 4, &validator);
    assert_ne!(forked[4].hash, chain[4].hash);
    let mut r = spawn(
        Arc::new(MemorySource::new(forked.clone())),
        genesis.clone(),
        store.clone(),
        config(Some(6)),
    );
    let again = next_block(&mut r).await;
    assert_eq!(
        (again.number, again.hash),
        (4, forked[4].hash),
        "the new block 4, delivered again"
    );
    r.handle.finished_height(4);
    for n in 5..=6 {
        let b = next_block(&mut r).await;
        assert_eq!((b.number, b.hash), (n, forked[n as usize].hash));
        r.handle.finished_height(n);
    }
    assert_eq!(
        r.task.await.unwrap().unwrap(),
        FollowerExit::ReachedTarget(6)
    );
    assert_eq!(store.load().unwrap().unwrap().anchor.hash, forked[6].hash);

    // A replacement that does not verify on the parent still halts: here the node's chain
    // diverged two blocks back.
    let store = followed_to_4(&chain, &genesis).await;
    let diverged = refinalized_at(&chain, 3, &validator);
    let r = spawn(
        Arc::new(MemorySource::new(diverged)),
        genesis,
        store,
        config(None),
    );
    let err = tokio::time::timeout(Duration::from_secs(20), r.task)
        .await
        .expect("halts")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, FollowerError::InvalidBlock(ref e) if e.check.name() == "parent_link"),
        "{err}"
    );
}

#[tokio::test]
async fn a_held_block_the_node_replaced_is_replaced_before_it_is_delivered() {
    use ain_sre::ledger::block::synthetic::single_validator_chain;
    let validator = ain_sre::ledger::crypto::PrivateKey::generate();
    let chain = single_validator_chain(&validator, 8, 1);
    let source = Arc::new(MemorySource::new(chain.clone()));
    source.set_visible_tip(Some(5));
    let mut r = spawn(
        source.clone(),
        TrustedGenesis::Hash(chain[0].hash),
        Arc::new(MemoryCursorStore::new()),
        config(Some(7)),
    );
    for n in 0..=4 {
        assert_eq!(next_block(&mut r).await.number, n);
        r.handle.finished_height(n);
    }
    // Block 5 is verified and held (unproven) when the node re-finalizes it with a new hash.
    let forked = refinalized_at(&chain, 5, &validator);
    for (i, b) in forked.iter().enumerate().skip(5) {
        source.replace(i, b.clone());
    }
    source.set_visible_tip(None);
    r.handle.wake();
    for n in 5..=7 {
        let b = next_block(&mut r).await;
        assert_eq!(
            (b.number, b.hash),
            (n, forked[n as usize].hash),
            "the node's new chain from 5 on"
        );
        r.handle.finished_height(n);
    }
    assert_eq!(
        r.task.await.unwrap().unwrap(),
        FollowerExit::ReachedTarget(7)
    );
}
