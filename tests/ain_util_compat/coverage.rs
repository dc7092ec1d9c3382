//! Which input features a run's bodies contain, so a generator change cannot silently drop one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::inputs::OP_TYPES;

/// Every feature `coverage` reports; the bodies of a run must have each at least once.
pub(crate) const FEATURES: [&str; 40] = [
    "SET_VALUE",
    "INC_VALUE",
    "DEC_VALUE",
    "SET_RULE",
    "SET_FUNCTION",
    "SET_OWNER",
    "SET",
    "op_list op without type",
    "nonce -2",
    "nonce -1",
    "nonce n",
    "gas_price present",
    "gas_price absent",
    "billing present",
    "billing absent",
    "parent_tx_hash present",
    "parent_tx_hash absent",
    "nesting depth >= 6",
    "null",
    "boolean",
    "float",
    "-0.0",
    "integer-valued float",
    "|x| >= 1e21",
    "0 < |x| < 1e-6",
    "integer beyond 2^53",
    "negative number",
    "string",
    "empty string",
    "string > 1000 bytes",
    "quote or backslash",
    "short escape",
    "other control char",
    "U+007F",
    "U+2028/2029",
    "combining mark",
    "RTL letter",
    "CJK",
    "U+E000..U+FFFF",
    "astral",
];

/// Counts, per feature the compatibility test is meant to cover, how many bodies have it; the test
/// asserts that none is zero, so an edit to the generators cannot silently drop a case.
pub(crate) fn coverage(bodies: &[Value]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for b in bodies {
        let mut seen = BTreeSet::new();
        for t in OP_TYPES {
            if b["operation"]["type"] == t {
                seen.insert(t);
            }
        }
        for op in b["operation"]["op_list"].as_array().into_iter().flatten() {
            if op.get("type").is_none() {
                seen.insert("op_list op without type");
            }
        }
        seen.insert(match b["nonce"].as_i64() {
            Some(-2) => "nonce -2",
            Some(-1) => "nonce -1",
            _ => "nonce n",
        });
        for k in ["gas_price", "billing", "parent_tx_hash"] {
            seen.insert(match (k, b.get(k).is_some()) {
                ("gas_price", true) => "gas_price present",
                ("gas_price", false) => "gas_price absent",
                ("billing", true) => "billing present",
                ("billing", false) => "billing absent",
                (_, true) => "parent_tx_hash present",
                (_, false) => "parent_tx_hash absent",
            });
        }
        walk(b, 0, &mut seen);
        for f in seen {
            *counts.entry(f).or_default() += 1;
        }
    }
    counts
}

fn walk(v: &Value, depth: usize, seen: &mut BTreeSet<&'static str>) {
    if depth >= 6 {
        seen.insert("nesting depth >= 6");
    }
    match v {
        Value::Null => {
            seen.insert("null");
        }
        Value::Bool(_) => {
            seen.insert("boolean");
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if n.is_f64() {
                seen.insert("float");
                if x == 0.0 && x.is_sign_negative() {
                    seen.insert("-0.0");
                }
                if x.fract() == 0.0 && x != 0.0 {
                    seen.insert("integer-valued float");
                }
            }
            if x.abs() >= 1e21 {
                seen.insert("|x| >= 1e21");
            }
            if x != 0.0 && x.abs() < 1e-6 {
                seen.insert("0 < |x| < 1e-6");
            }
            if n.is_u64() && n.as_u64() > Some(1 << 53)
                || n.is_i64() && n.as_i64() < Some(-(1 << 53))
            {
                seen.insert("integer beyond 2^53");
            }
            if x < 0.0 {
                seen.insert("negative number");
            }
        }
        Value::String(s) => {
            seen.insert("string");
            chars(s, seen);
        }
        Value::Array(items) => {
            for i in items {
                walk(i, depth + 1, seen);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                chars(k, seen);
                walk(v, depth + 1, seen);
            }
        }
    }
}

fn chars(s: &str, seen: &mut BTreeSet<&'static str>) {
    if s.is_empty() {
        seen.insert("empty string");
    }
    if s.len() > 1000 {
        seen.insert("string > 1000 bytes");
    }
    for c in s.chars() {
        let f = match c {
            '"' | '\\' => "quote or backslash",
            '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => "short escape",
            '\0'..='\u{1f}' => "other control char",
            '\u{7f}' => "U+007F",
            '\u{2028}' | '\u{2029}' => "U+2028/2029",
            '\u{300}'..='\u{36f}' => "combining mark",
            '\u{590}'..='\u{6ff}' => "RTL letter",
            '\u{4e00}'..='\u{9fff}' => "CJK",
            '\u{e000}'..='\u{ffff}' => "U+E000..U+FFFF",
            '\u{10000}'.. => "astral",
            _ => continue,
        };
        seen.insert(f);
    }
}
