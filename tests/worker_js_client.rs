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
        stdout.contains("status ok; receipt names the request tx"),
        "{stdout}"
    );
    assert!(stdout.contains("{\\\"from\\\":\\\"ain-js\\\"}"), "{stdout}");
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}
