use super::confirm::STUCK_LOOKS;
use super::*;
use crate::call::{Call, Origin, Registry};
use crate::journal::Journal;
use crate::node::fake::FakeNode;
use crate::onchain::AppPaths;
use crate::receipt::CallResult;
use crate::sandbox::{Outcome, Usage};
use serde_json::{Value, json};
use std::sync::Arc;

struct Setup {
    _dir: tempfile::TempDir,
    node: Arc<FakeNode>,
    registry: Arc<Registry>,
    confirmer: Arc<Confirmer>,
    poster: Poster<FakeNode>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.redb")).unwrap();
    let registry = Arc::new(Registry::new(journal, 100));
    let confirmer = Arc::new(Confirmer::new(registry.clone()));
    let node = Arc::new(FakeNode::new());
    let config = PosterConfig {
        backoff_min: Duration::from_millis(1),
        ..PosterConfig::default()
    };
    let poster = Poster::new(
        node.clone(),
        Arc::new(PrivateKey::generate()),
        0,
        registry.clone(),
        confirmer.clone(),
        config,
    );
    Setup {
        _dir: dir,
        node,
        registry,
        confirmer,
        poster,
    }
}

/// A poster on `s`'s node and registry that reads back every posted response at each check.
fn eager_poster(s: &Setup) -> Poster<FakeNode> {
    Poster::new(
        s.node.clone(),
        Arc::new(PrivateKey::generate()),
        0,
        s.registry.clone(),
        s.confirmer.clone(),
        PosterConfig {
            backoff_min: Duration::from_millis(1),
            confirm_after: Duration::ZERO,
            ..PosterConfig::default()
        },
    )
}

fn answer(id: &str) -> Answer {
    Answer {
        call: Call {
            key: format!("app/echo/{id}"),
            app: "app".into(),
            function: "echo".into(),
            call_id: id.into(),
            request_tx: Hash([9; 32]),
            caller: Address([1; 20]),
            request: serde_json::json!({"input": "hi"}),
            origin: Origin::Event,
            seen_at: Instant::now(),
        },
        result: CallResult::Ran(Outcome::Completed {
            exit_code: 0,
            stdout: b"hi".to_vec(),
            stderr_tail: vec![],
            usage: Usage::default(),
        }),
        code_hash: "ab".repeat(32),
        runtime: "wasm".into(),
        sandbox: "wasm".into(),
        profile: "default".into(),
        input: Arc::from(&b"hi"[..]),
        refs: Default::default(),
        started_at: 1,
        queued_us: 0,
        finished_at: 2,
        timeout_limit: None,
        egress: None,
    }
}

const RESP: &str = "/apps/app/sre/calls/echo/c1/response";

#[tokio::test]
async fn signs_journals_posts_retries_and_confirms() {
    let s = setup();
    assert_eq!(
        s.registry.admit("app/echo/c1", &Hash([9; 32])).unwrap(),
        crate::call::Admit::Run
    );
    s.node.fail_next(3);
    s.poster
        .answer(answer("c1"), &CancellationToken::new())
        .await
        .unwrap();
    let v = s.node.value(RESP);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["output"], "hi");
    assert_eq!(v["receipt"]["worker"], s.poster.worker().to_string());
    let sends = s.node.sends();
    assert_eq!(sends.len(), 4, "three transient failures, then accepted");
    assert!(
        sends.iter().all(|(_, h)| *h == sends[0].1),
        "retries send the same tx"
    );
    assert_eq!(sends[0].0["nonce"], -1);
    assert_eq!(sends[0].0["gas_price"], 0);
    let rec = s.registry.journal().get("app/echo/c1").unwrap().unwrap();
    assert_eq!(rec.response.as_ref().unwrap().hash, sends[0].1.to_string());
    assert_eq!(s.confirmer.waiting(), 1);
    s.confirmer.on_block(&[sends[0].1]);
    assert_eq!(s.confirmer.waiting(), 0);
    s.registry.journal().flush().await.unwrap();
    assert_eq!(
        s.registry
            .journal()
            .get("app/echo/c1")
            .unwrap()
            .unwrap()
            .state,
        CallState::Confirmed
    );
    // The same journaled tx again (a restart): a duplicate is an acceptance, not an error.
    let resp = rec.response.unwrap();
    assert_eq!(
        s.poster
            .submit(&resp, &CancellationToken::new())
            .await
            .unwrap(),
        Posted::Accepted(sends[0].1)
    );
}

#[tokio::test]
async fn another_workers_response_means_done() {
    let s = setup();
    s.registry.admit("app/echo/c1", &Hash([9; 32])).unwrap();
    s.node.set(RESP, serde_json::json!({"status": "ok"}));
    s.poster
        .answer(answer("c1"), &CancellationToken::new())
        .await
        .unwrap();
    s.registry.journal().flush().await.unwrap();
    assert_eq!(
        s.registry
            .journal()
            .get("app/echo/c1")
            .unwrap()
            .unwrap()
            .state,
        CallState::AnsweredElsewhere
    );
    assert!(s.registry.is_settled("app/echo/c1"));
}

#[tokio::test]
async fn shutdown_leaves_an_unaccepted_response_journaled() {
    let s = setup();
    s.registry.admit("app/echo/c1", &Hash([9; 32])).unwrap();
    s.node.fail_next(u32::MAX);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        c.cancel();
    });
    let err = s.poster.answer(answer("c1"), &cancel).await.unwrap_err();
    assert!(matches!(err, PosterError::Cancelled));
    s.registry.journal().flush().await.unwrap();
    let rec = s.registry.journal().get("app/echo/c1").unwrap().unwrap();
    assert_eq!(rec.state, CallState::Signed);
    assert!(rec.response.is_some());
}

#[tokio::test]
async fn stale_responses_are_read_back_and_a_lost_one_is_resubmitted_from_the_journal() {
    let s = setup();
    let poster = eager_poster(&s);
    let cancel = CancellationToken::new();
    for id in ["c1", "c2"] {
        let key = format!("app/echo/{id}");
        assert_eq!(
            s.registry.admit(&key, &Hash([9; 32])).unwrap(),
            crate::call::Admit::Run
        );
        poster.answer(answer(id), &cancel).await.unwrap();
    }
    let sends = s.node.sends();
    assert_eq!(sends.len(), 2);
    assert_eq!(s.confirmer.waiting(), 2);
    // c1 made it into a final block; the node lost c2 (restarted without it).
    s.node.finalize(&sends[0].1);
    s.node.forget(&sends[1].1);
    assert!(
        s.node
            .value("/apps/app/sre/calls/echo/c2/response")
            .is_null()
    );
    poster.check_stale(&cancel).await;
    let sends = s.node.sends();
    assert_eq!(sends.len(), 3, "only the lost response is sent again");
    assert_eq!(sends[2].1, sends[1].1, "byte for byte the journaled tx");
    assert_eq!(
        s.node.value("/apps/app/sre/calls/echo/c2/response")["status"],
        "ok"
    );
    assert_eq!(s.confirmer.waiting(), 1, "c2 waits for its block again");
    s.registry.journal().flush().await.unwrap();
    let state = |k: &str| s.registry.journal().get(k).unwrap().unwrap().state;
    assert_eq!(state("app/echo/c1"), CallState::Confirmed);
    assert_eq!(state("app/echo/c2"), CallState::Posted);
}

#[tokio::test]
async fn standing_tells_open_missing_and_answered_calls_apart() {
    let node = FakeNode::new();
    let me = Address([1; 20]);
    let p = AppPaths::new("a").unwrap();
    assert_eq!(standing(&node, "a/f/gone", &me).await, Standing::NoRequest);
    node.set(&p.request("f", "open"), json!({"input": "x"}));
    assert_eq!(standing(&node, "a/f/open", &me).await, Standing::Open);
    node.set(&p.request("f", "mine"), json!({"input": "x"}));
    node.set(
        &p.response("f", "mine"),
        json!({"status": "ok", "receipt": {"worker": me.to_string()}}),
    );
    assert_eq!(
        standing(&node, "a/f/mine", &me).await,
        Standing::Answered { ours: true }
    );
    node.set(&p.request("f", "theirs"), json!({"input": "x"}));
    node.set(
        &p.response("f", "theirs"),
        json!({"status": "ok", "receipt": {"worker": Address([2; 20]).to_string()}}),
    );
    assert_eq!(
        standing(&node, "a/f/theirs", &me).await,
        Standing::Answered { ours: false }
    );
}

/// A call whose request stands on the fake node, admitted and answered once (refused by `code`).
async fn refused_once(s: &Setup, id: &str, code: i64) -> PosterError {
    let key = format!("app/echo/{id}");
    s.node.set(
        &format!("/apps/app/sre/calls/echo/{id}/request"),
        serde_json::json!({"input": "hi"}),
    );
    s.registry.admit(&key, &Hash([9; 32])).unwrap();
    s.node.refuse_next(code, 1);
    s.poster
        .answer(answer(id), &CancellationToken::new())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_refused_response_is_signed_again_with_the_same_outcome_and_lands_once() {
    let s = setup();
    let err = refused_once(&s, "c1", codes::EXCEEDED_STATE_BUDGET_FREE_TIER).await;
    assert!(err.could_land_later(), "{err}");
    assert!(s.node.value(RESP).is_null());
    assert_eq!(s.poster.resign_pending(), 1);
    let first = s.node.sends();
    assert_eq!(first.len(), 1);
    // Sending the journaled tx again gets 10701 from the node's tracker: not an acceptance.
    let journaled = s.registry.journal().get("app/echo/c1").unwrap().unwrap();
    let dup = s
        .poster
        .submit(
            journaled.response.as_ref().unwrap(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            dup,
            PosterError::Refused {
                code: Some(codes::TX_ALREADY_RECEIVED),
                ..
            }
        ),
        "{dup}"
    );
    assert!(s.node.value(RESP).is_null());
    // The scheduled signing: a new tx with a fresh timestamp and the very same value.
    s.poster
        .resign("app/echo/c1", &CancellationToken::new())
        .await;
    let sends = s.node.sends();
    let last = sends.last().unwrap();
    assert_ne!(last.1, first[0].1, "a new tx hash");
    assert_ne!(last.0["timestamp"], first[0].0["timestamp"]);
    assert_eq!(
        last.0["operation"], first[0].0["operation"],
        "the same outcome, not re-run"
    );
    assert_eq!(s.node.value(RESP)["output"], "hi");
    assert_eq!(s.poster.resign_pending(), 0);
    s.registry.journal().flush().await.unwrap();
    let rec = s.registry.journal().get("app/echo/c1").unwrap().unwrap();
    assert_eq!(rec.state, CallState::Posted);
    assert_eq!(
        rec.response.unwrap().hash,
        last.1.to_string(),
        "the journal holds the new tx"
    );
    // Once answered, signing again sends nothing more.
    let n = s.node.sends().len();
    s.poster
        .resign("app/echo/c1", &CancellationToken::new())
        .await;
    assert_eq!(s.node.sends().len(), n);
}

#[tokio::test]
async fn a_refused_response_whose_request_is_gone_is_never_sent_again() {
    let s = setup();
    refused_once(&s, "c1", codes::EXCEEDED_STATE_BUDGET_FREE_TIER).await;
    s.node
        .set("/apps/app/sre/calls/echo/c1/request", Value::Null);
    s.poster
        .resign("app/echo/c1", &CancellationToken::new())
        .await;
    assert_eq!(s.node.sends().len(), 1);
    assert_eq!(s.poster.resign_pending(), 0);
    s.registry.journal().flush().await.unwrap();
    let rec = s.registry.journal().get("app/echo/c1").unwrap().unwrap();
    assert_eq!(rec.state, CallState::NoRequest);
}

#[tokio::test]
async fn refusals_a_new_signature_cannot_change_are_not_retried_and_attempts_are_bounded() {
    let s = setup();
    let err = refused_once(&s, "big", codes::TX_EXCEEDS_SIZE_LIMIT).await;
    assert!(!err.could_land_later());
    assert_eq!(s.poster.resign_pending(), 0);
    // A refusal that keeps coming: at most `resign_attempts` more signings, then it stays
    // journaled as signed for the next start.
    let s = setup();
    refused_once(&s, "c1", codes::EXCEEDED_STATE_BUDGET_FREE_TIER).await;
    s.node
        .refuse_next(codes::EXCEEDED_STATE_BUDGET_FREE_TIER, u32::MAX);
    let attempts = PosterConfig::default().resign_attempts;
    for _ in 0..attempts + 3 {
        s.poster
            .resign("app/echo/c1", &CancellationToken::new())
            .await;
    }
    assert_eq!(s.node.sends().len() as u32, 1 + attempts);
    assert_eq!(s.poster.resign_pending(), 0);
    s.registry.journal().flush().await.unwrap();
    let rec = s.registry.journal().get("app/echo/c1").unwrap().unwrap();
    assert_eq!(rec.state, CallState::Signed);
}

#[tokio::test]
async fn a_response_the_node_never_finalizes_is_looked_up_on_chain() {
    // A real node that restarted keeps tracker entries IN_BLOCK for txs its chain lost.
    let s = setup();
    let poster = eager_poster(&s);
    let cancel = CancellationToken::new();
    for id in ["lost", "gone"] {
        s.node.set(
            &format!("/apps/app/sre/calls/echo/{id}/request"),
            json!({"input": "hi"}),
        );
        s.registry
            .admit(&format!("app/echo/{id}"), &Hash([9; 32]))
            .unwrap();
        poster.answer(answer(id), &cancel).await.unwrap();
    }
    let sends = s.node.sends();
    for (_, h) in &sends {
        s.node.forget(h);
        s.node.set_tx_state(*h, TxState::InBlock);
    }
    s.node
        .set("/apps/app/sre/calls/echo/gone/request", Value::Null);
    for _ in 0..STUCK_LOOKS - 1 {
        poster.check_stale(&cancel).await;
    }
    assert_eq!(
        s.confirmer.waiting(),
        2,
        "not yet: it may still become final"
    );
    poster.check_stale(&cancel).await;
    assert_eq!(s.confirmer.waiting(), 0);
    assert_eq!(
        poster.resign_pending(),
        1,
        "the open call's response is signed again"
    );
    poster.resign("app/echo/lost", &cancel).await;
    assert_eq!(
        s.node.value("/apps/app/sre/calls/echo/lost/response")["output"],
        "hi"
    );
    s.registry.journal().flush().await.unwrap();
    let state = |k: &str| s.registry.journal().get(k).unwrap().unwrap().state;
    assert_eq!(state("app/echo/gone"), CallState::NoRequest);
    assert_eq!(state("app/echo/lost"), CallState::Posted);
}
