//! `ain-sre deploy` puts code too large for the chain in the blob store and deploys it by
//! reference (`code_ref`, issue 21): against a spawned `ain-sre dev`, a 1.2 MB WebAssembly text
//! module (over the 1 MiB `deploy` writes on chain) is uploaded to the dev chain's blob store
//! (the default on a dev chain, and with `--blobs`), its spec names it by `code_ref`, and the
//! worker fetches, verifies and runs it.

mod common;

use common::proc::{Server, ain_sre, free_port};

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

#[track_caller]
fn run(args: &[&str]) -> String {
    let out = ain_sre().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ain-sre {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn deploy_uploads_large_code_and_the_worker_runs_it_by_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, events, blobs, metrics) = (free_port(), free_port(), free_port(), free_port());
    let mut child = ain_sre()
        .args([
            "dev",
            "--no-components",
            "--port",
            &port.to_string(),
            "--events-port",
            &events.to_string(),
            "--blobs-port",
            &blobs.to_string(),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
            "--data",
            tmp.path().join("data").to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let _server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("serving; Ctrl-C to stop") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(90))
        .expect("dev becomes ready");
    let node = format!("http://127.0.0.1:{port}");
    let store = format!("http://127.0.0.1:{blobs}");
    // The echo module with 1.2 MB of comment: over what deploy writes on chain.
    let echo = include_str!("../examples/functions/echo.wat");
    let big = format!("{}\n{echo}", ";; padding\n".repeat(120_000));
    let file = tmp.path().join("big.wat");
    std::fs::write(&file, &big).unwrap();
    let deployed = run(&[
        "deploy",
        file.to_str().unwrap(),
        "--fn",
        "big",
        "--node",
        &node,
        "--blobs",
        &store,
    ]);
    assert!(
        deployed.contains(&format!(
            "code:     by reference (code_ref), {} bytes at {store}/blobs/",
            big.len()
        )),
        "{deployed}"
    );
    let called = run(&[
        "call", "--node", &node, "--fn", "big", "--input", "by ref", "--wait",
    ]);
    assert!(called.contains("by ref"), "{called}");
    // The spec on chain names the blob, not the bytes.
    let shown = run(&["functions", "show", "--node", &node, "--fn", "big"]);
    assert!(
        shown.contains(&format!(
            "size:     {} bytes (by reference at {store}/blobs/",
            big.len()
        )),
        "{shown}"
    );
}
