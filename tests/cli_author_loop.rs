//! The author's loop as a newcomer drives it (issue 18), one `ain-sre` process per step against
//! a spawned `ain-sre dev`: `new`, `deploy` with no key and no `--app`, `call --wait`,
//! `functions list/show`, `calls list/show`, a redeploy, a rollback; what `deploy` says with no
//! key against a chain that is not a dev chain; what `call` says when no worker serves an app;
//! and every `new` template run by `invoke`.

mod common;

use common::proc::{Server, ain_sre, free_port};
#[path = "cli_author_loop/dev_loop.rs"]
mod dev_loop;
#[path = "cli_author_loop/invoke.rs"]
mod invoke;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts a server with `args` and waits (at most 60 s) for `ready` on its stdout.
fn spawn(args: &[&str], ready: &str) -> Server {
    let mut child = ain_sre()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ain-sre");
    let out = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    let ready = ready.to_owned();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(&ready) {
                let _ = tx.send(Ok(seen.clone()));
            }
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(_)) => server,
        other => panic!("{args:?} did not become ready: {other:?}"),
    }
}

/// Runs `ain-sre args`; returns (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = ain_sre().args(args).output().expect("run ain-sre");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `ain-sre args` and fails the test unless it succeeds; returns its stdout.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let (success, out, err) = run(args);
    assert!(success, "ain-sre {args:?} failed:\n{out}\n{err}");
    out
}

/// A WAT module that prints `v2`, for the redeploy.
const V2_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "v2")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

/// A key that is not the dev chain's.
const OTHER_KEY: &str = "4b1e9c0b6e1d1f6b0cf8e1b4a2f4c2d2a9a0e3c1b7d5f3e9c8a6b4d2f0e1c3a5";

/// The `"output"` of a `call --wait`'s printed response.
fn output_of(call: &str) -> String {
    let start = call.find('{').expect("a response");
    let end = call.rfind('}').unwrap();
    let v: serde_json::Value = serde_json::from_str(&call[start..=end]).expect("response JSON");
    v["output"].as_str().unwrap_or_default().to_owned()
}
