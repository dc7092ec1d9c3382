//! The `ain-sre` binary doubles as the process tier's `ain-sre-jail` helper when started under
//! that name. `cargo run` builds only the `ain-sre` package (the helper is its own crate since
//! the workspace split), so `cargo run -- dev` finds no helper beside the binary and the tier
//! starts `ain-sre` itself as the helper instead.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Started as `ain-sre-jail`, `ain-sre` is the helper: it parses no command line and, without the
/// daemon's control socket on fd 3, fails its set-up with the helper's exit code (125), where
/// the CLI would have printed its usage and exited 2.
#[test]
fn ain_sre_started_as_the_jail_is_the_jail() {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .arg0("ain-sre-jail")
        .stdin(Stdio::null())
        .output()
        .expect("run ain-sre");
    assert_eq!(
        out.status.code(),
        Some(125),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Usage"),
        "the CLI ran instead of the helper"
    );
}

/// End to end: the process tier with `ain-sre` itself as its helper runs a python3 function.
#[test]
fn python3_runs_on_the_process_tier_with_ain_sre_as_its_helper() {
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail(
            "python3_runs_on_the_process_tier_with_ain_sre_as_its_helper",
            "the process tier needs root",
        );
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "invoke",
            "examples/functions/python3",
            "--tier",
            "process",
            "--input",
            "{\"name\":\"t\"}",
        ])
        .env("AIN_SRE_JAIL", env!("CARGO_BIN_EXE_ain-sre"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ain-sre");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello, t"),
        "{stderr}"
    );
    assert!(stderr.contains("tier process"), "{stderr}");
}
