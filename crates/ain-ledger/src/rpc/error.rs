//! Errors of the JSON-RPC client, and the node result codes the rest of the crate reasons about.
//!
//! A node answers most failures with HTTP 200 and a numeric code, so the code is kept on every
//! error it applies to. [`is_transient_code`] is the single place that decides which of those codes
//! are worth retrying; [`RpcError::is_transient`] and
//! [`TxResult::is_transient_failure`](super::TxResult::is_transient_failure) both defer to it.

/// The node's result codes (one table for the whole ledger).
pub use crate::codes;

/// True for node codes that describe the node's momentary state rather than the request: full
/// pools (10704, 10705, 10715, 10716) and a node that is not serving yet (18001). Resending the
/// same signed tx later can succeed; format, signature, nonce and rule failures never will.
pub fn is_transient_code(code: i64) -> bool {
    matches!(
        code,
        codes::TX_POOL_NOT_ENOUGH_ROOM
            | codes::TX_POOL_NOT_ENOUGH_ROOM_FOR_ACCOUNT
            | codes::TX_POOL_NOT_ENOUGH_FREE_ROOM
            | codes::TX_POOL_NOT_ENOUGH_FREE_ROOM_FOR_ACCOUNT
            | codes::BLOCKCHAIN_NODE_NOT_SERVING
    )
}

/// Everything that can go wrong with one JSON-RPC call. Variants that come from the node carry its
/// code and message unchanged.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The node refused the protocol version (30101 not specified, 30102 invalid, 30103
    /// incompatible). This also covers the bare, envelope-less body the version middleware sends.
    #[error("node refused protocol version (code {code}): {message}")]
    Protocol {
        /// 30101, 30102 or 30103.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The method ran and reported a non-zero `code` with its result (for example 30303 invalid
    /// transaction format, 30004 op_list too long).
    #[error("node error {code}: {message}")]
    Node {
        /// The node's result code.
        code: i64,
        /// The node's message (empty if it sent none).
        message: String,
    },
    /// A JSON-RPC `error` object (unknown method, invalid params, internal error of jayson).
    #[error("JSON-RPC error {code}: {message}")]
    JsonRpc {
        /// The JSON-RPC error code (for example -32601 method not found).
        code: i64,
        /// The error message.
        message: String,
    },
    /// The HTTP status was not 2xx.
    #[error("HTTP status {status}{}: {body}", if url.is_empty() { String::new() } else { format!(" from {url} (is this the node's JSON-RPC endpoint? a real node serves /json-rpc)") })]
    Http {
        /// The status code.
        status: u16,
        /// The URL asked (empty when not known).
        url: String,
        /// The start of the response body, for the log.
        body: String,
    },
    /// No complete answer within the configured timeout.
    #[error("request timed out")]
    Timeout,
    /// Connecting, sending or receiving failed below HTTP (refused, reset, DNS, TLS).
    #[error("transport error: {0}")]
    Transport(String),
    /// The body is not JSON, not one of the node's shapes, or does not decode into the expected
    /// type.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The request was refused locally and never sent (for example a batch of more than 50 txs).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl RpcError {
    /// True when the same request may succeed if sent again later: timeouts, transport failures,
    /// HTTP 5xx, 408 and 429, and node codes for which [`is_transient_code`] holds. Protocol,
    /// format, signature, JSON-RPC and local errors are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            RpcError::Timeout | RpcError::Transport(_) => true,
            RpcError::Http { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            RpcError::Node { code, .. } => is_transient_code(*code),
            RpcError::Protocol { .. }
            | RpcError::JsonRpc { .. }
            | RpcError::Malformed(_)
            | RpcError::InvalidRequest(_) => false,
        }
    }

    /// The node or JSON-RPC code this error carries, if any.
    pub fn code(&self) -> Option<i64> {
        match self {
            RpcError::Protocol { code, .. }
            | RpcError::Node { code, .. }
            | RpcError::JsonRpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_classification() {
        assert!(RpcError::Timeout.is_transient());
        assert!(RpcError::Transport("reset".into()).is_transient());
        for status in [500, 502, 503, 408, 429] {
            let e = RpcError::Http {
                status,
                url: String::new(),
                body: String::new(),
            };
            assert!(e.is_transient(), "{status}");
        }
        assert!(
            !RpcError::Http {
                status: 404,
                url: String::new(),
                body: String::new()
            }
            .is_transient()
        );
        for code in [10704, 10705, 10715, 10716, 18001] {
            let e = RpcError::Node {
                code,
                message: String::new(),
            };
            assert!(e.is_transient(), "{code}");
        }
        for code in [30301, 30302, 30303, 30304, 10701, 10712, 12103] {
            let e = RpcError::Node {
                code,
                message: String::new(),
            };
            assert!(!e.is_transient(), "{code}");
        }
        let p = RpcError::Protocol {
            code: 30101,
            message: String::new(),
        };
        assert!(!p.is_transient());
        assert_eq!(p.code(), Some(30101));
        assert!(!RpcError::Malformed("x".into()).is_transient());
        assert!(!RpcError::InvalidRequest("x".into()).is_transient());
    }
}
