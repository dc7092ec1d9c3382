//! Shared helpers for integration tests: strict mode and locating the project's shared fixtures.
//!
//! Strict mode (`AIN_SRE_STRICT=1`, or `CI=true` as CI sets it) turns every "cannot run here" into a
//! failure. Outside strict mode such a test prints a loud SKIP line and returns.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

pub mod js;
pub mod proc;

mod prereq;
#[allow(unused_imports, reason = "not every test binary uses both")]
pub use prereq::{skip_or_fail, strict};

/// The `shared/` directory beside the project (or `$AIN_SRE_SHARED`), if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("AIN_SRE_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    dir.join("fixtures").is_dir().then_some(dir)
}

/// The shared fixtures directory, or `None` after a loud skip (a failure in strict mode).
#[track_caller]
pub fn fixtures(test: &str) -> Option<PathBuf> {
    match shared_dir() {
        Some(d) => Some(d.join("fixtures")),
        None => {
            skip_or_fail(
                test,
                "../shared/fixtures is absent (set AIN_SRE_SHARED to its parent)",
            );
            None
        }
    }
}

/// A program found on PATH, or `None` after a loud skip (a failure in strict mode).
#[track_caller]
pub fn require_program(test: &str, program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        let p = dir.join(program);
        if p.is_file() {
            return Some(p);
        }
    }
    skip_or_fail(test, &format!("`{program}` is not on PATH"));
    None
}
