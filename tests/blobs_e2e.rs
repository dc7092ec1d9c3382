//! Data capacity on the built-in chain (issue 20), each step an `ain-sre` process against a
//! spawned `ain-sre dev`: a 16 MiB input echoed by the WASM `echo` example and by a python3
//! function through `call --input @file --wait --output out`, byte for byte; a 1-byte-tampered
//! blob rejected; an input over the function's profile limit rejected before any download; a
//! `url` on a private address refused; an unsigned upload refused.

mod common;

use common::proc::{Server, ain_sre, free_port};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ain_sre::blobs::{BlobRef, SIZE_HEADER, Sha256Hex};
use ain_sre::client::{ChainClient, new_call_id, wait_response};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::SimpleOp;
use ain_sre::onchain::{AppPaths, Request};

/// `ain-sre dev` on free ports, its data in `data`; returns it and its self-check table.
fn dev(data: &std::path::Path, port: u16, blobs: u16) -> (Server, String) {
    let (events, metrics) = (free_port(), free_port());
    let mut child = ain_sre()
        .args([
            "dev",
            // The component examples are checked by tests/dev_components.rs.
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
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("serving; Ctrl-C to stop") {
                let _ = tx.send(Ok(seen.clone()));
            }
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(Ok(table)) => (server, table),
        other => panic!("dev did not become ready: {other:?}"),
    }
}

#[track_caller]
fn run(args: &[&str]) -> (bool, String, String) {
    let out = ain_sre().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A deterministic, incompressible-looking 16 MiB.
fn payload(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const PY_ECHO: &str = "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n";

/// Writes a request carrying `r` and waits for its response.
async fn call_ref(node: &str, function: &str, r: &BlobRef) -> serde_json::Value {
    let c = ChainClient::connect(node, PrivateKey::generate())
        .await
        .unwrap();
    let id = new_call_id();
    let paths = AppPaths::new("dev").unwrap();
    c.send(vec![SimpleOp::set_value(
        paths.request(function, &id),
        Request::value_ref(r),
    )])
    .await
    .unwrap();
    wait_response(c.rpc(), "dev", function, &id, Duration::from_secs(30))
        .await
        .unwrap()
}

#[test]
fn sixteen_mib_round_trips_through_blobs_on_the_built_in_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, blobs_port) = (free_port(), free_port());
    let (_dev, table) = dev(&tmp.path().join("data"), port, blobs_port);
    let node = format!("http://127.0.0.1:{port}");
    let blobs = format!("http://127.0.0.1:{blobs_port}");
    let big = payload(16 << 20);
    let input = tmp.path().join("in.bin");
    std::fs::write(&input, &big).unwrap();
    let input_arg = format!("@{}", input.display());

    // The WASM echo example, as `dev` deploys it.
    let out = tmp.path().join("out-wasm.bin");
    let (ok, so, se) = run(&[
        "call",
        "--node",
        &node,
        "--fn",
        "echo",
        "--input",
        &input_arg,
        "--blobs",
        &blobs,
        "--wait",
        "--timeout",
        "60",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{so}\n{se}");
    assert!(so.contains("\"output_ref\""), "{so}");
    assert!(
        std::fs::read(&out).unwrap() == big,
        "wasm echo: not byte-identical"
    );

    // A python3 echo under the batch profile (on the process or container tier).
    let py = tmp.path().join("pyecho");
    std::fs::create_dir_all(&py).unwrap();
    std::fs::write(py.join("main.py"), PY_ECHO).unwrap();
    let python_served = !table.contains("| python3 | python3 | not available");
    if python_served {
        let (ok, so, se) = run(&[
            "deploy",
            py.to_str().unwrap(),
            "--node",
            &node,
            "--fn",
            "pyecho",
            "--runtime",
            "python3",
            "--profile",
            "batch",
        ]);
        assert!(ok, "{so}\n{se}");
        let out = tmp.path().join("out-py.bin");
        let (ok, so, se) = run(&[
            "call",
            "--node",
            &node,
            "--fn",
            "pyecho",
            "--input",
            &input_arg,
            "--blobs",
            &blobs,
            "--wait",
            "--timeout",
            "60",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{so}\n{se}");
        assert!(
            std::fs::read(&out).unwrap() == big,
            "python3 echo: not byte-identical"
        );
    } else {
        common::skip_or_fail(
            "sixteen_mib_round_trips_through_blobs_on_the_built_in_chain (python3 part)",
            "no tier serves python3 on this host",
        );
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Unsigned upload: refused.
        let small = payload(10_000);
        let sha = Sha256Hex::of(&small);
        let resp = reqwest::Client::new()
            .put(format!("{blobs}/blobs/{sha}"))
            .header(SIZE_HEADER, "10000")
            .body(small.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);

        // A stored blob changed by one byte on disk: the worker's verification rejects it.
        let key = PrivateKey::generate();
        let r = ain_sre::blobs::client::upload(&blobs, &key, small.clone())
            .await
            .unwrap();
        let object = tmp.path().join("data/blobs/objects").join(sha.to_string());
        let mut bytes = std::fs::read(&object).unwrap();
        bytes[4321] ^= 0x01;
        std::fs::write(&object, bytes).unwrap();
        let v = call_ref(&node, "echo", &r).await;
        assert_eq!(v["status"], "rejected", "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("hash mismatch"),
            "{v}"
        );
        assert_eq!(v["receipt"]["input_hash"], sha.to_string());

        // Over the function's input limit (the default profile: 1 MiB): refused on the
        // declared size, before any byte is fetched.
        let over = BlobRef {
            sha256: Sha256Hex([1; 32]),
            size: 2 << 20,
            url: Some(format!("{blobs}/blobs/{}", Sha256Hex([1; 32]))),
        };
        let echo_wat = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/functions/echo.wat");
        let (ok, so, se) = run(&["deploy", echo_wat, "--node", &node, "--fn", "small"]);
        assert!(ok, "{so}\n{se}");
        let v = call_ref(&node, "small", &over).await;
        assert_eq!(v["status"], "rejected", "{v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("exceeds the function's input limit of 1048576"),
            "{v}"
        );

        // A url on a private address: refused by the address rules.
        let private = BlobRef {
            url: Some("http://10.11.12.13/blobs/x".into()),
            ..r.clone()
        };
        let v = call_ref(&node, "echo", &private).await;
        assert_eq!(v["status"], "rejected", "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("private (RFC 1918)"),
            "{v}"
        );
    });
}

/// The ain-js example does the same with plain HTTP: uploads a 300 KB input, sends `input_ref`,
/// downloads and verifies the `output_ref` (needs node and npm; skips loudly outside strict mode).
#[test]
fn the_ain_js_example_moves_large_data_through_blobs() {
    const T: &str = "the_ain_js_example_moves_large_data_through_blobs";
    let (Some(node), Some(npm)) = (
        common::require_program(T, "node"),
        common::require_program(T, "npm"),
    ) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/js-client");
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
    let tmp = tempfile::tempdir().unwrap();
    let (port, blobs_port) = (free_port(), free_port());
    let (_dev, _) = dev(&tmp.path().join("data"), port, blobs_port);
    let big = payload(300_000);
    let input = tmp.path().join("in.bin");
    let output = tmp.path().join("out.bin");
    std::fs::write(&input, &big).unwrap();
    let out = Command::new(node)
        .arg("index.js")
        .args(["--node", &format!("http://127.0.0.1:{port}")])
        .args(["--blobs", &format!("http://127.0.0.1:{blobs_port}")])
        .arg("--input")
        .arg(format!("@{}", input.display()))
        .arg("--output")
        .arg(&output)
        .current_dir(&dir)
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{so}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        so.contains("(input_ref)") && so.contains("\"output_ref\""),
        "{so}"
    );
    assert!(std::fs::read(&output).unwrap() == big, "not byte-identical");
}
