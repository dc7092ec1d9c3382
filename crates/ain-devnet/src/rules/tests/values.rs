//! What a rule reads: literals, the shipped and genesis rules, `auth`, `data` and `newData`,
//! path variables, time and block, and `getValue` paths.

use super::*;

#[test]
fn constant_rules() {
    let ctx = Ctx::default();
    for (v, want, src) in [
        (json!(true), true, "true"),
        (json!(false), false, "false"),
        (json!(null), false, "null"),
    ] {
        let r = Rule::parse(&v).unwrap();
        assert_eq!(r.eval(&ctx), Ok(want));
        assert_eq!(r.source(), src);
    }
    assert_eq!(
        Rule::parse(&json!(1)).unwrap_err().to_string(),
        "a write rule must be true, false, null or an expression string, not a number"
    );
    assert!(Rule::parse(&json!({"a": 1})).is_err());
    assert!(Rule::parse(&json!([true])).is_err());
}

#[test]
fn literals() {
    let ctx = Ctx::default();
    all_true(
        &ctx,
        &[
            "true",
            "'a' === \"a\"",
            "1.5 === 1.5",
            "null === null",
            ".5 === 0.5",
            "1e3 === 1000",
            "'\\x41' === 'A'",
            "'it\\'s' === \"it's\"",
            "-1 < 0",
            "'x'",
            "1",
            "0.1 + 0.2 === 0.30000000000000004",
        ],
    );
    all_false(
        &ctx,
        &[
            "false",
            "0",
            "''",
            "null",
            "-0",
            "1 === '1'",
            "true === 1",
            "null === false",
        ],
    );
}

#[test]
fn fixture_rules() {
    // From the recorded 1-node run: write-once responses and a public subtree.
    let write_once = rule("data === null");
    assert!(
        write_once
            .eval(&Ctx::with_data(Value::Null, json!({"output": "x"})))
            .unwrap()
    );
    let again = Ctx::with_data(
        json!({"output": "{\"x\":1}", "status": "ok"}),
        json!({"output": "again"}),
    );
    assert!(!write_once.eval(&again).unwrap());
    assert_eq!(write_once.source(), "data === null");
    assert!(Rule::parse(&json!(true)).unwrap().eval(&again).unwrap());
}

#[test]
fn genesis_rules_within_the_subset_parse() {
    let ctx = Ctx {
        state: json!({"accounts": {ADDR: {"balance": 100}}}),
        new_data: json!(50),
        ..Ctx::default()
    }
    .var("$user_addr", ADDR);
    assert!(check(
        "$user_addr === auth.addr && data === null && util.isNumber(newData) && newData >= 0 \
         && getValue('/accounts/' + $user_addr + '/balance') >= newData",
        &ctx
    ));
    assert!(!check(
        "auth.fid === '_stake' || auth.fid === '_unstake'",
        &ctx
    ));
    let ctx = Ctx {
        new_data: json!({"admin": {ADDR: true}}),
        ..Ctx::default()
    }
    .var("$app_name", "myapp");
    assert!(check(
        "data === null && getValue('/manage_app/' + $app_name + '/config') === null && util.isDict(newData)",
        &ctx
    ));
    assert_eq!(ctx.reads(), ["/manage_app/myapp/config"]);
    // Genesis rules calling state-aware util functions are outside the subset, and say so.
    let e = rejection("util.isAppAdmin($service_name, auth.addr, getValue) === true");
    assert!(
        e.starts_with("unsupported function `util.isAppAdmin` at 0: supported: util.isBool"),
        "{e}"
    );
    let e = rejection(
        "newData === null && !!getValue('/consensus/number/' + (Number($number) + 1000))",
    );
    assert!(e.contains("type cast `Number`"), "{e}");
}

#[test]
fn auth_fields() {
    let mut ctx = Ctx::default().var("$user", ADDR);
    all_true(
        &ctx,
        &[
            "auth.addr === $user",
            "auth.addr.length === 42",
            "!auth.fid",
            "auth.fid !== null",
        ],
    );
    // A missing auth.fid is undefined, which is not null.
    all_false(&ctx, &["auth.fid === null", "auth.fid === '_transfer'"]);
    ctx.fid = Some("_transfer".to_owned());
    ctx.addr = None;
    all_true(&ctx, &["auth.fid === '_transfer'", "!auth.addr"]);
    assert_eq!(
        eval("auth.addr.length > 0", &ctx),
        Err(EvalError::NullMember {
            key: "length".into(),
            base: "undefined"
        })
    );
}

#[test]
fn data_and_new_data_members() {
    let ctx = Ctx::with_data(
        json!({"owner": ADDR, "n": 3, "nested": {"k": "v"}}),
        json!({"status": "ok", "n": 4, "s": "h\u{e9}llo", "toString": "own", "list": [1, null, "x"], "keys": "k", "link": "l"}),
    )
    .var("$k", "status")
    .var("$proto", "constructor")
    .var("$own", "toString")
    .var("$i", "2");
    all_true(
        &ctx,
        &[
            "auth.addr === data.owner",
            "data.nested.k === 'v'",
            "data['nested']['k'] === 'v'",
            "newData[$k] === 'ok'",
            "newData.n > data.n",
            "newData.s.length === 5",
            "newData.s['1'] === '\\u00e9'",
            "newData.list.length === 3",
            "newData.list[$i] === 'x'",
            "newData.list['1'] === null",
            "newData.list['7'] !== null",
            "newData[$own] === 'own'",
            "!newData.missing",
            "newData.missing !== null",
            "util.isDict(data.nested)",
            "newData.keys === 'k' && newData.link === 'l'",
        ],
    );
    // Missing members are undefined, not null, exactly as in JS.
    all_false(
        &ctx,
        &["newData.missing === null", "data.owner === newData.owner"],
    );
    // Reading below a missing member throws in JS; the rule then denies (node code 12102).
    assert!(matches!(
        eval("newData.missing.x === 1", &ctx),
        Err(EvalError::NullMember { .. })
    ));
    // Prototype names reached through a $var are refused rather than faked.
    assert_eq!(
        eval("newData[$proto] === 1", &ctx),
        Err(EvalError::Builtin {
            key: "constructor".into()
        })
    );
    assert!(matches!(
        eval("newData.s[$proto]", &ctx),
        Err(EvalError::Builtin { .. })
    ));
    assert!(matches!(
        eval("newData.n[$own]", &ctx),
        Err(EvalError::Builtin { .. })
    ));
    // Array.prototype names are built-ins on arrays only; on objects they are plain fields.
    assert!(matches!(
        eval("newData.list.keys", &ctx),
        Err(EvalError::Builtin { .. })
    ));
}

#[test]
fn ownership_rule_on_empty_data_throws_like_js() {
    let r = rule("auth.addr === data.owner");
    assert!(
        r.eval(&Ctx::with_data(json!({"owner": ADDR}), json!(1)))
            .unwrap()
    );
    assert!(
        !r.eval(&Ctx::with_data(json!({"owner": "0xsomeoneelse"}), json!(1)))
            .unwrap()
    );
    assert_eq!(
        r.eval(&Ctx::default()),
        Err(EvalError::NullMember {
            key: "owner".into(),
            base: "null"
        })
    );
    let guarded = rule("data === null || auth.addr === data.owner");
    assert!(guarded.eval(&Ctx::default()).unwrap());
}

#[test]
fn path_vars() {
    let ctx = Ctx::default().var("$fn", "echo").var("$n", "9");
    all_true(
        &ctx,
        &["$fn === 'echo'", "$n < 10", "$n > '10'", "$n === '9'"],
    );
    all_false(&ctx, &["$n === 9"]);
    assert_eq!(
        eval("$missing === 'x'", &ctx),
        Err(EvalError::UnboundPathVar {
            name: "$missing".into()
        })
    );
    assert_eq!(rule("$b === $a || $a === ''").path_vars(), ["$a", "$b"]);
}

#[test]
fn parse_for_path_checks_variables() {
    let w = json!("$fn === 'echo' && $call_id !== $other");
    assert_eq!(
        Rule::parse_for_path(&w, &["$fn", "$call_id"])
            .unwrap_err()
            .to_string(),
        "path variable `$other` at 31 is not a variable of the rule's path"
    );
    assert!(Rule::parse_for_path(&w, &["$fn", "$call_id", "$other"]).is_ok());
    assert!(matches!(
        Rule::parse_for_path(&json!(true), &["$a-b"]),
        Err(RuleError::BadPathVarLabel { .. })
    ));
}

#[test]
fn time_and_block() {
    let ctx = Ctx::with_data(Value::Null, json!({"expires": 1_795_461_600_000u64}));
    all_true(
        &ctx,
        &[
            "currentTime === 1795461523346",
            "newData.expires > currentTime",
            "blockNumber === 42",
            "blockTime < currentTime",
        ],
    );
}

#[test]
fn get_value_paths() {
    let ctx = Ctx {
        state: json!({"apps": {"x": {"owner": ADDR, "limit": 5}}, "a": {"1.5": true}}),
        ..Ctx::default()
    }
    .var("$app", "x");
    all_true(
        &ctx,
        &[
            "getValue('/apps/x/owner') === auth.addr",
            "getValue('/apps/' + $app + '/owner') === auth.addr",
            "getValue('apps//x/limit/') === 5",
            "getValue('/a/' + 1.5) === true",
            "getValue('/apps/' + $app).limit === 5",
            "getValue('/nope') === null",
        ],
    );
    ctx.reads.borrow_mut().clear();
    check(
        "getValue(1) !== null && getValue('') !== null && getValue(newData) !== null",
        &ctx,
    );
    // parsePath turns non-strings and '' into the root.
    assert_eq!(ctx.reads(), ["/", "/", "/"]);
}
