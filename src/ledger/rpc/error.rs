//! Errors of the JSON-RPC client, and the node result codes the rest of the crate reasons about.
//!
//! A node answers most failures with HTTP 200 and a numeric code, so the code is kept on every
//! error it applies to. [`is_transient_code`] is the single place that decides which of those codes
//! are worth retrying; [`RpcError::is_transient`] and
//! [`TxResult::is_transient_failure`](super::TxResult::is_transient_failure) both defer to it.

/// Numeric result codes of ain-blockchain 1.6.0 (`common/result-code.js`) that callers test for.
pub mod codes {
    /// Success, in every code table.
    pub const SUCCESS: i64 = 0;
    /// Request without `params.protoVer` (bare body, no envelope).
    pub const PROTO_VERSION_NOT_SPECIFIED: i64 = 30101;
    /// `protoVer` is not a semantic version.
    pub const PROTO_VERSION_INVALID: i64 = 30102;
    /// `protoVer` is outside the node's supported range.
    pub const PROTO_VERSION_INCOMPATIBLE: i64 = 30103;
    /// The `ain_get` op_list is longer than the node accepts.
    pub const GET_EXCEEDS_OP_LIST_SIZE_LIMIT: i64 = 30004;
    /// The request (tx body plus signature) is larger than `tx_bytes_limit`.
    pub const TX_EXCEEDS_SIZE_LIMIT: i64 = 30301;
    /// `tx_body` or `signature` is missing.
    pub const TX_MISSING_PROPERTIES: i64 = 30302;
    /// The tx body is not in the node's standard format (for example an unknown key).
    pub const TX_INVALID_FORMAT: i64 = 30303;
    /// The signature does not verify against the tx body.
    pub const TX_INVALID_SIGNATURE: i64 = 30304;
    /// The batch `tx_list` is missing or empty.
    pub const BATCH_INVALID_FORMAT: i64 = 30401;
    /// The batch has more txs than `batch_tx_list_size_limit`.
    pub const BATCH_TX_LIST_EXCEEDS_SIZE_LIMIT: i64 = 30402;
    /// The same tx hash is already in the pool or the tx tracker.
    pub const TX_ALREADY_RECEIVED: i64 = 10701;
    /// The tx pool is full.
    pub const TX_POOL_NOT_ENOUGH_ROOM: i64 = 10704;
    /// The signer's share of the tx pool is full.
    pub const TX_POOL_NOT_ENOUGH_ROOM_FOR_ACCOUNT: i64 = 10705;
    /// A numbered nonce that is not the account's next nonce.
    pub const TX_INVALID_NONCE_FOR_ACCOUNT: i64 = 10712;
    /// An ordered (`-2`) nonce whose timestamp is not past the account's last one.
    pub const TX_INVALID_TIMESTAMP_FOR_ACCOUNT: i64 = 10713;
    /// The gas price is below the minimum (and not the free 0).
    pub const TX_INVALID_GAS_PRICE: i64 = 10714;
    /// The pool's room for free (gas price 0) txs is full.
    pub const TX_POOL_NOT_ENOUGH_FREE_ROOM: i64 = 10715;
    /// The signer's room for free txs is full (10 pending by default).
    pub const TX_POOL_NOT_ENOUGH_FREE_ROOM_FOR_ACCOUNT: i64 = 10716;
    /// A write rule evaluated to false.
    pub const EVAL_RULE_FALSE_WRITE_RULE_EVAL: i64 = 12103;
    /// The node is not in SERVING state (still syncing).
    pub const BLOCKCHAIN_NODE_NOT_SERVING: i64 = 18001;
    /// A triggered function was skipped; counts as success.
    pub const FUNC_SKIP: i64 = 20000;
}

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
    #[error("HTTP status {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
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
                body: String::new(),
            };
            assert!(e.is_transient(), "{status}");
        }
        assert!(
            !RpcError::Http {
                status: 404,
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
