use serde_json::{Value, json};

use super::*;
use crate::genesis::{GenesisParams, build_genesis};
use ain_ledger::crypto::PrivateKey;
use ain_ledger::tx::TxBody;

const SK: &str = "b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96";
const SK2: &str = "d36d9bd96fc4d28d1c282bfdc71656e1d40fabcb0cccb7fb7b0a127a0a574d5e";

struct T {
    state: State,
    rules: RuleCache,
    params: ExecParams,
    ts: u64,
    block: u64,
}

impl T {
    fn new() -> T {
        let key = PrivateKey::from_hex(SK).unwrap();
        let (_, state) = build_genesis(
            &key,
            &GenesisParams {
                chain_id: 0,
                network_id: 0,
                stake: 1,
                timestamp: crate::genesis::GENESIS_TIMESTAMP,
                balances: vec![(addr(SK), 1000)],
            },
        )
        .unwrap();
        T {
            state,
            rules: RuleCache::default(),
            params: ExecParams {
                min_gas_price: 1,
                set_op_list_size_limit: 50,
                budgets: Default::default(),
            },
            ts: 1_700_000_000_000,
            block: 1,
        }
    }

    fn run(&mut self, sk: &str, op: Operation, nonce: i64) -> Executed {
        self.ts += 1;
        let key = PrivateKey::from_hex(sk).unwrap();
        let tx = TxBody::new(op, nonce, self.ts).sign(&key, 0).unwrap();
        let env = TxEnv {
            block_number: self.block,
            block_time: 0,
            source: Some("USER"),
        };
        execute_tx(
            &mut self.state,
            &mut self.rules,
            &self.params,
            &tx,
            &crate::event_handler::EventTx::None,
            env,
        )
    }

    fn ok(&mut self, sk: &str, op: impl Into<Operation>) -> Executed {
        let e = self.run(sk, op.into(), -1);
        assert!(!codes::is_failed_tx(&e.result), "{}", e.result);
        e
    }
}

fn addr(sk: &str) -> String {
    PrivateKey::from_hex(sk).unwrap().address().to_checksum()
}

fn create_app(t: &mut T) {
    let a = addr(SK);
    let e = t.ok(
        SK,
        SimpleOp::set_value(
            "/manage_app/demo/create/1",
            json!({"admin": {a.clone(): true}}),
        ),
    );
    assert_eq!(e.result["func_results"]["_createApp"]["code"], 0);
}

#[test]
fn create_app_gives_the_admin_the_app() {
    let mut t = T::new();
    create_app(&mut t);
    let a = addr(SK);
    assert_eq!(
        t.state
            .read(TreeKind::Rules, &["apps", "demo", ".rule", "write"]),
        json!(format!("auth.addr === '{a}'"))
    );
    assert_eq!(
        t.state.read(
            TreeKind::Owners,
            &["apps", "demo", ".owner", "owners", &a, "write_owner"]
        ),
        json!(true)
    );
    assert_eq!(
        t.state
            .value(&["manage_app", "demo", "config", "admin", &a]),
        json!(true)
    );
    // A second create is refused by the create rule.
    let e = t.run(
        SK,
        SimpleOp::set_value("/manage_app/demo/create/2", json!({"admin": {a: true}})).into(),
        -1,
    );
    assert_eq!(e.result["code"], 12103);
    // Bad app names and bad configs fail the function, so the whole tx fails.
    let e = t.run(
        SK,
        SimpleOp::set_value(
            "/manage_app/Bad/create/1",
            json!({"admin": {addr(SK): true}}),
        )
        .into(),
        -1,
    );
    assert_eq!(e.result["code"], 10104);
    assert_eq!(e.result["func_results"]["_createApp"]["code"], 20301);
    assert_eq!(t.state.value(&["manage_app", "Bad"]), Value::Null);
}

#[test]
fn writes_rules_owners_and_atomic_sets() {
    let mut t = T::new();
    create_app(&mut t);
    let e = t.ok(SK, SimpleOp::set_value("/apps/demo/x", json!({"k": 1})));
    assert_eq!(e.events.len(), 1);
    assert_eq!(e.result["gas_amount_total"]["bandwidth"]["app"]["demo"], 1);
    // The second key is not an admin.
    let e = t.run(
        SK2,
        SimpleOp::set_value("/apps/demo/x", json!(2)).into(),
        -1,
    );
    assert_eq!(e.result["code"], 12103);
    assert!(e.events.is_empty());
    // An open rule for per-user entries.
    t.ok(
        SK,
        SimpleOp::set_rule(
            "/apps/demo/users/$u",
            json!({".rule": {"write": "auth.addr === $u"}}),
        ),
    );
    let me = addr(SK2);
    t.ok(
        SK2,
        SimpleOp::set_value(format!("/apps/demo/users/{me}/n"), json!(1)),
    );
    t.ok(
        SK2,
        SimpleOp::inc_value(format!("/apps/demo/users/{me}/n"), 2),
    );
    t.ok(
        SK2,
        SimpleOp::dec_value(format!("/apps/demo/users/{me}/n"), 0.5f64 as i64 + 1),
    );
    assert_eq!(
        t.state.value(&["apps", "demo", "users", &me, "n"]),
        json!(2)
    );
    // SET: the second op is denied, so the first one is undone too.
    let before = t.state.to_snapshot();
    let e = t.run(
        SK2,
        Operation::set(vec![
            SimpleOp::set_value(format!("/apps/demo/users/{me}/m"), json!("a")),
            SimpleOp::set_value("/apps/demo/x", json!(3)),
            SimpleOp::set_value(format!("/apps/demo/users/{me}/z"), json!("never")),
        ])
        .unwrap(),
        -1,
    );
    let list = e.result["result_list"].as_object().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list["0"]["code"], 0);
    assert_eq!(list["1"]["code"], 12103);
    assert!(e.result.get("code").is_none());
    assert_eq!(t.state.to_snapshot(), before);
    // The state tree may not get deeper than 30.
    let deep = format!("/apps/demo/users/{me}/{}", vec!["d"; 25].join("/"));
    let e = t.run(SK2, SimpleOp::set_value(deep, json!({"x": 1})).into(), -1);
    assert_eq!(e.result["code"], 11101, "{}", e.result);
    // Rule writes need the owner; unsupported rule text is refused when set.
    let e = t.run(
        SK2,
        SimpleOp::set_rule("/apps/demo/y", json!({".rule": {"write": true}})).into(),
        -1,
    );
    assert_eq!(e.result["code"], 12302);
    let e = t.run(
        SK,
        SimpleOp::set_rule("/apps/demo/y", json!({".rule": {"write": "data == null"}})).into(),
        -1,
    );
    assert_eq!(e.result["code"], 10503);
    let msg = e.result["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Invalid rule tree: /.rule/write (") && msg.contains("=="),
        "{msg}"
    );
}

#[test]
fn nonces_and_prechecks() {
    let mut t = T::new();
    let me = addr(SK2);
    let e = t.run(SK2, SimpleOp::set_value("/x", json!(1)).into(), 0);
    // A failed tx does not consume its nonce.
    assert_eq!(e.result["code"], 12103);
    assert!(!e.precheck_failed);
    assert_eq!(t.state.value(&["accounts", &me, "nonce"]), Value::Null);
    let e = t.run(SK2, SimpleOp::set_value("/x", json!(1)).into(), 1);
    assert!(e.precheck_failed);
    assert_eq!(e.result["code"], 10712);
    assert_eq!(e.result["message"], "Invalid nonce: 1 !== 0");
    create_app(&mut t);
    t.ok(
        SK,
        SimpleOp::set_rule("/apps/demo/open", json!({".rule": {"write": true}})),
    );
    let e = t.run(
        SK2,
        SimpleOp::set_value("/apps/demo/open/a", json!(1)).into(),
        0,
    );
    assert_eq!(e.result["code"], 0);
    assert_eq!(t.state.value(&["accounts", &me, "nonce"]), json!(1));
    let e = t.run(
        SK2,
        SimpleOp::set_value("/apps/demo/open/a", json!(2)).into(),
        -2,
    );
    assert_eq!(e.result["code"], 0);
    let ts = t.ts;
    assert_eq!(t.state.value(&["accounts", &me, "timestamp"]), json!(ts));
    // An ordered tx must be newer than the account's timestamp.
    let key = PrivateKey::from_hex(SK2).unwrap();
    let old = TxBody::new(
        SimpleOp::set_value("/apps/demo/open/a", json!(3)),
        -2,
        ts - 5,
    )
    .sign(&key, 0)
    .unwrap();
    let env = TxEnv {
        block_number: 1,
        block_time: 0,
        source: None,
    };
    let e = execute_tx(
        &mut t.state,
        &mut t.rules,
        &t.params,
        &old,
        &crate::event_handler::EventTx::None,
        env,
    );
    assert_eq!(e.result["code"], 10713);
    // gas_price must be present and 0 or at least min_gas_price.
    let mut body = TxBody::new(SimpleOp::set_value("/apps/demo/open/a", json!(3)), -1, 5);
    body.gas_price = None;
    let tx = body.sign(&key, 0).unwrap();
    let e = execute_tx(
        &mut t.state,
        &mut t.rules,
        &t.params,
        &tx,
        &crate::event_handler::EventTx::None,
        env,
    );
    assert_eq!(e.result["code"], 10714);
}

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

fn gc_rule(max: f64, deleted: f64) -> SimpleOp {
    SimpleOp::set_rule(
        "/apps/demo/jobs/$id",
        json!({".rule": {"state": {"gc_max_siblings": max, "gc_num_siblings_deleted": deleted}}}),
    )
}

fn job_labels(t: &T) -> Vec<String> {
    t.state
        .tree(TreeKind::Values)
        .get(&["apps", "demo", "jobs"])
        .map(|n| n.labels_by_age())
        .unwrap_or_default()
}

#[test]
fn gc_rule_validity_follows_the_node() {
    let mut t = T::new();
    create_app(&mut t);
    // Block 1: `min_gc_num_siblings_deleted` is still genesis's 100 (ain-node-semantics.md §2.1).
    assert_eq!(
        t.run(SK, gc_rule(10.0, 10.0).into(), -1).result["code"],
        10503
    );
    t.block = 2;
    t.ok(SK, gc_rule(10.0, 10.0));
    for bad in [
        json!({"gc_max_siblings": 20, "gc_num_siblings_deleted": 9}),
        json!({"gc_max_siblings": 20, "gc_num_siblings_deleted": 21}),
        json!({"gc_max_siblings": 20}),
        json!({"gc_num_siblings_deleted": 10}),
        json!({"gc_max_siblings": 0, "gc_num_siblings_deleted": 10}),
        json!({"gc_max_siblings": "20", "gc_num_siblings_deleted": 10}),
        json!({"gc_max_siblings": 20, "gc_num_siblings_deleted": 10, "keep": 1}),
    ] {
        let op = SimpleOp::set_rule("/apps/demo/jobs/$id", json!({".rule": {"state": bad}}));
        assert_eq!(t.run(SK, op.into(), -1).result["code"], 10503, "{bad}");
    }
}

#[test]
fn gc_deletes_the_oldest_siblings_by_insertion_silently() {
    let mut t = T::new();
    create_app(&mut t);
    t.block = 2;
    t.ok(SK, gc_rule(20.0, 10.0));
    // Labels in descending order, so insertion order is not label order.
    let label = |i: usize| format!("j{:02}", 99 - i);
    for i in 0..20 {
        t.ok(
            SK,
            SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(i)), json!(i)),
        );
    }
    assert_eq!(job_labels(&t).len(), 20, "not over gc_max_siblings yet");
    // A deeper write under an existing job also runs gc, with nothing to do.
    t.ok(
        SK,
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/response", label(0)), json!("r")),
    );
    assert_eq!(job_labels(&t).len(), 20);
    // The 21st: 21 > 20, so the 10 oldest go, leaving 20 + 1 - 10 = 11; one event only.
    let e = t.ok(
        SK,
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(20)), json!(20)),
    );
    assert_eq!(e.events.len(), 1, "gc deletions fire no VALUE_CHANGED");
    let want: Vec<String> = (10..21).map(label).collect();
    assert_eq!(job_labels(&t), want);
    // A failed tx restores what its gc deleted, with the original order.
    for i in 21..30 {
        t.ok(
            SK,
            SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(i)), json!(i)),
        );
    }
    let before = job_labels(&t);
    assert_eq!(before.len(), 20);
    let failing = Operation::Set(vec![
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(30)), json!(30)),
        SimpleOp::set_value("/nope", json!(1)),
    ]);
    assert!(codes::is_failed_tx(&t.run(SK, failing, -1).result));
    assert_eq!(job_labels(&t), before, "gc undone with the tx");
    t.ok(
        SK,
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(31)), json!(31)),
    );
    let mut want: Vec<String> = before[10..].to_vec();
    want.push(label(31));
    assert_eq!(job_labels(&t), want);
    // An overwrite keeps a label's age (no re-insertion, no gc deletion).
    t.ok(
        SK,
        SimpleOp::set_value(
            format!("/apps/demo/jobs/{}/request", want[0]),
            json!("again"),
        ),
    );
    assert_eq!(job_labels(&t), want);
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
