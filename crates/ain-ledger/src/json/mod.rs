//! Stable JSON text exactly as AI Network hashes it.
//!
//! The node and `ain-util` hash `fast-json-stable-stringify(value)`: object keys sorted by UTF-16 code
//! units, no whitespace, and every primitive formatted as JavaScript's `JSON.stringify` would. This
//! module owns that byte-exact rendering; a single differing byte changes every transaction hash.
//!
//! Numbers follow `Number.prototype.toString` (integers up to 1e21 printed plainly, `1e+21`,
//! `1e-7`, shortest round-trip digits), via `ryu-js`. Every JSON number is a JS double, so integers
//! beyond 2^53 are rounded exactly as a JS client would round them.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

mod sizeof;
pub use sizeof::js_sizeof;

/// Renders `value` as `fast-json-stable-stringify` does under Node.js.
///
/// The output is byte-identical to ain-util's hashing input for every value serde_json can hold.
pub fn stable_stringify(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// The size the real node measures a tx body with: npm `object-sizeof` 1.6.3, which counts
/// 2 bytes per UTF-16 unit of every string and object key, 8 per number, 4 per boolean and 0 for
/// null. The node refuses a tx whose body measures more than `tx_bytes_limit` (10,000).
pub fn js_object_sizeof(value: &Value) -> usize {
    let utf16 = |s: &str| s.encode_utf16().count() * 2;
    match value {
        Value::Null => 0,
        Value::Bool(_) => 4,
        Value::Number(_) => 8,
        Value::String(s) => utf16(s),
        Value::Array(items) => items.iter().map(js_object_sizeof).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| utf16(k) + js_object_sizeof(v))
            .sum(),
    }
}

/// Appends the stable JSON text of `value` to `out`; `out` then ends with exactly what
/// [`stable_stringify`] would return. Lets callers build larger hashing inputs without copies.
pub fn write_stable(out: &mut String, value: &Value) {
    write_value(out, value);
}

/// Appends a JSON number formatted as JavaScript's `String(n)` does.
pub fn write_js_number(out: &mut String, n: &Number) {
    write_number(out, n);
}

/// Formats a JSON number as JavaScript's `String(n)` does.
pub fn js_number(n: &Number) -> String {
    let mut out = String::new();
    write_number(&mut out, n);
    out
}

/// Formats a double as JavaScript's `String(x)` does; non-finite values give `null` as JSON does.
pub fn js_f64(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_owned();
    }
    let mut buf = ryu_js::Buffer::new();
    buf.format_finite(x).to_owned()
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_js_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut keys: Vec<&String> = map.keys().collect();
    // JS sorts by UTF-16 code units; that differs from Rust's byte order only when a key mixes
    // astral-plane characters with U+E000..U+FFFF, so compare UTF-16 only when it can matter.
    if keys.iter().any(|k| k.chars().any(|c| c as u32 >= 0xE000)) {
        keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    } else {
        keys.sort_unstable();
    }
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_js_string(out, key);
        out.push(':');
        write_value(out, &map[key]);
    }
    out.push('}');
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        // Exact in a double: print plainly, as JS does for integers below 1e21.
        if i.unsigned_abs() <= (1u64 << 53) {
            let _ = write!(out, "{i}");
            return;
        }
    }
    let x = n.as_f64().unwrap_or(f64::NAN);
    out.push_str(&js_f64(x));
}

/// Appends `s` quoted and escaped exactly as `JSON.stringify` does: `"`, `\\`, the short escapes
/// `\b \f \n \r \t`, other control characters as lowercase `\u00xx`, everything else raw.
pub fn write_js_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(text: &str) -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        stable_stringify(&v)
    }

    #[test]
    fn numbers_format_as_javascript() {
        assert_eq!(num("1e21"), "1e+21");
        assert_eq!(num("1e20"), "100000000000000000000");
        assert_eq!(num("123456789012345678901"), "123456789012345680000");
        assert_eq!(num("0.0000001"), "1e-7");
        assert_eq!(num("0.000001"), "0.000001");
        assert_eq!(num("1.5"), "1.5");
        assert_eq!(num("-2.25"), "-2.25");
        assert_eq!(num("1.0"), "1");
        assert_eq!(num("-0"), "0");
        assert_eq!(num("-0.0"), "0");
        assert_eq!(num("0.1"), "0.1");
        assert_eq!(num("0.30000000000000004"), "0.30000000000000004");
        assert_eq!(num("9007199254740993"), "9007199254740992");
        assert_eq!(num("18446744073709551615"), "18446744073709552000");
        assert_eq!(num("-9223372036854775808"), "-9223372036854776000");
        assert_eq!(num("1.7976931348623157e308"), "1.7976931348623157e+308");
        assert_eq!(num("5e-324"), "5e-324");
        assert_eq!(num("12345678901234"), "12345678901234");
    }

    #[test]
    fn strings_escape_as_json_stringify() {
        let v = json!("a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{1f}j\u{7f}k\u{2028}l é 世 🚀");
        assert_eq!(
            stable_stringify(&v),
            "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\\u001fj\u{7f}k\u{2028}l é 世 🚀\""
        );
    }

    #[test]
    fn keys_sort_recursively_by_utf16() {
        let v = json!({"b": 1, "a": {"d": [3, {"z": 1, "y": null}], "c": true}, "A": "x"});
        assert_eq!(
            stable_stringify(&v),
            r#"{"A":"x","a":{"c":true,"d":[3,{"y":null,"z":1}]},"b":1}"#
        );
        // U+FF21 sorts after U+1F680 by code point but before it by UTF-16 unit (0xD83D).
        let v = json!({"\u{ff21}": 1, "\u{1f680}": 2});
        assert_eq!(stable_stringify(&v), "{\"\u{1f680}\":2,\"\u{ff21}\":1}");
    }

    #[test]
    fn object_sizeof_matches_the_npm_package() {
        // Values computed with object-sizeof 1.6.3 under Node.js 20.
        let tx = json!({"operation":{"type":"SET_VALUE","ref":"/apps/test/value","value":"hello"},
                        "nonce":-1,"timestamp":1700000000000u64,"gas_price":0});
        assert_eq!(js_object_sizeof(&tx), 172);
        assert_eq!(
            js_object_sizeof(&json!({"a": [true, null, 1.5, "é🚀"]})),
            2 + 4 + 8 + 6
        );
    }

    #[test]
    fn protocol_vector_stable_string() {
        let tx = json!({"operation":{"ref":"/afan","value":"HAHA","type":"SET_VALUE"},
                        "nonce":10,"timestamp":123,"parent_tx_hash":""});
        assert_eq!(
            stable_stringify(&tx),
            r#"{"nonce":10,"operation":{"ref":"/afan","type":"SET_VALUE","value":"HAHA"},"parent_tx_hash":"","timestamp":123}"#
        );
    }
}
