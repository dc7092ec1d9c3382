//! b. The devnet's JSON-RPC endpoint (target `devnet_rpc`).

use std::sync::OnceLock;

use ain_devnet::DevnetConfig;
use ain_devnet::server::RpcHarness;
use ain_ledger::block::Block;
use ain_ledger::follower::verify::verify_chain;
use serde_json::{Value, json};

use super::chain::block_round_trips;
use super::test_key;

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
