//! `ain-sre invoke` end to end: the shipped example functions run through the worker's code path,
//! failures are reported with a non-zero exit, unknown runtimes and missing tiers fail clearly.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn invoke(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .arg("invoke")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ain-sre")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn wat_example_echoes_its_input() {
    let out = invoke(&["examples/functions/echo.wat", "--input", "{\"x\":1}"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "{\"x\":1}");
    assert!(
        stderr(&out).contains("status ok | runtime wasm | tier wasm | profile default"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_report_and_repeat() {
    let out = invoke(&[
        "examples/functions/echo.wat",
        "--input",
        "hi",
        "--repeat",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["output"], "hi");
    assert_eq!(v["repeat"]["calls"], 20);
    assert_eq!(v["code_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn guest_failures_exit_non_zero_with_their_status() {
    let out = invoke(&["tests/fixtures/wasm/spin.wat", "--profile", "strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("status timeout"), "{}", stderr(&out));
}

#[test]
fn clear_errors_for_bad_requests() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["examples/functions/echo.wat", "--runtime", "cobol"],
            "unknown runtime `cobol`",
        ),
        (
            &["examples/functions/echo.wat", "--profile", "turbo"],
            "unknown profile `turbo`",
        ),
        (
            &["examples/functions/python3", "--tier", "wasm"],
            "does not run on the wasm tier",
        ),
        (
            &["examples/functions/echo.wat", "--tier", "container"],
            "does not run on the container tier",
        ),
        (&["no/such/file.wasm"], "does not exist"),
        (
            &["tests/fixtures/wasm/sockets.wat"],
            "sockets are not available",
        ),
    ];
    for (args, want) in cases {
        let out = invoke(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}

/// Interpreted runtimes run on the process tier as root; without the tier, the error says why.
#[test]
fn python3_example_runs_on_the_process_tier_or_says_why_not() {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "invoke",
            "examples/functions/python3",
            "--input",
            "{\"name\":\"t\"}",
        ])
        .env(
            "AIN_SRE_JAIL",
            std::path::Path::new(env!("CARGO_BIN_EXE_ain-sre")).with_file_name("ain-sre-jail"),
        )
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ain-sre");
    if nix::unistd::geteuid().is_root() {
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("hello, t"), "{}", stdout(&out));
        assert!(stderr(&out).contains("tier process"), "{}", stderr(&out));
    } else if !out.status.success() {
        assert!(stderr(&out).contains("process: "), "{}", stderr(&out));
    }
}

/// The Rust example, built for wasm32-wasip1 by its own script, runs in the WASM tier.
#[test]
fn rust_example_builds_and_runs() {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    if !Path::new(&sysroot)
        .join("lib/rustlib/wasm32-wasip1")
        .is_dir()
    {
        common::skip_or_fail(
            "rust_example_builds_and_runs",
            "the wasm32-wasip1 target is not installed (rustup target add wasm32-wasip1)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let build = Command::new("examples/functions/build.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "build.sh failed: {}",
        stderr(&build)
    );
    let out = invoke(&[
        "examples/functions/rust-wordcount.wasm",
        "--input",
        "one two\nthree",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"function": "rust-wordcount", "bytes": 13, "lines": 2, "words": 3})
    );
}
