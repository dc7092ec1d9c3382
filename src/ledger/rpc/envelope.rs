//! Turning one HTTP answer of the node's `/json-rpc` endpoint into a value or an [`RpcError`].
//!
//! The node answers in three shapes (ain-protocol.md §5, checked against the captured samples):
//! the jayson envelope `{"jsonrpc","id","result":{"result":v,"protoVer"[,"code","message"]}}`; a
//! JSON-RPC `error` object; and, from the protocol-version middleware, a *bare* body
//! `{"result":null,"code":30101,"message":..,"protoVer":..}` with HTTP 200 and no envelope. This
//! is a pure function of the status and bytes, so every shape is unit-tested without a server.

use serde_json::{Map, Value};

use super::error::{RpcError, codes};

/// The unwrapped answer of a successful call.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcValue {
    /// The method's value (`result.result` in the envelope); may be `null`.
    pub result: Value,
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

/// Decodes one response. `expected_id` is the JSON-RPC id the request carried; an envelope with
/// another id is refused, because over HTTP it can only mean a confused proxy.
pub(super) fn decode_response(
    status: u16,
    body: &[u8],
    expected_id: u64,
) -> Result<RpcValue, RpcError> {
    if !(200..300).contains(&status) {
        return Err(RpcError::Http {
            status,
            body: snippet(body),
        });
    }
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|e| RpcError::Malformed(format!("body is not JSON ({e}): {}", snippet(body))))?;
    let Value::Object(top) = parsed else {
        return Err(RpcError::Malformed(format!(
            "body is not a JSON object: {}",
            snippet(body)
        )));
    };
    if let Some(err) = top.get("error").filter(|e| !e.is_null()) {
        return Err(json_rpc_error(err));
    }
    let inner = if top.contains_key("jsonrpc") {
        check_id(&top, expected_id)?;
        match top.get("result") {
            Some(Value::Object(inner)) => inner,
            Some(other) => {
                return Err(RpcError::Malformed(format!(
                    "envelope result is not an object: {}",
                    snippet(other.to_string().as_bytes())
                )));
            }
            None => {
                return Err(RpcError::Malformed(
                    "envelope without result or error".into(),
                ));
            }
        }
    } else if top.contains_key("code") && top.contains_key("result") {
        // The protocol-version middleware answers before jayson runs, so there is no envelope.
        &top
    } else {
        return Err(RpcError::Malformed(format!(
            "neither a JSON-RPC envelope nor a bare node body: {}",
            snippet(body)
        )));
    };
    decode_inner(inner)
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

fn check_id(top: &Map<String, Value>, expected_id: u64) -> Result<(), RpcError> {
    match top.get("id") {
        Some(Value::Number(n)) if n.as_u64() == Some(expected_id) => Ok(()),
        other => Err(RpcError::Malformed(format!(
            "response id {} does not match request id {expected_id}",
            other.map_or_else(|| "(absent)".to_owned(), Value::to_string)
        ))),
    }
}

fn decode_inner(inner: &Map<String, Value>) -> Result<RpcValue, RpcError> {
    let Some(result) = inner.get("result") else {
        return Err(RpcError::Malformed(
            "node answer has no `result` member".into(),
        ));
    };
    let code =
        match inner.get("code") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                RpcError::Malformed(format!("node `code` is not an integer: {v}"))
            })?),
        };
    let message = match inner.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        // The node only ever sends strings; anything else is kept readable rather than refused.
        Some(other) => Some(other.to_string()),
    };
    let proto_ver = inner
        .get("protoVer")
        .and_then(Value::as_str)
        .map(str::to_owned);
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
            result: result.clone(),
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
    fn snippet_is_bounded() {
        let long = "x".repeat(1000);
        let s = snippet(long.as_bytes());
        assert!(s.chars().count() <= SNIPPET_CHARS + 1);
    }
}
