//! State budgets on the built-in chain, through real transactions (ain-node-semantics.md §1):
//! an unstaked app's write past the shared free tier is refused with 10905 after its event,
//! goes into a block as a failed tx, and `ain_getStateUsage` reports the numbers; staking
//! lifts the app out of the free tier.

mod devnet_support;

use ain_sre::ledger::devnet::StateBudgets;
use ain_sre::ledger::tx::SimpleOp;
use devnet_support::{Client, SK, addr, create_app, signed};
use serde_json::{Value, json};

const FREE: f64 = 10_000.0;

async fn small_free_tier(fund: bool) -> ain_sre::ledger::devnet::DevnetHandle {
    devnet_support::start_with(|c| {
        c.budgets = StateBudgets::with_limit(FREE / 0.005);
        if fund {
            c.genesis_balances = vec![(addr(SK), 1_000)];
        }
    })
    .await
}

/// Writes 1 KB values until one is refused; returns its tx hash and result.
async fn fill(c: &Client, app: &str) -> (String, Value) {
    for i in 0..100 {
        let r = c
            .send(signed(
                SK,
                SimpleOp::set_value(format!("/apps/{app}/d/k{i}"), json!("x".repeat(500))),
                -1,
            ))
            .await;
        if r["result"]["code"] != 0 {
            return (
                r["tx_hash"].as_str().unwrap().to_owned(),
                r["result"].clone(),
            );
        }
    }
    panic!("the free tier never filled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstaked_app_gets_10905_and_the_tx_is_in_a_block_as_failed() {
    let h = small_free_tier(false).await;
    let c = Client::of(&h);
    create_app(&c, SK, "b").await;
    let (hash, result) = fill(&c, "b").await;
    assert_eq!(result["code"], 10905, "{result}");
    let msg = result["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Exceeded state budget limit for free tier (")
            && msg.ends_with(" > 10000).\nFor more information see https://docs.ainetwork.ai/ain-blockchain/staking"),
        "{msg}"
    );
    // Pooled as failed, put in a block, reverted (ain-node-semantics.md §3).
    let tx = c.wait_final(&hash).await;
    assert_eq!(tx["state"], "REVERTED", "{tx}");
    assert_eq!(tx["receipt"]["code"], 10905, "{tx}");
    let usage = c
        .result("ain_getStateUsage", json!({"app_name": "b"}))
        .await;
    let used = usage["usage"]["tree_bytes"].as_f64().unwrap();
    assert!(used < FREE && used > FREE - 2_000.0, "{usage}");
    assert_eq!(
        usage["available"]["tree_bytes"].as_f64().unwrap(),
        FREE - used
    );
    assert_eq!(usage["staking"]["app"], 0);
    assert_eq!(c.result("ain_getStateUsage", json!({})).await, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staking_takes_an_app_out_of_the_free_tier() {
    let h = small_free_tier(true).await;
    let c = Client::of(&h);
    create_app(&c, SK, "b").await;
    let (_, result) = fill(&c, "b").await;
    assert_eq!(result["code"], 10905);
    let a = addr(SK);
    let stake = signed(
        SK,
        SimpleOp::set_value(
            format!("/staking/b/{a}/0/stake/{}/value", devnet_support::ts()),
            json!(10),
        ),
        -1,
    );
    let r = c.send(stake).await;
    assert_eq!(r["result"]["code"], 0, "{r}");
    let r = c
        .send(signed(
            SK,
            SimpleOp::set_value("/apps/b/d/more", json!("x".repeat(500))),
            -1,
        ))
        .await;
    assert_eq!(
        r["result"]["code"], 0,
        "a staked app has the apps budget share: {r}"
    );
    let usage = c
        .result("ain_getStateUsage", json!({"app_name": "b"}))
        .await;
    assert_eq!(usage["staking"]["app"], 10, "{usage}");
    assert_eq!(usage["staking"]["total"], 10, "{usage}");
    let share = FREE / 0.005 * 0.495;
    let used = usage["usage"]["tree_bytes"].as_f64().unwrap();
    assert_eq!(
        usage["available"]["tree_bytes"].as_f64().unwrap(),
        share - used
    );
}
