//! State paths, labels and values exactly as the node accepts them (ain-protocol.md §1.2).
//!
//! These are the node's *execution-time* rules (`db/state-util.js`): a transaction whose value
//! breaks them is still a well-formed transaction, and may even sit in a block as REVERTED. So tx
//! parsing never applies them; [`super::TxBody::validate`], the worker's builders and the built-in
//! chain do.
//!
//! The node tests labels with JavaScript regular expressions carrying the `m` flag, so `^` and `$`
//! also match around line terminators. The checks below reproduce that, quirks included: a label
//! such as `"a\n.b"` is accepted by the node and therefore here.

use serde_json::Value;

/// The node's `state_label_length_limit` (UTF-16 units), the same on every shipped config.
pub const STATE_LABEL_LENGTH_LIMIT: usize = 150;

/// Characters a label may not contain, unless it has one of the allowed config/wildcard forms.
fn is_reserved(c: char) -> bool {
    matches!(
        c,
        '/' | '.' | '$' | '*' | '#' | '{' | '}' | '[' | ']' | '<' | '>' | '\'' | '"' | '`' | ' '
    ) || (c as u32) <= 0x1f
        || c == '\u{7f}'
}

/// JavaScript's line terminators, where a multiline `^`/`$` may match.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// `/^\*$/m` or `/^[.$][^reserved]+$/m`: a wildcard label or a config/variable label
/// (`.rule`, `.function`, `$user`), tested on any line of the label.
fn has_allowed_pattern(label: &str) -> bool {
    let chars: Vec<char> = label.chars().collect();
    let n = chars.len();
    let line_start = |p: usize| p == 0 || is_line_terminator(chars[p - 1]);
    let line_end = |q: usize| q == n || is_line_terminator(chars[q]);
    for p in 0..n {
        if !line_start(p) {
            continue;
        }
        if chars[p] == '*' && line_end(p + 1) {
            return true;
        }
        if chars[p] == '.' || chars[p] == '$' {
            let mut q = p + 1;
            while q < n && !is_reserved(chars[q]) {
                q += 1;
                if line_end(q) {
                    return true;
                }
            }
        }
    }
    false
}

/// True when the node accepts `label` as one path segment or object key (`isValidStateLabel`)
/// with the default 150-unit limit.
pub fn is_valid_state_label(label: &str) -> bool {
    is_valid_state_label_with_limit(label, STATE_LABEL_LENGTH_LIMIT)
}

/// [`is_valid_state_label`] with an explicit `state_label_length_limit` (counted, as in JS, in
/// UTF-16 code units).
pub fn is_valid_state_label_with_limit(label: &str, limit: usize) -> bool {
    if label.is_empty() || label.encode_utf16().count() > limit {
        return false;
    }
    !label.chars().any(is_reserved) || has_allowed_pattern(label)
}

/// True when the node can store `value` (`isValidJsObjectForStates`): null, a bool, a finite
/// number, a string, or a non-empty object whose keys are valid labels and whose children are
/// valid values. Arrays and empty objects are refused.
pub fn is_valid_state_value(value: &Value) -> bool {
    check_state_value(value).is_ok()
}

/// Like [`is_valid_state_value`], but on failure returns the path (`/a/b`) of the first offending
/// key or child, relative to `value`.
pub fn check_state_value(value: &Value) -> Result<(), String> {
    let mut path = Vec::new();
    if check_value_at(value, &mut path) {
        Ok(())
    } else {
        Err(format_path(path.iter().map(String::as_str)))
    }
}

fn check_value_at(value: &Value, path: &mut Vec<String>) -> bool {
    match value {
        Value::Object(map) => {
            if map.is_empty() {
                return false;
            }
            for (key, child) in map {
                path.push(key.clone());
                if !is_valid_state_label(key) || !check_value_at(child, path) {
                    return false;
                }
                path.pop();
            }
            true
        }
        Value::Array(_) => false,
        // serde_json numbers are always finite; keep the rule explicit anyway.
        Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

/// Splits a state path into labels as the node's `parsePath` does: on `/`, dropping empty labels,
/// so `"/a//b/"` gives `["a", "b"]` and `"/"` gives no labels (the root).
pub fn parse_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|l| !l.is_empty()).collect()
}

/// Joins labels into the node's canonical path form (`formatPath`): `/a/b`, or `/` for the root.
pub fn format_path<'a>(labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for label in labels {
        out.push('/');
        out.push_str(label);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// True when every label of `path` is a valid state label (`isValidPathForStates`). Rule and
/// function paths may use `$variable` and `*` labels; those are valid labels too.
pub fn is_valid_path(path: &str) -> bool {
    parse_path(path).into_iter().all(is_valid_state_label)
}

/// True for a path variable label such as `$job_id`, which matches any label when rules,
/// functions or event filters are matched.
pub fn is_variable_label(label: &str) -> bool {
    label.starts_with('$')
}

/// True when `name` is an app name the node accepts: `^[a-z_][a-z0-9_]*$` over the whole string.
/// The node also refuses a few reserved service names; that list lives with the built-in chain.
pub fn is_valid_app_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_lowercase() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_labels() {
        for ok in [
            "apps",
            "0x00ADEc28B6a845a085e03591bE7550dd68673C1C",
            "c1",
            "fid:x",
            "세계",
            "-",
        ] {
            assert!(is_valid_state_label(ok), "{ok:?}");
        }
        for bad in [
            "", "a/b", "a.b", "a$", "a*", "#", "{", "}", "[", "]", "<", ">", "'", "\"", "`", "a b",
            "a\tb", "\u{7f}", "a\u{1}",
        ] {
            assert!(!is_valid_state_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn config_variable_and_wildcard_labels() {
        for ok in [
            ".rule",
            ".function",
            ".owner",
            "$user",
            "$call_id",
            "*",
            ".a-b",
        ] {
            assert!(is_valid_state_label(ok), "{ok:?}");
        }
        for bad in [
            ".", "$", "..rule", ".ru.le", "$a$b", "**", "a*", ".a b", "x.rule",
        ] {
            assert!(!is_valid_state_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn multiline_quirk_matches_the_node() {
        // The node's /m regexes accept these; rejecting them would diverge from the real chain.
        assert!(is_valid_state_label("a\n.rule"));
        assert!(is_valid_state_label("x\r*"));
        assert!(is_valid_state_label("a b\u{2028}$v"));
        assert!(is_valid_state_label(".ru\u{2028}le"));
        assert!(!is_valid_state_label("a\nb"));
        assert!(!is_valid_state_label(".\n"));
    }

    #[test]
    fn length_limit_counts_utf16_units() {
        assert!(is_valid_state_label(&"a".repeat(150)));
        assert!(!is_valid_state_label(&"a".repeat(151)));
        // 75 astral characters are 150 UTF-16 units; 76 are too many.
        assert!(is_valid_state_label(&"🚀".repeat(75)));
        assert!(!is_valid_state_label(&"🚀".repeat(76)));
        assert!(is_valid_state_label_with_limit("abc", 3));
        assert!(!is_valid_state_label_with_limit("abcd", 3));
    }

    #[test]
    fn values() {
        for ok in [
            json!(null),
            json!(true),
            json!(1.5),
            json!(1e-7),
            json!("s"),
            json!({"a": {"b": null}}),
            json!({".rule": {"write": "auth.addr === '0x1'"}}),
        ] {
            assert!(is_valid_state_value(&ok), "{ok}");
        }
        assert_eq!(check_state_value(&json!([1])), Err("/".into()));
        assert_eq!(check_state_value(&json!({})), Err("/".into()));
        assert_eq!(
            check_state_value(&json!({"a": {"b": []}})),
            Err("/a/b".into())
        );
        assert_eq!(check_state_value(&json!({"a": {}})), Err("/a".into()));
        assert_eq!(check_state_value(&json!({"a b": 1})), Err("/a b".into()));
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path("/a//b/"), vec!["a", "b"]);
        assert!(parse_path("/").is_empty());
        assert_eq!(format_path(parse_path("a/b/$v")), "/a/b/$v");
        assert_eq!(format_path(Vec::<&str>::new()), "/");
        assert!(is_valid_path(
            "/apps/sre_demo/sre/calls/$fn/$call_id/response"
        ));
        assert!(is_valid_path("/"));
        assert!(!is_valid_path("/apps/a.b"));
        assert!(is_variable_label("$fn") && !is_variable_label("fn"));
    }

    #[test]
    fn app_names() {
        for ok in ["sre_demo", "_x", "a1", "consensus"] {
            assert!(is_valid_app_name(ok), "{ok}");
        }
        for bad in ["", "1a", "Sre", "a-b", "a\nb", "a b", "é"] {
            assert!(!is_valid_app_name(bad), "{bad:?}");
        }
    }
}
