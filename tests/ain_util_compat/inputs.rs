//! Seeded generators of the inputs the compatibility test feeds to both implementations.
//!
//! Two layers: a fixed corpus (`corpus_bodies`, `corpus_messages`, the edge lists) that does not
//! depend on the seed, so every run covers every listed edge case at least once; and random
//! inputs drawn from the same pools, so new seeds keep finding new combinations. Everything here
//! only builds `serde_json::Value`s and strings; nothing checks results.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Number, Value, json};

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

/// The seeded source of random inputs.
pub(crate) struct Gen {
    rng: StdRng,
}

impl Gen {
    /// A generator for one named stream of `seed`; each test gets its own stream so adding inputs
    /// to one test does not change the inputs of the others.
    pub(crate) fn new(seed: u64, stream: &str) -> Gen {
        let tag = stream.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Gen {
            rng: StdRng::seed_from_u64(seed ^ tag),
        }
    }

    /// 32 random bytes that form a valid secp256k1 key (retrying the ~2^-128 invalid cases).
    pub(crate) fn key_bytes(&mut self) -> [u8; 32] {
        loop {
            let k: [u8; 32] = self.rng.random();
            if ain_sre::ledger::crypto::PrivateKey::from_bytes(&k).is_ok() {
                return k;
            }
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A uniform index below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// A random finite number, JSON-typed as integer or float in the ways JSON text can hold it.
    pub(crate) fn number(&mut self) -> Value {
        match self.below(20) {
            0..=5 => edge_numbers().choose(&mut self.rng).cloned().unwrap(),
            6..=8 => json!(self.rng.random_range(-1000i64..=1000)),
            9 | 10 => json!(self.rng.random::<i64>() >> self.below(64)),
            11 => json!(self.rng.random::<u64>()),
            12 | 13 => loop {
                // Any bit pattern: covers subnormals and every exponent.
                let x = f64::from_bits(self.rng.random());
                if x.is_finite() {
                    break json!(x);
                }
            },
            14 | 15 => {
                // Decimal-looking values with many digits, at every magnitude around the
                // exponent-notation thresholds.
                let mantissa = self.rng.random_range(1i64..=999_999_999_999_999_999) as f64;
                let exp = self.rng.random_range(-40i32..=40);
                let x = mantissa * 10f64.powi(exp);
                json!(if self.chance(0.5) { -x } else { x })
            }
            16 => json!(self.rng.random_range(-1e6..1e6f64)),
            17 => {
                // Integer-valued floats, including beyond 2^53 and around 1e21.
                let x = (self.rng.random::<i64>() >> self.below(60)) as f64;
                json!(x * [1.0, 1e3, 1e6, 1e9][self.below(4)])
            }
            _ => json!(self.rng.random_range(0u64..10_000_000_000_000)),
        }
    }

    fn char_from(&mut self, class: usize) -> char {
        let r = |g: &mut Self, lo: u32, hi: u32| char::from_u32(g.rng.random_range(lo..=hi));
        let c = match class {
            0 => r(self, 0x20, 0x7e),
            1 => ['"', '\\', '\u{8}', '\u{c}', '\n', '\r', '\t', '/']
                .choose(&mut self.rng)
                .copied(),
            2 => {
                if self.chance(0.1) {
                    Some('\u{7f}')
                } else {
                    r(self, 0, 0x1f)
                }
            }
            3 => r(self, 0x80, 0x52f),
            4 => r(self, 0x4e00, 0x9fff),
            5 => r(self, 0x300, 0x36f),
            6 => {
                if self.chance(0.5) {
                    r(self, 0x1f300, 0x1faff)
                } else {
                    r(self, 0x10000, 0x10ffff)
                }
            }
            7 => r(self, 0xe000, 0xffff),
            8 => {
                if self.chance(0.5) {
                    r(self, 0x5d0, 0x5ea)
                } else {
                    r(self, 0x627, 0x64a)
                }
            }
            9 => [
                '\u{2028}', '\u{2029}', '\u{feff}', '\u{200b}', '\u{200d}', '\u{200f}', '\u{202e}',
            ]
            .choose(&mut self.rng)
            .copied(),
            10 => r(self, 0x800, 0xd7ff),
            _ => r(self, 0xac00, 0xd7a3),
        };
        c.unwrap_or('?')
    }

    fn random_char(&mut self) -> char {
        const WEIGHTS: [(usize, u32); 12] = [
            (0, 40),
            (1, 10),
            (2, 5),
            (3, 6),
            (4, 6),
            (5, 5),
            (6, 8),
            (7, 5),
            (8, 5),
            (9, 3),
            (10, 4),
            (11, 3),
        ];
        let total: u32 = WEIGHTS.iter().map(|w| w.1).sum();
        let mut pick = self.rng.random_range(0..total);
        for (class, w) in WEIGHTS {
            if pick < w {
                return self.char_from(class);
            }
            pick -= w;
        }
        unreachable!()
    }

    /// A random string: usually short, sometimes empty, occasionally a few thousand characters.
    pub(crate) fn string(&mut self) -> String {
        if self.chance(0.08) {
            return edge_strings().choose(&mut self.rng).cloned().unwrap();
        }
        let len = match self.below(40) {
            0 => 0,
            1 => self.rng.random_range(200..3000),
            _ => self.rng.random_range(1..24),
        };
        (0..len).map(|_| self.random_char()).collect()
    }

    fn key(&mut self) -> String {
        match self.below(10) {
            0..=2 => edge_keys().choose(&mut self.rng).cloned().unwrap(),
            3..=5 => {
                let len = self.rng.random_range(1..12);
                (0..len)
                    .map(|_| {
                        *b"abcdefghijklmnopqrstuvwxyz_0123456789"
                            .choose(&mut self.rng)
                            .unwrap() as char
                    })
                    .collect()
            }
            _ => {
                let len = self.rng.random_range(0..8);
                (0..len).map(|_| self.random_char()).collect()
            }
        }
    }

    /// A random JSON value nested at most `depth` more levels.
    pub(crate) fn value(&mut self, depth: u32) -> Value {
        let leaf = depth == 0 || self.chance(0.45);
        match (leaf, self.below(20)) {
            (_, 0) => Value::Null,
            (_, 1 | 2) => Value::Bool(self.chance(0.5)),
            (true, 3..=10) | (false, 3..=6) => self.number(),
            (true, _) | (false, 7..=10) => Value::String(self.string()),
            (false, 11) => {
                let n = self.below(5);
                Value::Array((0..n).map(|_| self.value(depth - 1)).collect())
            }
            (false, _) => self.object(depth),
        }
    }

    fn object(&mut self, depth: u32) -> Value {
        let mut m = Map::new();
        let n = if self.chance(0.03) {
            0
        } else {
            self.rng.random_range(1..6)
        };
        for _ in 0..n {
            let k = self.key();
            let v = self.value(depth - 1);
            m.insert(k, v);
        }
        if self.chance(0.2) {
            // Same prefix, then a U+E000..U+FFFF char vs an astral one: code-point order puts
            // the astral key last, UTF-16 order puts it first.
            let prefix: String = (0..self.below(3)).map(|_| self.random_char()).collect();
            let bmp = self.char_from(7);
            let astral = self.char_from(6);
            m.insert(format!("{prefix}{bmp}"), self.value(0));
            m.insert(format!("{prefix}{astral}"), self.value(0));
        }
        Value::Object(m)
    }

    fn label(&mut self) -> String {
        if self.chance(0.15) {
            return self.key();
        }
        let len = self.rng.random_range(1..10);
        (0..len)
            .map(|_| {
                *b"abcdefghijklmnopqrstuvwxyz0123456789_"
                    .choose(&mut self.rng)
                    .unwrap() as char
            })
            .collect()
    }

    fn reference(&mut self) -> String {
        let mut r =
            String::from(["/apps", "/manage_app", "/transfer", "/accounts", ""][self.below(5)]);
        for _ in 0..self.rng.random_range(1..6) {
            r.push('/');
            r.push_str(&self.label());
        }
        r
    }

    fn address(&mut self) -> String {
        let k = ain_sre::ledger::crypto::PrivateKey::from_bytes(&self.key_bytes()).unwrap();
        k.address().to_string()
    }

    fn rule_expression(&mut self) -> String {
        let addr = self.address();
        let s = self.string();
        let quoted = serde_json::to_string(&s).unwrap();
        let templates = [
            format!("auth.addr === '{addr}'"),
            "newData !== null && util.isNumber(newData) && newData > data".to_owned(),
            format!(
                "getValue('/apps/' + $app + '/admin/' + auth.addr) === true || {quoted} === \"x\""
            ),
            "data === null && currentTime > 1700000000000 && blockNumber >= 0".to_owned(),
            format!(
                "util.isCksumAddr(auth.addr) && auth.fid !== '{}'",
                self.label()
            ),
            s,
            "true".to_owned(),
            "false".to_owned(),
        ];
        templates.choose(&mut self.rng).cloned().unwrap()
    }

    fn op_value(&mut self, op_type: &str) -> Value {
        match op_type {
            "INC_VALUE" | "DEC_VALUE" => self.number(),
            "SET_RULE" => {
                let mut rule = Map::new();
                rule.insert(
                    "write".into(),
                    if self.chance(0.9) {
                        Value::String(self.rule_expression())
                    } else {
                        Value::Bool(self.chance(0.5))
                    },
                );
                let mut v = Map::new();
                v.insert(".rule".into(), Value::Object(rule));
                if self.chance(0.3) {
                    v.insert(
                        "state".into(),
                        json!({"max_children": self.below(1000), "gc_max_siblings": self.below(100), "gc_num_siblings_deleted": self.below(10)}),
                    );
                }
                Value::Object(v)
            }
            "SET_FUNCTION" => {
                let fid = self.label();
                let info = match self.below(4) {
                    0 => Value::Null,
                    1 => json!({"function_type": "NATIVE", "function_id": "_transfer"}),
                    _ => json!({
                        "function_type": "REST",
                        "function_id": fid,
                        "function_url": format!("https://{}.example.com/{}?q={}", self.label(), self.label(), self.string()),
                    }),
                };
                let key = if self.chance(0.9) {
                    fid
                } else {
                    "_transfer".to_owned()
                };
                json!({".function": {key: info}})
            }
            "SET_OWNER" => {
                let mut owners = Map::new();
                for _ in 0..self.rng.random_range(1..4) {
                    let who = match self.below(3) {
                        0 => self.address(),
                        1 => "*".to_owned(),
                        _ => format!("fid:{}", self.label()),
                    };
                    owners.insert(
                        who,
                        json!({
                            "branch_owner": self.chance(0.5),
                            "write_function": self.chance(0.5),
                            "write_owner": self.chance(0.5),
                            "write_rule": self.chance(0.5),
                        }),
                    );
                }
                json!({".owner": {"owners": owners}})
            }
            _ => {
                let depth = self.rng.random_range(0..=5);
                self.value(depth)
            }
        }
    }

    fn simple_op(&mut self, op_type: &str, in_list: bool) -> Value {
        let mut op = Map::new();
        // Inside an op_list the type may be omitted (it defaults to SET_VALUE).
        if !(in_list && op_type == "SET_VALUE" && self.chance(0.4)) {
            op.insert("type".into(), json!(op_type));
        }
        op.insert("ref".into(), json!(self.reference()));
        op.insert("value".into(), self.op_value(op_type));
        if self.chance(0.15) {
            op.insert("is_global".into(), json!(self.chance(0.5)));
        }
        Value::Object(op)
    }

    /// An operation of the given type (`SET` gets an op_list of simple ops).
    pub(crate) fn operation(&mut self, op_type: &str) -> Value {
        if op_type != "SET" {
            return self.simple_op(op_type, false);
        }
        let n = self.rng.random_range(1..7);
        let list: Vec<Value> = (0..n)
            .map(|_| {
                let t = *OP_TYPES[..6].choose(&mut self.rng).unwrap();
                self.simple_op(t, true)
            })
            .collect();
        json!({"type": "SET", "op_list": list})
    }

    /// A random transaction body with the given operation; the optional fields vary.
    pub(crate) fn tx_body(&mut self, op_type: &str) -> Value {
        let nonce = match self.below(4) {
            0 => json!(-2),
            1 => json!(-1),
            2 => json!(self.below(1000)),
            _ => json!(self.rng.random_range(0u64..1 << 40)),
        };
        let timestamp = if self.chance(0.05) {
            self.number()
        } else {
            json!(
                self.rng
                    .random_range(1_600_000_000_000u64..1_800_000_000_000)
            )
        };
        let gas_price = self.chance(0.5).then(|| match self.below(4) {
            0 => json!(0),
            1 => json!(500),
            2 => json!(self.rng.random::<u32>()),
            _ => self.number(),
        });
        let billing = self
            .chance(0.3)
            .then(|| json!(format!("{}|{}", self.label(), self.string())));
        let parent = self.chance(0.3).then(|| {
            if self.chance(0.3) {
                json!("")
            } else {
                json!(format!("0x{}", hex::encode(self.rng.random::<[u8; 32]>())))
            }
        });
        body(
            self.operation(op_type),
            nonce,
            timestamp,
            gas_price,
            billing,
            parent,
        )
    }

    /// A random message for `hashMessage`: plain text, `0x`-hex of any length and case (odd
    /// lengths included), near-hex, and stable JSON text as the node hashes for blocks.
    pub(crate) fn message(&mut self) -> String {
        match self.below(10) {
            0..=3 => self.string(),
            4..=6 => {
                let len = self.below(100);
                let digits: String = (0..len)
                    .map(|_| *b"0123456789abcdefABCDEF".choose(&mut self.rng).unwrap() as char)
                    .collect();
                format!("0x{digits}")
            }
            7 => {
                let len = self.below(20);
                let digits: String = (0..len)
                    .map(|_| *b"0123456789abcdef".choose(&mut self.rng).unwrap() as char)
                    .collect();
                let junk = self.random_char();
                match self.below(3) {
                    0 => format!("0x{digits}{junk}"),
                    1 => format!("0X{digits}"),
                    _ => format!("{junk}0x{digits}"),
                }
            }
            _ => ain_sre::ledger::json::stable_stringify(&self.value(3)),
        }
    }
}

/// Assembles a body, omitting absent optional fields (the node rejects explicit nulls).
pub(crate) fn body(
    operation: Value,
    nonce: Value,
    timestamp: Value,
    gas_price: Option<Value>,
    billing: Option<Value>,
    parent_tx_hash: Option<Value>,
) -> Value {
    let mut b = Map::new();
    b.insert("operation".into(), operation);
    b.insert("nonce".into(), nonce);
    b.insert("timestamp".into(), timestamp);
    for (k, v) in [
        ("gas_price", gas_price),
        ("billing", billing),
        ("parent_tx_hash", parent_tx_hash),
    ] {
        if let Some(v) = v {
            b.insert(k.into(), v);
        }
    }
    Value::Object(b)
}

/// Bodies that exist regardless of the seed: every operation type, every nonce kind with every
/// combination of optional fields, and one body per edge list holding all of its entries.
pub(crate) fn corpus_bodies(g: &mut Gen) -> Vec<Value> {
    let mut out = Vec::new();
    let set_value = |value: Value| {
        body(
            json!({"type": "SET_VALUE", "ref": "/apps/compat/value", "value": value}),
            json!(-1),
            json!(1_700_000_000_000u64),
            None,
            None,
            None,
        )
    };
    // The protocol document's vectors (§1.9).
    out.push(json!({"operation":{"ref":"/afan","value":"HAHA","type":"SET_VALUE"},"nonce":10,"timestamp":123,"parent_tx_hash":""}));
    out.push(json!({"operation":{"type":"SET_VALUE","ref":"/apps/test/value","value":"hello"},"nonce":-1,"timestamp":1_700_000_000_000u64,"gas_price":0}));
    for t in OP_TYPES {
        out.push(g.tx_body(t));
    }
    // Every nonce kind × every presence combination of gas_price, billing, parent_tx_hash.
    for nonce in [json!(-2), json!(-1), json!(0), json!(42)] {
        for mask in 0..8u8 {
            out.push(body(
                g.operation(OP_TYPES[mask as usize % 7]),
                nonce.clone(),
                json!(1_700_000_000_000u64 + u64::from(mask)),
                (mask & 1 != 0).then(|| json!(500)),
                (mask & 2 != 0).then(|| json!("compat|billing-1")),
                (mask & 4 != 0).then(|| json!("0x".to_owned() + &"ab".repeat(32))),
            ));
        }
    }
    let numbers = edge_numbers();
    out.push(set_value(Value::Array(numbers.clone())));
    let mut by_key = Map::new();
    for (i, n) in numbers.iter().enumerate() {
        by_key.insert(format!("n{i:02}"), n.clone());
    }
    out.push(set_value(Value::Object(by_key)));
    for n in &numbers {
        // Each edge number alone, as INC_VALUE and as the timestamp and gas_price.
        out.push(body(
            json!({"type": "INC_VALUE", "ref": "/apps/compat/counter", "value": n}),
            json!(-1),
            n.clone(),
            Some(n.clone()),
            None,
            None,
        ));
    }
    let strings = edge_strings();
    out.push(set_value(Value::Array(
        strings.iter().cloned().map(Value::String).collect(),
    )));
    for s in &strings {
        out.push(set_value(Value::String(s.clone())));
        out.push(body(
            json!({"type": "SET_RULE", "ref": "/apps/compat", "value": {".rule": {"write": s}}}),
            json!(-2),
            json!(1_700_000_000_000u64),
            None,
            Some(json!(format!("app|{s}"))),
            None,
        ));
    }
    let keys = edge_keys();
    let mut all_keys = Map::new();
    for (i, k) in keys.iter().enumerate() {
        all_keys.insert(k.clone(), json!(i));
    }
    out.push(set_value(Value::Object(all_keys)));
    // Keys that are edge strings, nested, so sorting happens at several levels.
    let mut nested = Map::new();
    for (i, k) in strings.iter().enumerate() {
        nested.insert(
            k.clone(),
            json!({ keys[i % keys.len()].clone(): i, "z": [i, {"\u{10000}": 1, "\u{ffff}": 2}] }),
        );
    }
    out.push(set_value(Value::Object(nested)));
    // Deep nesting (deeper than the random generator goes) and empty containers.
    let mut deep = json!("bottom");
    for i in 0..12 {
        deep = json!({ format!("level{i}"): deep, "i": i });
    }
    out.push(set_value(deep));
    out.push(set_value(
        json!({"empty_object": {}, "empty_array": [], "nested_empty": [[], {}, [{}]]}),
    ));
    out.push(set_value(
        json!([null, true, false, 0, "", [null], {"k": null}]),
    ));
    // Long values: a 50,000-character string and a wide object.
    let long: String = (0..50_000)
        .map(|i| ['a', 'é', '世', '🚀', '"', '\n'][i % 6])
        .collect();
    out.push(set_value(Value::String(long)));
    let mut wide = Map::new();
    for i in 0..500 {
        wide.insert(format!("k{i}"), json!(i));
    }
    out.push(set_value(Value::Object(wide)));
    // Large numbers written as JSON integers beyond i64 (u64) and their float neighbours.
    out.push(set_value(
        json!({"u": u64::MAX, "f": u64::MAX as f64, "m": i64::MIN, "mf": i64::MIN as f64}),
    ));
    // A JSON number that serde_json keeps as u64 but JS rounds: the text must agree after rounding.
    out.push(set_value(Value::Number(Number::from(
        9_007_199_254_740_993u64,
    ))));
    out
}

/// Messages that exist regardless of the seed.
pub(crate) fn corpus_messages() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "Hello world",
        "0x",
        "0x0",
        "0x00",
        "0xabc",
        "0xABCdef",
        "0xabcdefABCDEF0123456789",
        "0X12",
        "0xzz",
        "0x12 ",
        " 0x12",
        "0x12\n",
        "0x12g",
        "0x0x12",
        "[]",
        "{}",
        "é",
        "🚀",
        "世界",
        "e\u{301}",
        "\u{0}",
        "\u{2028}",
        "\u{ffff}\u{10000}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.push(format!("0x{}", "ab".repeat(32)));
    v.push(format!("0x{}", "c".repeat(301)));
    // Lengths around the varint thresholds: 252/253 (1 vs 3 bytes) and 65535/65536 (3 vs 5),
    // counted in UTF-16 units, which differ from the UTF-8 byte counts for non-ASCII text.
    for n in [252, 253, 254, 0xffff, 0x10000] {
        v.push("a".repeat(n));
    }
    v.push("é".repeat(200));
    v.push("🚀".repeat(127));
    v.push(format!("0x{}", "f".repeat(0x10000)));
    v.extend(edge_strings());
    v
}
