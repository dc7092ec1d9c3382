//! The fuzz targets' checks on stable, without cargo-fuzz: every input under
//! `fuzz/regressions/<target>/` (crashes the fuzzers found, each fixed in the library) and under
//! `fuzz/corpus/<target>/` (the committed seeds) goes through the same function the fuzz
//! target calls (`fuzz/src/lib.rs`, included here). A failing input names its file.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let check = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no fuzz check named {target}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = inputs(&root.join("corpus").join(target));
    // A target without seeds would pass without checking anything.
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} has no seeds; the replay would check nothing"
    );
    let regressions = inputs(&root.join("regressions").join(target));
    for file in regressions.iter().chain(&corpus) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "fuzz input {} fails its check",
            file.display()
        );
    }
    eprintln!(
        "{target}: {} regression input(s), {} seed(s) replayed",
        regressions.len(),
        corpus.len()
    );
}

#[test]
fn event_frame() {
    replay("event_frame");
}

#[test]
fn devnet_rpc() {
    replay("devnet_rpc");
}

#[test]
fn tx_verify() {
    replay("tx_verify");
}

#[test]
fn block_verify() {
    replay("block_verify");
}

#[test]
fn rule_parse() {
    replay("rule_parse");
}

#[test]
fn config_load() {
    replay("config_load");
}

#[test]
fn every_target_has_a_test_and_a_fuzz_binary() {
    let manifest = include_str!("../fuzz/Cargo.toml");
    for (name, _) in checks::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
    assert_eq!(checks::TARGETS.len(), 6);
}
