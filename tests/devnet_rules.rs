//! Write rules and owners through real transactions: every construct of the rule subset that
//! apps use, the node's matching (path variables, closest rule, wrapped data, subtree rules),
//! owner permissions, and rule text outside the subset refused at SET_RULE time.

mod devnet_support;

use ain_sre::ledger::tx::SimpleOp;
use devnet_support::{Client, SK, SK2, addr, create_app, signed};
use serde_json::{Value, json};

async fn set_rule(c: &Client, sk: &str, path: &str, rule: Value) -> Value {
    c.send(signed(
        sk,
        SimpleOp::set_rule(path, json!({".rule": rule})),
        -1,
    ))
    .await["result"]
        .clone()
}

async fn write(c: &Client, sk: &str, path: &str, value: Value) -> Value {
    c.send(signed(sk, SimpleOp::set_value(path, value), -1))
        .await["result"]
        .clone()
}

async fn code(c: &Client, sk: &str, path: &str, value: Value) -> i64 {
    write(c, sk, path, value).await["code"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_constructs_through_transactions() {
    let h = devnet_support::start().await;
    let c = Client::of(&h);
    create_app(&c, SK, "r").await;
    let (a, b) = (addr(SK), addr(SK2));
    // The app rule `_createApp` wrote: auth.addr === '<admin>'.
    assert_eq!(code(&c, SK, "/apps/r/x", json!(1)).await, 0);
    assert_eq!(code(&c, SK2, "/apps/r/x", json!(2)).await, 12103);
    for (path, rule) in [
        (
            "/apps/r/users/$user",
            json!("auth.addr === $user && util.isCksumAddr(auth.addr)"),
        ),
        ("/apps/r/once/$k", json!("data === null")),
        (
            "/apps/r/req/$id",
            json!("util.isDict(newData) && util.isString(newData.input) && newData.input !== ''"),
        ),
        (
            "/apps/r/time/$k",
            json!("util.isNumber(newData) && newData <= currentTime && blockNumber > 0"),
        ),
        ("/apps/r/workers/$w", json!(true)),
        (
            "/apps/r/jobs/$j",
            json!("getValue('/apps/r/workers/' + auth.addr) === true || !(auth.addr !== $j)"),
        ),
        (
            "/apps/r/count",
            json!(
                "(data === null && newData === 1) || (util.isInteger(newData) && newData === data + 1)"
            ),
        ),
        ("/apps/r/owned/$k", json!("data.owner === auth.addr")),
        ("/apps/r/closed", json!(false)),
    ] {
        let r = set_rule(&c, SK, path, json!({"write": rule})).await;
        assert_eq!(r["code"], 0, "{path}: {r}");
    }
    // $var.
    assert_eq!(
        code(&c, SK2, &format!("/apps/r/users/{b}/name"), json!("bee")).await,
        0
    );
    assert_eq!(
        code(&c, SK2, &format!("/apps/r/users/{a}/name"), json!("bee")).await,
        12103
    );
    // data === null: write once.
    assert_eq!(code(&c, SK2, "/apps/r/once/k1", json!(1)).await, 0);
    assert_eq!(code(&c, SK2, "/apps/r/once/k1", json!(2)).await, 12103);
    // newData members and util predicates.
    assert_eq!(
        code(&c, SK2, "/apps/r/req/1", json!({"input": "x"})).await,
        0
    );
    assert_eq!(
        code(&c, SK2, "/apps/r/req/2", json!({"input": 5})).await,
        12103
    );
    assert_eq!(code(&c, SK2, "/apps/r/req/3", json!("flat")).await, 12103);
    // currentTime is the tx timestamp; blockNumber is the block being built.
    assert_eq!(code(&c, SK2, "/apps/r/time/a", json!(1)).await, 0);
    assert_eq!(code(&c, SK2, "/apps/r/time/b", json!(9e15)).await, 12103);
    // getValue with a concatenated path; `!`.
    assert_eq!(code(&c, SK2, "/apps/r/jobs/j1", json!(1)).await, 12103);
    assert_eq!(
        code(&c, SK2, &format!("/apps/r/jobs/{b}"), json!(1)).await,
        0
    );
    assert_eq!(
        code(&c, SK2, &format!("/apps/r/workers/{b}"), json!(true)).await,
        0
    );
    assert_eq!(code(&c, SK2, "/apps/r/jobs/j1", json!(1)).await, 0);
    // data + 1.
    assert_eq!(code(&c, SK2, "/apps/r/count", json!(1)).await, 0);
    assert_eq!(code(&c, SK2, "/apps/r/count", json!(3)).await, 12103);
    assert_eq!(code(&c, SK2, "/apps/r/count", json!(2)).await, 0);
    // A rule that would throw in JS (data.owner of null) is the node's internal error.
    let r = write(&c, SK2, "/apps/r/owned/k", json!({"owner": b})).await;
    assert_eq!(r["code"], 12102, "{r}");
    assert_eq!(code(&c, SK2, "/apps/r/closed", json!(1)).await, 12103);
    assert_eq!(c.get_value("/apps/r/count").await, json!(2));

    // The closest rule decides; data/newData are wrapped in the labels walked past it.
    set_rule(
        &c,
        SK,
        "/apps/r/wrap",
        json!({"write": "util.isDict(newData) && newData.x.y === 1"}),
    )
    .await;
    let r = set_rule(
        &c,
        SK,
        "/apps/r/wrap/x/y",
        json!({"state": {"max_children": 10}}),
    )
    .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(code(&c, SK, "/apps/r/wrap/x/y", json!(1)).await, 0);
    let r = write(&c, SK, "/apps/r/wrap/x/y", json!(2)).await;
    assert_eq!(r["code"], 12103);
    let msg = r["message"].as_str().unwrap();
    assert!(
        msg.contains("at '/apps/r/wrap'") && msg.contains("newData '{\"x\":{\"y\":2}}'"),
        "{msg}"
    );
    // A value write above a write rule is refused (12101).
    let r = write(&c, SK, "/apps/r/users", json!({"a": 1})).await;
    assert_eq!(r["code"], 12101, "{r}");
    // ain_evalRule answers without writing.
    let e = c
        .result(
            "ain_evalRule",
            json!({"ref": "/apps/r/once/k1", "value": 3, "address": b}),
        )
        .await;
    assert_eq!(e["code"], 12103);
    let e = c
        .result(
            "ain_evalRule",
            json!({"ref": "/apps/r/once/k9", "value": 3, "address": b}),
        )
        .await;
    assert_eq!(e["code"], 0);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_rule_text_is_refused_when_set() {
    let h = devnet_support::start().await;
    let c = Client::of(&h);
    create_app(&c, SK, "u").await;
    for (rule, why) in [
        ("data == null", "=="),
        ("Number(newData) > 1", "Number"),
        ("util.isAppAdmin('u', auth.addr, getValue)", "isAppAdmin"),
        ("auth.addr === $nope", "$nope"),
        ("newData ? true : false", "?"),
        ("newData = 1", "assignment"),
    ] {
        let r = set_rule(&c, SK, "/apps/u/a", json!({"write": rule})).await;
        assert_eq!(r["code"], 10503, "{rule}: {r}");
        let msg = r["message"].as_str().unwrap();
        assert!(
            msg.starts_with("Invalid rule tree: /.rule/write (") && msg.contains(why),
            "{rule}: {msg}"
        );
    }
    let stored = c
        .result("ain_get", json!({"type": "GET_RULE", "ref": "/apps/u/a"}))
        .await;
    assert_eq!(stored, Value::Null, "refused rules are not stored");
    // Other invalid rule trees, in the node's words.
    let r = set_rule(&c, SK, "/apps/u/a", json!({"write": true, "extra": 1})).await;
    assert_eq!(
        (r["code"].clone(), r["message"].clone()),
        (json!(10503), json!("Invalid rule tree: /.rule"))
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_and_functions() {
    let h = devnet_support::start().await;
    let c = Client::of(&h);
    create_app(&c, SK2, "own").await;
    let b = addr(SK2);
    // Only the app's owner may write rules, functions and owners under it.
    let r = set_rule(&c, SK, "/apps/own/x", json!({"write": true})).await;
    assert_eq!(r["code"], 12302, "{r}");
    assert_eq!(
        set_rule(&c, SK2, "/apps/own/x", json!({"write": true})).await["code"],
        0
    );
    let perms = json!({"branch_owner": true, "write_function": true, "write_owner": true, "write_rule": true});
    let owner = |who: &str| json!({".owner": {"owners": {who: perms.clone()}}});
    let r = c
        .send(signed(
            SK,
            SimpleOp::set_owner("/apps/own/sub", owner(&addr(SK))),
            -1,
        ))
        .await;
    assert_eq!(r["result"]["code"], 12502, "{r}");
    let r = c
        .send(signed(
            SK2,
            SimpleOp::set_owner("/apps/own/sub", owner(&addr(SK))),
            -1,
        ))
        .await;
    assert_eq!(r["result"]["code"], 0, "{r}");
    // Now the first key owns /apps/own/sub; an overwrite at /apps/own meets a subtree owner, while
    // a change of the `.owner` config alone is a merge and goes through.
    assert_eq!(
        set_rule(&c, SK, "/apps/own/sub/y", json!({"write": true})).await["code"],
        0
    );
    let mut overwrite = owner(&b);
    overwrite["other"] = owner(&b);
    let r = c
        .send(signed(SK2, SimpleOp::set_owner("/apps/own", overwrite), -1))
        .await;
    assert_eq!(r["result"]["code"], 12501, "{r}");
    let r = c
        .send(signed(SK2, SimpleOp::set_owner("/apps/own", owner(&b)), -1))
        .await;
    assert_eq!(r["result"]["code"], 0, "{r}");
    // Functions: REST ones are recorded as skipped; owner-only natives are refused.
    let f = json!({".function": {"hook": {"function_type": "REST", "function_id": "hook", "function_url": "http://localhost:3000/trigger"}}});
    let r = c
        .send(signed(SK2, SimpleOp::set_function("/apps/own/x", f), -1))
        .await;
    assert_eq!(r["result"]["code"], 0, "{r}");
    let r = c
        .send(signed(
            SK2,
            SimpleOp::set_value("/apps/own/x", json!(1)),
            -1,
        ))
        .await;
    assert_eq!(r["result"]["func_results"]["hook"]["code"], 20000, "{r}");
    let native = json!({".function": {"_transfer": {"function_type": "NATIVE", "function_id": "_transfer"}}});
    let r = c
        .send(signed(
            SK2,
            SimpleOp::set_function("/apps/own/y", native),
            -1,
        ))
        .await;
    assert_eq!(r["result"]["code"], 10404, "{r}");
    let fetched = c
        .result(
            "ain_get",
            json!({"type": "GET_OWNER", "ref": "/apps/own/sub"}),
        )
        .await;
    assert_eq!(fetched[".owner"]["owners"][addr(SK)]["write_rule"], true);
    h.shutdown().await;
}
