//! Every captured exchange of a real node replayed through the client (`ain-rpc-samples.json`).

use super::*;

#[tokio::test]
async fn replays_every_captured_sample() {
    let Some(samples) = load_samples("replays_every_captured_sample") else {
        return;
    };
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    let mut checked = 0;
    for (name, sample) in &samples {
        let req = &sample["request"];
        let method = req["method"].as_str().unwrap();
        let p = &req["params"];
        node.reply(method, Reply::Json(sample["response"].clone()));
        let before = node.requests().len();
        match name.as_str() {
            "net_getChainId" => assert_eq!(bounded(client.chain_id()).await.unwrap(), 0),
            "ain_checkProtocolVersion" => bounded(client.check_protocol_version()).await.unwrap(),
            "no_protoVer_ain_getNonce" => {
                let err = bounded(client.get_nonce(&addr_of(p), StateView::Pending))
                    .await
                    .unwrap_err();
                match &err {
                    RpcError::Protocol { code, message } => {
                        assert_eq!(*code, 30101);
                        assert_eq!(message, "Protocol version not specified.");
                    }
                    other => panic!("{name}: {other:?}"),
                }
                assert!(!err.is_transient());
            }
            n if n.starts_with("ain_getNonce") => {
                let view = if p.get("from").is_some() {
                    StateView::Pending
                } else {
                    StateView::Committed
                };
                let got = bounded(client.get_nonce(&addr_of(p), view)).await.unwrap();
                assert_eq!(Value::from(got), *inner(sample), "{name}");
            }
            "ain_sendSignedTransaction_success" => {
                let r = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap();
                assert!(r.is_success(), "{r:?}");
                assert_eq!(r.tx_hash(), Some(&hash_of(&inner(sample)["tx_hash"])));
                assert_eq!(r.result().and_then(|t| t.code()), Some(0));
                assert_eq!(r.failure_code(), None);
            }
            "ain_sendSignedTransaction_duplicate_10701" => {
                let r = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap();
                assert!(!r.is_success());
                assert_eq!(r.failure_code(), Some(10701));
                assert!(
                    r.message()
                        .unwrap()
                        .contains("Already received transaction")
                );
                assert!(!r.is_transient_failure());
                assert!(r.tx_hash().is_some());
            }
            "ain_sendSignedTransaction_extra_key_30303" => {
                let err = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap_err();
                match &err {
                    RpcError::Node { code, message } => {
                        assert_eq!(*code, 30303);
                        assert_eq!(message, "Invalid transaction format.");
                    }
                    other => panic!("{name}: {other:?}"),
                }
                assert!(!err.is_transient());
            }
            "ain_sendSignedTransaction_rule_fail" => {
                let r = bounded(client.send_signed_transaction(&p["tx_body"], &sig_of(p)))
                    .await
                    .unwrap();
                assert!(!r.is_success());
                assert_eq!(r.failure_code(), Some(12103));
                assert!(
                    r.message()
                        .unwrap()
                        .starts_with("Write rule evaluated false")
                );
                let t = r.result().unwrap();
                assert!(!t.is_transient_failure() && !t.is_precheck_failure());
            }
            n if n.starts_with("ain_get_GET_VALUE") => {
                let mut op = GetOp::value(p["ref"].as_str().unwrap());
                if p["is_final"] == true {
                    op = op.finalized();
                }
                let v = bounded(client.get(&op.into())).await.unwrap();
                assert_eq!(v, *inner(sample), "{name}");
            }
            n if n.starts_with("ain_getTransactionByHash") => {
                let info: TxInfo = bounded(client.get_transaction_by_hash(&hash_of(&p["hash"])))
                    .await
                    .unwrap()
                    .expect("known tx");
                let want = inner(sample);
                assert_eq!(info.state.wire_name(), want["state"]);
                assert_eq!(info.number, want["number"]);
                assert_eq!(info.is_finalized, want["is_finalized"]);
                assert_eq!(info.transaction, want["transaction"]);
                match n {
                    "ain_getTransactionByHash" => assert_eq!(info.state, TxState::Finalized),
                    "ain_getTransactionByHash_pending" => {
                        assert_eq!((info.state, info.number), (TxState::Executed, -1))
                    }
                    _ => assert_eq!(info.state, TxState::Reverted),
                }
            }
            "ain_getBlockByNumber_no_full_txs" => {
                let n = p["number"].as_u64().unwrap();
                let b: Value = bounded(client.get_block_by_number(n, false))
                    .await
                    .unwrap()
                    .expect("block");
                assert_eq!(b, *inner(sample));
                assert_eq!(b["number"], n);
                assert!(
                    b["transactions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(Value::is_string)
                );
            }
            "ain_getLastBlock" => {
                let b: Value = bounded(client.get_last_block()).await.unwrap().unwrap();
                assert_eq!(b["number"], 26);
                assert_eq!(b, *inner(sample));
            }
            "ain_getBlockList" => {
                let (from, to) = (p["from"].as_u64().unwrap(), p["to"].as_u64().unwrap());
                let blocks: Vec<Value> = bounded(client.get_block_list(from, to)).await.unwrap();
                assert_eq!(Value::Array(blocks), *inner(sample));
            }
            "ain_getLastBlockNumber" => {
                assert_eq!(
                    bounded(client.get_last_block_number()).await.unwrap(),
                    Some(71)
                )
            }
            other => panic!("sample {other} has no typed check; add one"),
        }
        // The request the typed method sent is the captured one (same named params).
        let sent = node.requests();
        assert_eq!(sent.len(), before + 1, "{name}: one request per call");
        let sent = &sent[before];
        assert_eq!(sent["method"], method);
        let mut want = p.clone();
        want["protoVer"] = json!("1.6.0");
        if name == "ain_getNonce_second_key_after" {
            // Captured without `from` (the node then reads committed state); we always say it.
            want["from"] = json!("committed");
        }
        assert_eq!(
            sent["params"], want,
            "{name}: params differ from the capture"
        );
        checked += 1;
    }
    assert_eq!(checked, samples.len());
    assert!(
        checked >= 25,
        "expected the 25 captured samples, got {checked}"
    );
    node.assert_proto_ver_everywhere();
}
