//! The CLI's output to a reader that went away: `ain-sre ... | head -1` ends quietly.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    // A pipe whose read end is already closed: every write to stdout fails with EPIPE.
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["runtimes", "list"])
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run ain-sre");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn call_refuses_a_zero_timeout() {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "call",
            "--app",
            "a",
            "--fn",
            "f",
            "--wait",
            "--timeout",
            "0",
        ])
        .output()
        .expect("run ain-sre");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--timeout") && stderr.contains("0"),
        "{stderr}"
    );
}
