//! Seeded generators of the inputs the compatibility test feeds to both implementations.
//!
//! Two layers: a fixed corpus (`corpus_bodies`, `corpus_messages`, the edge lists) that does not
//! depend on the seed, so every run covers every listed edge case at least once; and random
//! inputs drawn from the same pools, so new seeds keep finding new combinations. Everything here
//! only builds `serde_json::Value`s and strings; nothing checks results.
//!
//! Split by area: the edge lists here, the generator's values in `inputs/generator.rs`, its
//! operations and tx bodies in `inputs/ops.rs`, the fixed corpus in `inputs/corpus.rs`.

use serde_json::{Value, json};

#[path = "inputs/corpus.rs"]
mod corpus;
#[path = "inputs/generator.rs"]
mod generator;

pub(crate) use corpus::{corpus_bodies, corpus_messages};
pub(crate) use generator::Gen;

/// The operation types of `ain-blockchain:common/constants.js` `WriteDbOperations`.
pub(crate) const OP_TYPES: [&str; 7] = [
    "SET_VALUE",
    "INC_VALUE",
    "DEC_VALUE",
    "SET_RULE",
    "SET_FUNCTION",
    "SET_OWNER",
    "SET",
];

/// Numbers whose JavaScript rendering has a rule of its own: exponent thresholds (1e-7, 1e21),
/// subnormals, the extremes, the 2^53 exactness limit, i64/u64 extremes, `-0` and
/// integer-valued floats.
pub(crate) fn edge_numbers() -> Vec<Value> {
    let mut v: Vec<Value> = vec![
        json!(0),
        json!(1),
        json!(-1),
        json!((1i64 << 53) - 1),
        json!(1i64 << 53),
        json!((1i64 << 53) + 1),
        json!(-(1i64 << 53)),
        json!(-(1i64 << 53) - 1),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1u64 << 63),
        json!(999_999_999_999_999_999u64),
        json!(1_000_000_000_000_000_000u64),
        json!(12_345_678_901_234_567_890u64),
    ];
    let floats = [
        1e-7,
        -1e-7,
        1.5e-7,
        9.99999999999e-8,
        1e-6,
        0.000001234,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        2.225073858507201e-308,
        1e21,
        -1e21,
        1e21_f64.next_up(),
        1e21_f64.next_down(),
        -1e21_f64.next_down(),
        9.999999999999999e20,
        1e20,
        123_456_789_012_345_680_000.0,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        0.1,
        0.2,
        0.30000000000000004,
        1.0 / 3.0,
        -2.0 / 3.0,
        123.456,
        4.35,
        0.5,
        -0.0,
        0.0,
        2.0,
        -2.0,
        1e15,
        1e16,
        1e17 + 16.0,
        9007199254740993.0,
        18446744073709551616.0,
        1.2345678901234567e-300,
        6.02214076e23,
        1.602176634e-19,
        std::f64::consts::PI,
        -std::f64::consts::E,
        f64::EPSILON,
        f64::MIN_POSITIVE,
        1.0 + f64::EPSILON,
        1e300 * 1e8,
    ];
    v.extend(floats.iter().filter(|x| x.is_finite()).map(|&x| json!(x)));
    v
}

/// Strings covering every escape `JSON.stringify` knows and the Unicode planes and classes that
/// could trip an encoder: BMP, CJK, combining marks, astral emoji, U+E000–U+FFFF (above the
/// surrogate range in UTF-16 order), RTL text and controls, U+2028/2029, BOM, noncharacters.
pub(crate) fn edge_strings() -> Vec<String> {
    let mut all_controls: String = (0u8..0x20).map(char::from).collect();
    all_controls.push('\u{7f}');
    [
        "",
        " ",
        "\"",
        "\\",
        "\\\"",
        "\"\\\"",
        "/",
        "</script>",
        "\u{8}\u{c}\n\r\t",
        &all_controls,
        "\u{0}",
        "a\u{0}b",
        "\u{7f}\u{80}\u{9f}\u{a0}",
        "\u{2028}\u{2029}",
        "line\u{2028}sep\u{2029}para",
        "héllo wörld ÿ",
        "Ελληνικά кириллица",
        "世界 中文 日本語 한국어",
        "e\u{301}\u{302}\u{303} a\u{30a} n\u{303}",
        "\u{301}leading combining",
        "😀🚀👍🏽👨‍👩‍👧‍👦",
        "𝄞 𐍈 \u{10000} \u{10ffff}",
        "\u{e000}\u{f8ff}\u{fffd}\u{fffe}\u{ffff}",
        "\u{feff}bom",
        "שלום עולם",
        "مرحبا بالعالم",
        "\u{200f}\u{202e}rtl override\u{202c}\u{2067}isolate\u{2069}",
        "\u{200b}\u{200c}\u{200d}\u{2060}",
        "\u{d7ff}\u{e000}",
        "\u{7ff}\u{800}\u{ffff}\u{10000}",
        "mixed \"quotes\" and \\backslashes\\ and\nnewlines\tand 🚀",
        "1e21",
        "-0",
        "null",
        "true",
        "{\"a\":1}",
        "0x",
        "0xdeadbeef",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// Object keys chosen to sort differently in UTF-16 code-unit order (what JS uses) than in code
/// point or UTF-8 byte order, plus integer-like keys (JS enumerates those first before sorting),
/// prototype names, escapes and the empty key.
pub(crate) fn edge_keys() -> Vec<String> {
    [
        "",
        "a",
        "A",
        "aa",
        "a\u{0}",
        "b",
        "_",
        "$",
        ".rule",
        ".function",
        "0",
        "1",
        "10",
        "2",
        "-1",
        "01",
        "1.5",
        "4294967294",
        "4294967295",
        "9007199254740993",
        "__proto__",
        "constructor",
        "toJSON",
        "hasOwnProperty",
        "\u{ff21}",
        "\u{1f680}",
        "\u{e000}",
        "\u{ffff}",
        "\u{10000}",
        "\u{10ffff}",
        "x\u{fb01}",
        "x\u{1d11e}",
        "\u{d7ff}",
        "\u{fffd}",
        "é",
        "e\u{301}",
        "世界",
        "\"",
        "\\",
        "\n",
        "\u{1f}",
        "\u{2028}",
        "key with spaces",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}
