//! The ain-js client example (`examples/js-client`) calls a function on the built-in chain and
//! gets the worker's response. Needs node and npm (skips loudly outside strict mode).

mod common;
mod worker_support;

use std::path::Path;
use std::process::Command;

use ain_sre::ledger::crypto::PrivateKey;
use worker_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ain_js_example_calls_a_function() {
    const T: &str = "ain_js_example_calls_a_function";
    let (Some(node), Some(npm)) = (
        common::require_program(T, "node"),
        common::require_program(T, "npm"),
    ) else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/js-client");
    if !dir.join("node_modules/@ainblockchain/ain-js").is_dir() {
        let st = Command::new(&npm)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        if !st.success() {
            common::skip_or_fail(T, "npm ci in examples/js-client failed");
            return;
        }
    }
    let wdir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "js", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "js").await;
    let w = worker(&dev, &["js"], &key, wdir.path()).await;
    let url = format!("http://{}", dev.rpc_addr());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .args([
                "index.js",
                "--node",
                &url,
                "--app",
                "js",
                "--fn",
                "echo",
                "--input",
                "{\"from\":\"ain-js\"}",
            ])
            .current_dir(&dir)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ain-js example failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("status ok; verified: approved writer, request tx, input hash, code hash"),
        "{stdout}"
    );
    assert!(stdout.contains("{\\\"from\\\":\\\"ain-js\\\"}"), "{stdout}");

    // verify.js, against the chain's worker set: an honest receipt passes, a forged input hash
    // and a writer the admin did not approve are each named.
    const SCRIPT: &str = r#"
const Ain = require('@ainblockchain/ain-js').default;
const v = require('./verify');
const sha = (s) => require('crypto').createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');
(async () => {
  const [url, worker] = process.argv.slice(1);
  const ain = new Ain(url, null, 0);
  const facts = await v.beforeRequest(ain, 'js', 'echo');
  const exp = { ...facts, requestTx: '0xab', input: 'x' };
  const good = { status: 'ok', receipt: { worker, request_tx: '0xAB', input_hash: sha('x'), code_hash: facts.codeHash } };
  const forged = { ...good, receipt: { ...good.receipt, input_hash: sha('y') } };
  const stranger = { ...good, receipt: { ...good.receipt, worker: '0x09A0d53FDf1c36A131938eb379b98910e55EEfe1' } };
  console.log(JSON.stringify({
    good: await v.checkResponse(ain, good, exp),
    forged: await v.checkResponse(ain, forged, exp),
    stranger: await v.checkResponse(ain, stranger, exp),
  }));
})().catch((e) => { console.error(e); process.exit(1); });
"#;
    let (node2, dir2, url2) = (
        common::require_program(T, "node").unwrap(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/js-client"),
        format!("http://{}", dev.rpc_addr()),
    );
    let worker_addr = key.address().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node2)
            .args(["-e", SCRIPT, &url2, &worker_addr])
            .current_dir(&dir2)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["good"], serde_json::json!([]), "{v}");
    let one = |k: &str, want: &str| {
        let l = v[k].as_array().unwrap();
        assert!(
            l.len() == 1 && l[0].as_str().unwrap().contains(want),
            "{k}: {v}"
        );
    };
    one("forged", "receipt.input_hash is ");
    one("stranger", "is not an approved worker of the app");
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}
