//! The journal's tests: transitions, dedupe, recovery view, retention.

use std::time::{Duration, Instant};

use super::writer::LINGER;
use super::*;

fn signed(n: u8) -> SignedResponse {
    SignedResponse {
        tx_body: serde_json::json!({"n": n}),
        signature: format!("0x{n:02x}"),
        hash: format!("0xh{n}"),
    }
}

#[tokio::test]
async fn transitions_nobody_waits_for_linger_briefly_then_commit() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
    assert_eq!(j.observe("a/echo/c1", "0xr1").unwrap(), Observed::New);
    j.set_state("a/echo/c1", CallState::Running).unwrap();
    // No durable transition follows: the batch is committed once its linger is over.
    let deadline = Instant::now() + Duration::from_secs(5);
    let state = loop {
        let state = j.get("a/echo/c1").unwrap().map(|r| r.state);
        if state == Some(CallState::Running) || Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(LINGER).await;
    };
    assert_eq!(state, Some(CallState::Running));
    // A durable transition ends the linger: once it is acknowledged, it and everything sent
    // before it are on disk.
    let started = Instant::now();
    assert_eq!(j.observe("a/echo/c2", "0xr2").unwrap(), Observed::New);
    j.record_signed("a/echo/c2", signed(2)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let rec = j.get("a/echo/c2").unwrap().unwrap();
    assert_eq!(rec.state, CallState::Signed);
}

#[tokio::test]
async fn the_first_genesis_recorded_stays_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.genesis().unwrap(), None);
    assert_eq!(j.claim_genesis("0xaa").unwrap(), "0xaa");
    assert_eq!(
        j.claim_genesis("0xbb").unwrap(),
        "0xaa",
        "the first chain stays"
    );
    j.close().await.unwrap();
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.genesis().unwrap().as_deref(), Some("0xaa"));
    j.close().await.unwrap();
}

#[tokio::test]
async fn lifecycle_dedupe_and_recovery_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.observe("a/echo/c1", "0xr1").unwrap(), Observed::New);
    j.set_state("a/echo/c1", CallState::Running).unwrap();
    j.record_signed("a/echo/c1", signed(1)).await.unwrap();
    assert_eq!(j.observe("a/echo/c2", "0xr2").unwrap(), Observed::New);
    j.set_state("a/echo/c2", CallState::Running).unwrap();
    assert_eq!(j.observe("a/echo/c3", "0xr3").unwrap(), Observed::New);
    j.set_state("a/echo/c3", CallState::Confirmed).unwrap();
    j.flush().await.unwrap();

    match j.observe("a/echo/c1", "0xr1").unwrap() {
        Observed::Known(rec) => {
            assert_eq!(rec.state, CallState::Signed);
            assert_eq!(rec.response, Some(signed(1)));
            assert_eq!(rec.runs, 1);
        }
        other => panic!("{other:?}"),
    }
    let mut unfinished: Vec<String> = j
        .unfinished()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    unfinished.sort();
    assert_eq!(unfinished, ["a/echo/c1", "a/echo/c2"]);
    j.close().await.unwrap();

    // Reopened: the same view.
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.unfinished().unwrap().len(), 2);
    j.prune(Retention {
        max_age: Duration::ZERO,
        ..Retention::default()
    })
    .await
    .unwrap();
    assert!(
        j.get("a/echo/c3").unwrap().is_none(),
        "final calls are pruned"
    );
    assert!(
        j.get("a/echo/c1").unwrap().is_some(),
        "unfinished calls are kept"
    );
}
/// Moves `key` through its states to `end`, the way the worker does.
async fn finish(j: &Journal, key: &str, end: CallState) {
    assert_eq!(j.observe(key, "0xr").unwrap(), Observed::New);
    j.set_state(key, CallState::Running).unwrap();
    j.record_signed(key, signed(1)).await.unwrap();
    j.set_state(key, CallState::Posted).unwrap();
    j.set_state(key, end).unwrap();
}

#[tokio::test]
async fn the_count_bound_keeps_the_newest_finished_calls_and_every_unfinished_one() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
    let finals = [
        CallState::Confirmed,
        CallState::AnsweredElsewhere,
        CallState::RequestFailed,
        CallState::LeftToOthers,
        CallState::NoRequest,
    ];
    for i in 0..10 {
        finish(&j, &format!("a/f/done{i}"), finals[i % finals.len()]).await;
        // Distinct finishing times, so "the oldest" is well defined.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Unfinished calls in every non-final state, older than every finished one would not
    // matter: they are never pruned.
    j.observe("a/f/seen", "0xr").unwrap();
    j.observe("a/f/running", "0xr").unwrap();
    j.set_state("a/f/running", CallState::Running).unwrap();
    j.observe("a/f/signed", "0xr").unwrap();
    j.record_signed("a/f/signed", signed(2)).await.unwrap();
    j.observe("a/f/posted", "0xr").unwrap();
    j.record_signed("a/f/posted", signed(3)).await.unwrap();
    j.set_state("a/f/posted", CallState::Posted).unwrap();
    j.flush().await.unwrap();
    assert_eq!(j.finished().unwrap(), 10);
    // A final call keeps no signed response.
    assert_eq!(j.get("a/f/done0").unwrap().unwrap().response, None);

    j.prune(Retention {
        max_finished: 3,
        ..Retention::default()
    })
    .await
    .unwrap();
    assert_eq!(j.finished().unwrap(), 3);
    for i in 0..10 {
        let kept = j.get(&format!("a/f/done{i}")).unwrap().is_some();
        assert_eq!(kept, i >= 7, "done{i}: only the 3 newest stay");
    }
    let mut unfinished: Vec<String> = j
        .unfinished()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    unfinished.sort();
    assert_eq!(
        unfinished,
        ["a/f/posted", "a/f/running", "a/f/seen", "a/f/signed"]
    );
    assert_eq!(
        j.get("a/f/signed").unwrap().unwrap().response,
        Some(signed(2)),
        "an unfinished call keeps its signed response"
    );
    // Pruning to zero leaves only them.
    j.prune(Retention {
        max_finished: 0,
        ..Retention::default()
    })
    .await
    .unwrap();
    assert_eq!(j.finished().unwrap(), 0);
    assert_eq!(j.unfinished().unwrap().len(), 4);
    j.close().await.unwrap();
}

#[tokio::test]
async fn the_writer_prunes_by_age_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open_with(
        &dir.path().join("journal.redb"),
        Retention {
            max_age: Duration::from_millis(300),
            max_finished: u64::MAX,
            interval: Duration::from_millis(50),
        },
    )
    .unwrap();
    finish(&j, "a/f/old", CallState::Confirmed).await;
    j.observe("a/f/open", "0xr").unwrap();
    j.flush().await.unwrap();
    assert!(j.get("a/f/old").unwrap().is_some(), "not old enough yet");
    let deadline = Instant::now() + Duration::from_secs(10);
    while j.get("a/f/old").unwrap().is_some() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        j.get("a/f/old").unwrap().is_none(),
        "pruned in the background"
    );
    assert_eq!(j.finished().unwrap(), 0);
    assert_eq!(
        j.unfinished().unwrap().len(),
        1,
        "the unfinished call stays"
    );
    j.close().await.unwrap();
}

#[tokio::test]
async fn a_retention_of_forever_keeps_everything_and_does_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let forever = Retention {
        max_age: Duration::from_secs(u64::MAX),
        max_finished: u64::MAX,
        interval: Duration::from_secs(u64::MAX),
    };
    let j = Journal::open_with(&dir.path().join("journal.redb"), forever).unwrap();
    finish(&j, "a/f/1", CallState::Confirmed).await;
    // Past the writer's first background prune, which schedules the next one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    j.prune(forever).await.unwrap();
    assert!(j.get("a/f/1").unwrap().is_some());
    j.close().await.unwrap();
}

#[tokio::test]
async fn a_call_final_again_is_indexed_once_at_its_last_time() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("journal.redb")).unwrap();
    finish(&j, "a/f/1", CallState::AnsweredElsewhere).await;
    j.set_state("a/f/1", CallState::Confirmed).unwrap();
    // Back to a non-final state (a late transition): no longer counted, never pruned.
    finish(&j, "a/f/2", CallState::Confirmed).await;
    j.set_state("a/f/2", CallState::Posted).unwrap();
    j.flush().await.unwrap();
    assert_eq!(j.finished().unwrap(), 1);
    j.prune(Retention {
        max_finished: 0,
        ..Retention::default()
    })
    .await
    .unwrap();
    assert!(j.get("a/f/1").unwrap().is_none());
    assert_eq!(j.get("a/f/2").unwrap().unwrap().state, CallState::Posted);
    j.close().await.unwrap();
}

#[tokio::test]
async fn a_journal_from_before_the_index_is_indexed_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    {
        // The layout older versions wrote: calls and meta, no index.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut calls = txn.open_table(CALLS).unwrap();
            for (key, state, response) in [
                ("a/f/1", CallState::Confirmed, None),
                ("a/f/2", CallState::Seen, None),
                ("a/f/3", CallState::Signed, Some(signed(3))),
            ] {
                let rec = CallRecord {
                    state,
                    request_tx: "0xr".into(),
                    response,
                    runs: 1,
                    updated_at: 1,
                };
                calls
                    .insert(key, serde_json::to_vec(&rec).unwrap().as_slice())
                    .unwrap();
            }
            txn.open_table(META).unwrap();
        }
        txn.commit().unwrap();
    }
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.finished().unwrap(), 1);
    // Finished at ms 1 of the epoch: far past the default age.
    j.prune(Retention::default()).await.unwrap();
    assert!(j.get("a/f/1").unwrap().is_none());
    assert!(j.get("a/f/2").unwrap().is_some());
    // A response kept inside its record is read, and moves out at the next transition.
    assert_eq!(j.unfinished().unwrap().len(), 2);
    assert_eq!(j.get("a/f/3").unwrap().unwrap().response, Some(signed(3)));
    j.set_state("a/f/3", CallState::Posted).unwrap();
    j.flush().await.unwrap();
    let rec = j.get("a/f/3").unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.response),
        (CallState::Posted, Some(signed(3)))
    );
    j.close().await.unwrap();
}
