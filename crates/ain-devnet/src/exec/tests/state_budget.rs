//! The state budget: the free tier's event then its 10905 failure, a SET over budget keeping its
//! writes as on the node, staking, and the state gas of each named app.

use super::*;

/// A chain whose free tier is `free` bytes (the node's ratios: limit = free / 0.005).
fn small_free_tier(t: &mut T, free: f64) {
    t.params.budgets = StateBudgets::with_limit(free / 0.005);
}

#[test]
fn free_tier_fires_the_event_then_fails_10905_and_reverts() {
    let mut t = T::new();
    create_app(&mut t);
    small_free_tier(&mut t, 8000.0);
    // ain-node-semantics.md §1.1: a new `/apps/demo/d/<k>` leaf of 500 ASCII chars costs
    // 2·len(k) + 160 + 1000 bytes, plus `d` itself the first time.
    // An app counts in the free tier from its first value on, rules and owners included.
    assert_eq!(budget::free_tier_usage(&t.state), 0);
    t.ok(
        SK,
        SimpleOp::set_value("/apps/demo/d/k0", json!("x".repeat(500))),
    );
    let before = budget::free_tier_usage(&t.state);
    assert_eq!(before, budget::usage_bytes(&t.state, &["apps", "demo"]));
    assert!(
        before > 2 + 160 + 4 + 160 + 1000,
        "rules and owners count too"
    );
    t.ok(
        SK,
        SimpleOp::set_value("/apps/demo/d/k1", json!("x".repeat(500))),
    );
    let after = budget::free_tier_usage(&t.state);
    assert_eq!(after - before, 4 + 160 + 1000, "label `k1` + leaf");
    // The next write goes over: events first, then 10905 and a full revert.
    let mut n = 2;
    let e = loop {
        assert!(n < 20, "the free tier never filled");
        let e = t.run(
            SK,
            SimpleOp::set_value(format!("/apps/demo/d/k{n}"), json!("x".repeat(500))).into(),
            -1,
        );
        if codes::is_failed_tx(&e.result) {
            break e;
        }
        n += 1;
    };
    assert_eq!(e.result["code"], 10905, "{}", e.result);
    let used = budget::free_tier_usage(&t.state) + 4 + 160 + 1000;
    assert_eq!(
        e.result["message"],
        format!(
            "Exceeded state budget limit for free tier ({used} > 8000).\nFor more information see https://docs.ainetwork.ai/ain-blockchain/staking"
        )
    );
    assert_eq!(
        e.events.len(),
        1,
        "VALUE_CHANGED went out before the budget check"
    );
    assert_eq!(
        t.state.value(&["apps", "demo", "d", &format!("k{n}")]),
        Value::Null,
        "reverted"
    );
    assert!(!e.precheck_failed, "pooled and put in a block as failed");
    // The refused write left the total under budget: a smaller write still fits.
    t.ok(SK, SimpleOp::set_value("/apps/demo/small", json!(1)));
}

#[test]
fn a_set_over_budget_keeps_its_writes_as_on_the_node() {
    let mut t = T::new();
    create_app(&mut t);
    small_free_tier(&mut t, 1000.0);
    let op = Operation::Set(vec![SimpleOp::set_value(
        "/apps/demo/big",
        json!("y".repeat(600)),
    )]);
    let nonce_before = t.state.value(&["accounts", &addr(SK), "timestamp"]);
    let e = t.run(SK, op, -2);
    assert_eq!(e.result["code"], 10905, "{}", e.result);
    assert!(
        !codes::is_failed_tx(&e.result),
        "isFailedTx looks at result_list only"
    );
    assert_eq!(
        t.state.value(&["apps", "demo", "big"]),
        json!("y".repeat(600)),
        "writes kept (§1.5)"
    );
    assert_eq!(
        t.state.value(&["accounts", &addr(SK), "timestamp"]),
        nonce_before,
        "no nonce update"
    );
}

#[test]
fn staking_lifts_an_app_out_of_the_free_tier() {
    let mut t = T::new();
    create_app(&mut t);
    small_free_tier(&mut t, 1000.0);
    let e = t.run(
        SK,
        SimpleOp::set_value("/apps/demo/big", json!("y".repeat(600))).into(),
        -1,
    );
    assert_eq!(e.result["code"], 10905);
    let a = addr(SK);
    // More than the balance: the stake rule refuses.
    let stake =
        |amount| SimpleOp::set_value(format!("/staking/demo/{a}/0/stake/1/value"), json!(amount));
    let e = t.run(SK, stake(5000).into(), -1);
    assert_eq!(e.result["code"], 12103, "{}", e.result);
    t.ok(SK, stake(100));
    assert_eq!(
        t.state.value(&["staking", "demo", "balance_total"]),
        json!(100)
    );
    assert_eq!(t.state.value(&["staking", "balance_total_sum"]), json!(100));
    assert_eq!(t.state.value(&["accounts", &a, "balance"]), json!(900));
    t.ok(
        SK,
        SimpleOp::set_value("/apps/demo/big", json!("y".repeat(600))),
    );
    let u = budget::state_usage(&t.state, &t.params.budgets, "demo");
    assert_eq!(u["staking"]["app"], 100);
    let share = 1000.0 / 0.005 * 0.495;
    let used = u["usage"]["tree_bytes"].as_f64().unwrap();
    assert_eq!(u["available"]["tree_bytes"].as_f64().unwrap(), share - used);
    // `calcUnstakeableAmount`: alone with all the stake the app could withdraw it all, but
    // without a stake it would not fit the free tier any more: all but 1.
    assert!(used > 1000.0);
    assert_eq!(u["staking"]["unstakeable"], 99, "{u}");
}

#[test]
fn state_gas_is_what_each_named_app_grew_as_on_the_node() {
    let mut t = T::new();
    create_app(&mut t);
    t.ok(SK, SimpleOp::set_value("/apps/demo/jobs/seed", json!(1)));
    // ain-node-semantics.md §1.1's worked example: a new `jobs/job42/request =
    // {"prompt":"hi","n":3}` under an existing `jobs` costs 10 + 160 + 14 + 160 + 176 + 170.
    let e = t.ok(
        SK,
        SimpleOp::set_value(
            "/apps/demo/jobs/job42/request",
            json!({"prompt": "hi", "n": 3}),
        ),
    );
    assert_eq!(
        e.result["gas_amount_total"]["state"],
        json!({"service": 0, "app": {"demo": 690}})
    );
    // Shrinking an app reports no app entry (the node keeps only deltas > 0).
    let e = t.ok(
        SK,
        SimpleOp::set_value("/apps/demo/jobs/job42/request", json!({"n": 3})),
    );
    assert_eq!(e.result["gas_amount_total"]["state"], json!({"service": 0}));
    // A refused op: the tx failed, no state gas.
    let e = t.run(
        SK2,
        SimpleOp::set_value("/apps/demo/x", json!(1)).into(),
        -1,
    );
    assert_eq!(e.result["code"], 12103, "{}", e.result);
    assert_eq!(e.result["gas_amount_total"]["state"], json!({"service": 0}));
    // A write refused by the free tier (10905) still reports what it added, as a real node did
    // (`state: {service: 0, app: {rn1: 532}}` with code 10905).
    t.ok(SK, SimpleOp::set_value("/apps/demo/d/seed", json!(1)));
    let used = budget::free_tier_usage(&t.state) as f64;
    small_free_tier(&mut t, used + 1000.0);
    let mut n = 0;
    let e = loop {
        assert!(n < 20, "the free tier never filled");
        let e = t.run(
            SK,
            SimpleOp::set_value(format!("/apps/demo/d/k{n}"), json!("x".repeat(100))).into(),
            -1,
        );
        if codes::is_failed_tx(&e.result) {
            break e;
        }
        n += 1;
    };
    assert_eq!(e.result["code"], 10905, "{}", e.result);
    let label = format!("k{n}").len() as u64;
    assert_eq!(
        e.result["gas_amount_total"]["state"],
        json!({"service": 0, "app": {"demo": 2 * label + 160 + 200}})
    );
}
