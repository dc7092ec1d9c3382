//! Trust on a shared network (issue 15), on the built-in chain: the chain refuses answers to
//! requests that never landed, and answers from workers the app admin did not approve; the
//! CLI's `deploy` and `workers` show and change who may answer.

mod worker_support;

use ain_sre::client::{AppWorkers, ChainClient, ClientError, Deployment};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::SimpleOp;
use ain_sre::onchain::{AppPaths, Callers, WorkerEntry, WorkerPolicy};
use serde_json::{Value, json};
use worker_support::*;

/// A response value shaped as a worker writes it, signed off as `worker`.
fn response_value(worker: &PrivateKey, request_tx: &str) -> Value {
    json!({
        "status": "ok",
        "output": "FAKE RESULT",
        "receipt": {
            "request_tx": request_tx,
            "worker": worker.address().to_string(),
            "code_hash": "00".repeat(32),
            "runtime": "wasm",
            "sandbox": "wasm",
            "profile": "default",
            "input_hash": "00".repeat(32),
            "output_hash": "00".repeat(32),
            "usage": {"wall_us": 1, "cpu_us": 1, "mem_peak_kb": 1},
            "started_at": 1,
            "finished_at": 2,
        }
    })
}

async fn client(url: &str, key: &PrivateKey) -> ChainClient {
    ChainClient::connect(url, PrivateKey::from_bytes(&key.secret_bytes()).unwrap())
        .await
        .unwrap()
}

fn refused(r: &Result<ain_sre::ledger::crypto::Hash, ClientError>) -> bool {
    matches!(
        r,
        Err(ClientError::Refused {
            code: Some(12103),
            ..
        })
    )
}

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

fn entry() -> WorkerEntry {
    WorkerEntry {
        runtimes: [("wasm".to_owned(), true)].into_iter().collect(),
        version: "test".into(),
        capacity: 1,
    }
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
            app: "open".into(),
            function: "echo".into(),
            runtime: "wasm".into(),
            code: ECHO_WAT.as_bytes().to_vec(),
            profile: None,
            callers: Callers::Any,
            finality: None,
            workers: WorkerPolicy::Any,
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

/// Runs the CLI with `key` as its signing key; returns (success, stdout, stderr).
fn cli(key: Option<&PrivateKey>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ain-sre"));
    cmd.args(args).env_remove("AIN_SRE_PRIVATE_KEY");
    if let Some(k) = key {
        cmd.env(
            "AIN_SRE_PRIVATE_KEY",
            hex::encode(k.secret_bytes().as_ref()),
        );
    }
    let out = cmd.output().expect("the CLI runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deploy_prints_the_worker_setting_and_workers_manages_it() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin_key =
        PrivateKey::from_hex(ain_sre::ledger::devnet::config::DEFAULT_VALIDATOR_KEY).unwrap();
    let echo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/functions/echo.wat");
    let deploy = |workers: Option<&'static str>| {
        let mut a = vec![
            "deploy", echo, "--app", "cli", "--fn", "echo", "--node", &url,
        ];
        if let Some(w) = workers {
            a.extend(["--workers", w]);
        }
        let args: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        let k = PrivateKey::from_bytes(&admin_key.secret_bytes()).unwrap();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(Some(&k), &refs)
        })
    };
    let (ok, out, err) = deploy(None).await.unwrap();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("workers:  approved only (0 approved)"),
        "{out}"
    );
    assert!(!err.contains("warning"), "{err}");

    let w = PrivateKey::generate();
    let addr = w.address().to_string();
    let run = |key: Option<PrivateKey>, args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(key.as_ref(), &refs)
        })
    };
    let admin_copy = || Some(PrivateKey::from_bytes(&admin_key.secret_bytes()).unwrap());
    let args = |v: &[&str]| -> Vec<String> {
        v.iter()
            .map(|s| s.to_string())
            .chain(["--node".to_owned(), url.clone()])
            .collect()
    };
    let (ok, out, err) = run(
        admin_copy(),
        args(&["workers", "add", "--app", "cli", &addr]),
    )
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("| {addr} | yes | no | yes |")),
        "{out}"
    );
    client(&url, &w)
        .await
        .register("cli", &entry())
        .await
        .unwrap();
    let (ok, out, err) = run(None, args(&["workers", "list", "--app", "cli"]))
        .await
        .unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.contains("workers:  approved only (1 approved"), "{out}");
    assert!(
        out.contains(&format!("| {addr} | yes | yes | yes | wasm |")),
        "{out}"
    );
    // Only the admin may approve.
    let (ok, _, _) = run(
        Some(PrivateKey::generate()),
        args(&[
            "workers",
            "add",
            "--app",
            "cli",
            &PrivateKey::generate().address().to_string(),
        ]),
    )
    .await
    .unwrap();
    assert!(!ok, "a non-admin cannot approve workers");
    let (ok, out, err) = run(
        admin_copy(),
        args(&["workers", "remove", "--app", "cli", &addr]),
    )
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.contains("no approved or registered workers"), "{out}");

    let (ok, out, err) = deploy(Some("any")).await.unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.contains("workers:  any (open registration)"), "{out}");
    assert!(
        err.contains("warning: app `cli` is open (--workers any): any key can register"),
        "{err}"
    );
    dev.shutdown().await;
}
