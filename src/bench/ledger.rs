//! Ledger benchmarks: the per-call cost of hashing, signing and recovering AIN transactions.

use std::time::Duration;

use serde_json::json;

use super::Stats;
use crate::ledger::crypto::{PrivateKey, Signature, hash_transaction};

/// A response-sized transaction body like the ones a worker posts.
fn sample_body(i: u64) -> serde_json::Value {
    json!({
        "operation": {
            "type": "SET_VALUE",
            "ref": format!("/apps/bench/sre/calls/echo/c{i}/response"),
            "value": {
                "status": "ok",
                "output": "{\"x\":1,\"text\":\"héllo\"}",
                "receipt": {
                    "request_tx": "0x8addddfc0a938dfcbe520e8b2fb42d5a9839fb1dc043b563770d8dd77191c83d",
                    "worker": "0x00ADEc28B6a845a085e03591bE7550dd68673C1C",
                    "code_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "runtime": "wasm", "sandbox": "wasm", "profile": "default",
                    "usage": {"wall_us": 812, "cpu_us": 640, "mem_peak_kb": 1088},
                    "started_at": 1795461505726u64, "finished_at": 1795461505727u64
                }
            }
        },
        "nonce": -1,
        "timestamp": 1795461505726u64 + i,
        "gas_price": 0
    })
}

/// Runs every ledger measurement.
pub fn run(quick: bool) -> anyhow::Result<Vec<Stats>> {
    Ok(crypto(quick))
}

/// Runs the crypto measurements: hash, sign, recover and full verify of one tx.
pub fn crypto(quick: bool) -> Vec<Stats> {
    let min_time = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(2)
    };
    let key = PrivateKey::generate();
    let body = sample_body(1);
    let sig = key.sign_transaction(&body, 0).expect("chain 0 is valid");
    let sig_text = sig.to_string();
    let mut i = 0u64;
    vec![
        Stats::measure(
            "hashTransaction (stable JSON + double keccak)",
            1000,
            min_time,
            || {
                std::hint::black_box(hash_transaction(std::hint::black_box(&body)));
            },
        ),
        Stats::measure("sign tx (hash + RFC6979 ECDSA)", 1000, min_time, || {
            i += 1;
            let b = sample_body(i);
            std::hint::black_box(key.sign_transaction(&b, 0).expect("chain 0 is valid"));
        }),
        Stats::measure("recover signer (parse + ecrecover)", 1000, min_time, || {
            let s = Signature::parse(std::hint::black_box(&sig_text)).expect("valid");
            std::hint::black_box(s.recover(0).expect("valid"));
        }),
        Stats::measure("verify tx (hash + ecrecover)", 1000, min_time, || {
            std::hint::black_box(sig.verify_transaction(&body, 0).expect("valid"));
        }),
    ]
}
