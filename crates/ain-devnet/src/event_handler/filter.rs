//! Filters: what a client's `REGISTER_FILTER` config asks for (a value path with captures and
//! wildcards, a block number, a tx hash), checked as the node checks it, and which writes a value
//! filter matches.

use serde_json::{Value, json};

use super::{HandlerError, code, err};

#[derive(Debug, Clone)]
pub(super) enum FilterKind {
    /// Labels of the filter path; `$name` captures, `*` matches without capture.
    Value {
        path: String,
        labels: Vec<String>,
        source: Option<String>,
    },
    Block {
        number: Option<u64>,
    },
    Tx {
        hash: String,
    },
}

pub(super) struct Filter {
    pub(super) kind: FilterKind,
    /// Bumped by every event, so a pending deletion timeout knows it is stale.
    pub(super) events_seen: u64,
}

pub(super) fn is_end_state(state: &str) -> bool {
    matches!(state, "FINALIZED" | "REVERTED" | "FAILED" | "TIMED_OUT")
}

/// JS truthiness of a JSON value (the node tests `if (!data)`).
pub(super) fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

pub(super) fn value_to_id(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Matches a written path against filter labels at exactly the same depth; returns the captured
/// `$name` parameters.
pub(super) fn match_path(
    labels: &[String],
    written: &[String],
) -> Option<serde_json::Map<String, Value>> {
    if labels.len() != written.len() {
        return None;
    }
    let mut params = serde_json::Map::new();
    for (want, got) in labels.iter().zip(written) {
        if let Some(name) = want.strip_prefix('$') {
            params.insert(name.to_owned(), json!(got));
        } else if want != "*" && want != got {
            return None;
        }
    }
    Some(params)
}

pub(super) fn parse_filter(event_type: &str, config: &Value) -> Result<FilterKind, HandlerError> {
    match event_type {
        "BLOCK_FINALIZED" => match config.get("block_number") {
            None | Some(Value::Null) => Ok(FilterKind::Block { number: None }),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x < 0.0 => Err(err(
                    code::NEGATIVE_BLOCK_NUMBER,
                    format!("Invalid block_number. It must not be a negative number ({n})"),
                )),
                // A non-integer number can never equal a block number; keep it as "never".
                _ => Ok(FilterKind::Block {
                    number: Some(n.as_u64().unwrap_or(u64::MAX)),
                }),
            },
            Some(other) => Err(err(
                code::INVALID_BLOCK_NUMBER_TYPE,
                format!("Invalid block_number type. ({})", js_type(other)),
            )),
        },
        "VALUE_CHANGED" => {
            let path = config.get("path").filter(|p| is_truthy(p));
            let Some(path) = path else {
                return Err(err(
                    code::MISSING_PATH,
                    format!("config.path is missing ({config})"),
                ));
            };
            let Some(path_str) = path.as_str() else {
                return Err(err(
                    code::INVALID_PATH,
                    format!("Invalid format path ({path})"),
                ));
            };
            let labels: Vec<String> = path_str
                .split('/')
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            if labels.iter().any(|l| !is_valid_filter_label(l)) {
                return Err(err(
                    code::INVALID_PATH,
                    format!("Invalid format path ({path_str})"),
                ));
            }
            let source = match config.get("event_source") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            Ok(FilterKind::Value {
                path: path_str.to_owned(),
                labels,
                source,
            })
        }
        "TX_STATE_CHANGED" => {
            let hash = config.get("tx_hash").filter(|h| is_truthy(h));
            let Some(hash) = hash else {
                return Err(err(
                    code::MISSING_TX_HASH,
                    format!("config.tx_hash is missing ({config})"),
                ));
            };
            let valid = hash.as_str().filter(|h| {
                h.len() == 66
                    && h.starts_with("0x")
                    && h[2..].bytes().all(|b| b.is_ascii_hexdigit())
            });
            let Some(h) = valid else {
                return Err(err(
                    code::INVALID_TX_HASH,
                    format!("Invalid tx hash ({hash})"),
                ));
            };
            Ok(FilterKind::Tx { hash: h.to_owned() })
        }
        other => Err(err(
            code::INVALID_EVENT_TYPE,
            format!("Invalid event type ({other})"),
        )),
    }
}

/// The node's `isValidStateLabel`: no reserved characters, except `*` alone or a `$`/`.` prefix.
pub(super) fn is_valid_filter_label(label: &str) -> bool {
    let reserved = |c: char| "/.$*#{}[]<>'\"` ".contains(c) || (c as u32) < 0x20 || c == '\u{7f}';
    if label.is_empty() || label.encode_utf16().count() > 150 {
        return false;
    }
    if !label.chars().any(reserved) {
        return true;
    }
    label == "*"
        || ((label.starts_with('$') || label.starts_with('.'))
            && label.len() > 1
            && !label[1..].chars().any(reserved))
}

pub(super) fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null | Value::Array(_) | Value::Object(_) => "object",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}
