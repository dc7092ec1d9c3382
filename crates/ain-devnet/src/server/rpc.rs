//! `POST /json-rpc`: the body limit, the protocol-version middleware and the jayson envelope.
//!
//! Shapes, as the node answers (ain-protocol.md §5):
//! - a method's answer: `{"jsonrpc":"2.0","id":..,"result":{"result":..,"protoVer":"1.6.0"[,"code","message"]}}`;
//! - a missing, invalid or too old `params.protoVer` (or `?protoVer=`): HTTP 200 with a bare
//!   `{"result":null,"code":30101|30102|30103,"message":..,"protoVer":"1.6.0"}`;
//!   `ain_getProtocolVersion` and `ain_checkProtocolVersion` are exempt; a batch array gets 30102,
//!   as observed on a live node;
//! - an unknown method: a JSON-RPC error object `-32601`; a request without a string `method`:
//!   `-32600`.
//!
//! Deviations: a body that is not JSON gets HTTP 200 with a JSON-RPC `-32700` error (the node's
//! body parser answers HTTP 400 with an HTML page); a body over the limit gets HTTP 413 with a
//! JSON-RPC `-32600` error (the node: HTTP 413, HTML).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Server;
use crate::codes;

/// The protocol version the devnet reports (ain-blockchain 1.6.0).
pub const PROTOCOL_VERSION: &str = "1.6.0";

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn bare(code: i64, message: &str) -> Value {
    json!({"result": null, "code": code, "message": message, "protoVer": PROTOCOL_VERSION})
}

/// `semver.coerce`: the first `MAJOR[.MINOR[.PATCH]]` in the text (components of 1–16 digits,
/// not preceded or followed by a digit). Numbers are read as JS prints them.
pub fn coerce(version: &Value) -> Option<(u64, u64, u64)> {
    let text = match version {
        Value::String(s) => s.clone(),
        Value::Number(n) => ain_ledger::json::js_number(n),
        _ => return None,
    };
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (start, i)
    };
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let mut parts: Vec<(usize, usize)> = vec![digits(i)];
        while parts.len() < 3 {
            let end = parts[parts.len() - 1].1;
            if end < b.len() && b[end] == b'.' && end + 1 < b.len() && b[end + 1].is_ascii_digit() {
                parts.push(digits(end + 1));
            } else {
                break;
            }
        }
        // Backtrack like the regex: drop trailing components that are too long.
        while let Some(&(s, e)) = parts.last() {
            if e - s <= 16 {
                break;
            }
            parts.pop();
        }
        if let Some(&(s, e)) = parts.first()
            && e - s <= 16
        {
            let num = |(s, e): (usize, usize)| text[s..e].parse::<u64>().ok();
            let major = num(parts[0])?;
            let minor = parts.get(1).map_or(Some(0), |p| num(*p))?;
            let patch = parts.get(2).map_or(Some(0), |p| num(*p))?;
            return Some((major, minor, patch));
        }
        i = parts.first().map_or(i + 1, |p| p.1);
    }
    None
}

/// Checks a version like the node's `validateVersion`; `Err` carries the bare answer.
pub fn check_version(version: Option<&Value>) -> Result<(), Value> {
    let Some(v) = version else {
        return Err(bare(
            codes::PROTO_VERSION_NOT_SPECIFIED,
            "Protocol version not specified.",
        ));
    };
    match coerce(v) {
        None => Err(bare(
            codes::PROTO_VERSION_INVALID,
            "Invalid protocol version.",
        )),
        Some(ver) if ver < (1, 0, 0) => Err(bare(
            codes::PROTO_VERSION_INCOMPATIBLE,
            "Incompatible protocol version.",
        )),
        Some(_) => Ok(()),
    }
}

/// Methods the protocol-version middleware lets through without `protoVer`.
fn is_exempt(method: &str) -> bool {
    method == "ain_getProtocolVersion" || method == "ain_checkProtocolVersion"
}

/// The `/json-rpc` handler.
pub(super) async fn handle(
    State(server): State<Arc<Server>>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    let limit = server.config.max_request_bytes;
    let Ok(bytes) = to_bytes(body, limit).await else {
        let e = rpc_error(Value::Null, -32600, "Request entity too large");
        return json_response(StatusCode::PAYLOAD_TOO_LARGE, &e);
    };
    let (status, body) = answer(&server, query.get("protoVer").map(String::as_str), &bytes).await;
    json_response(status, &body)
}

/// Answers one request body that is within the size limit; `query_ver` is the `?protoVer=`
/// query parameter. Everything but the HTTP plumbing of [`handle`].
pub(super) async fn answer(
    server: &Arc<Server>,
    query_ver: Option<&str>,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let Ok(request) = serde_json::from_slice::<Value>(bytes) else {
        return (
            StatusCode::OK,
            rpc_error(Value::Null, -32700, "Parse error"),
        );
    };
    let Value::Object(request) = request else {
        return (
            StatusCode::OK,
            bare(codes::PROTO_VERSION_INVALID, "Invalid protocol version."),
        );
    };
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let params = match request.get("params") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    if !is_exempt(method) {
        let query_ver = query_ver
            .filter(|v| !v.is_empty())
            .map(|v| Value::String(v.to_owned()));
        let version = query_ver.as_ref().or_else(|| params.get("protoVer"));
        if let Err(answer) = check_version(version) {
            return (StatusCode::OK, answer);
        }
    }
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    if method.is_empty() {
        return (StatusCode::OK, rpc_error(id, -32600, "Invalid request"));
    }
    let answer = match super::methods::dispatch(server, method, &params).await {
        Some(Ok(mut obj)) => {
            obj.insert("protoVer".into(), json!(PROTOCOL_VERSION));
            json!({"jsonrpc": "2.0", "id": id, "result": obj})
        }
        Some(Err(message)) => rpc_error(id, -32603, &message),
        None => rpc_error(id, -32601, "Method not found"),
    };
    (StatusCode::OK, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerce_like_semver() {
        assert_eq!(coerce(&json!("1.6.0")), Some((1, 6, 0)));
        assert_eq!(coerce(&json!("v2")), Some((2, 0, 0)));
        assert_eq!(coerce(&json!("1.2.3-beta")), Some((1, 2, 3)));
        assert_eq!(coerce(&json!("x 3.4 y")), Some((3, 4, 0)));
        assert_eq!(coerce(&json!(1.5)), Some((1, 5, 0)));
        assert_eq!(coerce(&json!("abc")), None);
        assert_eq!(coerce(&json!(null)), None);
        assert_eq!(coerce(&json!("1.2.12345678901234567")), Some((1, 2, 0)));
        assert!(check_version(None).is_err());
        assert_eq!(
            check_version(Some(&json!("0.9.0"))).unwrap_err()["code"],
            30103
        );
        assert_eq!(
            check_version(Some(&json!("bad"))).unwrap_err()["code"],
            30102
        );
        assert!(check_version(Some(&json!("1.0.0"))).is_ok());
    }
}
