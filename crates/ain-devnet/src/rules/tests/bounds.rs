//! What the parser refuses: constructs outside the subset, and nesting and length past their
//! bounds.

use super::*;

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
