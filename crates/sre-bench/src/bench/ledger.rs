//! Ledger benchmarks: the per-call cost of hashing, signing and recovering AIN transactions.

use std::time::Duration;

use serde_json::json;

use super::Stats;
use crate::ledger::crypto::{PrivateKey, Signature, hash_transaction};

/// The request tx hash [`sample_body`]'s receipt names.
const REQUEST_TX: &str = "0x8addddfc0a938dfcbe520e8b2fb42d5a9839fb1dc043b563770d8dd77191c83d";

/// A response-sized transaction body like the ones a worker posts.
fn sample_body(i: u64) -> serde_json::Value {
    response_body(i, REQUEST_TX)
}

/// The body of call `i`'s response tx as a worker posts it (~900 bytes of JSON with its
/// receipt), answering the request tx `request_tx`.
pub(super) fn response_body(i: u64, request_tx: &str) -> serde_json::Value {
    json!({
        "operation": {
            "type": "SET_VALUE",
            "ref": format!("/apps/bench/sre/calls/echo/c{i}/response"),
            "value": {
                "status": "ok",
                "output": "{\"x\":1,\"text\":\"héllo\"}",
                "receipt": {
                    "request_tx": request_tx,
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
    let mut rows = crypto(quick);
    rows.push(follower(quick)?);
    Ok(rows)
}

/// Full block verification (§4.3: body and header hashes, parent link, every tx hash and
/// signature, proposal signer, 2/3 votes) over a synthetic chain of 100-tx blocks, one core.
/// `per second` is signatures verified per second.
pub fn follower(quick: bool) -> anyhow::Result<Stats> {
    use crate::ledger::block::synthetic::single_validator_chain;
    use crate::ledger::follower::verify_chain;
    let blocks = if quick { 20 } else { 100 };
    let validator = PrivateKey::generate();
    let chain = single_validator_chain(&validator, blocks, 100);
    let genesis = chain[0].hash;
    let mut samples = Vec::new();
    let mut signatures = 0u64;
    let started = std::time::Instant::now();
    let rounds = if quick { 1 } else { 3 };
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        let (_, sigs) =
            verify_chain(&chain, Some(&genesis), 0).map_err(|e| anyhow::anyhow!("{e}"))?;
        let per_sig = t.elapsed() / sigs.max(1) as u32;
        samples.extend(std::iter::repeat_n(per_sig, sigs as usize));
        signatures += sigs;
    }
    let mut s = Stats::from_samples(
        &format!("follower: verify {blocks} blocks x 100 txs (per signature)"),
        samples,
        started.elapsed(),
    );
    s.calls = signatures;
    Ok(s)
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
