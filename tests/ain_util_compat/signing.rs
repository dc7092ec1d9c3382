//! Transactions and messages: stable JSON, hashes and signatures against ain-util.

use std::time::{Duration, Instant};

use ain_sre::ledger::crypto::{PrivateKey, Signature, hash_message, hash_transaction};
use ain_sre::ledger::json::stable_stringify;
use serde_json::{Value, json};

use crate::inputs::{self, Gen, OP_TYPES};
use crate::{Mismatches, ask, env_count, key_hex, oracle, seed, text};

/// Random bodies on top of the fixed corpus (the brief asks for at least 1,000).
const DEFAULT_RANDOM_BODIES: usize = 1000;
/// Random messages on top of the fixed corpus.
const DEFAULT_RANDOM_MESSAGES: usize = 200;

#[test]
fn transactions_match_ain_util() {
    const TEST: &str = "transactions_match_ain_util";
    let Some(oracle) = oracle::oracle(TEST) else {
        return;
    };
    let started = Instant::now();
    let mut g = Gen::new(seed(), "transactions");
    let mut bodies = inputs::corpus_bodies(&mut g);
    let corpus = bodies.len();
    for _ in 0..env_count("AIN_SRE_COMPAT_BODIES", DEFAULT_RANDOM_BODIES) {
        let t = OP_TYPES[g.below(OP_TYPES.len())];
        bodies.push(g.tx_body(t));
    }

    struct Rust {
        key: PrivateKey,
        stable: String,
        sigs: Vec<(u64, Signature)>,
    }
    let mut rust = Vec::with_capacity(bodies.len());
    let mut items = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.iter().enumerate() {
        let key = PrivateKey::from_bytes(&g.key_bytes()).unwrap();
        let chains: &[u64] = if i % 8 == 0 { &[0, 1, 2] } else { &[0, 1] };
        let sigs: Vec<(u64, Signature)> = chains
            .iter()
            .map(|&c| (c, key.sign_transaction(body, c).expect("chain id fits")))
            .collect();
        let (s0, s1) = (sigs[0].1.to_string(), sigs[1].1.to_string());
        items.push(json!({
            "body": body,
            "key": key_hex(&key),
            "sign_chains": chains,
            "rust_sigs": {"0": s0, "1": s1},
            // A chain-0 signature checked as chain 1 and vice versa.
            "wrong_chain_sigs": {"1": s0, "0": s1},
            "rust_address": key.address().to_string(),
        }));
        rust.push(Rust {
            stable: stable_stringify(body),
            key,
            sigs,
        });
    }
    let covered = crate::coverage::coverage(&bodies);
    eprintln!("ain_util_compat: {TEST}: bodies per feature: {covered:?}");
    let missing: Vec<_> = crate::coverage::FEATURES
        .iter()
        .filter(|f| !covered.contains_key(*f))
        .collect();
    assert!(
        missing.is_empty(),
        "the generated bodies no longer cover {missing:?}"
    );
    assert!(
        covered
            .keys()
            .all(|f| crate::coverage::FEATURES.contains(f)),
        "FEATURES is missing a name coverage() reports"
    );
    let rust_secs = started.elapsed().as_secs_f64();
    let timeout = Duration::from_secs(120 + bodies.len() as u64 / 20);
    let out = ask(&oracle, TEST, &json!({"transactions": items}), timeout);
    let answers = out["transactions"].as_array().expect("transactions array");
    assert_eq!(answers.len(), bodies.len(), "the oracle skipped bodies");

    let mut m = Mismatches::new(TEST);
    let mut sig_count = 0;
    for (i, ((body, r), a)) in bodies.iter().zip(&rust).zip(answers).enumerate() {
        let input = || {
            format!(
                "{}\nsigning key: {}",
                serde_json::to_string(body).unwrap(),
                key_hex(&r.key)
            )
        };
        m.same(
            i,
            &input,
            "stable JSON text",
            &r.stable,
            &text(&a["stable"]),
        );
        // The Rust rendering must not depend on how the value was built: the body re-read from
        // the JSON text node received gives the same text.
        let reparsed: Value = serde_json::from_str(&serde_json::to_string(body).unwrap()).unwrap();
        m.same(
            i,
            &input,
            "stable JSON text after a serde_json round trip",
            &r.stable,
            &stable_stringify(&reparsed),
        );
        m.same(
            i,
            &input,
            "hashTransaction",
            &hash_transaction(body).to_string(),
            &text(&a["hash"]),
        );
        let address = r.key.address();
        m.same(
            i,
            &input,
            "privateToAddress",
            &address.to_string(),
            &text(&a["address"]),
        );
        for (chain, sig) in &r.sigs {
            sig_count += 1;
            let node_sig = text(&a["sigs"][chain.to_string()]);
            m.same(
                i,
                &input,
                &format!("ecSignTransaction, chain {chain}"),
                &sig.to_string(),
                &node_sig,
            );
            let rust_view =
                Signature::parse(&node_sig).and_then(|s| s.verify_transaction(body, *chain));
            m.holds(i, &input, &format!("Rust verifies ain-util's signature, chain {chain}"), rust_view == Ok(address), || {
                format!("node signature {node_sig}\nRust verify_transaction: {rust_view:?}, expected Ok({address})")
            });
        }
        for chain in ["0", "1"] {
            let v = &a["verify"][chain];
            m.holds(
                i,
                &input,
                &format!("ain-util ecVerifySig accepts Rust's signature, chain {chain}"),
                v["valid"] == json!(true),
                || {
                    format!(
                        "Rust signature {}\nnode: {v}",
                        r.sigs[chain.parse::<usize>().unwrap()].1
                    )
                },
            );
            let w = &a["wrong_chain"][chain];
            m.holds(
                i,
                &input,
                &format!(
                    "ain-util rejects a signature for the other chain, checked as chain {chain}"
                ),
                w["valid"] == json!(false),
                || format!("node: {w}"),
            );
        }
        // Rust too must refuse a signature made for the other chain.
        let (s0, s1) = (r.sigs[0].1, r.sigs[1].1);
        m.holds(
            i,
            &input,
            "Rust rejects chain-0 signature on chain 1 and vice versa",
            s0.verify_transaction(body, 1).is_err() && s1.verify_transaction(body, 0).is_err(),
            || "Rust accepted a wrong-chain signature".into(),
        );
    }
    eprintln!(
        "ain_util_compat: {TEST}: {} bodies ({corpus} fixed corpus, {} random), {sig_count} \
         signatures, {} checks; Rust side {rust_secs:.1} s, total {:.1} s",
        bodies.len(),
        bodies.len() - corpus,
        m.checks,
        started.elapsed().as_secs_f64()
    );
    m.finish();
}

#[test]
fn messages_match_ain_util() {
    const TEST: &str = "messages_match_ain_util";
    let Some(oracle) = oracle::oracle(TEST) else {
        return;
    };
    let mut g = Gen::new(seed(), "messages");
    let mut messages = inputs::corpus_messages();
    for _ in 0..env_count("AIN_SRE_COMPAT_MESSAGES", DEFAULT_RANDOM_MESSAGES) {
        messages.push(g.message());
    }
    let keys: Vec<PrivateKey> = messages
        .iter()
        .map(|_| PrivateKey::from_bytes(&g.key_bytes()).unwrap())
        .collect();
    let mut items = Vec::new();
    let mut rust_sigs = Vec::new();
    for (msg, key) in messages.iter().zip(&keys) {
        let s0 = key.sign_message(msg, 0).unwrap();
        let s1 = key.sign_message(msg, 1).unwrap();
        items.push(json!({
            "message": msg,
            "key": key_hex(key),
            "sign_chains": [0, 1],
            "rust_sigs": {"0": s0.to_string(), "1": s1.to_string()},
            "rust_address": key.address().to_string(),
        }));
        rust_sigs.push([s0, s1]);
    }
    let out = ask(
        &oracle,
        TEST,
        &json!({"messages": items}),
        Duration::from_secs(120),
    );
    let answers = out["messages"].as_array().expect("messages array");
    assert_eq!(answers.len(), messages.len(), "the oracle skipped messages");

    let mut m = Mismatches::new(TEST);
    for (i, ((msg, key), a)) in messages.iter().zip(&keys).zip(answers).enumerate() {
        let input = || {
            format!(
                "{:?} ({} UTF-16 units)\nsigning key: {}",
                msg,
                msg.encode_utf16().count(),
                key_hex(key)
            )
        };
        let hash = hash_message(msg);
        m.same(
            i,
            &input,
            "hashMessage",
            &hash.to_string(),
            &text(&a["hash"]),
        );
        let address = key.address();
        for (chain, sig) in rust_sigs[i].iter().enumerate() {
            let c = chain.to_string();
            let node_sig = text(&a["sigs"][&c]);
            m.same(
                i,
                &input,
                &format!("ecSignMessage, chain {chain}"),
                &sig.to_string(),
                &node_sig,
            );
            // There is no Rust `verify_message`; the equivalent is: the embedded hash is
            // hashMessage(msg) and the signature recovers to the signer.
            let rust_view = match Signature::parse(&node_sig) {
                Ok(s) if s.hash != hash => Err(format!("embedded hash {} is not {hash}", s.hash)),
                Ok(s) => s.recover(chain as u64).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            m.holds(
                i,
                &input,
                &format!("Rust recovers the signer of ain-util's signature, chain {chain}"),
                rust_view == Ok(address),
                || format!("node signature {node_sig}: {rust_view:?}"),
            );
            let v = &a["verify"][&c];
            m.holds(
                i,
                &input,
                &format!("ain-util ecVerifySig accepts Rust's signature, chain {chain}"),
                v["valid"] == json!(true),
                || format!("Rust signature {sig}\nnode: {v}"),
            );
        }
    }
    eprintln!(
        "ain_util_compat: {TEST}: {} messages, {} checks",
        messages.len(),
        m.checks
    );
    m.finish();
}
