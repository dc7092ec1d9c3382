//! Delivery: every fixture block followed and verified, the newest held until its proof, wake-ups,
//! back-pressure from unacknowledged blocks, and the end of a run when the receiver is dropped.

use super::*;

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
