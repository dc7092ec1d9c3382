//! The properties the fuzz targets check, one function per target.
//!
//! Shared by `fuzz/fuzz_targets/*.rs` (under libFuzzer) and `tests/fuzz_regressions.rs` (which
//! includes this file and replays `fuzz/regressions/<target>/*` on stable, without cargo-fuzz).
//! Each function takes one raw input. It panics only when the library panics or a property
//! below is broken; an input the library rightly refuses is not a failure.

#![allow(missing_docs, unreachable_pub, dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use ain_devnet::DevnetConfig;
use ain_devnet::rules::{Rule, RuleContext, RuleError};
use ain_devnet::server::RpcHarness;
use ain_ledger::block::Block;
use ain_ledger::crypto::{Address, Hash, PrivateKey, Signature};
use ain_ledger::events::{DecodeError, EventPayload, Frame, decode_frame};
use ain_ledger::follower::verify::{Anchor, verify_chain, verify_genesis};
use ain_ledger::tx::SignedTx;
use serde_json::{Map, Value, json};
use sre_sandbox::config::profiles::Profile;
use sre_sandbox::config::runtimes::Runtime;
use sre_sandbox::{NetworkPolicy, Tier};

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

// ---------------------------------------------------------------------------------------------
// a. event frames

/// `decode_frame`: deterministic; a JSON frame decodes the same whatever its formatting (it is
/// re-serialized compactly and decoded again); non-JSON is `NotJson`; decoded hashes, addresses
/// and signatures print back to what they were parsed from.
pub fn event_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = decode_frame(text);
    assert_eq!(
        first,
        decode_frame(text),
        "decode_frame is not deterministic"
    );
    match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            let compact = value.to_string();
            assert_eq!(
                first,
                decode_frame(&compact),
                "the frame decodes differently once re-serialized: {compact}"
            );
        }
        Err(_) => assert!(
            matches!(first, Err(DecodeError::NotJson(_))),
            "text that is not JSON decoded as {first:?}"
        ),
    }
    if let Err(e) = &first {
        assert!(!e.to_string().is_empty());
    }
    let Ok(Frame::Event(event)) = first else {
        return;
    };
    match &event.payload {
        EventPayload::BlockFinalized(b) => hash_round_trips(&b.block_hash),
        EventPayload::ValueChanged(vc) => {
            if let Some(tx) = &vc.transaction {
                event_tx_round_trips(tx);
            }
            if let Some(addr) = vc.auth.as_ref().and_then(|a| a.addr.as_ref()) {
                address_round_trips(addr);
            }
        }
        EventPayload::TxStateChanged(t) => event_tx_round_trips(&t.transaction),
        _ => {}
    }
}

fn hash_round_trips(h: &Hash) {
    assert_eq!(h.to_string().parse::<Hash>().ok(), Some(*h), "hash {h}");
}

fn address_round_trips(a: &Address) {
    assert_eq!(
        a.to_checksum().parse::<Address>().ok(),
        Some(*a),
        "address {a}"
    );
}

fn event_tx_round_trips(tx: &ain_ledger::events::SignedTx) {
    hash_round_trips(&tx.hash);
    address_round_trips(&tx.address);
    let sig = tx.signature.to_string();
    assert_eq!(
        Signature::parse(&sig).ok(),
        Some(tx.signature),
        "signature {sig}"
    );
}

// ---------------------------------------------------------------------------------------------
// b. the devnet's JSON-RPC endpoint

/// Requests are separated by NUL bytes (at most 8). A request whose `params.signature` is the
/// string `"fuzz:sign"` gets its `tx_body` signed with the validator key first, so fuzzed bodies
/// reach execution. After the requests, blocks are produced until none is due.
///
/// Properties: every answer is HTTP 200 (or 413 past the size limit) with either a JSON-RPC 2.0
/// envelope echoing the request's `id` and holding exactly one of `result`/`error`, or the
/// node's bare protocol-version refusal; every produced block serializes and parses back
/// unchanged; and the devnet's whole chain passes the follower's verification.
pub fn devnet_rpc(data: &[u8]) {
    let runtime = runtime();
    runtime.block_on(async {
        let config = DevnetConfig::default();
        let chain_id = config.chain_id;
        let mut devnet = RpcHarness::open(config).expect("an in-memory devnet opens");
        for raw in data.split(|b| *b == 0).take(8) {
            let body = sign_placeholder(raw);
            let (status, answer) = devnet.call(None, &body).await;
            check_rpc_answer(&body, status, &answer);
        }
        for _ in 0..4 {
            match devnet.produce_block().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("the devnet could not produce a block: {e}"),
            }
        }
        let blocks: Vec<Block> = devnet
            .blocks()
            .expect("the devnet lists its blocks")
            .iter()
            .map(|b| (**b).clone())
            .collect();
        for b in &blocks {
            block_round_trips(b);
        }
        if let Err(e) = verify_chain(&blocks, Some(&blocks[0].hash), chain_id) {
            panic!("the follower refuses the devnet's chain: {e}");
        }
    });
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime starts")
    })
}

fn sign_placeholder(raw: &[u8]) -> Vec<u8> {
    let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(raw) else {
        return raw.to_vec();
    };
    let Some(Value::Object(params)) = request.get_mut("params") else {
        return raw.to_vec();
    };
    if params.get("signature").and_then(Value::as_str) != Some("fuzz:sign") {
        return raw.to_vec();
    }
    let Some(body) = params.get("tx_body") else {
        return raw.to_vec();
    };
    let Ok(sig) = test_key().sign_transaction(body, 0) else {
        return raw.to_vec();
    };
    params.insert("signature".into(), json!(sig.to_string()));
    Value::Object(request).to_string().into_bytes()
}

fn check_rpc_answer(request: &[u8], status: u16, answer: &Value) {
    let req = String::from_utf8_lossy(request);
    if status == 413 {
        return;
    }
    assert_eq!(status, 200, "HTTP {status} for {req}");
    let Value::Object(a) = answer else {
        panic!("answer is not an object: {answer} for {req}");
    };
    if a.contains_key("jsonrpc") {
        assert_eq!(a["jsonrpc"], "2.0", "{answer}");
        let has_result = a.contains_key("result");
        let has_error = a.contains_key("error");
        assert!(has_result != has_error, "result xor error: {answer}");
        if has_error {
            assert!(a["error"]["code"].is_i64(), "error without code: {answer}");
        }
        let request_id = match serde_json::from_slice::<Value>(request) {
            Ok(Value::Object(r)) => r.get("id").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        assert_eq!(a.get("id"), Some(&request_id), "id not echoed: {answer}");
    } else {
        let code = a.get("code").and_then(Value::as_i64);
        assert!(
            matches!(code, Some(30101..=30103)),
            "bare answer that is not a protocol-version refusal: {answer} for {req}"
        );
        assert_eq!(a.get("result"), Some(&Value::Null), "{answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// c. transactions and blocks

/// A signed tx: parse → serialize → parse is the identity and keeps the hash; `verify` accepts
/// only its own signer. Re-signed with the test key, the tx verifies, and every mutation of it
/// (body, signature byte, claimed address, chain id) is refused.
pub fn tx_verify(data: &[u8]) {
    let Ok(tx) = serde_json::from_slice::<SignedTx>(data) else {
        return;
    };
    let text = serde_json::to_string(&tx).expect("a signed tx serializes");
    let back: SignedTx = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a serialized tx does not parse back ({e}): {text}"));
    assert_eq!(back, tx, "tx round trip: {text}");
    assert_eq!(back.tx_body.stable_json(), tx.tx_body.stable_json());
    assert_eq!(back.tx_body.hash(), tx.tx_body.hash());
    let _ = tx.tx_body.validate();
    if let Ok(signer) = tx.verify(0) {
        assert_eq!(signer, tx.address);
        refuses_mutations(&tx, data);
    }
    let key = test_key();
    let Ok(signed) = tx.tx_body.clone().sign(key, 0) else {
        return;
    };
    assert_eq!(
        signed.verify(0),
        Ok(key.address()),
        "a fresh signature is refused"
    );
    refuses_mutations(&signed, data);
}

/// `tx` verifies on chain 0; no mutation of it may.
fn refuses_mutations(tx: &SignedTx, data: &[u8]) {
    let pick = data
        .iter()
        .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(*b as usize));
    let mut bodies = Vec::new();
    let mut b = tx.tx_body.clone();
    b.nonce = if b.nonce == -1 { -2 } else { -1 };
    bodies.push(b);
    let mut b = tx.tx_body.clone();
    b.billing = Some(format!("{}x", b.billing.unwrap_or_default()));
    bodies.push(b);
    for body in bodies {
        let mut m = tx.clone();
        m.tx_body = body;
        assert!(m.verify(0).is_err(), "a mutated body verifies: {m:?}");
    }
    // One hex digit of the signature changed.
    let mut sig: Vec<u8> = tx.signature.as_bytes().to_vec();
    let start = if tx.signature.starts_with("0x") { 2 } else { 0 };
    if sig.len() > start {
        let i = start + pick % (sig.len() - start);
        let digit = (sig[i] as char).to_digit(16).unwrap_or(0);
        sig[i] = char::from_digit(digit ^ 1, 16).map_or(b'0', |c| c as u8);
        let mut m = tx.clone();
        m.signature = String::from_utf8(sig).expect("hex stays ASCII");
        assert!(
            m.verify(0).is_err(),
            "a mutated signature verifies: {}",
            m.signature
        );
    }
    let mut m = tx.clone();
    m.address.0[pick % 20] ^= 1;
    assert!(m.verify(0).is_err(), "a tx verifies for another address");
    assert!(
        tx.verify(1).is_err(),
        "a chain-0 signature verifies on chain 1"
    );
}

fn block_round_trips(b: &Block) {
    let text = serde_json::to_string(b).expect("a block serializes");
    let back: Block = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a serialized block does not parse back ({e})"));
    assert_eq!(&back, b, "block round trip");
}

/// A block (an object) or a chain segment from genesis (an array of blocks): every block
/// round-trips through JSON; verification is deterministic; and when it passes, the last
/// block's anchor round-trips and each tampering with that block is refused: a header field
/// changed without resealing, a tx or vote body changed and resealed, the parent link changed
/// and resealed.
pub fn block_verify(data: &[u8]) {
    let blocks: Vec<Block> = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(items)) => {
            match items
                .into_iter()
                .take(8)
                .map(serde_json::from_value)
                .collect::<Result<Vec<Block>, _>>()
            {
                Ok(b) => b,
                Err(_) => return,
            }
        }
        Ok(v @ Value::Object(_)) => match serde_json::from_value(v) {
            Ok(b) => vec![b],
            Err(_) => return,
        },
        _ => return,
    };
    for b in &blocks {
        block_round_trips(b);
    }
    let verdict = verify_chain(&blocks, None, 0);
    assert_eq!(
        verdict.as_ref().map_err(|e| e.to_string()),
        verify_chain(&blocks, None, 0)
            .as_ref()
            .map_err(|e| e.to_string()),
        "verification is not deterministic"
    );
    let Ok((Some(anchor), _)) = verdict else {
        return;
    };
    let text = serde_json::to_string(&anchor).expect("an anchor serializes");
    let back: Anchor = serde_json::from_str(&text).expect("an anchor parses back");
    assert_eq!(back, anchor);

    let (prefix, last) = blocks.split_at(blocks.len() - 1);
    let last = &last[0];
    let refused = |tampered: &Block, what: &str| {
        let mut chain = prefix.to_vec();
        chain.push(tampered.clone());
        let ok = if chain.len() == 1 {
            verify_genesis(tampered, Some(&last.hash), 0).is_ok()
        } else {
            verify_chain(&chain, None, 0).is_ok()
        };
        assert!(!ok, "a block with {what} verifies");
    };
    let mut t = last.clone();
    t.timestamp = t.timestamp.wrapping_add(1);
    refused(&t, "a changed timestamp (not resealed)");
    if let Some(tx) = last.transactions.first() {
        let mut t = last.clone();
        t.transactions[0].tx_body.nonce = if tx.tx_body.nonce == -1 { -2 } else { -1 };
        t.seal();
        refused(&t, "a changed tx body (resealed)");
    }
    if let Some(vote) = last.last_votes.first() {
        let mut t = last.clone();
        t.last_votes[0].tx_body.timestamp =
            serde_json::Number::from(vote.tx_body.timestamp_ms().unwrap_or(0).wrapping_add(1));
        t.seal();
        refused(&t, "a changed vote body (resealed)");
    }
    if last.number > 0 {
        let mut t = last.clone();
        t.last_hash = Some(t.hash);
        t.seal();
        refused(&t, "a changed parent link (resealed)");
    }
}

// ---------------------------------------------------------------------------------------------
// d. write rules

/// The input as a rule text (and, when it is JSON, as a rule value): a refusal is an error with
/// a position inside the text; an accepted rule keeps its source, parses identically again,
/// lists sorted unique `$vars`, parses for a path binding exactly those vars, and evaluates
/// deterministically against a fixed context.
pub fn rule_parse(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check_rule(&v);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_rule(&Value::String(text.to_owned()));
    }
}

fn check_rule(write: &Value) {
    let parsed = Rule::parse(write);
    assert_eq!(
        parsed,
        Rule::parse(write),
        "Rule::parse is not deterministic"
    );
    let rule = match parsed {
        Ok(rule) => rule,
        Err(e) => {
            let len = write.as_str().map_or(0, str::len);
            let at = match &e {
                RuleError::TooDeep { at, .. }
                | RuleError::Unsupported { at, .. }
                | RuleError::UnknownIdentifier { at, .. }
                | RuleError::Assignment { at }
                | RuleError::Syntax { at, .. }
                | RuleError::UnboundPathVar { at, .. } => Some(*at),
                _ => None,
            };
            if let Some(at) = at {
                assert!(at <= len, "error position {at} past the end ({len}): {e}");
            }
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    match write {
        Value::String(s) => assert_eq!(rule.source(), s),
        Value::Bool(b) => assert_eq!(rule.source(), b.to_string()),
        Value::Null => assert_eq!(rule.source(), "null"),
        other => panic!("a rule was parsed from {other}"),
    }
    let vars = rule.path_vars();
    assert!(
        vars.windows(2).all(|w| w[0] < w[1]),
        "vars not sorted: {vars:?}"
    );
    let labels: Vec<&str> = vars.iter().map(String::as_str).collect();
    let plain = labels.iter().all(|l| {
        l.starts_with('$')
            && l.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
    });
    if plain {
        let for_path = Rule::parse_for_path(write, &labels);
        assert_eq!(
            for_path.as_ref(),
            Ok(&rule),
            "parse_for_path with the rule's own vars"
        );
    }
    let ctx = FixedContext::default();
    let first = rule.eval(&ctx);
    assert_eq!(first, rule.eval(&ctx), "Rule::eval is not deterministic");
}

struct FixedContext {
    data: Value,
    new_data: Value,
}

impl Default for FixedContext {
    fn default() -> FixedContext {
        FixedContext {
            data: json!({"owner": "0x00ADEc28B6a845a085e03591bE7550dd68673C1C", "n": 1.5,
                "list": [1, "a", null], "nested": {"x": {"y": true}}}),
            new_data: json!({"input": "{\"x\":1}", "n": -0.0, "s": "\u{1F680}"}),
        }
    }
}

impl RuleContext for FixedContext {
    fn auth_addr(&self) -> Option<&str> {
        Some("0x00ADEc28B6a845a085e03591bE7550dd68673C1C")
    }
    fn auth_fid(&self) -> Option<&str> {
        None
    }
    fn data(&self) -> &Value {
        &self.data
    }
    fn new_data(&self) -> &Value {
        &self.new_data
    }
    fn current_time(&self) -> f64 {
        1_795_461_505_726.0
    }
    fn block_number(&self) -> f64 {
        11.0
    }
    fn block_time(&self) -> f64 {
        1_795_461_505_000.0
    }
    fn path_var(&self, name: &str) -> Option<&str> {
        match name {
            "$missing" => None,
            "$n" => Some("007"),
            _ => Some("toString"),
        }
    }
    fn get_value(&self, path: &str) -> Value {
        match path {
            "/" => json!({"apps": {}}),
            _ if path.len().is_multiple_of(2) => json!(path),
            _ => Value::Null,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// e. runtime and profile files

/// The first byte picks the loader (even: runtime, odd: profile), the rest is the file text.
/// A refusal is an error naming the file; an accepted file meets every documented invariant and
/// renders back to TOML that loads to the same value.
pub fn config_load(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if selector.is_multiple_of(2) {
        match Runtime::parse("fuzz.toml", text) {
            Ok(rt) => check_runtime(&rt),
            Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
        }
    } else {
        match Profile::parse("fuzz.toml", text) {
            Ok(p) => check_profile(&p),
            Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
        }
    }
}

fn check_runtime(rt: &Runtime) {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    assert!(
        name_ok(&rt.name) && rt.aliases.iter().all(|a| name_ok(a)),
        "{rt:?}"
    );
    assert!(!rt.tiers.is_empty(), "{rt:?}");
    for (i, t) in rt.tiers.iter().enumerate() {
        assert!(!rt.tiers[..i].contains(t), "tier twice: {rt:?}");
    }
    assert!(
        !rt.source_file.is_empty()
            && !rt.source_file.contains('/')
            && !rt.source_file.starts_with('.'),
        "{rt:?}"
    );
    assert!(
        rt.process_binds
            .iter()
            .all(|b| b.is_absolute()
                && !b.components().any(|c| c == std::path::Component::ParentDir)),
        "{rt:?}"
    );
    if rt.tiers.contains(&Tier::Process) {
        assert!(rt.command.iter().any(|a| a.contains("{source}")), "{rt:?}");
    }
    let mut t = toml::Table::new();
    t.insert("name".into(), rt.name.clone().into());
    t.insert("aliases".into(), rt.aliases.clone().into());
    let tiers: Vec<String> = rt.tiers.iter().map(|t| t.as_str().to_owned()).collect();
    t.insert("tiers".into(), tiers.into());
    t.insert("source_file".into(), rt.source_file.clone().into());
    t.insert("command".into(), rt.command.clone().into());
    if !rt.process_binds.is_empty() || rt.tiers.contains(&Tier::Process) {
        let binds: Vec<String> = rt.process_binds.iter().map(|b| path_text(b)).collect();
        let mut p = toml::Table::new();
        p.insert("binds".into(), binds.into());
        t.insert("process".into(), p.into());
    }
    if let Some(image) = &rt.image {
        let mut c = toml::Table::new();
        c.insert("image".into(), image.clone().into());
        t.insert("container".into(), c.into());
    }
    let text = toml::to_string(&t).expect("a runtime renders");
    let back = Runtime::parse("fuzz.toml", &text)
        .unwrap_or_else(|e| panic!("a rendered runtime does not load ({e}):\n{text}"));
    assert_eq!(&back, rt, "runtime round trip:\n{text}");
}

fn path_text(p: &Path) -> String {
    p.to_str()
        .expect("a path read from TOML is UTF-8")
        .to_owned()
}

fn check_profile(p: &Profile) {
    let l = &p.limits;
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).expect("limits fit u64 ms");
    assert!((1..=3_600_000).contains(&ms(l.wall_time)), "{p:?}");
    assert!((1..=3_600_000).contains(&ms(l.cpu_time)), "{p:?}");
    assert!((1 << 20..=65_536 << 20).contains(&l.memory_bytes), "{p:?}");
    assert!((1..=4096).contains(&l.pids), "{p:?}");
    assert!((1..=64 << 20).contains(&l.output_bytes), "{p:?}");
    assert!(
        l.stderr_bytes <= 16 << 20 && l.tmpfs_bytes <= 65_536 << 20,
        "{p:?}"
    );
    assert_eq!(l.network, NetworkPolicy::None, "{p:?}");
    assert_ne!(l.fuel, Some(0), "{p:?}");
    let mut t = Map::new();
    t.insert("description".into(), json!(p.description));
    t.insert("wall_time_ms".into(), json!(ms(l.wall_time)));
    t.insert("cpu_time_ms".into(), json!(ms(l.cpu_time)));
    t.insert("memory_mb".into(), json!(l.memory_bytes >> 20));
    t.insert("pids".into(), json!(l.pids));
    t.insert("output_bytes".into(), json!(l.output_bytes));
    t.insert("stderr_bytes".into(), json!(l.stderr_bytes));
    t.insert("tmpfs_mb".into(), json!(l.tmpfs_bytes >> 20));
    t.insert("network".into(), json!("none"));
    if let Some(f) = l.fuel {
        // TOML integers are i64: a larger fuel cannot be written, so it cannot round-trip.
        if i64::try_from(f).is_err() {
            return;
        }
        t.insert("fuel".into(), json!(f));
    }
    let text = toml::to_string(&Value::Object(t)).expect("a profile renders");
    let back = Profile::parse("fuzz.toml", &text)
        .unwrap_or_else(|e| panic!("a rendered profile does not load ({e}):\n{text}"));
    assert_eq!(&back, p, "profile round trip:\n{text}");
}
