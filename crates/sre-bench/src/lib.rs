//! # sre-bench
//!
//! ain-sre's benchmarks ([`bench`]) and its conformance suite ([`conformance`]: SECURITY.md's
//! abuse rows and the sandbox contract, against every tier), with their command line ([`cli`]).
//! They drive the worker's library from outside, so the product library (crate `ain-sre`) does
//! not contain them. The binary `ain-sre-bench` runs them; `ain-sre bench` and `ain-sre
//! conformance` exec it (it must sit beside `ain-sre`, as `cargo build` puts it).
//!
//! Benchmarks that need a worker or a chain as a real process start the `ain-sre` binary found
//! by [`ain_sre_exe`].

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

// The library's modules under the paths this code used while it was part of that crate.
use ain_sre::{
    blobs, call, client, config, egress, journal, ledger, node, onchain, sandbox, scheduler,
};

pub mod bench;
pub mod cli;
pub mod conformance;

/// The `ain-sre` binary beside this executable, or in the directory above it (where test
/// binaries, built into `target/*/deps/`, find the one built into `target/*/`).
pub fn ain_sre_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    ain_sre_beside(&exe).ok_or_else(|| {
        anyhow::anyhow!(
            "the ain-sre binary is not next to {}: build it with `cargo build --release -p ain-sre`",
            exe.display()
        )
    })
}

/// `ain-sre` in the directory of `exe` or the one above it.
pub fn ain_sre_beside(exe: &Path) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("ain-sre"))
        .find(|cand| cand.is_file())
}
