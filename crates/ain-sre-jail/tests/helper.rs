//! The helper binary's two modes, from outside. Also what makes `cargo test` build
//! `target/<profile>/ain-sre-jail`, where the worker's tests (and `jail_beside`) look for it:
//! Cargo builds a package's binaries for its integration tests only.

use std::process::{Command, Stdio};

/// The stem-cell mode reads its set-up from the daemon's control socket on fd 3; started by
/// anything else it fails with its own exit code (125), without running a shell or a CLI.
#[test]
fn without_the_control_socket_the_helper_fails_its_setup() {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre-jail"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
}

/// The WASM compiler child checks its arguments before compiling anything.
#[test]
fn the_compiler_mode_refuses_a_bad_command_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre-jail"))
        .arg("--wasm-compile")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("usage: ain-sre-jail --wasm-compile"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
