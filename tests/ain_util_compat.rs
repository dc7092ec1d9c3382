//! Cross-implementation test: ain-sre's ledger crypto against the real `@ainblockchain/ain-util`.
//!
//! Everything ain-sre signs is checked by nodes running ain-util 1.3.0, so "compatible" means
//! byte-identical. Each test builds seeded random inputs (plus a fixed corpus of edge cases), has
//! Rust compute its answers, sends inputs and Rust's signatures to `tests/js/ain_util_oracle.js`
//! in one Node.js run, and compares field by field:
//!
//! - transactions: stable JSON text, `hashTransaction`, `ecSignTransaction` on chains 0 and 1 (and
//!   2 for every eighth body; RFC 6979 makes signatures deterministic, so they must be equal), node
//!   verifying Rust's signatures, Rust verifying node's, and both refusing a wrong chain id;
//! - messages: `hashMessage` and `ecSignMessage`, verified in both directions;
//! - accounts: public key, `privateToAddress`, `toChecksumAddress`;
//! - keystores: each side opens what the other wrote (scrypt with light and with ain-util's
//!   default parameters, uppercased text, empty and non-ASCII passwords), both reject a wrong
//!   password, and PBKDF2 is checked as far as ain-util 1.3.0 allows (see `keys.rs`).
//!
//! Run it with `cargo test --test ain_util_compat` (add `-- --nocapture` for the seed, timings and
//! coverage counts). The seed is printed; `AIN_SRE_COMPAT_SEED=<n>` replays a run, and
//! `AIN_SRE_COMPAT_BODIES` / `AIN_SRE_COMPAT_MESSAGES` set the number of random inputs for a
//! longer soak. A failure names the first differing input, both outputs and the seed. Needs `node`
//! and `npm` (the first run installs the pinned packages into `tests/js/node_modules`, see
//! `oracle.rs`); without them the tests skip loudly, or fail under `AIN_SRE_STRICT=1` / `CI=true`.

mod common;
#[path = "ain_util_compat/coverage.rs"]
mod coverage;
#[path = "ain_util_compat/inputs.rs"]
mod inputs;
#[path = "ain_util_compat/keys.rs"]
mod keys;
#[path = "ain_util_compat/oracle.rs"]
mod oracle;
#[path = "ain_util_compat/signing.rs"]
mod signing;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ain_sre::ledger::crypto::PrivateKey;
use serde_json::Value;

/// The versions `package-lock.json` pins; a different tree means the oracle is not the reference.
const AIN_UTIL_VERSION: &str = "1.3.0";
const STABLE_STRINGIFY_VERSION: &str = "2.1.0";

/// The run's seed: `AIN_SRE_COMPAT_SEED` (decimal or 0x-hex) or a fresh random one, printed once.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = match std::env::var("AIN_SRE_COMPAT_SEED") {
            Ok(s) => {
                let s = s.trim();
                let parsed = match s.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => s.parse(),
                };
                parsed.unwrap_or_else(|_| panic!("AIN_SRE_COMPAT_SEED={s:?} is not a u64"))
            }
            Err(_) => rand::random(),
        };
        eprintln!("ain_util_compat: seed {seed} (replay with AIN_SRE_COMPAT_SEED={seed})");
        seed
    })
}

/// A count from the environment variable `var`, or `default` when unset or not a number.
fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Collects disagreements so a run reports how many checks failed but details only the first.
struct Mismatches {
    test: &'static str,
    seed: u64,
    total: usize,
    checks: usize,
    first: Option<String>,
}

impl Mismatches {
    fn new(test: &'static str) -> Mismatches {
        Mismatches {
            test,
            seed: seed(),
            total: 0,
            checks: 0,
            first: None,
        }
    }

    /// Records that `rust` and `node` must be equal for `field` of input `index`.
    fn same(
        &mut self,
        index: usize,
        input: &dyn Fn() -> String,
        field: &str,
        rust: &str,
        node: &str,
    ) {
        self.checks += 1;
        if rust != node {
            let detail = format!(
                "rust: {rust}\nnode: {node}\n{}",
                first_difference(rust, node)
            );
            self.fail(index, input, field, detail);
        }
    }

    /// Records that `ok` must hold for `field` of input `index`; `detail` explains it if not.
    fn holds(
        &mut self,
        index: usize,
        input: &dyn Fn() -> String,
        field: &str,
        ok: bool,
        detail: impl FnOnce() -> String,
    ) {
        self.checks += 1;
        if !ok {
            self.fail(index, input, field, detail());
        }
    }

    fn fail(&mut self, index: usize, input: &dyn Fn() -> String, field: &str, detail: String) {
        self.total += 1;
        if self.first.is_none() {
            self.first = Some(format!(
                "first mismatch: input #{index}, {field}\ninput: {}\n{detail}",
                input()
            ));
        }
    }

    /// Panics with the first mismatch, the count and the seed if anything differed. The message
    /// shortens long texts; the full first mismatch is also written to a file named in it.
    fn finish(self) {
        let Some(first) = self.first else { return };
        let path = std::env::temp_dir().join(format!(
            "ain_util_compat-{}-seed{}.txt",
            self.test, self.seed
        ));
        let saved = match std::fs::write(&path, &first) {
            Ok(()) => format!("full text of the first mismatch: {}", path.display()),
            Err(e) => format!("(could not save the full text to {}: {e})", path.display()),
        };
        let shown: Vec<String> = first.lines().map(clip).collect();
        panic!(
            "{}: {} of {} checks disagree with ain-util (seed {}; replay with \
             AIN_SRE_COMPAT_SEED={} cargo test --test ain_util_compat {})\n{saved}\n{}",
            self.test,
            self.total,
            self.checks,
            self.seed,
            self.seed,
            self.test,
            shown.join("\n")
        );
    }
}

/// `s`, shortened to a readable size for failure messages.
fn clip(s: &str) -> String {
    const MAX: usize = 1500;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// Where two texts first differ, with the surrounding characters escaped so invisible
/// differences (control characters, combining marks, lookalike code points) show up.
fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()));
    let around = |s: &str| {
        let start = s.floor_char_boundary(at.saturating_sub(40));
        let end = s.ceil_char_boundary((at + 40).min(s.len()));
        s[start..end].escape_debug().to_string()
    };
    format!(
        "first difference at byte {at}:\n  rust …{}…\n  node …{}…",
        around(a),
        around(b)
    )
}

/// An oracle field as text: its string, `ERROR: …` for a per-item exception, or raw JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("error") => format!("ERROR: {}", text(&o["error"])),
        other => other.to_string(),
    }
}

/// Runs the oracle and checks that it is the pinned ain-util, printing what it runs on.
fn ask(oracle: &oracle::Oracle, test: &str, job: &Value, timeout: Duration) -> Value {
    let started = Instant::now();
    let out = oracle
        .run(job, timeout)
        .unwrap_or_else(|e| panic!("{test}: the ain-util oracle failed (seed {}): {e}", seed()));
    let meta = &out["meta"];
    eprintln!(
        "ain_util_compat: {test}: node answered in {:.1} s ({meta})",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        (
            meta["ain_util"].as_str(),
            meta["fast_json_stable_stringify"].as_str()
        ),
        (Some(AIN_UTIL_VERSION), Some(STABLE_STRINGIFY_VERSION)),
        "the oracle does not run the pinned packages; delete tests/js/node_modules and rerun"
    );
    out
}

/// A private key as the oracle takes it: 64 hex digits.
fn key_hex(k: &PrivateKey) -> String {
    hex::encode(*k.secret_bytes())
}
