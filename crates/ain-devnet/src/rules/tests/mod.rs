//! Rule parser and evaluator tests: each construct of the subset, JS corner cases, rejections,
//! bounds, and a no-panic sweep over random input.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

const ADDR: &str = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C";

/// A context whose state is one JSON tree; it records every `getValue` path it is asked for.
struct Ctx {
    addr: Option<String>,
    fid: Option<String>,
    data: Value,
    new_data: Value,
    time: f64,
    vars: BTreeMap<String, String>,
    state: Value,
    reads: RefCell<Vec<String>>,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            addr: Some(ADDR.to_owned()),
            fid: None,
            data: Value::Null,
            new_data: Value::Null,
            time: 1_795_461_523_346.0,
            vars: BTreeMap::new(),
            state: Value::Null,
            reads: RefCell::new(Vec::new()),
        }
    }
}

impl Ctx {
    fn with_data(data: Value, new_data: Value) -> Ctx {
        Ctx {
            data,
            new_data,
            ..Ctx::default()
        }
    }

    fn var(mut self, name: &str, value: &str) -> Ctx {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    fn reads(&self) -> Vec<String> {
        self.reads.borrow().clone()
    }
}

impl RuleContext for Ctx {
    fn auth_addr(&self) -> Option<&str> {
        self.addr.as_deref()
    }
    fn auth_fid(&self) -> Option<&str> {
        self.fid.as_deref()
    }
    fn data(&self) -> &Value {
        &self.data
    }
    fn new_data(&self) -> &Value {
        &self.new_data
    }
    fn current_time(&self) -> f64 {
        self.time
    }
    fn block_number(&self) -> f64 {
        42.0
    }
    fn block_time(&self) -> f64 {
        1_795_461_520_000.0
    }
    fn path_var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
    fn get_value(&self, path: &str) -> Value {
        self.reads.borrow_mut().push(path.to_owned());
        let mut v = &self.state;
        for label in path.split('/').filter(|l| !l.is_empty()) {
            v = match v.get(label) {
                Some(x) => x,
                None => return Value::Null,
            };
        }
        v.clone()
    }
}

fn rule(src: &str) -> Rule {
    Rule::parse(&json!(src)).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

fn eval(src: &str, ctx: &Ctx) -> Result<bool, EvalError> {
    rule(src).eval(ctx)
}

fn check(src: &str, ctx: &Ctx) -> bool {
    eval(src, ctx).unwrap_or_else(|e| panic!("{src:?} should evaluate: {e}"))
}

fn rejection(src: &str) -> String {
    match Rule::parse(&json!(src)) {
        Ok(r) => panic!("{src:?} should be rejected, parsed as {r:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts every rule is true in `ctx`.
fn all_true(ctx: &Ctx, rules: &[&str]) {
    for r in rules {
        assert!(check(r, ctx), "{r:?} should be true");
    }
}

/// Asserts every rule is false in `ctx`.
fn all_false(ctx: &Ctx, rules: &[&str]) {
    for r in rules {
        assert!(!check(r, ctx), "{r:?} should be false");
    }
}

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

#[test]
fn string_concatenation_and_addition() {
    let ctx = Ctx::with_data(
        Value::Null,
        json!({"n": 2, "o": {"a": 1}, "l": [1, [2, 3], null]}),
    );
    all_true(
        &ctx,
        &[
            "'/a/' + 1.5 === '/a/1.5'",
            "1 + 2 + 'x' === '3x'",
            "'x' + 1 + 2 === 'x12'",
            "'x' + (1 + 2) === 'x3'",
            "1 + 2 === 3",
            "'a' + null === 'anull'",
            "'a' + true === 'atrue'",
            "'a' + newData.missing === 'aundefined'",
            "'' + 1e21 === '1e+21'",
            "'' + 0.000001 === '0.000001'",
            "'' + 1e-7 === '1e-7'",
            "'' + -0 === '0'",
            "'' + newData.o === '[object Object]'",
            "'' + newData.l === '1,2,3,'",
            "null + 1 === 1",
            "true + true === 2",
            "newData.n + 1 === 3",
            "'' + (newData.missing + 1) === 'NaN'",
            "newData.l + 1 === '1,2,3,1'",
        ],
    );
}

#[test]
fn strict_equality_and_identity() {
    let ctx = Ctx {
        data: json!({"o": {"a": 1}}),
        new_data: json!({"o": {"a": 1}}),
        state: json!({"x": {"a": 1}, "p": 7}),
        ..Ctx::default()
    };
    all_true(
        &ctx,
        &[
            "data === data",
            "data.o === data.o",
            "getValue('/p') === getValue('/p')",
            "0 === -0",
            "data.o !== newData.o",
            "newData.missing === newData.other",
        ],
    );
    // Objects compare by identity: equal contents from different sources are different objects.
    all_false(
        &ctx,
        &[
            "data === newData",
            "getValue('/x') === getValue('/x')",
            "-'x' === -'x'",
            "data.o === data",
        ],
    );
}

#[test]
fn relational_operators() {
    let ctx = Ctx::with_data(json!({"n": 5}), json!({"o": {"a": 1}, "l": [3]}));
    all_true(
        &ctx,
        &[
            "1 < 2",
            "2 > 1",
            "2 <= 2",
            "2 >= 2",
            "'a' < 'b'",
            "'10' < '9'",
            "'10' > 9",
            "null < 1",
            "null >= 0",
            "'\\uFF61' > '\\uD83D\\uDE00'",
            "data.n >= 5 && data.n <= 5",
            "newData.l > 2",
            "true > false",
        ],
    );
    all_false(
        &ctx,
        &[
            "'abc' < 1",
            "'abc' >= 1",
            "newData.missing < 1",
            "newData.missing >= 1",
            "newData.o > 0",
            "newData.o <= 0",
            "3 > 2 > 1",
        ],
    );
}

#[test]
fn logical_operators_return_operands() {
    let ctx = Ctx::with_data(Value::Null, json!({"a": "set", "o": {}}));
    all_true(
        &ctx,
        &[
            "(newData.missing || 'd') === 'd'",
            "(newData.a || 'd') === 'set'",
            "(1 && 'x') === 'x'",
            "(0 && 'x') === 0",
            "(0 || null) === null",
            "newData.o",
            "!!newData.a",
            "!0 && !'' && !null && !newData.missing",
        ],
    );
    // The node converts the result with `!!`; any falsy value denies.
    all_false(&ctx, &["newData.missing", "'' || 0", "null && true"]);
}

#[test]
fn precedence() {
    let ctx = Ctx::default();
    all_true(
        &ctx,
        &[
            "true || false && false",
            "1 + 2 === 3",
            "'a' + 'b' === 'ab'",
            "1 < 2 === true",
            "!(0 === 1)",
        ],
    );
    // `!` binds tighter than `===`: (!0) === 1 is true === 1.
    all_false(
        &ctx,
        &[
            "!0 === 1",
            "(true || false) && false",
            "false && false || false",
        ],
    );
    // `-` binds tighter than `+`, and `+` tighter than comparisons.
    all_true(&ctx, &["-1 + 2 === 1", "-'5' === -5", "1 + 1 > 1"]);
}

#[test]
fn short_circuit_skips_get_value() {
    let ctx = Ctx::with_data(json!({"x": 1}), json!(1));
    for r in [
        "false && getValue('/x')",
        "true || getValue('/x')",
        "data === null && getValue('/a') === null",
        "(data !== null || getValue('/b')) && true",
    ] {
        check(r, &ctx);
    }
    assert!(ctx.reads().is_empty(), "{:?}", ctx.reads());
    check("true && getValue('/y') === null || getValue('/z')", &ctx);
    assert_eq!(ctx.reads(), ["/y"]);
}

#[test]
fn util_predicates_on_each_json_type() {
    let values = [
        ("null", json!(null)),
        ("bool", json!(true)),
        ("int", json!(7)),
        ("float", json!(1.5)),
        ("string", json!("s")),
        ("dict", json!({"a": 1})),
        ("empty dict", json!({})),
        ("array", json!([1])),
        ("empty array", json!([])),
    ];
    #[rustfmt::skip]
    let expect: &[(&str, [bool; 10])] = &[
        //                   null   bool   int    float  string dict   {}     array  []     undefined
        ("util.isBool",     [false, true,  false, false, false, false, false, false, false, false]),
        ("util.isNumber",   [false, false, true,  true,  false, false, false, false, false, false]),
        ("util.isInteger",  [false, false, true,  false, false, false, false, false, false, false]),
        ("util.isString",   [false, false, false, false, true,  false, false, false, false, false]),
        ("util.isDict",     [false, false, false, false, false, true,  true,  false, false, false]),
        ("util.isEmpty",    [true,  false, false, false, false, false, true,  false, true,  true ]),
        ("util.isHexString",[false, false, false, false, false, false, false, false, false, false]),
        ("util.isValAddr",  [false, false, false, false, false, false, false, false, false, false]),
        ("util.isCksumAddr",[false, false, false, false, false, false, false, false, false, false]),
    ];
    for (f, want) in expect {
        for (i, (name, v)) in values.iter().enumerate() {
            let ctx = Ctx::with_data(Value::Null, v.clone());
            assert_eq!(
                check(&format!("{f}(newData)"), &ctx),
                want[i],
                "{f}({name})"
            );
        }
        let ctx = Ctx::with_data(json!(0), json!({}));
        assert_eq!(
            check(&format!("{f}(newData.missing)"), &ctx),
            want[9],
            "{f}(undefined)"
        );
    }
    let lower = ADDR.to_lowercase();
    let ctx = Ctx::default().var("$lower", &lower).var("$cksum", ADDR);
    all_true(
        &ctx,
        &[
            "util.isCksumAddr(auth.addr)",
            "util.isCksumAddr($cksum)",
            "util.isValAddr($lower)",
            "util.isHexString('0x')",
            "util.isValidHash('0x' + '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff')",
            "util.isNumber(currentTime)",
            "util.isInteger(-0)",
        ],
    );
    all_false(
        &ctx,
        &[
            "util.isCksumAddr($lower)",
            "util.isCksumAddr('0X00ADEc28B6a845a085e03591bE7550dd68673C1C')",
            "util.isValAddr(auth.addr + ' ')",
            "util.isValidHash('0x00')",
            "util.isNumber(1 + 'x')",
            "util.isNumber(-'x')",
        ],
    );
}

#[test]
fn rejects_constructs_outside_the_subset() {
    let cases: &[(&str, &str)] = &[
        ("data.x == 1", "unsupported operator `==` at 7: use `===`"),
        ("data != null", "unsupported operator `!=` at 5: use `!==`"),
        ("data = 1", "assignment is not allowed at 5"),
        ("newData += 1", "assignment is not allowed at 8"),
        ("foo === 1", "unknown identifier `foo` at 0"),
        (
            "util.isEvil(newData)",
            "unsupported function `util.isEvil` at 0",
        ),
        (
            "util.getBalance($a, getValue) > 0",
            "unsupported function `util.getBalance` at 0",
        ),
        (
            "true; false",
            "unsupported `;` at 4: a rule is a single expression",
        ),
        (
            "function() { return true }",
            "unsupported keyword `function` at 0",
        ),
        ("(() => true)()", "unsupported arrow function `=>` at 4"),
        ("new Date() > 0", "unsupported keyword `new` at 0"),
        ("this.x", "unsupported keyword `this` at 0"),
        (
            "typeof newData === 'string'",
            "unsupported keyword `typeof` at 0",
        ),
        ("`a${b}`", "unsupported template literal at 0"),
        (
            "/ab+c/.test(newData)",
            "unsupported regular expression literal at 0",
        ),
        (
            "newData.toString() === 'x'",
            "unsupported member `toString` at 8",
        ),
        (
            "newData.constructor",
            "unsupported member `constructor` at 8",
        ),
        ("newData.a.foo()", "unsupported method call `.foo(…)` at 13"),
        ("data(1)", "unsupported call at 4"),
        ("getValue", "unsupported `getValue` used as a value at 0"),
        (
            "getValue('/a', 1)",
            "unsupported `,` in the arguments of `getValue` at 13",
        ),
        ("newData[1]", "unsupported computed member `[…]` at 7"),
        ("newData[data]", "unsupported computed member `[…]` at 7"),
        (
            "auth.fids",
            "unsupported member `auth.fids` at 0: only auth.addr and auth.fid are available",
        ),
        ("auth === null", "unsupported bare `auth` at 0"),
        ("newData - 1 > 0", "unsupported operator `-` at 8"),
        ("newData * 2", "unsupported operator `*` at 8"),
        ("newData & 1", "unsupported bitwise operator `&` at 8"),
        (
            "newData ? true : false",
            "unsupported conditional operator `?:` at 8",
        ),
        ("newData ?? 1", "unsupported nullish coalescing `??` at 8"),
        ("newData?.a", "unsupported optional chaining `?.` at 7"),
        ("'a' in newData", "unsupported operator `in` at 4"),
        (
            "newData instanceof Object",
            "unsupported operator `instanceof` at 8",
        ),
        ("[1, 2]", "unsupported array literal at 0"),
        ("{a: 1}", "unsupported object literal at 0"),
        ("+newData", "unsupported unary `+` at 0"),
        ("newData++", "unsupported update operator `++` at 7"),
        ("(1, 2)", "unsupported `,` in the parenthesis at 2"),
        (
            "0x10 === 16",
            "unsupported hexadecimal, octal or binary literal at 0",
        ),
        ("010 === 8", "unsupported number with a leading zero at 0"),
        ("1_000 === 1000", "unsupported numeric separator `_` at 1"),
        ("10n === 10", "unsupported BigInt literal at 0"),
        ("'\\1' === 'x'", "unsupported escape `\\1` at 1"),
        ("true // yes", "unsupported comment at 5"),
        (
            "undefined === newData",
            "unsupported identifier `undefined` at 0",
        ),
        (
            "lastBlockNumber > 0",
            "unsupported identifier `lastBlockNumber` at 0",
        ),
        (
            "evalOwner('/a', 'write_rule', auth)",
            "unsupported identifier `evalOwner` at 0",
        ),
        (
            "String(newData) === 'x'",
            "unsupported type cast `String` at 0",
        ),
        (
            "\ndata === null",
            "unsupported line break before the expression at 1",
        ),
        ("dätä", "unsupported character `ä` at 1"),
        ("'abc", "unterminated string at 0"),
        (
            "(true",
            "expected `)` to close the parenthesis, found end of rule at 5",
        ),
        ("true)", "unmatched `)` at 4"),
        (
            "true false",
            "unexpected identifier `false` after a complete expression at 5",
        ),
        (
            "data ===",
            "unexpected end of rule, expected an operand at 8",
        ),
        ("", "empty rule: the node would deny every write"),
        ("   ", "empty rule: the node would deny every write"),
        (
            "newData.",
            "expected a property name after `.`, found end of rule at 8",
        ),
    ];
    for (src, want) in cases {
        let got = rejection(src);
        assert!(got.starts_with(want), "{src:?}\n got: {got}\nwant: {want}");
    }
    assert!(cases.len() >= 15);
}

#[test]
fn nesting_is_bounded() {
    let deep = format!(
        "{}true{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(matches!(
        Rule::parse(&json!(deep)),
        Err(RuleError::TooDeep { .. })
    ));
    let ok = format!(
        "{}true{}",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    assert!(rule(&ok).eval(&Ctx::default()).unwrap());
    for hostile in [
        format!("{}true", "!".repeat(5000)),
        format!("{}1", "-".repeat(9999)),
        format!("{}1{}", "getValue(".repeat(900), ")".repeat(900)),
        format!("{}true{}", "util.isBool(".repeat(700), ")".repeat(700)),
        format!("1{}", " === 1".repeat(200)),
        format!("{}1", "(".repeat(9999)),
    ] {
        let got = Rule::parse(&json!(hostile));
        assert!(
            matches!(
                got,
                Err(RuleError::TooDeep { .. } | RuleError::Unsupported { .. })
            ),
            "{}: {got:?}",
            &hostile[..20]
        );
    }
    // Flat chains are n-ary nodes: long, but shallow.
    let flat_and = vec!["true"; 1200].join(" && ");
    assert!(check(&flat_and, &Ctx::default()));
    let sum = format!("{} === 1500", vec!["1"; 1500].join(" + "));
    assert!(check(&sum, &Ctx::default()));
    let members = format!("!newData{}", ".a".repeat(3000));
    let ctx = Ctx::with_data(Value::Null, json!({"b": 1}));
    assert!(matches!(
        eval(&members, &ctx),
        Err(EvalError::NullMember { .. })
    ));
}

#[test]
fn length_is_bounded() {
    let ok = format!("'{}' !== ''", "a".repeat(MAX_RULE_BYTES - 9));
    assert_eq!(ok.len(), MAX_RULE_BYTES);
    assert!(check(&ok, &Ctx::default()));
    let long = format!("'{}' !== ''", "a".repeat(MAX_RULE_BYTES - 8));
    assert_eq!(
        Rule::parse(&json!(long)),
        Err(RuleError::TooLong {
            len: MAX_RULE_BYTES + 1,
            max: MAX_RULE_BYTES
        })
    );
}

/// A small deterministic PRNG (xorshift64*), so the sweep is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fuzz_ctx() -> Ctx {
    Ctx {
        data: json!({"a": {"b": [1, "x", null]}, "s": "\u{1F600}", "n": 0}),
        new_data: json!({"a": 1, "owner": ADDR, "list": [[1, [2]], {}]}),
        state: json!({"x": {"y": 1}}),
        ..Ctx::default()
    }
    .var("$v", "a")
    .var("$i", "0")
}

/// A random expression of the subset, at most `depth` levels deep.
fn gen_expr(rng: &mut Rng, depth: usize, out: &mut String) {
    const ATOMS: &[&str] = &[
        "data",
        "newData",
        "auth.addr",
        "auth.fid",
        "$v",
        "$i",
        "null",
        "true",
        "false",
        "0",
        "1.5",
        "-1",
        "'a'",
        "'/x'",
        "''",
        "\"\\u{1F600}\"",
        "currentTime",
        "blockNumber",
        "data.a",
        "data.a.b",
        "data.s",
        "newData.list",
        "newData[$v]",
        "data.a.b[$i]",
        "newData.owner.length",
        "data.s['1']",
        "newData.missing",
    ];
    if depth == 0 || rng.below(3) == 0 {
        out.push_str(ATOMS[rng.below(ATOMS.len())]);
        return;
    }
    match rng.below(7) {
        0 => {
            out.push('!');
            gen_expr(rng, depth - 1, out);
        }
        1 => {
            out.push('(');
            gen_expr(rng, depth - 1, out);
            out.push(')');
        }
        2 => {
            out.push_str("getValue(");
            gen_expr(rng, depth - 1, out);
            out.push(')');
        }
        3 => {
            const F: &[&str] = &[
                "isDict",
                "isString",
                "isNumber",
                "isCksumAddr",
                "isEmpty",
                "isInteger",
            ];
            out.push_str("util.");
            out.push_str(F[rng.below(F.len())]);
            out.push('(');
            gen_expr(rng, depth - 1, out);
            out.push(')');
        }
        _ => {
            const OPS: &[&str] = &[
                " && ", " || ", " + ", " === ", " !== ", " < ", " > ", " <= ", " >= ",
            ];
            gen_expr(rng, depth - 1, out);
            out.push_str(OPS[rng.below(OPS.len())]);
            gen_expr(rng, depth - 1, out);
        }
    }
}

/// Parsing must never panic, and whatever parses must evaluate without panicking.
#[test]
fn random_input_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let ctx = fuzz_ctx();
    let mut parsed = 0;
    let mut try_rule = |text: &str| {
        if let Ok(r) = Rule::parse(&json!(text)) {
            let _ = r.eval(&ctx);
            parsed += 1;
        }
    };
    for _ in 0..3000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        try_rule(&String::from_utf8_lossy(&bytes));
    }
    const SOUP: &[&str] = &[
        "data",
        "newData",
        "auth",
        ".",
        "addr",
        "fid",
        "$v",
        "$i",
        "$nope",
        "getValue",
        "util",
        "isDict",
        "isCksumAddr",
        "isEmpty",
        "(",
        ")",
        "[",
        "]",
        "'/x'",
        "'a'",
        "\"\\u{1F600}\"",
        "'\\uD83D'",
        "1",
        "0",
        "1.5e3",
        "-",
        "!",
        "+",
        "===",
        "!==",
        "<",
        ">=",
        "&&",
        "||",
        "null",
        "true",
        "==",
        "=",
        ",",
        ";",
        "?",
        ":",
        "length",
        "constructor",
        "'0'",
        "b",
        "s",
        "n",
        "list",
        "owner",
        "currentTime",
        "{",
        "}",
        "`",
        "/",
        "\n",
        " ",
        "\\",
        "\u{fc}",
        "'",
        "typeof",
        "0x",
        "00",
        ".5",
        "1n",
    ];
    for _ in 0..3000 {
        let n = 1 + rng.below(24);
        let words: Vec<&str> = (0..n).map(|_| SOUP[rng.below(SOUP.len())]).collect();
        try_rule(&words.join(if rng.below(2) == 0 { " " } else { "" }));
    }
    // Valid rules, then the same with one character dropped, doubled or replaced.
    for _ in 0..3000 {
        let mut text = String::new();
        gen_expr(&mut rng, 6, &mut text);
        try_rule(&text);
        let mut chars: Vec<char> = text.chars().collect();
        let at = rng.below(chars.len());
        match rng.below(3) {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, chars[at]),
            _ => chars[at] = SOUP[rng.below(SOUP.len())].chars().next().unwrap_or('x'),
        }
        try_rule(&chars.into_iter().collect::<String>());
    }
    // Most generated rules are valid, so evaluation is exercised thoroughly, not just errors.
    assert!(parsed > 3000, "only {parsed} random rules parsed");
}
