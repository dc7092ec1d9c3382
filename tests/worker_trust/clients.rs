//! The client's side of trust: `deploy` prints the worker setting and `workers` manages it,
//! `call --wait` catches a forged response from an approved worker, and a request whose tx fails
//! after its event is never run or answered.

use super::*;

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
    // A key registers itself while the app is open; deploying again without `--workers any`
    // closes the app and says that worker can no longer answer.
    client(&url, &w)
        .await
        .register("cli", &entry())
        .await
        .unwrap();
    let (ok, out, err) = deploy(None).await.unwrap();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("workers:  approved only (0 approved)")
            && out.contains("1 registered worker(s) not approved cannot answer"),
        "{out}"
    );
    let w_workers = AppWorkers::fetch(&ain_sre::ledger::rpc::RpcClient::new(&url).unwrap(), "cli")
        .await
        .unwrap();
    assert!(!w_workers.may_answer(&w.address()));
    dev.shutdown().await;
}

/// Starts `ain-sre call --wait` on `app`/echo; returns the child, its stdout lines, and the
/// call id and request tx it printed.
async fn call_wait_cli(
    url: &str,
    app: &str,
    input: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    String,
    String,
) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["call", "--app", app, "--fn", "echo", "--input", input])
        .args(["--wait", "--timeout", "30", "--node", url])
        .env_remove("AIN_SRE_PRIVATE_KEY")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the CLI runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut field = async |prefix: &str| {
        let line = lines.next_line().await.unwrap().expect("a line");
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{prefix:?} expected: {line}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let call = field("call:").await;
    let tx = field("request:").await;
    let id = call.rsplit('/').next().unwrap().to_owned();
    (child, lines, id, tx)
}

async fn rest(
    mut lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> String {
    let mut out = String::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_wait_catches_a_forged_response_from_an_approved_worker() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    let deployed = deploy(&admin, "forge", "echo", ECHO_WAT.as_bytes()).await;
    let app = AppPaths::new("forge").unwrap();
    let dishonest = PrivateKey::generate();
    register(&url, &dishonest, "forge").await;
    let honest = PrivateKey::generate();
    register(&url, &honest, "forge").await;
    let d = client(&url, &dishonest).await;

    // The dishonest worker answers first, with the right request tx and input hash but a
    // result of other code.
    let input = "{\"x\":1}";
    let (mut child, lines, id, tx) = call_wait_cli(&url, "forge", input).await;
    let mut forged = response_value(&dishonest, &tx);
    forged["receipt"]["input_hash"] = json!(hex::encode(sha2::Sha256::digest(input.as_bytes())));
    // Claiming to be the honest worker is refused by the chain itself.
    let mut impersonated = forged.clone();
    impersonated["receipt"]["worker"] = json!(honest.address().to_string());
    let r = d
        .send(vec![SimpleOp::set_value(
            app.response("echo", &id),
            impersonated,
        )])
        .await;
    assert!(refused(&r), "receipt.worker must be the signer: {r:?}");
    d.send(vec![SimpleOp::set_value(app.response("echo", &id), forged)])
        .await
        .expect("an approved worker may write a response");
    let status = child.wait().await.unwrap();
    let out = rest(lines).await;
    assert!(
        !status.success(),
        "call --wait must fail on a forgery: {out}"
    );
    assert!(out.contains("VERIFICATION FAILED"), "{out}");
    assert!(
        out.contains(&format!(
            "receipt.code_hash is \"{}\", the function's code hash at the request was \"{}\"",
            "00".repeat(32),
            deployed.code_hash
        )),
        "{out}"
    );
    assert!(
        !out.contains("receipt.request_tx is"),
        "the request tx matched: {out}"
    );

    // A forged request tx (a receipt replayed from another call) is caught too.
    let (mut child, lines, id, _tx) = call_wait_cli(&url, "forge", input).await;
    let mut replayed = response_value(&dishonest, &format!("0x{}", "11".repeat(32)));
    replayed["receipt"]["code_hash"] = json!(deployed.code_hash);
    replayed["receipt"]["input_hash"] = json!(hex::encode(sha2::Sha256::digest(input.as_bytes())));
    d.send(vec![SimpleOp::set_value(
        app.response("echo", &id),
        replayed,
    )])
    .await
    .unwrap();
    assert!(!child.wait().await.unwrap().success());
    let out = rest(lines).await;
    assert!(out.contains("receipt.request_tx is 0x1111"), "{out}");

    // The honest worker's answer is verified and the call exits 0.
    let dir = tempfile::tempdir().unwrap();
    let w = worker(&dev, &["forge"], &honest, dir.path()).await;
    let (mut child, lines, _id, _tx) = call_wait_cli(&url, "forge", input).await;
    let status = child.wait().await.unwrap();
    let out = rest(lines).await;
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "verified: writer {} is an approved worker",
            honest.address()
        )),
        "{out}"
    );
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_tx_fails_after_its_event_is_never_run_or_answered() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy(&admin, "fails", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&url, &key, "fails").await;
    let w = worker(&dev, &["fails"], &key, dir.path()).await;
    let app = AppPaths::new("fails").unwrap();
    let caller = client(&url, &PrivateKey::generate()).await;

    // A SET whose first op writes a request (its VALUE_CHANGED fires, as on a real node) and
    // whose second op is refused (functions are the admin's): the tx fails, nothing stands.
    let failed_id = "fails-after-its-event";
    let r = caller
        .send(vec![
            SimpleOp::set_value(app.request("echo", failed_id), json!({"input": "boom"})),
            SimpleOp::set_value(app.function("mine"), json!({"runtime": "wasm"})),
        ])
        .await;
    assert!(
        matches!(r, Err(ClientError::Refused { .. })),
        "the SET must fail: {r:?}"
    );
    let (_, _, resp) = call_wait(&caller, "fails", "echo", "after").await;
    assert_eq!(resp["status"], "ok");
    let dropped = eventually(std::time::Duration::from_secs(10), async || {
        w.health.report()["requests_failed"] == 1
    })
    .await;
    assert!(
        dropped,
        "the worker must see the failed request and drop it: {}",
        w.health.report()
    );
    // Once the good call's response is in a final block, the failed one has had every chance:
    // no response tx for it at all, not even a refused one.
    let failed_path = app.response("echo", failed_id);
    let settled = eventually(std::time::Duration::from_secs(10), async || {
        response_writes(&url).await.values().any(|(ok, _)| *ok == 1)
    })
    .await;
    assert!(settled);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let writes = response_writes(&url).await;
    assert!(
        !writes.contains_key(&failed_path),
        "a failed request must never be answered: {writes:?}"
    );
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}
