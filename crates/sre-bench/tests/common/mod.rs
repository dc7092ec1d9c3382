//! Shared helpers of this crate's integration tests: strict mode (as in the root crate's
//! `tests/common`) and the `ain-sre` binary beside `ain-sre-bench`.
//!
//! Strict mode (`AIN_SRE_STRICT=1`, or `CI=true` as CI sets it) turns every "cannot run here" into
//! a failure. Outside strict mode such a test prints a loud SKIP line and returns.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

#[path = "../../../../tests/common/prereq.rs"]
mod prereq;
#[allow(unused_imports, reason = "not every test binary uses both")]
pub use prereq::{skip_or_fail, strict};

/// The `ain-sre-bench` binary under test.
pub fn bench_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ain-sre-bench"))
}

/// The `ain-sre` binary beside `ain-sre-bench`, or `None` after a loud skip (a failure in strict
/// mode). Cargo builds it when the root package's tests are built too (`cargo test` at the
/// root); after `cargo test -p sre-bench` alone, `cargo build -p ain-sre` first.
#[track_caller]
pub fn ain_sre(test: &str) -> Option<PathBuf> {
    let exe = bench_exe().with_file_name("ain-sre");
    if exe.is_file() {
        return Some(exe);
    }
    skip_or_fail(
        test,
        &format!("{} is missing (cargo build -p ain-sre)", exe.display()),
    );
    None
}
