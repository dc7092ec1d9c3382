//! The devnet's JSON-RPC answers against a real node's: the 14 transactions captured from an
//! ain-blockchain 1.6.0 node are replayed (same bodies, same signatures) and every answer and
//! read is compared with the captured one (values where they must agree, keys and types
//! everywhere else).

mod common;
mod devnet_support;

use devnet_support::{Client, shape_diff, start};
use serde_json::{Value, json};

fn load(dir: &std::path::Path, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

/// Gas amounts are not the node's accounting (documented); their shapes are skipped.
const GAS: &[&str] = &[
    ".result.gas_amount_total",
    ".exec_result.gas_amount_total",
    ".transaction.extra.gas",
    ".result.result.gas_amount_total",
    ".result.result.exec_result.gas_amount_total",
    ".result.result.transaction.extra.gas",
    // Transaction contents differ between the chains; their envelope does not.
    ".result.result.transactions[].tx_body.operation.value",
    ".result.result[].transactions[].tx_body.operation.value",
];

fn assert_shape(what: &str, ours: &Value, theirs: &Value) {
    let d = shape_diff(ours, theirs, GAS);
    assert!(d.is_empty(), "{what}: {d:#?}\nours: {ours}\nnode: {theirs}");
}

fn code_of(result: &Value) -> Value {
    match result.get("result_list") {
        Some(list) => json!(
            list.as_object()
                .unwrap()
                .values()
                .map(|r| r["code"].clone())
                .collect::<Vec<_>>()
        ),
        None => result["code"].clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_node_transactions_get_the_nodes_answers() {
    let Some(dir) = common::fixtures("replayed_node_transactions_get_the_nodes_answers") else {
        return;
    };
    let txs = load(&dir, "ain-1node-txs.json");
    let samples = load(&dir, "ain-rpc-samples.json");
    let sample = |name: &str| samples[name]["response"].clone();
    let h = start().await;
    let c = Client::of(&h);
    let mut hashes = std::collections::HashMap::new();
    for t in txs.as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let sent = json!({"tx_body": t["tx_body"], "signature": t["signature"]});
        let ours = c.send(sent).await;
        let node = &t["send_response"]["result"]["result"];
        assert_eq!(ours["tx_hash"], node["tx_hash"], "{name}");
        hashes.insert(
            name.to_owned(),
            ours["tx_hash"].as_str().unwrap().to_owned(),
        );
        if name == "stake_app_1_ain" {
            // No staking on the devnet: the root rule refuses /staking writes (documented).
            assert_eq!(ours["result"]["code"], 12103, "{ours}");
            continue;
        }
        assert_eq!(
            code_of(&ours["result"]),
            code_of(&node["result"]),
            "{name}: {ours}"
        );
        assert_shape(name, &ours, node);
        if name == "rule_violation_second_response_c1" {
            assert_eq!(ours["result"]["message"], node["result"]["message"]);
        }
    }
    let last = c.wait_final(&hashes["request_echo_c3"]).await;
    assert_eq!(last["state"], "FINALIZED");

    // Reads, latest and final.
    for name in [
        "ain_get_GET_VALUE_latest",
        "ain_get_GET_VALUE_is_final",
        "ain_get_GET_VALUE_latest_misc",
        "ain_get_GET_VALUE_is_final_c1",
        "ain_get_GET_VALUE_latest_c1",
    ] {
        let req = &samples[name]["request"];
        let ours = c
            .call(req["method"].as_str().unwrap(), req["params"].clone())
            .await;
        let mut want = sample(name)["result"].clone();
        if name == "ain_get_GET_VALUE_latest_misc" {
            // Read on the node before `delete_misc_neg` ran.
            want["result"].as_object_mut().unwrap().remove("neg");
        }
        assert_eq!(ours["result"], want, "{name}");
    }
    for name in [
        "ain_getNonce",
        "ain_getNonce_second_key_after",
        "net_getChainId",
        "ain_checkProtocolVersion",
    ] {
        let req = &samples[name]["request"];
        let ours = c
            .call(req["method"].as_str().unwrap(), req["params"].clone())
            .await;
        assert_eq!(ours["result"], sample(name)["result"], "{name}");
    }
    // Tracker answers.
    let ours = c
        .call(
            "ain_getTransactionByHash",
            json!({"hash": hashes["request_echo_c1"]}),
        )
        .await;
    assert_eq!(ours["result"]["result"]["state"], "FINALIZED");
    assert_shape(
        "ain_getTransactionByHash",
        &ours,
        &sample("ain_getTransactionByHash"),
    );
    let ours = c
        .call(
            "ain_getTransactionByHash",
            json!({"hash": hashes["rule_violation_second_response_c1"]}),
        )
        .await;
    assert_eq!(ours["result"]["result"]["state"], "REVERTED");
    assert_eq!(ours["result"]["result"]["receipt"]["code"], 12103);
    assert_shape(
        "ain_getTransactionByHash_reverted",
        &ours,
        &sample("ain_getTransactionByHash_reverted"),
    );
    // Blocks.
    let info = c
        .result(
            "ain_getTransactionByHash",
            json!({"hash": hashes["request_echo_c1"]}),
        )
        .await;
    let n = info["number"].clone();
    let ours = c
        .call(
            "ain_getBlockByNumber",
            json!({"number": n, "getFullTransactions": false}),
        )
        .await;
    assert!(
        ours["result"]["result"]["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    for (name, ours) in [
        ("ain_getBlockByNumber_no_full_txs", ours),
        (
            "ain_getLastBlock",
            c.call("ain_getLastBlock", json!({})).await,
        ),
        (
            "ain_getBlockList",
            c.call(
                "ain_getBlockList",
                json!({"from": n, "to": n.as_u64().unwrap() + 1}),
            )
            .await,
        ),
        (
            "ain_getLastBlockNumber",
            c.call("ain_getLastBlockNumber", json!({})).await,
        ),
    ] {
        let mut theirs = sample(name);
        // A block without transactions in ours may face one with transactions in theirs.
        if name == "ain_getLastBlock" && ours["result"]["result"]["transactions"] == json!([]) {
            theirs["result"]["result"]["transactions"] = json!([]);
            theirs["result"]["result"]["receipts"] = json!([]);
        }
        assert_shape(name, &ours, &theirs);
    }
    // The same tx again: 10701 in the node's shape.
    let t = &txs.as_array().unwrap()[4];
    let again = c
        .call(
            "ain_sendSignedTransaction",
            json!({"tx_body": t["tx_body"], "signature": t["signature"]}),
        )
        .await;
    assert_eq!(again["result"]["result"]["result"]["code"], 10701);
    assert!(
        again["result"]["result"]["result"]["message"]
            .as_str()
            .unwrap()
            .starts_with(
                "[executeTransactionAndAddToPool] Already received transaction: {\n  \"tx_body\""
            )
    );
    assert_shape(
        "duplicate",
        &again,
        &sample("ain_sendSignedTransaction_duplicate_10701"),
    );
    // An extra key: 30303, byte for byte but the id.
    let req = &samples["ain_sendSignedTransaction_extra_key_30303"]["request"];
    let ours = c
        .call("ain_sendSignedTransaction", req["params"].clone())
        .await;
    assert_eq!(
        ours["result"],
        sample("ain_sendSignedTransaction_extra_key_30303")["result"]
    );
    // No protoVer: the bare body.
    let req = &samples["no_protoVer_ain_getNonce"]["request"];
    let (status, ours) = c.post(req.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(ours, sample("no_protoVer_ain_getNonce"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_and_dryrun_answers() {
    let Some(dir) = common::fixtures("pending_and_dryrun_answers") else {
        return;
    };
    let samples = load(&dir, "ain-rpc-samples.json");
    let h = devnet_support::start_with(|c| c.block_interval = std::time::Duration::from_secs(3600))
        .await;
    let c = Client::of(&h);
    devnet_support::create_app(&c, devnet_support::SK, "demo").await;
    let op = ain_sre::ledger::tx::SimpleOp::set_value("/apps/demo/a", json!({"input": "x"}));
    let tx = devnet_support::signed(devnet_support::SK, op, -1);
    let dry = c
        .result("ain_sendSignedTransactionDryrun", tx.clone())
        .await;
    assert_eq!(dry["result"]["is_dryrun"], true);
    assert_eq!(
        c.get_value("/apps/demo/a").await,
        Value::Null,
        "a dry run leaves no trace"
    );
    let hash = c.send_ok(tx).await;
    assert_eq!(c.get_value("/apps/demo/a").await, json!({"input": "x"}));
    let final_read = c
        .result(
            "ain_get",
            json!({"type": "GET_VALUE", "ref": "/apps/demo/a", "is_final": true}),
        )
        .await;
    assert_eq!(final_read, Value::Null);
    let ours = c
        .call("ain_getTransactionByHash", json!({"hash": hash}))
        .await;
    assert_eq!(ours["result"]["result"]["state"], "EXECUTED");
    assert_eq!(ours["result"]["result"]["number"], -1);
    assert_shape(
        "pending",
        &ours,
        &samples["ain_getTransactionByHash_pending"]["response"],
    );
    h.shutdown().await;
}
