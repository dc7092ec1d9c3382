//! Sending (batches, not serving, dry runs) and reading (op lists, block lists over 20 blocks,
//! genesis with full transactions, block sizes as the node measures them).

use super::*;

fn dummy_tx(i: u64) -> (Value, Signature) {
    let key = ain_sre::ledger::crypto::PrivateKey::from_hex(
        "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96",
    )
    .unwrap();
    let body = json!({"operation":{"type":"SET_VALUE","ref":"/apps/a/x","value":i},
        "nonce":-1,"timestamp":1_700_000_000_000u64 + i,"gas_price":0});
    let sig = key.sign_transaction(&body, 0).unwrap();
    (body, sig)
}

#[tokio::test]
async fn batch_over_limit_is_refused_without_a_request() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let txs: Vec<_> = (0..51).map(dummy_tx).collect();
    let err = bounded(client.send_signed_transaction_batch(&txs))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::InvalidRequest(_)), "{err:?}");
    let err = bounded(client.send_signed_transaction_batch(&[]))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::InvalidRequest(_)));
    let ops = vec![GetOp::value("/a"); 51];
    let err = bounded(client.get(&GetRequest::Many(ops)))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::InvalidRequest(_)));
    assert!(node.requests().is_empty(), "nothing may be sent");
}

#[tokio::test]
async fn batch_results_one_per_tx() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let txs: Vec<_> = (0..50).map(dummy_tx).collect();
    node.reply(
        "ain_sendSignedTransactionBatch",
        Reply::Dynamic(Arc::new(|p: &Value| {
            let list = p["tx_list"].as_array().unwrap();
            let out: Vec<Value> = list
                .iter()
                .enumerate()
                .map(|(i, tx)| {
                    let hash = &tx["signature"].as_str().unwrap()[..66];
                    let code = if i == 1 { 10716 } else { 0 };
                    json!({"tx_hash": hash, "result": {"code": code, "bandwidth_gas_amount": 1}})
                })
                .collect();
            Value::Array(out)
        })),
    );
    let results = bounded(client.send_signed_transaction_batch(&txs))
        .await
        .unwrap();
    assert_eq!(results.len(), 50);
    for (i, (r, (_, sig))) in results.iter().zip(&txs).enumerate() {
        assert_eq!(r.tx_hash(), Some(&sig.hash));
        assert_eq!(r.is_success(), i != 1);
    }
    assert!(results[1].is_transient_failure());
    let sent = &node.requests()[0]["params"];
    assert_eq!(sent["tx_list"].as_array().unwrap().len(), 50);
    assert_eq!(sent["tx_list"][0]["tx_body"], txs[0].0);
    assert_eq!(sent["tx_list"][0]["signature"], txs[0].1.to_string());

    // A node that is not serving answers the whole batch with one object.
    node.reply(
        "ain_sendSignedTransactionBatch",
        Reply::Dynamic(Arc::new(|_: &Value| json!({"tx_hash":null,"result":false}))),
    );
    let results = bounded(client.send_signed_transaction_batch(&txs[..3]))
        .await
        .unwrap();
    assert_eq!(results, vec![SendResult::NotServing; 3]);
    node.assert_proto_ver_everywhere();
}

#[tokio::test]
async fn not_serving_and_dryrun_send_results() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let (body, sig) = dummy_tx(7);
    node.reply(
        "ain_sendSignedTransaction",
        Reply::Dynamic(Arc::new(|_: &Value| json!({"tx_hash":null,"result":false}))),
    );
    let r = bounded(client.send_signed_transaction(&body, &sig))
        .await
        .unwrap();
    assert_eq!(r, SendResult::NotServing);
    assert!(r.is_transient_failure() && !r.is_success());
    node.reply(
        "ain_sendSignedTransactionDryrun",
        Reply::Dynamic(Arc::new(|p: &Value| {
            let hash = &p["signature"].as_str().unwrap()[..66];
            json!({"tx_hash":hash,"result":{"code":0,"is_dryrun":true,
                "func_results":{"f":{"code":20000}}}})
        })),
    );
    let r = bounded(client.send_signed_transaction_dryrun(&body, &sig))
        .await
        .unwrap();
    assert!(r.is_success());
    assert!(r.result().unwrap().is_dryrun());
    assert_eq!(
        node.requests()[1]["method"],
        "ain_sendSignedTransactionDryrun"
    );
}

#[tokio::test]
async fn get_op_list_and_other_reads() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    node.reply(
        "ain_get",
        Reply::Dynamic(Arc::new(|p: &Value| {
            let ops = p["op_list"].as_array().unwrap();
            Value::Array(ops.iter().map(|op| op["ref"].clone()).collect())
        })),
    );
    let req = GetRequest::Many(vec![
        GetOp::value("/apps/a/x").finalized(),
        GetOp::rule("/apps/a").shallow(),
        GetOp::owner("/apps/a").global(),
        GetOp::function("/apps/a/f"),
    ]);
    let v = bounded(client.get(&req)).await.unwrap();
    assert_eq!(v, json!(["/apps/a/x", "/apps/a", "/apps/a", "/apps/a/f"]));
    let sent = &node.requests()[0]["params"];
    assert_eq!(sent["type"], "GET");
    assert_eq!(
        sent["op_list"][0],
        json!({"type":"GET_VALUE","ref":"/apps/a/x","is_final":true})
    );
    assert_eq!(sent["op_list"][1]["is_shallow"], true);
    assert_eq!(sent["op_list"][2]["is_global"], true);

    let ok = |v: Value| Reply::Dynamic(Arc::new(move |_: &Value| v.clone()));
    node.reply("ain_getProtocolVersion", ok(json!("1.6.0")));
    node.reply(
        "ain_getAddress",
        ok(json!("0x00ADEc28B6a845a085e03591bE7550dd68673C1C")),
    );
    node.reply("ain_getTimestamp", ok(json!(1795461505000u64)));
    node.reply("net_getNetworkId", ok(json!(0)));
    node.reply("ain_getLastBlockNumber", ok(json!(-1)));
    node.reply("ain_getTransactionByHash", ok(Value::Null));
    node.reply("ain_getBlockByHash", ok(Value::Null));
    assert_eq!(
        bounded(client.get_protocol_version()).await.unwrap(),
        "1.6.0"
    );
    let me = bounded(client.get_address()).await.unwrap().unwrap();
    assert_eq!(me.to_string(), "0x00ADEc28B6a845a085e03591bE7550dd68673C1C");
    let ts = bounded(client.get_timestamp(&me, StateView::Committed))
        .await
        .unwrap();
    assert_eq!(ts, 1795461505000);
    assert_eq!(bounded(client.network_id()).await.unwrap(), 0);
    assert_eq!(bounded(client.get_last_block_number()).await.unwrap(), None);
    let h = Hash([7; 32]);
    let none: Option<TxInfo> = bounded(client.get_transaction_by_hash(&h)).await.unwrap();
    assert!(none.is_none());
    let none: Option<Value> = bounded(client.get_block_by_hash(&h, true)).await.unwrap();
    assert!(none.is_none());
    let reqs = node.requests();
    let ts_req = reqs
        .iter()
        .find(|r| r["method"] == "ain_getTimestamp")
        .unwrap();
    assert_eq!(ts_req["params"]["from"], "committed");
    let bh = reqs
        .iter()
        .find(|r| r["method"] == "ain_getBlockByHash")
        .unwrap();
    assert_eq!(bh["params"]["getFullTransactions"], true);
    assert_eq!(bh["params"]["hash"], h.to_string());
    node.assert_proto_ver_everywhere();
}

/// Serves `ain_getBlockList` like the node: at most 20 blocks, `to` exclusive, clipped to the
/// chain, and the last block when asked for `from = last + 1`.
fn block_list_server(blocks: Arc<Vec<Value>>) -> Reply {
    Reply::Dynamic(Arc::new(move |p: &Value| {
        let last = blocks.len() as u64 - 1;
        let from = p["from"].as_u64().unwrap();
        let mut to = p["to"].as_u64().unwrap();
        if from == last + 1 {
            return json!([blocks[last as usize]]);
        }
        to = to.min(from + 20).min(last + 1);
        Value::Array(
            (from..to.max(from))
                .map(|n| blocks[n as usize].clone())
                .collect(),
        )
    }))
}

#[tokio::test]
async fn block_list_splits_ranges_of_more_than_20() {
    let Some(dir) = common::fixtures("block_list_splits_ranges_of_more_than_20") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap();
    let blocks: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(blocks.len(), 47);
    let blocks = Arc::new(blocks);
    let (node, url) = start().await;
    node.reply("ain_getBlockList", block_list_server(blocks.clone()));
    let client = RpcClient::new(&url).unwrap();

    // 0..100 on a chain ending at 46: split into ≤ 20-block calls, stops at the chain's end.
    let got: Vec<Value> = bounded(client.get_block_list(0, 100)).await.unwrap();
    assert_eq!(got.len(), 47);
    assert_eq!(got, *blocks);
    for r in node.requests() {
        let (f, t) = (
            r["params"]["from"].as_u64().unwrap(),
            r["params"]["to"].as_u64().unwrap(),
        );
        assert!(t > f && t - f <= 20, "call {f}..{t} exceeds 20 blocks");
    }
    // A window inside the chain, not aligned to 20.
    let got: Vec<Value> = bounded(client.get_block_list(5, 31)).await.unwrap();
    let numbers: Vec<u64> = got.iter().map(|b| b["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (5..31).collect::<Vec<_>>());
    // Asking past the end: the node's answer (its last block) is dropped, not returned.
    let got: Vec<Value> = bounded(client.get_block_list(47, 60)).await.unwrap();
    assert!(got.is_empty());
    let got: Vec<Value> = bounded(client.get_block_list(10, 10)).await.unwrap();
    assert!(got.is_empty());
    // A node that skips a block is caught.
    let mut gappy: Vec<Value> = (*blocks).clone();
    gappy.remove(3);
    node.reply(
        "ain_getBlockList",
        Reply::Dynamic(Arc::new(move |_: &Value| {
            Value::Array(gappy[..10].to_vec())
        })),
    );
    let err = bounded(client.get_block_list::<Value>(0, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Malformed(_)), "{err:?}");
    node.assert_proto_ver_everywhere();
}

/// ain-blockchain 1.6.0 asked for a block without full transactions replaces the block's txs
/// with their hashes in its own memory; for block 0 that breaks every later genesis check.
#[tokio::test]
async fn genesis_is_asked_with_full_transactions_and_the_base_url_works() {
    let (node, url) = start().await;
    let h = Hash([5; 32]);
    let block = json!({"number": 0, "hash": h.to_string(), "transactions": []});
    node.reply(
        "ain_getBlockByNumber",
        Reply::Dynamic(Arc::new(move |_: &Value| block.clone())),
    );
    // The base URL (as ain-js takes it) reaches the JSON-RPC endpoint.
    let base = url.trim_end_matches("/json-rpc").to_owned();
    let client = RpcClient::new(&base).unwrap();
    assert_eq!(bounded(client.genesis_hash()).await.unwrap(), Some(h));
    let reqs = node.requests();
    let r = reqs
        .iter()
        .find(|r| r["method"] == "ain_getBlockByNumber")
        .unwrap();
    assert_eq!(r["params"]["number"], 0);
    assert_eq!(r["params"]["getFullTransactions"], true);
}

/// The real node's blocks carry `size`: `object-sizeof` of the block without `hash` and `size`.
/// A typed `Block` measures the same counted from its `Serialize` without a `Value` tree (how the
/// built-in chain sizes the blocks it seals) as through the tree, and that less the hash pair is
/// the node's figure.
#[test]
fn block_size_counted_without_a_value_tree_is_the_nodes() {
    let Some(dir) = common::fixtures("block_size_counted_without_a_value_tree_is_the_nodes") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap();
    let raw: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut with_txs = 0;
    for b in raw {
        let node_size = b["size"].as_u64().expect("the node's blocks carry size");
        let mut block: ain_sre::ledger::block::Block = serde_json::from_value(b).unwrap();
        block.size = None;
        let tree = ain_sre::ledger::json::js_object_sizeof(&serde_json::to_value(&block).unwrap());
        let counted = ain_sre::ledger::json::js_sizeof(&block);
        assert_eq!(counted, tree, "block {}", block.number);
        // The node measures its block before `hash` is set: 140 bytes, `"hash": "0x" + 64 hex`.
        let hash_pair = ain_sre::ledger::json::js_sizeof(&serde_json::json!({"hash": block.hash}));
        assert_eq!(hash_pair, 140);
        assert_eq!(
            (counted - hash_pair) as u64,
            node_size,
            "block {}",
            block.number
        );
        with_txs += usize::from(!block.transactions.is_empty());
    }
    assert!(with_txs > 0, "the fixture has blocks with transactions");
}
