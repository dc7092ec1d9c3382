//! Faults of the source: an invalid block halts the follower naming block and check, outages are
//! retried, a source serving another genesis is refused; and the verifier's signature rate.

use super::*;

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
