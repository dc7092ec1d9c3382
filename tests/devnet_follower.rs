//! The follower verifies the devnet's chain with the same code that verifies real blocks: more
//! than 1,000 blocks carrying values, op_lists, rule writes, REVERTED txs, several signers and
//! numbered, ordered and unordered nonces.

mod devnet_support;

use std::time::Duration;

use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::{Operation, SimpleOp, TxBody};
use devnet_support::{Client, SK, SK2, addr, create_app, follow, signed, ts};
use serde_json::json;

const TARGET: u64 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_verifies_a_thousand_devnet_blocks() {
    let h = devnet_support::start_with(|c| {
        c.block_interval = Duration::from_millis(2);
        c.empty_blocks = true;
    })
    .await;
    let c = Client::of(&h);
    create_app(&c, SK, "mix").await;
    let third = PrivateKey::generate();
    let third_hex = hex::encode(third.secret_bytes().as_ref());
    let (me2, me3) = (addr(SK2), third.address().to_checksum());
    for (path, rule) in [
        ("/apps/mix/users/$u", "auth.addr === $u"),
        ("/apps/mix/open", "true"),
        ("/apps/mix/once/$k", "data === null"),
    ] {
        let op = SimpleOp::set_rule(path, json!({".rule": {"write": rule}}));
        c.send_ok(signed(SK, op, -1)).await;
    }
    let mut nonce2 = 0i64;
    let (mut sent, mut reverted) = (0u64, 0u64);
    let mut i = 0u64;
    while c
        .result("ain_getLastBlockNumber", json!({}))
        .await
        .as_u64()
        .unwrap()
        < TARGET + 1
    {
        i += 1;
        let (sk, op, nonce): (&str, Operation, i64) = match i % 6 {
            0 => (
                SK,
                SimpleOp::set_value(format!("/apps/mix/open/v{i}"), json!({"i": i})).into(),
                -1,
            ),
            1 => {
                nonce2 += 1;
                (
                    SK2,
                    SimpleOp::set_value(format!("/apps/mix/users/{me2}/n"), json!(i)).into(),
                    nonce2 - 1,
                )
            }
            2 => (
                &third_hex,
                Operation::set(vec![
                    SimpleOp::set_value(format!("/apps/mix/users/{me3}/a"), json!(i)),
                    SimpleOp::inc_value(format!("/apps/mix/users/{me3}/count"), 1),
                    SimpleOp::set_value(format!("/apps/mix/users/{me3}/b"), json!("x"))
                        .without_type(),
                ])
                .unwrap(),
                -2,
            ),
            3 => (
                SK,
                SimpleOp::set_rule(
                    format!("/apps/mix/r/r{i}"),
                    json!({".rule": {"write": "auth.addr !== ''"}}),
                )
                .into(),
                -1,
            ),
            4 => (
                SK2,
                SimpleOp::set_value(format!("/apps/mix/once/k{}", i / 12), json!(i)).into(),
                -1,
            ),
            _ => (
                &third_hex,
                SimpleOp::set_value("/apps/mix/admin_only", json!(i)).into(),
                -1,
            ),
        };
        let tx = TxBody::new(op, nonce, ts())
            .sign(&PrivateKey::from_hex(sk).unwrap(), 0)
            .unwrap();
        let r = c
            .send(json!({"tx_body": tx.tx_body, "signature": tx.signature}))
            .await;
        sent += 1;
        if !devnet_support::is_success(&r["result"]) {
            reverted += 1;
        }
        if i % 6 == 1 {
            assert!(
                devnet_support::is_success(&r["result"]),
                "numbered nonce tx: {r}"
            );
        }
    }
    assert!(
        reverted > 10,
        "some txs fail and end REVERTED ({reverted} of {sent})"
    );
    let blocks = follow(&h.rpc_url(), h.genesis_hash(), TARGET).await;
    assert_eq!(blocks.len() as u64, TARGET + 1);
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b.number, i as u64);
    }
    let txs: usize = blocks.iter().map(|b| b.transactions.len()).sum();
    let failed = blocks
        .iter()
        .flat_map(|b| b.receipts.iter())
        .filter(|r| r["code"].as_i64().is_some_and(|c| c != 0))
        .count();
    let lists = blocks
        .iter()
        .flat_map(|b| b.receipts.iter())
        .filter(|r| r.get("result_list").is_some())
        .count();
    assert!(
        txs > 100 && failed > 10 && lists > 10,
        "txs {txs}, failed {failed}, op_lists {lists}"
    );
    let signers: std::collections::HashSet<_> = blocks
        .iter()
        .flat_map(|b| b.transactions.iter().map(|t| t.address))
        .collect();
    assert_eq!(signers.len(), 3);
    h.shutdown().await;
}
