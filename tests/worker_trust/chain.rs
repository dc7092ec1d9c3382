//! What the chain refuses on its own: a response for a missing request, and an answer from a key
//! that registered itself without approval.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_for_a_missing_request_is_refused_by_the_chain() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy(&admin, "orphan", "echo", ECHO_WAT.as_bytes()).await;
    let app = AppPaths::new("orphan").unwrap();
    let key = PrivateKey::generate();
    register(&url, &key, "orphan").await;
    let w = client(&url, &key).await;

    // No request under this call id: the registered worker's answer is refused.
    let r = w
        .send(vec![SimpleOp::set_value(
            app.response("echo", "never-asked"),
            response_value(&key, "0x00"),
        )])
        .await;
    assert!(refused(&r), "an orphan response must be refused: {r:?}");
    // The same under a function that has no rules of its own (the app-wide `$fn` rule).
    let r = w
        .send(vec![SimpleOp::set_value(
            app.response("undeployed", "never-asked"),
            response_value(&key, "0x00"),
        )])
        .await;
    assert!(refused(&r), "an orphan response must be refused: {r:?}");

    // With the request on chain the same worker may answer, once.
    let caller = client(&url, &PrivateKey::generate()).await;
    let (id, tx) = caller.call("orphan", "echo", "hi").await.unwrap();
    let answer = |output: &str| {
        let mut v = response_value(&key, &tx.to_string());
        v["output"] = json!(output);
        w.send(vec![SimpleOp::set_value(app.response("echo", &id), v)])
    };
    answer("first")
        .await
        .expect("an answer to a real request lands");
    let again = answer("second").await;
    assert!(
        refused(&again),
        "a second answer must be refused: {again:?}"
    );
    dev.shutdown().await;
}

/// Writes `key`'s answer to call `id` (request tx `tx`) of `app`/echo.
async fn answer(
    url: &str,
    key: &PrivateKey,
    app: &str,
    id: &str,
    tx: &str,
) -> Result<ain_sre::ledger::crypto::Hash, ClientError> {
    let p = AppPaths::new(app).unwrap();
    client(url, key)
        .await
        .send(vec![SimpleOp::set_value(
            p.response("echo", id),
            response_value(key, tx),
        )])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_registered_key_cannot_answer() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    // `deploy` with no worker setting: closed.
    deploy(&admin, "closed", "echo", ECHO_WAT.as_bytes()).await;
    let caller = client(&url, &PrivateKey::generate()).await;

    let stranger = PrivateKey::generate();
    let r = client(&url, &stranger)
        .await
        .register("closed", &entry())
        .await;
    assert!(
        matches!(&r, Err(ClientError::NotApproved { .. })),
        "self-registration must be refused: {r:?}"
    );
    let (id, tx) = caller.call("closed", "echo", "hi").await.unwrap();
    let r = answer(&url, &stranger, "closed", &id, &tx.to_string()).await;
    assert!(refused(&r), "a stranger's answer must be refused: {r:?}");

    // An approved worker registers and answers.
    let approved = PrivateKey::generate();
    register(&url, &approved, "closed").await;
    answer(&url, &approved, "closed", &id, &tx.to_string())
        .await
        .expect("the approved worker's answer lands");
    let w = AppWorkers::fetch(admin.rpc(), "closed").await.unwrap();
    assert_eq!(w.policy, WorkerPolicy::Approved);
    assert!(w.may_answer(&approved.address()) && !w.may_answer(&stranger.address()));

    // Once removed it can no longer answer.
    admin
        .remove_worker("closed", &approved.address())
        .await
        .unwrap();
    let (id2, tx2) = caller.call("closed", "echo", "again").await.unwrap();
    let r = answer(&url, &approved, "closed", &id2, &tx2.to_string()).await;
    assert!(
        refused(&r),
        "a removed worker's answer must be refused: {r:?}"
    );

    // `--workers any` is possible when asked for: then a self-registered key may answer.
    admin
        .deploy(&Deployment {
            workers: WorkerPolicy::Any,
            ..Deployment::new("open", "echo", "wasm", ECHO_WAT.as_bytes().to_vec())
        })
        .await
        .unwrap();
    client(&url, &stranger)
        .await
        .register("open", &entry())
        .await
        .expect("an open app takes any worker");
    let (id3, tx3) = caller.call("open", "echo", "hi").await.unwrap();
    answer(&url, &stranger, "open", &id3, &tx3.to_string())
        .await
        .expect("an open app takes any registered worker's answer");
    dev.shutdown().await;
}
