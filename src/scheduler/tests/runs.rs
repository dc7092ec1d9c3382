//! The sandbox run and what its answer says: the environment and limits a call gets, when it
//! started, host faults, published stderr, and which limit a timeout hit.

use super::*;

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
        let failing = call.input.to_vec_blocking().unwrap() == b"fail";
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
async fn a_timeout_says_which_limit_ran_out() {
    let fake = FakeSandbox::new(Tier::Wasm, |_, call| {
        // "wall": ran for the whole default 5 s; "cpu": stopped after 1 s of a busy CPU.
        let wall_us = if call.input.to_vec_blocking().unwrap() == b"wall" {
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
