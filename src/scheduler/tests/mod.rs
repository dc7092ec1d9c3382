use super::*;
use crate::call::{Origin, Registry};
use crate::journal::Journal;
use crate::ledger::crypto::{Address, Hash};
use crate::ledger::rpc::TxState;
use crate::node::fake::FakeNode;
use crate::onchain::FunctionSpec;
use crate::sandbox::fake::FakeSandbox;
use crate::sandbox::{Outcome, Tier};
use serde_json::json;
use sha2::Digest;

const CODE: &str = "(module)";

struct Setup {
    _dir: tempfile::TempDir,
    node: Arc<FakeNode>,
    fake: FakeSandbox,
    calls: mpsc::Sender<Call>,
    answers: mpsc::Receiver<Answer>,
    registry: Arc<Registry>,
    gate: Arc<FinalityGate>,
}

fn spec(runtime: &str, hash: &str) -> serde_json::Value {
    FunctionSpec {
        runtime: runtime.into(),
        code_hash: hash.into(),
        size: CODE.len() as u64,
        code: Some(CODE.into()),
        chunks: None,
        code_ref: None,
        entry: None,
        profile: None,
        timeout_ms: None,
        memory_mb: None,
        finality: None,
        failover_ms: None,
        version: None,
        public_stderr: None,
        egress: None,
        secrets: None,
    }
    .to_value()
}

fn setup(config: SchedulerConfig) -> Setup {
    setup_with(config, FakeSandbox::echo(Tier::Wasm))
}

fn setup_with(config: SchedulerConfig, fake: FakeSandbox) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.redb")).unwrap();
    let registry = Arc::new(Registry::new(journal, 100));
    let node = Arc::new(FakeNode::new());
    let hash = hex::encode(sha2::Sha256::digest(CODE.as_bytes()));
    node.set("/apps/app/sre/functions/echo", spec("wasm", &hash));
    node.set(
        "/apps/app/sre/functions/bad",
        spec("wasm", &"00".repeat(32)),
    );
    node.set("/apps/app/sre/functions/py", spec("python3", &hash));
    node.set("/apps/app/sre/functions/cobol", spec("cobol", &hash));
    // The request tx of `call()` stands on the node.
    node.set_tx_state(Hash([3; 32]), TxState::Executed);
    let gate = Arc::new(FinalityGate::new(10));
    let sched = Arc::new(Scheduler::new(
        SchedulerParts {
            node: node.clone(),
            exec: Arc::new(fake.clone()),
            runtimes: RuntimeCatalog::shipped().unwrap(),
            profiles: ProfileCatalog::shipped().unwrap(),
            registry: registry.clone(),
            gate: gate.clone(),
            health: Arc::new(Health::default()),
            worker: Address([1; 20]),
        },
        config,
    ));
    let (calls, rx) = mpsc::channel(16);
    let (atx, answers) = mpsc::channel(16);
    let t = TaskTracker::new();
    tokio::spawn(sched.run(
        rx,
        atx,
        CancellationToken::new(),
        CancellationToken::new(),
        t,
    ));
    Setup {
        _dir: dir,
        node,
        fake,
        calls,
        answers,
        registry,
        gate,
    }
}

fn call(function: &str, id: &str, request: serde_json::Value) -> Call {
    Call {
        key: format!("app/{function}/{id}"),
        app: "app".into(),
        function: function.into(),
        call_id: id.into(),
        request_tx: Hash([3; 32]),
        caller: Address([7; 20]),
        request,
        origin: Origin::Event,
        seen_at: Instant::now(),
    }
}

async fn one(s: &mut Setup, c: Call) -> Answer {
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), s.answers.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn runs_with_only_the_sre_env_and_the_profile_limits() {
    let mut s = setup(SchedulerConfig::default());
    let a = one(&mut s, call("echo", "c1", json!({"input": "hi"}))).await;
    match &a.result {
        CallResult::Ran(Outcome::Completed { stdout, .. }) => assert_eq!(stdout, b"hi"),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.sandbox, "wasm");
    assert_eq!(
        a.code_hash,
        hex::encode(sha2::Sha256::digest(CODE.as_bytes()))
    );
    let inv = &s.fake.calls()[0];
    let mut env: Vec<&str> = inv.env.iter().map(|(k, _)| k.as_str()).collect();
    env.sort();
    assert_eq!(env, ["SRE_CALLER", "SRE_CALL_ID", "SRE_FUNCTION"]);
    assert!(
        inv.env
            .contains(&("SRE_CALLER".into(), Address([7; 20]).to_string()))
    );
    assert_eq!(
        inv.limits,
        ProfileCatalog::shipped()
            .unwrap()
            .get("default")
            .unwrap()
            .limits
    );
}

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

/// Waits until the journal says `key` was left to other workers.
async fn left(s: &Setup, key: &str) -> bool {
    for _ in 0..100 {
        if s.registry.journal().get(key).unwrap().map(|r| r.state) == Some(CallState::LeftToOthers)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn entry(runtimes: &[&str]) -> serde_json::Value {
    let r: serde_json::Map<_, _> = runtimes
        .iter()
        .map(|r| (r.to_string(), json!(true)))
        .collect();
    json!({"runtimes": r, "version": "t", "capacity": 1})
}

#[tokio::test]
async fn calls_this_host_cannot_run_are_left_to_a_worker_that_can() {
    let mut s = setup(SchedulerConfig::default());
    // This worker (0x0101..) plays the wasm tier only; 0x0909.. offers python3.
    s.node.set(
        &format!("/apps/app/sre/workers/{}", Address([1; 20])),
        entry(&["wasm"]),
    );
    s.node.set(
        &format!("/apps/app/sre/workers/{}", Address([9; 20])),
        entry(&["wasm", "python3"]),
    );
    let c = call("py", "p1", json!({"input": "x"}));
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    assert!(
        left(&s, "app/py/p1").await,
        "the python3 call is left, not answered"
    );
    // An unknown profile is this worker's limit too.
    let hash = hex::encode(sha2::Sha256::digest(CODE.as_bytes()));
    let mut big = spec("wasm", &hash);
    big["profile"] = json!("huge");
    s.node.set("/apps/app/sre/functions/huge", big);
    let c = call("huge", "h1", json!({"input": "x"}));
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    assert!(left(&s, "app/huge/h1").await);
    // Bad calls are still answered `rejected`, and a call it can run still runs.
    let a = one(&mut s, call("cobol", "c1", json!({"input": "x"}))).await;
    assert!(
        matches!(&a.result, CallResult::Rejected(w) if w.contains("unknown runtime")),
        "{:?}",
        a.result
    );
    let a = one(&mut s, call("echo", "e1", json!({"input": "x"}))).await;
    assert_eq!(a.sandbox, "wasm");
    assert!(
        s.answers.try_recv().is_err(),
        "no answer for the calls left"
    );
    assert_eq!(s.fake.calls().len(), 1);
}

#[tokio::test]
async fn the_lowest_registered_worker_rejects_what_no_worker_serves() {
    let mut s = setup(SchedulerConfig::default());
    for b in [1u8, 9] {
        s.node.set(
            &format!("/apps/app/sre/workers/{}", Address([b; 20])),
            entry(&["wasm"]),
        );
    }
    let a = one(&mut s, call("py", "p1", json!({"input": "x"}))).await;
    match &a.result {
        CallResult::Rejected(why) => {
            assert_eq!(why, "no registered worker serves python3")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.runtime, "python3");
    assert!(s.fake.calls().is_empty());
}

#[tokio::test]
async fn started_at_is_when_the_sandbox_started_not_when_the_call_was_seen() {
    let mut s = setup(SchedulerConfig::default());
    let hash = hex::encode(sha2::Sha256::digest(CODE.as_bytes()));
    let mut fin = spec("wasm", &hash);
    fin["finality"] = json!("finalized");
    s.node.set("/apps/app/sre/functions/fin", fin);
    let c = call("fin", "f1", json!({"input": "x"}));
    let tx = c.request_tx;
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    // The call waits for its request's block to be final.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(s.answers.try_recv().is_err(), "it waits for finality");
    let released = now_ms();
    s.gate.on_block(&[tx]);
    let a = tokio::time::timeout(Duration::from_secs(5), s.answers.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        a.started_at >= released,
        "started_at {} is before the finality wait ended at {released}",
        a.started_at
    );
    assert!(a.finished_at >= a.started_at);
    assert!(
        a.queued_us >= 300_000,
        "the wait is reported apart: {} µs",
        a.queued_us
    );
}

#[tokio::test]
async fn a_host_fault_is_answered_host_error_without_host_details() {
    let fake = FakeSandbox::new(Tier::Wasm, |_, _| {
        Err(crate::sandbox::SandboxError::Host {
            tier: Tier::Wasm,
            why: "writing \"1073741824\" to /sys/fs/cgroup/memory/ain-sre/7-1/memory.limit_in_bytes: Invalid argument".into(),
        })
    });
    let mut s = setup_with(SchedulerConfig::default(), fake);
    let a = one(&mut s, call("echo", "c1", json!({"input": "hi"}))).await;
    match &a.result {
        CallResult::HostFault(why) => {
            assert!(why.contains("not the function's fault"), "{why}");
            assert!(!why.contains("/sys") && !why.contains("cgroup"), "{why}");
        }
        other => panic!("expected a host fault, got {other:?}"),
    }
    assert_eq!(s.fake.calls().len(), 3, "two retries before answering");
    let v = response_of(&a, "/apps/app/sre/calls/echo/c1/response");
    assert_eq!(v["status"], "host_error");
}

#[tokio::test]
async fn stderr_of_a_successful_call_is_published_only_when_the_function_opts_in() {
    let fake = FakeSandbox::new(Tier::Wasm, |_, call| {
        let failing = call.input.as_ref() == b"fail";
        Ok(Outcome::Completed {
            exit_code: i32::from(failing),
            stdout: b"out".to_vec(),
            stderr_tail: b"debug: a private detail".to_vec(),
            usage: Default::default(),
        })
    });
    let mut s = setup_with(SchedulerConfig::default(), fake);
    let hash = hex::encode(sha2::Sha256::digest(CODE.as_bytes()));
    let mut open = FunctionSpec::from_value(&spec("wasm", &hash)).unwrap();
    open.public_stderr = Some(true);
    s.node.set("/apps/app/sre/functions/open", open.to_value());
    let stderr_of = |a: &Answer| match &a.result {
        CallResult::Ran(Outcome::Completed { stderr_tail, .. }) => stderr_tail.clone(),
        other => panic!("{other:?}"),
    };
    let ok = one(&mut s, call("echo", "c1", json!({"input": "fine"}))).await;
    assert!(
        stderr_of(&ok).is_empty(),
        "a success keeps its stderr private"
    );
    let failed = one(&mut s, call("echo", "c2", json!({"input": "fail"}))).await;
    assert_eq!(
        stderr_of(&failed),
        b"debug: a private detail",
        "a failure explains itself"
    );
    let opted = one(&mut s, call("open", "c3", json!({"input": "fine"}))).await;
    assert_eq!(stderr_of(&opted), b"debug: a private detail");
}

#[tokio::test]
async fn a_runtime_the_operator_does_not_accept_is_left_to_a_worker_that_does() {
    let mut s = setup(SchedulerConfig {
        accepted_runtimes: Some(["python3".to_owned()].into()),
        ..SchedulerConfig::default()
    });
    s.node.set(
        &format!("/apps/app/sre/workers/{}", Address([1; 20])),
        entry(&["python3"]),
    );
    s.node.set(
        &format!("/apps/app/sre/workers/{}", Address([9; 20])),
        entry(&["wasm"]),
    );
    let c = call("echo", "w1", json!({"input": "x"}));
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    assert!(
        left(&s, "app/echo/w1").await,
        "the wasm call is left, not run"
    );
    assert!(s.fake.calls().is_empty());
    // What no catalog knows is still rejected for everyone.
    let a = one(&mut s, call("cobol", "c1", json!({"input": "x"}))).await;
    assert!(matches!(&a.result, CallResult::Rejected(w) if w.contains("unknown runtime")));
}

#[test]
fn operator_limits_name_what_exists_and_narrow_the_offer() {
    let c = crate::config::Catalogs::shipped()
        .restrict(
            Some(&["wasm".to_owned(), "py".to_owned()]),
            Some(&["default".to_owned()]),
        )
        .unwrap();
    let offered: Vec<&str> = c
        .offered_runtimes()
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(offered, ["python3", "wasm"]);
    assert!(c.profiles.get("batch").is_err(), "batch is not accepted");
    assert!(
        c.runtimes.resolve("native").is_ok(),
        "still known: left, not rejected"
    );
    let err = crate::config::Catalogs::shipped()
        .restrict(Some(&["cobol".to_owned()]), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cobol"), "{err}");
}

#[tokio::test]
async fn a_timeout_says_which_limit_ran_out() {
    let fake = FakeSandbox::new(Tier::Wasm, |_, call| {
        // "wall": ran for the whole default 5 s; "cpu": stopped after 1 s of a busy CPU.
        let wall_us = if call.input.as_ref() == b"wall" {
            5_000_000
        } else {
            1_000_000
        };
        Ok(Outcome::Failed {
            failure: crate::sandbox::Failure::Timeout,
            stdout: vec![],
            stderr_tail: vec![],
            usage: crate::sandbox::Usage {
                wall_us,
                cpu_us: 1_000_000,
                mem_peak_kb: 1,
            },
        })
    });
    let mut s = setup_with(SchedulerConfig::default(), fake);
    let a = one(&mut s, call("echo", "c1", json!({"input": "wall"}))).await;
    assert_eq!(
        a.timeout_limit.as_deref(),
        Some("the wall-time limit of 5000 ms")
    );
    let a = one(&mut s, call("echo", "c2", json!({"input": "cpu"}))).await;
    let limit = a.timeout_limit.clone().unwrap();
    assert!(limit.starts_with("the CPU-time limit of"), "{limit}");
    let v = response_of(&a, "/apps/app/sre/calls/echo/c2/response");
    assert_eq!(v["error"], format!("deadline exceeded: {limit}"));
}

/// The response value the poster would write for `a` at `path`.
fn response_of(a: &Answer, path: &str) -> serde_json::Value {
    crate::receipt::build_response(
        &crate::receipt::CallFacts::of(a, Address([1; 20])),
        &a.result,
        path,
        crate::receipt::NODE_TX_BYTES_LIMIT,
    )
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

mod blobs;
mod code_ref;
