//! d. Write rules (target `rule_parse`).

use ain_devnet::rules::{Rule, RuleContext, RuleError};
use serde_json::{Value, json};

/// The input as a rule text (and, when it is JSON, as a rule value): a refusal is an error with
/// a position inside the text; an accepted rule keeps its source, parses identically again,
/// lists sorted unique `$vars`, parses for a path binding exactly those vars, and evaluates
/// deterministically against a fixed context.
pub fn rule_parse(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check_rule(&v);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_rule(&Value::String(text.to_owned()));
    }
}

fn check_rule(write: &Value) {
    let parsed = Rule::parse(write);
    assert_eq!(
        parsed,
        Rule::parse(write),
        "Rule::parse is not deterministic"
    );
    let rule = match parsed {
        Ok(rule) => rule,
        Err(e) => {
            let len = write.as_str().map_or(0, str::len);
            let at = match &e {
                RuleError::TooDeep { at, .. }
                | RuleError::Unsupported { at, .. }
                | RuleError::UnknownIdentifier { at, .. }
                | RuleError::Assignment { at }
                | RuleError::Syntax { at, .. }
                | RuleError::UnboundPathVar { at, .. } => Some(*at),
                _ => None,
            };
            if let Some(at) = at {
                assert!(at <= len, "error position {at} past the end ({len}): {e}");
            }
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    match write {
        Value::String(s) => assert_eq!(rule.source(), s),
        Value::Bool(b) => assert_eq!(rule.source(), b.to_string()),
        Value::Null => assert_eq!(rule.source(), "null"),
        other => panic!("a rule was parsed from {other}"),
    }
    let vars = rule.path_vars();
    assert!(
        vars.windows(2).all(|w| w[0] < w[1]),
        "vars not sorted: {vars:?}"
    );
    let labels: Vec<&str> = vars.iter().map(String::as_str).collect();
    let plain = labels.iter().all(|l| {
        l.starts_with('$')
            && l.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
    });
    if plain {
        let for_path = Rule::parse_for_path(write, &labels);
        assert_eq!(
            for_path.as_ref(),
            Ok(&rule),
            "parse_for_path with the rule's own vars"
        );
    }
    let ctx = FixedContext::default();
    let first = rule.eval(&ctx);
    assert_eq!(first, rule.eval(&ctx), "Rule::eval is not deterministic");
}

struct FixedContext {
    data: Value,
    new_data: Value,
}

impl Default for FixedContext {
    fn default() -> FixedContext {
        FixedContext {
            data: json!({"owner": "0x00ADEc28B6a845a085e03591bE7550dd68673C1C", "n": 1.5,
                "list": [1, "a", null], "nested": {"x": {"y": true}}}),
            new_data: json!({"input": "{\"x\":1}", "n": -0.0, "s": "\u{1F680}"}),
        }
    }
}

impl RuleContext for FixedContext {
    fn auth_addr(&self) -> Option<&str> {
        Some("0x00ADEc28B6a845a085e03591bE7550dd68673C1C")
    }
    fn auth_fid(&self) -> Option<&str> {
        None
    }
    fn data(&self) -> &Value {
        &self.data
    }
    fn new_data(&self) -> &Value {
        &self.new_data
    }
    fn current_time(&self) -> f64 {
        1_795_461_505_726.0
    }
    fn block_number(&self) -> f64 {
        11.0
    }
    fn block_time(&self) -> f64 {
        1_795_461_505_000.0
    }
    fn path_var(&self, name: &str) -> Option<&str> {
        match name {
            "$missing" => None,
            "$n" => Some("007"),
            _ => Some("toString"),
        }
    }
    fn get_value(&self, path: &str) -> Value {
        match path {
            "/" => json!({"apps": {}}),
            _ if path.len().is_multiple_of(2) => json!(path),
            _ => Value::Null,
        }
    }
}
