//! The few pieces of ECMAScript that rule evaluation needs, written to the letter of the spec:
//! `Number::toString`, `StringToNumber`, JS whitespace, UTF-16 string order, array indices, and
//! the names of built-in prototype properties (which the evaluator refuses rather than fakes).

use std::cmp::Ordering;

use ain_ledger::json::js_f64;

/// `WhiteSpace` of ECMA-262 §12.2 (tab, VT, FF, space, NBSP, ZWNBSP and the `Zs` category).
pub(super) fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{0B}' | '\u{0C}' | ' ' | '\u{A0}' | '\u{FEFF}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// `LineTerminator` of ECMA-262 §12.3.
pub(super) fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// `Number::toString(x)` (radix 10): `NaN`, `Infinity`, `-0` printed as `0`, otherwise the
/// shortest round-trip form.
pub(super) fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if x == 0.0 {
        "0".to_owned()
    } else {
        js_f64(x)
    }
}

/// `StringToNumber` (ECMA-262 §7.1.4.1.1): what `Number(s)` and the relational operators do
/// with a string. Anything that is not a `StringNumericLiteral` is `NaN`.
pub(super) fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(|c| is_js_space(c) || is_line_terminator(c));
    if t.is_empty() {
        return 0.0;
    }
    let b = t.as_bytes();
    if b.len() > 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 0,
        };
        if radix != 0 {
            return radix_to_number(&t[2..], radix);
        }
    }
    let (sign, rest) = match b[0] {
        b'+' => (1.0, &t[1..]),
        b'-' => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    if rest == "Infinity" {
        return sign * f64::INFINITY;
    }
    if !is_decimal_literal(rest) {
        return f64::NAN;
    }
    // The text is a plain decimal literal now; Rust's parser rounds it correctly.
    rest.parse::<f64>().map_or(f64::NAN, |x| sign * x)
}

/// `StrUnsignedDecimalLiteral` without `Infinity`: `1`, `1.`, `.5`, `1.5e-3`, `007`.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&b[i..]);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// The value of `0x…`/`0o…`/`0b…` digits, correctly rounded: up to 128 bits are kept exactly,
/// further non-zero digits only set a sticky low bit, and the rest scales by a power of two.
fn radix_to_number(digits: &str, radix: u32) -> f64 {
    let bits_per_digit = radix.trailing_zeros() as i32;
    let mut acc: u128 = 0;
    let mut sticky = false;
    let mut extra_digits: i32 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return f64::NAN;
        };
        match acc.checked_mul(u128::from(radix)) {
            Some(m) if extra_digits == 0 => acc = m | u128::from(d),
            _ => {
                sticky |= d != 0;
                extra_digits = extra_digits.saturating_add(1);
            }
        }
    }
    if sticky {
        acc |= 1;
    }
    let scale = extra_digits.saturating_mul(bits_per_digit);
    // powi of 2.0 is exact until it overflows to infinity, which is what JS gives as well.
    (acc as f64) * 2f64.powi(scale)
}

/// Compares two strings as JS does: by UTF-16 code units, not by code points or bytes.
pub(super) fn cmp_utf16(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The length of a string in UTF-16 code units (`s.length`).
pub(super) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `key` as a canonical array index (`"0"`, `"17"`; not `"01"`, `"-1"`, `"1.0"`).
pub(super) fn array_index(key: &str) -> Option<usize> {
    let b = key.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    // Array indices stop at 2^32 - 2 in JS.
    if n >= u64::from(u32::MAX) {
        return None;
    }
    usize::try_from(n).ok()
}

/// True when `s` matches ain-util's `isValidAddress` regex `^0x[0-9a-fA-F]{40}$`.
pub(super) fn is_hex_address(s: &str) -> bool {
    s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|c| c.is_ascii_hexdigit())
}

/// True when `s` matches rule-util's `isHexString` regex `^0x[0-9A-Fa-f]*$`.
pub(super) fn is_hex_string(s: &str) -> bool {
    s.starts_with("0x") && s[2..].bytes().all(|c| c.is_ascii_hexdigit())
}

/// Names that every JS value finds on `Object.prototype` unless it owns them. Reading one yields
/// a function or an internal object, which no JSON value can stand for, so the evaluator refuses
/// instead of guessing. The lists are the union over recent V8 versions: they err on refusing.
const OBJECT_PROTO: &[&str] = &[
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "__proto__",
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

/// Names strings find on `String.prototype` (besides `length` and indices, which are modelled).
const STRING_PROTO: &[&str] = &[
    "anchor",
    "at",
    "big",
    "blink",
    "bold",
    "charAt",
    "charCodeAt",
    "codePointAt",
    "concat",
    "endsWith",
    "fixed",
    "fontcolor",
    "fontsize",
    "includes",
    "indexOf",
    "isWellFormed",
    "italics",
    "lastIndexOf",
    "link",
    "localeCompare",
    "match",
    "matchAll",
    "normalize",
    "padEnd",
    "padStart",
    "repeat",
    "replace",
    "replaceAll",
    "search",
    "slice",
    "small",
    "split",
    "startsWith",
    "strike",
    "sub",
    "substr",
    "substring",
    "sup",
    "toLocaleLowerCase",
    "toLocaleUpperCase",
    "toLowerCase",
    "toUpperCase",
    "toWellFormed",
    "trim",
    "trimEnd",
    "trimLeft",
    "trimRight",
    "trimStart",
];

/// Names numbers find on `Number.prototype`.
const NUMBER_PROTO: &[&str] = &["toExponential", "toFixed", "toPrecision"];

/// Names arrays find on `Array.prototype` (besides `length` and indices, which are modelled).
const ARRAY_PROTO: &[&str] = &[
    "copyWithin",
    "entries",
    "every",
    "fill",
    "filter",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "flat",
    "flatMap",
    "forEach",
    "join",
    "keys",
    "map",
    "pop",
    "push",
    "reduce",
    "reduceRight",
    "reverse",
    "shift",
    "some",
    "sort",
    "splice",
    "toReversed",
    "toSorted",
    "toSpliced",
    "unshift",
    "values",
    "with",
    "at",
    "concat",
    "includes",
    "indexOf",
    "lastIndexOf",
    "slice",
];

/// The prototype whose names a value of some JS type inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Proto {
    /// Plain objects and booleans: `Object.prototype` only.
    Object,
    /// Strings.
    String,
    /// Numbers.
    Number,
    /// Arrays.
    Array,
}

/// True when a value of type `proto` that does not own `name` would find it on its prototype.
pub(super) fn is_builtin_property(proto: Proto, name: &str) -> bool {
    let own_list = match proto {
        Proto::Object => &[][..],
        Proto::String => STRING_PROTO,
        Proto::Number => NUMBER_PROTO,
        Proto::Array => ARRAY_PROTO,
    };
    OBJECT_PROTO.contains(&name) || own_list.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_to_string_matches_js() {
        assert_eq!(number_to_string(1.5), "1.5");
        assert_eq!(number_to_string(-0.0), "0");
        assert_eq!(number_to_string(f64::NAN), "NaN");
        assert_eq!(number_to_string(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(number_to_string(1e21), "1e+21");
        assert_eq!(number_to_string(1e-7), "1e-7");
        assert_eq!(
            number_to_string(123456789012345680000.0),
            "123456789012345680000"
        );
        assert_eq!(number_to_string(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn string_to_number_matches_js() {
        let cases: &[(&str, f64)] = &[
            ("", 0.0),
            ("  \n\t ", 0.0),
            ("42", 42.0),
            (" 42 ", 42.0),
            ("\u{FEFF}7\u{3000}", 7.0),
            ("+1.5", 1.5),
            ("-.5", -0.5),
            ("5.", 5.0),
            ("007", 7.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("0x1F", 31.0),
            ("0o17", 15.0),
            ("0b101", 5.0),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e400", f64::INFINITY),
            ("0x20000000000001", 9007199254740992.0),
            ("0x20000000000003", 9007199254740996.0),
        ];
        for (s, want) in cases {
            assert_eq!(string_to_number(s), *want, "Number({s:?})");
        }
        for s in [
            "abc",
            "1a",
            "1e",
            "e5",
            ".",
            "+",
            "0x",
            "-0x1",
            "0xg",
            "inf",
            "NaN",
            "infinity",
            "1_000",
            "1 2",
            "\u{85}1",
            "--1",
            "Infinityx",
        ] {
            assert!(string_to_number(s).is_nan(), "Number({s:?}) should be NaN");
        }
        assert_eq!(
            string_to_number(&format!("0x1{}", "0".repeat(40))),
            2f64.powi(160)
        );
        assert_eq!(
            string_to_number(&format!("0x{}", "f".repeat(300))),
            f64::INFINITY
        );
    }

    #[test]
    fn utf16_order_differs_from_code_point_order() {
        // U+FF61 is one unit; U+1F600 is a surrogate pair starting 0xD83D, which sorts first.
        assert_eq!(cmp_utf16("\u{FF61}", "\u{1F600}"), Ordering::Greater);
        assert!("\u{FF61}" < "\u{1F600}");
        assert_eq!(cmp_utf16("a", "ab"), Ordering::Less);
        assert_eq!(utf16_len("a\u{1F600}"), 3);
    }

    #[test]
    fn array_indices_are_canonical() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("12"), Some(12));
        for k in ["", "01", "-1", "1.0", " 1", "4294967295", "99999999999"] {
            assert_eq!(array_index(k), None, "{k:?}");
        }
    }

    #[test]
    fn address_shapes() {
        let a = "0x00ADEc28B6a845a085e03591bE7550dd68673C1C";
        assert!(is_hex_address(a));
        assert!(!is_hex_address(&a[..41]));
        assert!(!is_hex_address(&a.replace("0x", "0X")));
        assert!(is_hex_string("0x"));
        assert!(!is_hex_string("0xZ"));
    }

    #[test]
    fn builtins_depend_on_the_type() {
        assert!(is_builtin_property(Proto::Object, "constructor"));
        assert!(is_builtin_property(Proto::Number, "toString"));
        assert!(!is_builtin_property(Proto::Object, "keys"));
        assert!(is_builtin_property(Proto::Array, "keys"));
        assert!(is_builtin_property(Proto::Array, "includes"));
        assert!(is_builtin_property(Proto::String, "includes"));
        assert!(!is_builtin_property(Proto::Number, "includes"));
        assert!(!is_builtin_property(Proto::String, "length"));
    }
}
