//! The fixed corpus: bodies and messages that exist regardless of the seed.

use serde_json::{Map, Number, Value, json};

use super::{Gen, OP_TYPES, edge_keys, edge_numbers, edge_strings};

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
