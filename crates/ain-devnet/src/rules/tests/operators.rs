//! The operators as JS evaluates them: `+` on strings and numbers, strict equality, relational
//! and logical operators (returning operands), precedence, short-circuits, and the `util.*`
//! predicates on each JSON type.

use super::*;

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
