//! `ain-sre bench` and `ain-sre conformance` run this crate's binary: `ain-sre` execs
//! `ain-sre-bench` beside it with the same arguments, so its output, its help and its exit status
//! are the command's. (`ain-sre conformance` through the same path: `tests/conformance.rs`.)

mod common;

use std::process::Command;

#[test]
fn ain_sre_bench_runs_a_group_through_ain_sre_bench() {
    let Some(ain_sre) = common::ain_sre("ain_sre_bench_runs_a_group_through_ain_sre_bench") else {
        return;
    };
    let out = Command::new(&ain_sre)
        .args(["bench", "--quick", "ledger", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    let rows = v["results"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["name"].as_str().unwrap().starts_with("recover signer")),
        "{v}"
    );
    assert!(rows.iter().all(|r| r["calls"].as_u64().unwrap() > 0), "{v}");
    assert!(v["host"].as_str().unwrap().contains("cores"), "{v}");
}

#[test]
fn help_and_exit_status_are_the_helpers() {
    let Some(ain_sre) = common::ain_sre("help_and_exit_status_are_the_helpers") else {
        return;
    };
    // The real help (the groups are ain-sre-bench's), not the pass-through's one argument.
    let help = Command::new(&ain_sre)
        .args(["bench", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success(), "{help:?}");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Usage: ain-sre bench [OPTIONS] [GROUP]"),
        "{text}"
    );
    assert!(text.contains("--minutes"), "{text}");
    let help = Command::new(&ain_sre)
        .args(["conformance", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--oci-runtime"),
        "{help:?}"
    );
    // A command that fails in the helper fails the same way: its error, its exit status.
    let out = Command::new(&ain_sre)
        .args(["bench", "ledger", "--compare", "x.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("error: --compare applies to the whole report"),
        "{out:?}"
    );
    // Bad usage is the helper's (exit status 2, its own message).
    let out = Command::new(&ain_sre)
        .args(["bench", "no-such-group"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid value 'no-such-group'"),
        "{out:?}"
    );
}
