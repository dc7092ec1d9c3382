//! Bad input to the devnet: each gets the node's error shape and code, and the devnet keeps
//! serving (checked after every case).

mod devnet_support;

use std::time::Duration;

use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::{Operation, SimpleOp, TxBody};
use devnet_support::{Client, SK, SK2, addr, create_app, signed, start_with, ts};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn alive(c: &Client) {
    let v = c.result("ain_getLastBlockNumber", json!({})).await;
    assert!(v.is_u64(), "{v}");
}

fn refused(v: &Value, code: i64) {
    assert_eq!(v["result"]["result"], Value::Null, "{v}");
    assert_eq!(v["result"]["code"], code, "{v}");
    assert_eq!(v["result"]["protoVer"], "1.6.0", "{v}");
    assert!(v["result"]["message"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_json_rpc_garbage() {
    let h = start_with(|c| c.max_request_bytes = 64 * 1024).await;
    let c = Client::of(&h);
    // Not JSON at all.
    let (status, v) = c.post("{not json").await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (200, Some(-32700)),
        "{v}"
    );
    alive(&c).await;
    // A body over the request limit.
    let (status, v) = c
        .post(format!("{{\"x\":\"{}\"}}", "a".repeat(100 * 1024)))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (413, Some(-32600)),
        "{v}"
    );
    alive(&c).await;
    // A batch array: the node's middleware answers 30102 (observed live).
    let (status, v) = c
        .post("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net_getChainId\"}]")
        .await;
    assert_eq!((status, v["code"].as_i64()), (200, Some(30102)), "{v}");
    // protoVer: missing, invalid, too old; exempt methods.
    let body = |params: Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "net_getChainId", "params": params}).to_string()
    };
    for (params, code) in [
        (json!({}), 30101),
        (json!({"protoVer": "abc"}), 30102),
        (json!({"protoVer": null}), 30102),
        (json!({"protoVer": "0.9.0"}), 30103),
    ] {
        let (status, v) = c.post(body(params.clone())).await;
        assert_eq!(status, 200);
        assert_eq!(
            v,
            json!({"result": null, "code": code, "message": v["message"], "protoVer": "1.6.0"}),
            "{params}"
        );
        assert!(v.get("jsonrpc").is_none());
    }
    let (_, v) = c
        .post(json!({"jsonrpc": "2.0", "id": 9, "method": "ain_getProtocolVersion"}).to_string())
        .await;
    assert_eq!(v["result"]["result"], "1.6.0");
    let (_, v) = c.post(json!({"jsonrpc": "2.0", "id": 9, "method": "ain_checkProtocolVersion", "params": {"protoVer": "0.1.0"}}).to_string()).await;
    assert_eq!(
        (v["result"]["result"].clone(), v["result"]["code"].clone()),
        (json!(false), json!(30103))
    );
    // Unknown method, missing method.
    let v = c.call("ain_noSuchMethod", json!({})).await;
    assert_eq!(v["error"]["code"], -32601, "{v}");
    let (_, v) = c
        .post(json!({"jsonrpc": "2.0", "id": 3, "params": {"protoVer": "1.6.0"}}).to_string())
        .await;
    assert_eq!(v["error"]["code"], -32600, "{v}");
    alive(&c).await;
    // Wrong parameter types get null or the node's codes, never a crash.
    let block0 = c
        .result(
            "ain_getBlockByNumber",
            json!({"number": 0, "getFullTransactions": true}),
        )
        .await;
    for (method, params, want) in [
        (
            "ain_getBlockByNumber",
            json!({"number": "abc"}),
            json!(null),
        ),
        ("ain_getBlockByHash", json!({"hash": 5}), json!(null)),
        (
            "ain_getTransactionByHash",
            json!({"hash": "0x12"}),
            json!(null),
        ),
        ("ain_getNonce", json!({"address": 123}), json!(-1)),
        ("ain_getNonce", json!({"address": "0xnothex"}), json!(-1)),
        (
            "ain_get",
            json!({"type": "GET_VALUE", "ref": 5}),
            json!(null),
        ),
        (
            "ain_getBlockList",
            json!({"from": "x", "to": []}),
            json!([block0.clone()]),
        ),
    ] {
        assert_eq!(
            c.result(method, params.clone()).await,
            want,
            "{method} {params}"
        );
    }
    let v = c.call("ain_get", json!({"type": "NOPE", "ref": "/"})).await;
    refused(&v, 30001);
    let v = c
        .call("ain_get", json!({"type": "GET", "op_list": []}))
        .await;
    refused(&v, 30006);
    let ops: Vec<Value> = (0..51)
        .map(|_| json!({"type": "GET_VALUE", "ref": "/"}))
        .collect();
    let v = c
        .call("ain_get", json!({"type": "GET", "op_list": ops}))
        .await;
    refused(&v, 30004);
    alive(&c).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_refusals() {
    let h = start_with(|c| {
        c.pool = ain_sre::ledger::devnet::PoolLimits {
            max_txs: 3,
            ..Default::default()
        }
    })
    .await;
    let c = Client::of(&h);
    create_app(&c, SK, "demo").await;
    let op = || SimpleOp::set_value("/apps/demo/x", json!(1));
    // Missing properties.
    let v = c
        .call(
            "ain_sendSignedTransaction",
            json!({"tx_body": signed(SK, op(), -1)["tx_body"]}),
        )
        .await;
    refused(&v, 30302);
    let v = c
        .call(
            "ain_sendSignedTransaction",
            json!({"tx_body": {}, "signature": ""}),
        )
        .await;
    refused(&v, 30302);
    // Oversize body, by the node's measure (2 bytes per character): 5,001 characters is over 10,000.
    let big = signed(
        SK,
        SimpleOp::set_value("/apps/demo/big", json!("a".repeat(5001))),
        -1,
    );
    let v = c.call("ain_sendSignedTransaction", big).await;
    refused(&v, 30301);
    assert_eq!(
        v["result"]["message"],
        "Transaction size exceeds its limit: 10000 bytes."
    );
    // Format: an extra key, a string body, a bad nonce.
    let mut t = signed(SK, op(), -1);
    t["tx_body"]["foo"] = json!(1);
    refused(&c.call("ain_sendSignedTransaction", t).await, 30303);
    refused(
        &c.call(
            "ain_sendSignedTransaction",
            json!({"tx_body": "abc", "signature": "0x1"}),
        )
        .await,
        30303,
    );
    let mut t = signed(SK, op(), -1);
    t["tx_body"]["nonce"] = json!(-3);
    refused(&c.call("ain_sendSignedTransaction", t).await, 30303);
    // Signatures: garbage, a number, one over another body, one by a chain-id-1 signer.
    let mut t = signed(SK, op(), -1);
    t["signature"] = json!("0xdeadbeef");
    refused(&c.call("ain_sendSignedTransaction", t).await, 30304);
    let mut t = signed(SK, op(), -1);
    t["signature"] = json!(12345);
    refused(&c.call("ain_sendSignedTransaction", t).await, 30304);
    let mut t = signed(SK, op(), -1);
    t["signature"] = signed(SK, op(), -1)["signature"].clone();
    refused(&c.call("ain_sendSignedTransaction", t).await, 30304);
    let other = TxBody::new(op(), -1, ts())
        .sign(&PrivateKey::from_hex(SK).unwrap(), 1)
        .unwrap();
    let v = c
        .call(
            "ain_sendSignedTransaction",
            json!({"tx_body": other.tx_body, "signature": other.signature}),
        )
        .await;
    refused(&v, 30304);
    // Replay: 10701 inside the result, with the tx hash.
    let t = signed(SK, op(), -1);
    let first = c.send(t.clone()).await;
    assert_eq!(first["result"]["code"], 0);
    let again = c.send(t).await;
    assert_eq!(again["tx_hash"], first["tx_hash"]);
    assert_eq!(again["result"]["code"], 10701);
    assert_eq!(again["result"]["bandwidth_gas_amount"], 0);
    // Prechecks: nonce (10712), gas price (10714); not pooled.
    let v = c.send(signed(SK2, op(), 5)).await;
    assert_eq!(v["result"]["code"], 10712);
    let mut body = TxBody::new(op(), -1, ts());
    body.gas_price = None;
    let tx = body.sign(&PrivateKey::from_hex(SK).unwrap(), 0).unwrap();
    let v = c
        .send(json!({"tx_body": tx.tx_body, "signature": tx.signature}))
        .await;
    assert_eq!(v["result"]["code"], 10714);
    // A full pool (3 here) answers 10704 until a block empties it.
    let stuck = devnet_support::start_with(|c| {
        c.pool.max_txs = 2;
        c.block_interval = Duration::from_secs(3600);
    })
    .await;
    let s = Client::of(&stuck);
    for _ in 0..2 {
        let v = s
            .send(signed(SK, SimpleOp::set_value("/x", json!(1)), -1))
            .await;
        assert_eq!(v["result"]["code"], 12103, "pooled as a failure: {v}");
    }
    let v = s
        .send(signed(SK, SimpleOp::set_value("/x", json!(1)), -1))
        .await;
    assert_eq!(v["result"]["code"], 10704, "{v}");
    stuck.shutdown().await;
    // Batches.
    refused(
        &c.call("ain_sendSignedTransactionBatch", json!({"tx_list": []}))
            .await,
        30401,
    );
    let many: Vec<Value> = (0..51).map(|_| signed(SK, op(), -1)).collect();
    refused(
        &c.call("ain_sendSignedTransactionBatch", json!({"tx_list": many}))
            .await,
        30402,
    );
    let bad = vec![
        signed(SK, op(), -1),
        json!({"tx_body": {"x": 1}, "signature": "0x1"}),
    ];
    let v = c
        .call("ain_sendSignedTransactionBatch", json!({"tx_list": bad}))
        .await;
    refused(&v, 30405);
    assert_eq!(v["result"]["message"], "Invalid format of transaction[1].");
    let me = addr(SK2);
    let pair = vec![
        signed(
            SK,
            SimpleOp::set_rule(
                "/apps/demo/u/$a",
                json!({".rule": {"write": "auth.addr === $a"}}),
            ),
            -1,
        ),
        signed(
            SK2,
            Operation::set(vec![SimpleOp::set_value(
                format!("/apps/demo/u/{me}/k"),
                json!(1),
            )])
            .unwrap(),
            0,
        ),
    ];
    let v = c
        .result("ain_sendSignedTransactionBatch", json!({"tx_list": pair}))
        .await;
    assert_eq!(v[0]["result"]["code"], 0, "{v}");
    assert_eq!(v[1]["result"]["result_list"]["0"]["code"], 0, "{v}");
    alive(&c).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_garbage() {
    let h = devnet_support::start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(h.events_url())
        .await
        .unwrap();
    for frame in [
        "not json",
        "{}",
        "{\"type\":\"NOPE\",\"data\":{}}",
        "{\"type\":\"REGISTER_FILTER\",\"data\":{\"id\":\"x\",\"type\":\"VALUE_CHANGED\",\"config\":{}}}",
    ] {
        ws.send(Message::Text(frame.into())).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(got.to_text().unwrap()).unwrap();
        assert_eq!(v["type"], "EMIT_ERROR", "{frame}: {v}");
    }
    ws.send(Message::Binary(vec![0u8; 16].into()))
        .await
        .unwrap();
    let c = Client::of(&h);
    alive(&c).await;
    let info = c.result("net_getEventHandlerNetworkInfo", json!({})).await;
    assert_eq!(info["url"], h.events_url());
    assert_eq!(info["maxNumEventFilters"], 40);
    h.shutdown().await;
}
