//! Writes as the node executes them: creating an app, rules, owners and atomic sets, nonces and
//! prechecks.

use super::*;

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
