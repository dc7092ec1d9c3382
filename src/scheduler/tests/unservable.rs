//! Calls this worker cannot serve: left to a worker that can, or rejected by the lowest registered
//! worker when none does; the operator's accepted runtimes and limits.

use super::*;

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
