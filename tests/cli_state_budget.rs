//! `deploy` and the state budget on the built-in chain with a small free tier
//! (ain-node-semantics.md §1): an unstaked app is warned about at deploy time and then refused
//! with 10905; `deploy --stake` takes an app out of the free tier.

mod devnet_support;

use ain_sre::ledger::devnet::StateBudgets;
use ain_sre::ledger::tx::SimpleOp;
use devnet_support::{Client, SK, SK2, addr, signed};
use serde_json::json;

/// A free tier of 60 KB: room for a few deployments, not for 1,000 calls.
const FREE: f64 = 60_000.0;

fn cli(args: Vec<String>) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(&args)
        .env("AIN_SRE_PRIVATE_KEY", SK)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn deploy(url: &str, app: &str, extra: &[&str]) -> (bool, String, String) {
    let echo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/functions/echo.wat");
    let mut args: Vec<String> = ["deploy", echo, "--app", app, "--fn", "echo", "--node", url]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || cli(args))
        .await
        .unwrap()
}

/// Sends requests until one is refused; returns its result code.
async fn requests_until_refused(c: &Client, app: &str) -> (usize, i64) {
    for i in 0..1000 {
        let path = format!("/apps/{app}/sre/calls/echo/c{i}/request");
        let r = c
            .send(signed(
                SK2,
                SimpleOp::set_value(path, json!({"input": "x".repeat(200)})),
                -1,
            ))
            .await;
        let code = r["result"]["code"].as_i64().unwrap();
        if code != 0 {
            return (i, code);
        }
    }
    panic!("never refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstaked_app_is_warned_then_refused_10905_and_a_staked_one_is_not() {
    let h = devnet_support::start_with(|c| {
        c.budgets = StateBudgets::with_limit(FREE / 0.005);
        c.genesis_balances = vec![(addr(SK), 1_000)];
    })
    .await;
    let url = h.rpc_url();
    let c = Client::of(&h);

    let (ok, out, err) = deploy(&url, "free", &[]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("state:") && out.contains("not staked"),
        "{out}"
    );
    assert!(
        err.contains("warning: app `free` is not staked")
            && err.contains("10905")
            && err.contains("--stake"),
        "{err}"
    );
    let (n, code) = requests_until_refused(&c, "free").await;
    assert_eq!(code, 10905, "after {n} requests");
    assert!(n < 1000, "refused long before the retention of 1,000 calls");

    // The free tier is full now; a staked app is outside it: its stake goes first, then the
    // deploy, then calls that would not fit in the free tier.
    let (ok, out, err) = deploy(&url, "paid", &["--stake", "10"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("staked:   10 on app paid"), "{out}");
    assert!(out.contains("staked 10"), "{out}");
    assert!(!err.contains("warning"), "{err}");
    for i in 0..20 {
        let path = format!("/apps/paid/sre/calls/echo/c{i}/request");
        let r = c
            .send(signed(
                SK2,
                SimpleOp::set_value(path, json!({"input": "x".repeat(200)})),
                -1,
            ))
            .await;
        assert_eq!(r["result"]["code"], 0, "{r}");
    }
    // Staking more than the balance is refused by the node's stake rule, and deploy says so.
    let (ok, _, err) = deploy(&url, "broke", &["--stake", "5000"]).await;
    assert!(!ok && err.contains("staking 5000 on app `broke`"), "{err}");
}
