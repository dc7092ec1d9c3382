//! What a call is answered without running, or not at all: rejections of calls that can never run,
//! calls already answered elsewhere, failed requests, and a later rank asking about the request
//! only at its turn.

use super::*;

#[tokio::test]
async fn calls_that_can_never_run_are_rejected_without_running() {
    let mut s = setup(SchedulerConfig {
        max_input_bytes: 8,
        ..SchedulerConfig::default()
    });
    let cases = [
        (call("echo", "a", json!({"nothing": 1})), "no `input`"),
        (
            call("echo", "b", json!({"input": "123456789"})),
            "exceeds the worker's limit",
        ),
        (call("nope", "c", json!({"input": "x"})), "unknown function"),
        (
            call("bad", "d", json!({"input": "x"})),
            "code hash mismatch",
        ),
        (call("cobol", "e", json!({"input": "x"})), "unknown runtime"),
    ];
    for (c, want) in cases {
        let sent = c.request["input"].as_str().unwrap_or_default().to_owned();
        let a = one(&mut s, c).await;
        match &a.result {
            CallResult::Rejected(why) => assert!(why.contains(want), "{want}: {why}"),
            other => panic!("{want}: {other:?}"),
        }
        assert_eq!(a.sandbox, "none");
        // The receipt's input_hash is over what the caller sent, rejected or not.
        assert_eq!(&*a.input, sent.as_bytes(), "{want}");
    }
    assert!(s.fake.calls().is_empty(), "nothing ran");
}

#[tokio::test]
async fn caught_up_calls_already_answered_are_skipped() {
    let mut s = setup(SchedulerConfig::default());
    s.node.set(
        "/apps/app/sre/calls/echo/old/response",
        json!({"status": "ok"}),
    );
    let mut c = call("echo", "old", json!({"input": "x"}));
    c.origin = Origin::Block;
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    let mut fresh = call("echo", "new", json!({"input": "y"}));
    fresh.origin = Origin::Block;
    let a = one(&mut s, fresh).await;
    assert_eq!(
        a.call.call_id, "new",
        "the answered call produced no answer"
    );
    assert_eq!(s.fake.calls().len(), 1);
}

#[tokio::test]
async fn a_call_whose_request_tx_failed_is_dropped_without_running() {
    let mut s = setup(SchedulerConfig {
        request_known_within: Duration::from_millis(100),
        ..SchedulerConfig::default()
    });
    for (i, state) in [TxState::Pending, TxState::Reverted, TxState::Failed]
        .into_iter()
        .enumerate()
    {
        let mut c = call("echo", &format!("failed{i}"), json!({"input": "hi"}));
        c.request_tx = Hash([10 + i as u8; 32]);
        s.node.set_tx_state(c.request_tx, state);
        s.registry.admit(&c.key, &c.request_tx).unwrap();
        s.calls.send(c.clone()).await.unwrap();
        // Nothing is answered; the journal records the call as dropped for good.
        let answer = tokio::time::timeout(Duration::from_millis(300), s.answers.recv()).await;
        assert!(
            answer.is_err(),
            "no answer for a failed request: {answer:?}"
        );
        let rec = s.registry.journal().get(&c.key).unwrap().unwrap();
        assert_eq!(rec.state, CallState::RequestFailed);
        assert_eq!(
            s.registry.admit(&c.key, &c.request_tx).unwrap(),
            crate::call::Admit::Duplicate
        );
    }
    // A request tx the node never reports is left to its block: not run, not final.
    let mut c = call("echo", "unknown", json!({"input": "hi"}));
    c.request_tx = Hash([20; 32]);
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c.clone()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_millis(500), s.answers.recv()).await;
    assert!(
        answer.is_err(),
        "no answer for an unknown request: {answer:?}"
    );
    assert!(!s.registry.is_in_flight(&c.key));
    let rec = s.registry.journal().get(&c.key).unwrap().unwrap();
    assert!(!rec.state.is_final(), "{:?}", rec.state);
    assert!(s.fake.calls().is_empty(), "nothing ran");
    // A successful one still runs.
    let a = one(&mut s, call("echo", "ok", json!({"input": "hi"}))).await;
    assert!(matches!(a.result, CallResult::Ran(_)));
}

/// A worker ranked after another asks the node about the request only when its turn comes and
/// the call is still unanswered: a fleet asks about each call about once, not once per worker.
#[tokio::test]
async fn a_ranked_after_worker_asks_about_the_request_only_at_its_turn() {
    let mut s = setup(SchedulerConfig {
        failover_slack: Duration::from_millis(10),
        ..SchedulerConfig::default()
    });
    let (me, other) = (Address([1; 20]), Address([9; 20]));
    let now = now_ms();
    for a in [me, other] {
        let mut e = entry(&["wasm"]);
        e["last_seen"] = json!(now);
        e["heartbeat_ms"] = json!(60_000);
        s.node.set(&format!("/apps/app/sre/workers/{a}"), e);
    }
    s.node.set(
        "/apps/app/sre/allowed_workers",
        json!({me.to_string(): true, other.to_string(): true}),
    );
    let mut spec = s.node.value("/apps/app/sre/functions/echo");
    spec["failover_ms"] = json!(300);
    spec["timeout_ms"] = json!(100);
    s.node.set("/apps/app/sre/functions/echo", spec);
    let both = [
        assign::Candidate {
            address: me,
            weight: 1,
        },
        assign::Candidate {
            address: other,
            weight: 1,
        },
    ];
    let mut second = (0..100)
        .map(|i| format!("r{i}"))
        .filter(|id| assign::rank_of(&me, &format!("app/echo/{id}"), &both) == 2);
    let (answered, unanswered) = (second.next().unwrap(), second.next().unwrap());
    // Rank 1 answers the first call within the failover delay: this worker never asks.
    let c = call("echo", &answered, json!({"input": "a"}));
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.node.set(
        &format!("/apps/app/sre/calls/echo/{answered}/response"),
        json!({"status": "ok"}),
    );
    // The second call stays unanswered: at its turn this worker asks once, then runs it.
    let a = one(&mut s, call("echo", &unanswered, json!({"input": "b"}))).await;
    assert_eq!(a.call.call_id, unanswered);
    assert!(matches!(a.result, CallResult::Ran(_)), "{:?}", a.result);
    assert_eq!(s.fake.calls().len(), 1, "only the unanswered call ran");
    assert_eq!(
        s.node.tx_state_asks(),
        1,
        "asked only about the call it ran"
    );
}

/// The request value standing at its path in the node's state is enough: the call runs without
/// the tx's state being asked (a tx the node does not even report). A different value there (the
/// request tx failed, and the path holds someone else's write) sends the worker to the tx's
/// state, which says failed: nothing runs.
#[tokio::test]
async fn a_request_value_standing_at_its_path_needs_no_tx_state_ask() {
    let mut s = setup(SchedulerConfig {
        request_known_within: Duration::from_millis(100),
        ..SchedulerConfig::default()
    });
    let mut c = call("echo", "stands", json!({"input": "hi"}));
    c.request_tx = Hash([30; 32]);
    s.node
        .set("/apps/app/sre/calls/echo/stands/request", c.request.clone());
    let a = one(&mut s, c).await;
    assert!(matches!(a.result, CallResult::Ran(_)), "{:?}", a.result);
    assert_eq!(s.node.tx_state_asks(), 0, "the state read settled it");

    let mut c = call("echo", "other", json!({"input": "mine"}));
    c.request_tx = Hash([31; 32]);
    s.node.set_tx_state(c.request_tx, TxState::Failed);
    s.node.set(
        "/apps/app/sre/calls/echo/other/request",
        json!({"input": "not mine"}),
    );
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c.clone()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_millis(300), s.answers.recv()).await;
    assert!(answer.is_err(), "no answer: {answer:?}");
    assert_eq!(s.node.tx_state_asks(), 1);
    let rec = s.registry.journal().get(&c.key).unwrap().unwrap();
    assert_eq!(rec.state, CallState::RequestFailed);
    assert_eq!(s.fake.calls().len(), 1, "only the standing request ran");
}
