//! Calls end to end: deploy, call and receipt on every available tier, clear rejections of bad
//! input, and callers the chain's rules permit.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_call_and_receipt_on_every_available_tier() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    let small = deploy(&admin, "e2e", "echo", ECHO_WAT.as_bytes()).await;
    assert_eq!(small.chunks, 0);
    assert_eq!(small.path, "/apps/e2e/sre/functions/echo");
    let big = big_echo();
    let large = deploy(&admin, "e2e", "big", big.as_bytes()).await;
    assert!(large.chunks >= 2, "large code is chunked: {}", large.chunks);
    deploy_with(
        &admin,
        "e2e",
        "fin",
        ECHO_WAT.as_bytes(),
        Callers::Any,
        Some(Finality::Finalized),
    )
    .await;
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "e2e").await;
    let w = worker(&dev, &["e2e"], &key, dir.path()).await;

    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    for (f, code) in [
        ("echo", ECHO_WAT.as_bytes()),
        ("big", big.as_bytes()),
        ("fin", ECHO_WAT.as_bytes()),
    ] {
        let input = format!("{{\"fn\":\"{f}\",\"n\":1}}");
        let (_id, tx, resp) = call_wait(&caller, "e2e", f, &input).await;
        assert_eq!(resp["status"], "ok", "{f}: {resp}");
        assert_eq!(resp["output"], input.as_str());
        let r = &resp["receipt"];
        assert_eq!(r["request_tx"], tx.as_str());
        assert_eq!(r["worker"], key.address().to_string());
        assert_eq!(r["code_hash"], sha(code));
        assert_eq!(r["runtime"], "wasm");
        assert_eq!(r["sandbox"], "wasm");
        assert_eq!(r["profile"], "default");
        assert_eq!(r["input_hash"], sha(input.as_bytes()));
        assert_eq!(r["output_hash"], sha(input.as_bytes()));
        assert!(r["finished_at"].as_u64() >= r["started_at"].as_u64());
        assert!(r["queued_us"].is_u64(), "{f}: {r}");
    }
    // The metrics endpoint is optional here; health counters move.
    assert!(
        w.health.report()["follower_height"].is_u64()
            || w.health.report()["follower_height"].is_null()
    );
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_rejections_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "bad", "echo", ECHO_WAT.as_bytes()).await;
    let app = AppPaths::new("bad").unwrap();
    // A spec whose hash does not match its code, and one with an unknown runtime.
    let spec = |runtime: &str, hash: &str| json!({"runtime": runtime, "code_hash": hash, "size": ECHO_WAT.len(), "code": ECHO_WAT});
    admin
        .send(vec![
            SimpleOp::set_value(app.function("mismatch"), spec("wasm", &"00".repeat(32))),
            SimpleOp::set_value(
                app.function("cobol"),
                spec("cobol", &sha(ECHO_WAT.as_bytes())),
            ),
        ])
        .await
        .unwrap();
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "bad").await;
    let w = worker(&dev, &["bad"], &key, dir.path()).await;
    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();

    // No input: written directly, as a client that ignores the convention would.
    let id = "no-input-1";
    caller
        .send(vec![SimpleOp::set_value(
            app.request("echo", id),
            json!({"other": 1}),
        )])
        .await
        .unwrap();
    let resp =
        ain_sre::client::wait_response(caller.rpc(), "bad", "echo", id, Duration::from_secs(30))
            .await
            .unwrap();
    assert_eq!(resp["status"], "rejected");
    assert!(
        resp["error"].as_str().unwrap().contains("no `input`"),
        "{resp}"
    );

    let cases = [
        ("echo", "x".repeat(4500), "exceeds the worker's limit"),
        ("nope", "{}".to_owned(), "unknown function `nope`"),
        ("mismatch", "{}".to_owned(), "code hash mismatch"),
        ("cobol", "{}".to_owned(), "unknown runtime `cobol`"),
    ];
    for (f, input, want) in cases {
        let (_, tx, resp) = call_wait(&caller, "bad", f, &input).await;
        assert_eq!(resp["status"], "rejected", "{f}: {resp}");
        assert!(
            resp["error"].as_str().unwrap_or_default().contains(want),
            "{f}: {resp}"
        );
        assert_eq!(resp["receipt"]["sandbox"], "none");
        assert_eq!(resp["receipt"]["request_tx"], tx.as_str());
    }
    // The worker is still serving.
    let (_, _, resp) = call_wait(&caller, "bad", "echo", "still here").await;
    assert_eq!(resp["output"], "still here");
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissioned_callers_are_enforced_by_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    let allowed = PrivateKey::generate();
    deploy_with(
        &admin,
        "perm",
        "echo",
        ECHO_WAT.as_bytes(),
        Callers::Only(vec![allowed.address()]),
        None,
    )
    .await;
    deploy(&admin, "perm", "open", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "perm").await;
    let w = worker(&dev, &["perm"], &key, dir.path()).await;
    let a = ChainClient::connect(&dev.rpc_url(), allowed).await.unwrap();
    let (_, _, resp) = call_wait(&a, "perm", "echo", "hi").await;
    assert_eq!(resp["status"], "ok");
    let stranger = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    match stranger.call("perm", "echo", "hi").await {
        Err(ClientError::Refused {
            code: Some(12103), ..
        }) => {}
        other => panic!("a stranger's request must be refused by the chain: {other:?}"),
    }
    // Other functions of the app stay open.
    let (_, _, resp) = call_wait(&stranger, "perm", "open", "hi").await;
    assert_eq!(resp["status"], "ok");
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}
