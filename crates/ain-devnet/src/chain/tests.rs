use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::config::{DEFAULT_VALIDATOR_KEY, PoolLimits};
use crate::event_handler::ChainEvent;
use crate::store::WriteOp;
use ain_ledger::follower::verify_chain;
use ain_ledger::tx::{SimpleOp, TxBody};

fn params() -> ChainParams {
    ChainParams {
        exec: ExecParams {
            min_gas_price: 1,
            set_op_list_size_limit: 50,
            budgets: Default::default(),
        },
        chain_id: 0,
        network_id: 0,
        stake: 10_000_000,
        pool: PoolLimits::default(),
        interval_ms: 100,
        max_txs_per_block: 1000,
        empty_blocks: false,
        snapshot_interval: 3,
        genesis_timestamp: None,
        genesis_balances: Vec::new(),
    }
}

fn key() -> Arc<PrivateKey> {
    Arc::new(PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY).unwrap())
}

async fn produce(chain: &mut Chain, rules: &mut RuleCache, now: u64) -> Option<Vec<ChainEvent>> {
    let draft = chain.draft()?;
    let built = build(draft, rules, now).unwrap();
    let seq = chain.persister().enqueue(built.write_op());
    chain.persister().wait(seq).await.unwrap();
    Some(chain.commit(built))
}

fn all_blocks(chain: &Chain) -> Vec<Block> {
    (0..=chain.tip().number)
        .map(|n| (*chain.any_block(n).unwrap().unwrap()).clone())
        .collect()
}

#[tokio::test]
async fn produce_finalize_verify_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(dir.path())).unwrap();
    let mut chain = Chain::open(store, key(), params()).unwrap();
    let mut rules = RuleCache::default();
    assert!(chain.draft().is_none(), "nothing to do on a fresh chain");
    let k = key();
    let me = k.address().to_checksum();
    let mut ts = 1_800_000_000_000u64;
    let mut send = |chain: &mut Chain, op: SimpleOp, nonce: i64| {
        ts += 1;
        let tx = TxBody::new(op, nonce, ts).sign(&k, 0).unwrap();
        chain.accept(tx, ts, false).unwrap()
    };
    let a = send(
        &mut chain,
        SimpleOp::set_value(
            "/manage_app/demo/create/1",
            json!({"admin": {me.clone(): true}}),
        ),
        -1,
    );
    assert_eq!(a.answer["result"]["code"], 0, "{}", a.answer);
    let seq = a.durable_seq.unwrap();
    chain.persister().wait(seq).await.unwrap();
    let again = chain
        .accept(
            TxBody::new(
                SimpleOp::set_value(
                    "/manage_app/demo/create/1",
                    json!({"admin": {me.clone(): true}}),
                ),
                -1,
                1_800_000_000_001,
            )
            .sign(&k, 0)
            .unwrap(),
            0,
            false,
        )
        .unwrap();
    assert_eq!(again.answer["result"]["code"], 10701);
    let mut now = 1_800_000_001_000;
    let events = produce(&mut chain, &mut rules, now).await.unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        ChainEvent::TxStateChanged {
            after: "IN_BLOCK",
            ..
        }
    )));
    assert_eq!(chain.tip().number, 1);
    assert_eq!(chain.finalized_number(), 0);
    assert!(chain.block(1).unwrap().is_none(), "the tip is not served");
    let fail = send(
        &mut chain,
        SimpleOp::set_value("/apps/other/x", json!(1)),
        0,
    );
    assert_eq!(fail.answer["result"]["code"], 12103);
    send(&mut chain, SimpleOp::set_value("/apps/demo/x", json!(1)), 0);
    for _ in 0..5 {
        now += 100;
        produce(&mut chain, &mut rules, now).await;
    }
    // Block 2 holds the two txs; blocks 3 and 4 finalize and prove it; then production stops.
    assert_eq!(chain.tip().number, 4);
    assert_eq!(chain.finalized_number(), 3);
    let b2 = chain.block(2).unwrap().unwrap();
    assert_eq!(b2.receipts[0]["code"], 12103);
    assert_eq!(b2.receipts[1]["code"], 0);
    let info = chain.tx_info(&b2.transactions[0].hash).unwrap().unwrap();
    assert_eq!(info.state, "REVERTED");
    let info = chain.tx_info(&b2.transactions[1].hash).unwrap().unwrap();
    assert_eq!(info.state, "FINALIZED");
    assert_eq!(chain.final_state().value(&["apps", "demo", "x"]), json!(1));
    let blocks = all_blocks(&chain);
    verify_chain(&blocks, Some(&chain.genesis_hash()), 0).unwrap();
    // `size` as the node measures it: the block's JSON without `hash` and `size`.
    for b in &blocks[1..] {
        let mut v = serde_json::to_value(b).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("hash");
        let size = o.remove("size").and_then(|s| s.as_u64());
        assert_eq!(
            size,
            Some(ain_ledger::json::js_object_sizeof(&v) as u64),
            "block {}",
            b.number
        );
    }
    // A pooled tx survives a reload, and the chain continues where it was.
    send(&mut chain, SimpleOp::set_value("/apps/demo/y", json!(2)), 1);
    let seq = chain.persister().enqueue(WriteOp::Meta {
        key: "x".into(),
        value: vec![],
    });
    chain.persister().wait(seq).await.unwrap();
    let tip = chain.tip().hash;
    chain.close();
    drop(chain);
    let store = Store::open(Some(dir.path())).unwrap();
    let mut chain = Chain::open(store, key(), params()).unwrap();
    assert_eq!(chain.tip().hash, tip);
    assert_eq!(chain.pool_len(), 1);
    assert_eq!(
        chain.pending_state().value(&["apps", "demo", "y"]),
        json!(2)
    );
    assert_eq!(
        chain.final_state().value(&["apps", "demo", "y"]),
        json!(null)
    );
    for _ in 0..4 {
        now += 100;
        produce(&mut chain, &mut rules, now).await;
    }
    assert_eq!(chain.tip().number, 7);
    assert_eq!(chain.final_state().value(&["apps", "demo", "y"]), json!(2));
    verify_chain(&all_blocks(&chain), Some(&chain.genesis_hash()), 0).unwrap();
    chain.close();
}

/// `ain_getTransactionByHash` on pooled txs: found by hash in a deep pool, and `index` is the
/// tx's place among its sender's pooled txs when it arrived, kept as the node keeps it.
#[tokio::test]
async fn pooled_tx_info_and_index() {
    let store = Store::open(None).unwrap();
    let mut p = params();
    p.max_txs_per_block = 90;
    let mut chain = Chain::open(store, key(), p).unwrap();
    let k = key();
    let other = Arc::new(PrivateKey::from_hex(&"11".repeat(32)).unwrap());
    let mut hashes = Vec::new();
    for i in 0..300u64 {
        let signer = if i % 3 == 2 { &other } else { &k };
        let ts = 1_800_000_000_000 + i;
        let op = SimpleOp::set_value(format!("/apps/none/x{i}"), json!(i));
        let tx = TxBody::new(op, -1, ts).sign(signer, 0).unwrap();
        hashes.push(tx.hash);
        chain.accept(tx, ts, false).unwrap();
    }
    // The first 90 leave the pool for a block; the others keep the index they arrived with.
    produce(&mut chain, &mut RuleCache::default(), 1_800_000_001_000).await;
    for (i, h) in hashes.iter().enumerate().skip(90) {
        let info = chain.tx_info(h).unwrap().expect("pooled tx is known");
        let expected = if i % 3 == 2 { i / 3 } else { i / 3 * 2 + i % 3 };
        assert_eq!(info.json["index"], json!(expected), "tx {i}");
        assert_eq!(info.json["number"], json!(-1));
        assert_eq!(info.transaction["hash"], json!(h.to_string()), "tx {i}");
    }
    assert!(chain.tx_info(&Hash([7; 32])).unwrap().is_none());
}
