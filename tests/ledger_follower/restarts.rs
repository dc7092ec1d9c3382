//! Restarts: resuming after the acknowledged height, refusing a corrupt or foreign cursor, and
//! blocks the node refinalized or replaced across a restart.

use super::*;

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
