//! Turning one HTTP answer of the node's `/json-rpc` endpoint into a value or an [`RpcError`].
//!
//! The node answers in three shapes (ain-protocol.md §5, checked against the captured samples):
//! the jayson envelope `{"jsonrpc","id","result":{"result":v,"protoVer"[,"code","message"]}}`; a
//! JSON-RPC `error` object; and, from the protocol-version middleware, a *bare* body
//! `{"result":null,"code":30101,"message":..,"protoVer":..}` with HTTP 200 and no envelope. This
//! is a pure function of the status and bytes, so every shape is unit-tested without a server.

use serde::{Deserialize, Deserializer, de::IgnoredAny};
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::{RpcError, codes};

/// The unwrapped answer of a successful call: the method's value as `T` (a [`Value`] unless the
/// caller decoded it straight into its own type).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcValue<T = Value> {
    /// The method's value (`result.result` in the envelope); may be `null`.
    pub result: T,
    /// The node's `code` beside the value; always absent or 0 here, since non-zero codes become
    /// errors.
    pub code: Option<i64>,
    /// The node's `message` beside the value, if any.
    pub message: Option<String>,
    /// The protocol version the node reported (`"1.6.0"` for the captured node).
    pub proto_ver: Option<String>,
}

/// How much of an unexpected body goes into an error message.
const SNIPPET_CHARS: usize = 200;

/// The first characters of a body, lossily decoded, for error messages and logs.
pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// A member that is present, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// A member's raw text, borrowed from the body; `null` is kept as `Some("null")`, so "absent"
/// and "null" stay apart.
fn raw<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<&'a RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The members of the top object and of the envelope's `result` object that decoding looks at.
/// Members are borrowed raw, so a large value (a block list) is parsed once, into the caller's
/// type, with no `Value` tree in between.
#[derive(Deserialize)]
struct Members<'a> {
    #[serde(default, deserialize_with = "present")]
    jsonrpc: bool,
    #[serde(default, borrow, deserialize_with = "raw")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw")]
    error: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw")]
    code: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw")]
    message: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw", rename = "protoVer")]
    proto_ver: Option<&'a RawValue>,
}

impl<'a> Members<'a> {
    /// Reads the members of a JSON object; anything but an object is `None`.
    fn of(raw: &'a RawValue) -> Result<Option<Members<'a>>, serde_json::Error> {
        if !raw.get().starts_with('{') {
            return Ok(None);
        }
        serde_json::from_str(raw.get()).map(Some)
    }
}

fn small_value(raw: &RawValue) -> Value {
    // A `RawValue` is valid JSON by construction.
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

fn is_null(raw: Option<&RawValue>) -> bool {
    raw.is_none_or(|r| r.get() == "null")
}

/// Decodes one response into a [`Value`]. `expected_id` is the JSON-RPC id the request carried;
/// an envelope with another id is refused, because over HTTP it can only mean a confused proxy.
#[cfg(test)]
fn decode_response(status: u16, body: &[u8], expected_id: u64) -> Result<RpcValue, RpcError> {
    decode_response_with(status, body, expected_id, |raw| Ok(small_value(raw)))
}

/// Decodes one response, handing the method's raw value (borrowed from `body`) to `decode`.
pub(super) fn decode_response_with<T>(
    status: u16,
    body: &[u8],
    expected_id: u64,
    decode: impl FnOnce(&RawValue) -> Result<T, RpcError>,
) -> Result<RpcValue<T>, RpcError> {
    if !(200..300).contains(&status) {
        return Err(RpcError::Http {
            status,
            url: String::new(),
            // The first line only: an HTML error page is no use in full.
            body: snippet(
                String::from_utf8_lossy(body)
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or_default()
                    .as_bytes(),
            ),
        });
    }
    let malformed_body = |what: String| RpcError::Malformed(format!("{what}: {}", snippet(body)));
    let parsed: &RawValue = serde_json::from_slice(body)
        .map_err(|e| malformed_body(format!("body is not JSON ({e})")))?;
    let top = Members::of(parsed)
        .map_err(|e| malformed_body(format!("body does not decode ({e})")))?
        .ok_or_else(|| malformed_body("body is not a JSON object".into()))?;
    if let Some(err) = top.error.filter(|e| e.get() != "null") {
        return Err(json_rpc_error(&small_value(err)));
    }
    let inner = if top.jsonrpc {
        check_id(top.id, expected_id)?;
        let Some(result) = top.result else {
            return Err(RpcError::Malformed(
                "envelope without result or error".into(),
            ));
        };
        Members::of(result)
            .map_err(|e| RpcError::Malformed(format!("envelope result does not decode: {e}")))?
            .ok_or_else(|| {
                RpcError::Malformed(format!(
                    "envelope result is not an object: {}",
                    snippet(result.get().as_bytes())
                ))
            })?
    } else if top.code.is_some() && top.result.is_some() {
        // The protocol-version middleware answers before jayson runs, so there is no envelope.
        top
    } else {
        return Err(malformed_body(
            "neither a JSON-RPC envelope nor a bare node body".into(),
        ));
    };
    decode_inner(&inner, decode)
}

fn json_rpc_error(err: &Value) -> RpcError {
    let code = err.get("code").and_then(Value::as_i64);
    let message = err.get("message").and_then(Value::as_str);
    match (code, message) {
        (Some(code), Some(message)) => RpcError::JsonRpc {
            code,
            message: message.to_owned(),
        },
        _ => RpcError::Malformed(format!(
            "JSON-RPC error without code and message: {}",
            snippet(err.to_string().as_bytes())
        )),
    }
}

fn check_id(id: Option<&RawValue>, expected_id: u64) -> Result<(), RpcError> {
    match id.map(small_value) {
        Some(Value::Number(n)) if n.as_u64() == Some(expected_id) => Ok(()),
        other => Err(RpcError::Malformed(format!(
            "response id {} does not match request id {expected_id}",
            other.map_or_else(|| "(absent)".to_owned(), |v| v.to_string())
        ))),
    }
}

fn decode_inner<T>(
    inner: &Members<'_>,
    decode: impl FnOnce(&RawValue) -> Result<T, RpcError>,
) -> Result<RpcValue<T>, RpcError> {
    let Some(result) = inner.result else {
        return Err(RpcError::Malformed(
            "node answer has no `result` member".into(),
        ));
    };
    let code =
        match inner.code.filter(|c| !is_null(Some(c))).map(small_value) {
            None => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                RpcError::Malformed(format!("node `code` is not an integer: {v}"))
            })?),
        };
    let message = match inner.message.filter(|m| !is_null(Some(m))).map(small_value) {
        None => None,
        Some(Value::String(s)) => Some(s),
        // The node only ever sends strings; anything else is kept readable rather than refused.
        Some(other) => Some(other.to_string()),
    };
    let proto_ver = match inner.proto_ver.map(small_value) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    match code {
        Some(code) if code != codes::SUCCESS => {
            let message = message.unwrap_or_default();
            if (codes::PROTO_VERSION_NOT_SPECIFIED..=codes::PROTO_VERSION_INCOMPATIBLE)
                .contains(&code)
            {
                Err(RpcError::Protocol { code, message })
            } else {
                Err(RpcError::Node { code, message })
            }
        }
        _ => Ok(RpcValue {
            result: decode(result)?,
            code,
            message,
            proto_ver,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(status: u16, v: &Value, id: u64) -> Result<RpcValue, RpcError> {
        decode_response(status, v.to_string().as_bytes(), id)
    }

    #[test]
    fn envelope_value() {
        let v = json!({"jsonrpc":"2.0","id":3,"result":{"result":0,"protoVer":"1.6.0"}});
        let out = decode(200, &v, 3).unwrap();
        assert_eq!(out.result, json!(0));
        assert_eq!(out.proto_ver.as_deref(), Some("1.6.0"));
        assert_eq!(out.code, None);
    }

    #[test]
    fn envelope_with_zero_code_is_ok() {
        let v =
            json!({"jsonrpc":"2.0","id":4,"result":{"result":true,"code":0,"protoVer":"1.6.0"}});
        let out = decode(200, &v, 4).unwrap();
        assert_eq!(out.result, json!(true));
        assert_eq!(out.code, Some(0));
    }

    #[test]
    fn bare_protocol_body() {
        let v = json!({"result":null,"code":30101,"message":"Protocol version not specified.","protoVer":"1.6.0"});
        match decode(200, &v, 5) {
            Err(RpcError::Protocol { code, message }) => {
                assert_eq!(code, 30101);
                assert_eq!(message, "Protocol version not specified.");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn node_code_in_envelope() {
        let v = json!({"jsonrpc":"2.0","id":49,"result":{"result":null,"code":30303,"message":"Invalid transaction format.","protoVer":"1.6.0"}});
        match decode(200, &v, 49) {
            Err(RpcError::Node { code, message }) => {
                assert_eq!(code, 30303);
                assert_eq!(message, "Invalid transaction format.");
            }
            other => panic!("{other:?}"),
        }
        let v = json!({"jsonrpc":"2.0","id":1,"result":{"result":false,"code":30103,"message":"Incompatible protocol version.","protoVer":"1.6.0"}});
        assert!(matches!(
            decode(200, &v, 1),
            Err(RpcError::Protocol { code: 30103, .. })
        ));
    }

    #[test]
    fn json_rpc_error_object() {
        let v =
            json!({"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Method not found"}});
        match decode(200, &v, 7) {
            Err(RpcError::JsonRpc { code, message }) => {
                assert_eq!(code, -32601);
                assert_eq!(message, "Method not found");
            }
            other => panic!("{other:?}"),
        }
        // jayson answers parse errors with id null; the error still wins over the id check.
        let v = json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}});
        assert!(matches!(
            decode(200, &v, 7),
            Err(RpcError::JsonRpc { code: -32700, .. })
        ));
        let v = json!({"jsonrpc":"2.0","id":7,"error":{"oops":1}});
        assert!(matches!(decode(200, &v, 7), Err(RpcError::Malformed(_))));
    }

    #[test]
    fn http_status_and_garbage() {
        assert!(matches!(
            decode_response(500, b"Internal Server Error", 1),
            Err(RpcError::Http { status: 500, .. })
        ));
        assert!(matches!(
            decode_response(200, b"<html>nope</html>", 1),
            Err(RpcError::Malformed(_))
        ));
        assert!(matches!(
            decode_response(200, b"[1,2]", 1),
            Err(RpcError::Malformed(_))
        ));
        assert!(matches!(
            decode_response(200, b"{}", 1),
            Err(RpcError::Malformed(_))
        ));
        assert!(matches!(
            decode_response(200, b"", 1),
            Err(RpcError::Malformed(_))
        ));
    }

    #[test]
    fn envelope_shape_errors() {
        let wrong_id = json!({"jsonrpc":"2.0","id":8,"result":{"result":1}});
        assert!(matches!(
            decode(200, &wrong_id, 9),
            Err(RpcError::Malformed(_))
        ));
        let not_obj = json!({"jsonrpc":"2.0","id":1,"result":5});
        assert!(matches!(
            decode(200, &not_obj, 1),
            Err(RpcError::Malformed(_))
        ));
        let no_inner_result = json!({"jsonrpc":"2.0","id":1,"result":{"protoVer":"1.6.0"}});
        assert!(matches!(
            decode(200, &no_inner_result, 1),
            Err(RpcError::Malformed(_))
        ));
        let bad_code = json!({"jsonrpc":"2.0","id":1,"result":{"result":1,"code":"x"}});
        assert!(matches!(
            decode(200, &bad_code, 1),
            Err(RpcError::Malformed(_))
        ));
    }

    #[test]
    fn null_is_a_value_and_absent_is_not() {
        let v = json!({"jsonrpc":"2.0","id":2,"error":null,"result":{"result":null,"protoVer":"1.6.0"}});
        assert_eq!(decode(200, &v, 2).unwrap().result, Value::Null);
        let v = json!({"jsonrpc":"2.0","id":2,"result":null});
        assert!(matches!(decode(200, &v, 2), Err(RpcError::Malformed(_))));
    }

    #[test]
    fn the_raw_value_goes_straight_to_the_caller() {
        let body = br#"{"jsonrpc":"2.0","id":5,"result":{"result":[{"number":7,"x":"\u00e9"}],"protoVer":"1.6.0"}}"#;
        let out = decode_response_with(200, body, 5, |raw| {
            assert_eq!(raw.get(), r#"[{"number":7,"x":"\u00e9"}]"#);
            Ok(raw.get().len())
        })
        .unwrap();
        assert_eq!(out.proto_ver.as_deref(), Some("1.6.0"));
        // The decoder's own error comes back as is; a node error never reaches the decoder.
        let err = decode_response_with(200, body, 5, |_| -> Result<(), _> {
            Err(RpcError::Malformed("mine".into()))
        });
        assert!(matches!(err, Err(RpcError::Malformed(m)) if m == "mine"));
        let node_err =
            br#"{"jsonrpc":"2.0","id":5,"result":{"result":null,"code":30303,"message":"m"}}"#;
        let out = decode_response_with(200, node_err, 5, |_| -> Result<(), _> {
            panic!("decoded a failed answer")
        });
        assert!(matches!(out, Err(RpcError::Node { code: 30303, .. })));
    }

    #[test]
    fn snippet_is_bounded() {
        let long = "x".repeat(1000);
        let s = snippet(long.as_bytes());
        assert!(s.chars().count() <= SNIPPET_CHARS + 1);
    }
}
