//! The properties the fuzz targets check, one function per target.
//!
//! Shared by `fuzz/fuzz_targets/*.rs` (under libFuzzer) and `tests/fuzz_regressions.rs` (which
//! includes this file and replays `fuzz/regressions/<target>/*` on stable, without cargo-fuzz).
//! Each function takes one raw input. It panics only when the library panics or a property
//! below is broken; an input the library rightly refuses is not a failure.

#![forbid(unsafe_code)]
#![allow(missing_docs, unreachable_pub, dead_code)]
//!
//! One module per area (event frames, the devnet's JSON-RPC, txs and blocks, write rules,
//! runtime and profile files); `#[path]` keeps them found from either crate.

use std::sync::OnceLock;

use ain_ledger::crypto::PrivateKey;

#[path = "chain.rs"]
mod chain;
#[path = "config.rs"]
mod config;
#[path = "events.rs"]
mod events;
#[path = "rpc.rs"]
mod rpc;
#[path = "rules.rs"]
mod rules;

pub use chain::{block_verify, tx_verify};
pub use config::config_load;
pub use events::event_frame;
pub use rpc::devnet_rpc;
pub use rules::rule_parse;

/// A target's check: takes one raw input, panics on a broken property.
pub type Check = fn(&[u8]);

/// Every target: its name (also its corpus and regression directory) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("event_frame", event_frame),
    ("devnet_rpc", devnet_rpc),
    ("tx_verify", tx_verify),
    ("block_verify", block_verify),
    ("rule_parse", rule_parse),
    ("config_load", config_load),
];

/// The well-known 1-node test key (also the devnet's default validator).
const TEST_KEY: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";

fn test_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::from_hex(TEST_KEY).expect("the test key parses"))
}
