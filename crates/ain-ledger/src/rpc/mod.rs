//! JSON-RPC client for an AI Network node (ain-blockchain 1.6.0, `POST /json-rpc`).
//!
//! [`RpcClient::call`] is the one place that talks HTTP: it adds `protoVer` to every request's
//! named params, bounds the whole exchange by a timeout and the body by a size limit, and turns
//! the node's three answer shapes (jayson envelope, JSON-RPC error, bare protocol-error body) into
//! an [`RpcValue`] or a typed [`RpcError`] carrying the node's code. The typed methods in
//! `api` (sending signed txs, `ain_get`, nonces, blocks, tx lookups, chain id, protocol
//! check) are thin layers on top. Block and transaction getters are generic over the caller's
//! types so this module does not depend on how blocks or txs are modelled.
//!
//! Retrying is the caller's decision: [`RpcError::is_transient`] and
//! [`SendResult::is_transient_failure`] say which failures may go away.

mod api;
mod envelope;
mod error;
mod get;
mod send;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

pub use api::{MAX_BATCH_TXS, MAX_BLOCKS_PER_CALL, TxInfo, TxState};
pub use envelope::RpcValue;
pub use error::{RpcError, codes, is_transient_code};
pub use get::{GetKind, GetOp, GetRequest, MAX_GET_OPS, StateView};
pub use send::{SendResult, TxResult};

/// The protocol version sent by default: the captured node's own version. Any semver ≥ 1.0.0
/// is accepted by a 1.6.0 node.
pub const DEFAULT_PROTO_VER: &str = "1.6.0";

/// Settings of an [`RpcClient`]. Every field has a safe default ([`RpcConfig::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// Upper bound on one whole exchange: connect, send, wait, read the body. Default 30 s.
    pub timeout: Duration,
    /// Upper bound on establishing the TCP (and TLS) connection. Default 5 s.
    pub connect_timeout: Duration,
    /// The `protoVer` put in every request; must be `MAJOR.MINOR.PATCH` with MAJOR ≥ 1.
    /// Default [`DEFAULT_PROTO_VER`].
    pub proto_ver: String,
    /// Largest response body accepted; a bigger one is refused as malformed instead of being
    /// buffered. Default 32 MiB (20 full blocks with many txs stay well below it).
    pub max_response_bytes: usize,
    /// Most exchanges in flight at once over this client and its clones, and most idle
    /// connections kept: more callers wait for a turn. Without a cap the connection pool grew
    /// to ~145 connections of ~45 KB of buffers each under 32 concurrent posts (a new
    /// connection is opened whenever none is idle at the moment of asking). Default 32: 48 was
    /// no faster in `bench e2e` and held ~2 MB more.
    pub max_in_flight: usize,
}

impl Default for RpcConfig {
    fn default() -> RpcConfig {
        RpcConfig {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            proto_ver: DEFAULT_PROTO_VER.to_owned(),
            max_response_bytes: 32 * 1024 * 1024,
            max_in_flight: 32,
        }
    }
}

/// A JSON-RPC client bound to one node endpoint. Cloning is cheap and clones share one pooled
/// HTTP client and one request-id counter.
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
    proto_ver: Arc<str>,
    max_response_bytes: usize,
    next_id: Arc<AtomicU64>,
    turns: Arc<Semaphore>,
}

impl RpcClient {
    /// A client for `url` (for example `http://127.0.0.1:8081/json-rpc`) with default settings.
    pub fn new(url: &str) -> Result<RpcClient, RpcError> {
        RpcClient::with_config(url, RpcConfig::default())
    }

    /// A client for `url` with explicit settings. Fails, without any network traffic, on a URL
    /// that is not http(s), an invalid `proto_ver`, or a zero timeout or size limit.
    ///
    /// A URL without a path (`http://host:8081`, the base URL ain-js takes) gets the node's
    /// JSON-RPC path `/json-rpc`; any other path is used as given.
    pub fn with_config(url: &str, config: RpcConfig) -> Result<RpcClient, RpcError> {
        let mut url = reqwest::Url::parse(url)
            .map_err(|e| RpcError::InvalidRequest(format!("bad node URL {url:?}: {e}")))?;
        if matches!(url.path(), "" | "/") && url.query().is_none() {
            url.set_path("/json-rpc");
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(RpcError::InvalidRequest(format!(
                "node URL must be http or https, not {}",
                url.scheme()
            )));
        }
        if !is_valid_proto_ver(&config.proto_ver) {
            return Err(RpcError::InvalidRequest(format!(
                "protoVer {:?} is not MAJOR.MINOR.PATCH with MAJOR >= 1",
                config.proto_ver
            )));
        }
        if config.timeout.is_zero()
            || config.connect_timeout.is_zero()
            || config.max_response_bytes == 0
            || config.max_in_flight == 0
        {
            return Err(RpcError::InvalidRequest(
                "timeouts, the response size limit and max_in_flight must be non-zero".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .pool_max_idle_per_host(config.max_in_flight)
            .build()
            .map_err(|e| RpcError::Transport(error_chain(&e)))?;
        Ok(RpcClient {
            http,
            url,
            timeout: config.timeout,
            proto_ver: config.proto_ver.into(),
            max_response_bytes: config.max_response_bytes,
            next_id: Arc::new(AtomicU64::new(1)),
            turns: Arc::new(Semaphore::new(config.max_in_flight)),
        })
    }

    /// The endpoint this client posts to.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The `protoVer` this client sends.
    pub fn proto_ver(&self) -> &str {
        &self.proto_ver
    }

    /// Calls `method` with named `params`. `protoVer` is added unless `params` already has one,
    /// so every request carries it. Returns the unwrapped value, or an error that keeps the
    /// node's code: a non-zero `code` beside the value is always an error
    /// ([`RpcError::Protocol`] for 30101-30103, [`RpcError::Node`] otherwise).
    pub async fn call(
        &self,
        method: &str,
        params: Map<String, Value>,
    ) -> Result<RpcValue, RpcError> {
        self.call_with(method, params, |raw| {
            serde_json::from_str(raw.get())
                .map_err(|e| RpcError::Malformed(format!("{method} result: {e}")))
        })
        .await
    }

    /// [`call`](Self::call), but the method's value is handed raw (borrowed from the body) to
    /// `decode`, so a large answer is parsed once, straight into the caller's type.
    pub(crate) async fn call_with<T>(
        &self,
        method: &str,
        mut params: Map<String, Value>,
        decode: impl FnOnce(&RawValue) -> Result<T, RpcError>,
    ) -> Result<RpcValue<T>, RpcError> {
        if !params.contains_key("protoVer") {
            params.insert("protoVer".into(), Value::from(&*self.proto_ver));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": method,
            "params": params,
        });
        tracing::debug!(method, id, url = %self.url, "json-rpc call");
        // Never closed, so acquiring only waits for a turn.
        let _turn = self.turns.acquire().await;
        // reqwest's own timeout covers the same span; this outer one also bounds our body loop.
        let exchange = self.exchange(&body);
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| RpcError::Timeout)??;
        let out = envelope::decode_response_with(status, &bytes, id, decode).map_err(|e| match e {
            RpcError::Http { status, body, .. } => RpcError::Http {
                status,
                url: self.url.to_string(),
                body,
            },
            other => other,
        });
        if let Err(e) = &out {
            tracing::debug!(method, id, error = %e, "json-rpc call failed");
        }
        out
    }

    /// [`call`](Self::call), then decodes the value into `T`.
    pub(crate) async fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Map<String, Value>,
    ) -> Result<T, RpcError> {
        let value = self.call_with(method, params, |raw| decode_raw(method, raw));
        Ok(value.await?.result)
    }

    async fn exchange(&self, body: &Value) -> Result<(u16, Vec<u8>), RpcError> {
        let mut resp = self
            .http
            .post(self.url.clone())
            .json(body)
            .send()
            .await
            .map_err(map_reqwest)?;
        let status = resp.status().as_u16();
        let too_big = || {
            RpcError::Malformed(format!(
                "response body exceeds {} bytes",
                self.max_response_bytes
            ))
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes as u64)
        {
            return Err(too_big());
        }
        // Sized up front when the length is known: a block list can be megabytes, and growing by
        // doubling would hold two copies at once.
        let mut buf = Vec::with_capacity(resp.content_length().map_or(0, |n| n as usize));
        while let Some(chunk) = resp.chunk().await.map_err(map_reqwest)? {
            if buf.len() + chunk.len() > self.max_response_bytes {
                return Err(too_big());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((status, buf))
    }
}

/// Decodes a method's raw value into `T`, naming the method in the error.
pub(crate) fn decode_raw<T: DeserializeOwned>(method: &str, raw: &RawValue) -> Result<T, RpcError> {
    serde_json::from_str(raw.get())
        .map_err(|e| RpcError::Malformed(format!("{method} result does not decode: {e}")))
}

fn map_reqwest(e: reqwest::Error) -> RpcError {
    if e.is_timeout() {
        RpcError::Timeout
    } else {
        RpcError::Transport(error_chain(&e))
    }
}

/// The error and its sources on one line; reqwest's top-level text alone rarely says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// `MAJOR.MINOR.PATCH`, digits only, MAJOR ≥ 1: what the node's semver check accepts as ≥ 1.0.0.
fn is_valid_proto_ver(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[0].parse::<u32>().is_ok_and(|m| m >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_ver_validation() {
        for ok in ["1.0.0", "1.6.0", "2.10.3"] {
            assert!(is_valid_proto_ver(ok), "{ok}");
        }
        for bad in ["0.9.0", "1.6", "1.6.0-beta", "", "a.b.c", "1..0", "v1.6.0"] {
            assert!(!is_valid_proto_ver(bad), "{bad}");
        }
    }

    #[test]
    fn constructor_validation() {
        assert!(RpcClient::new("http://127.0.0.1:8081/json-rpc").is_ok());
        // The base URL ain-js takes reaches the same endpoint; other paths are kept.
        for base in ["http://127.0.0.1:8081", "http://127.0.0.1:8081/"] {
            assert_eq!(
                RpcClient::new(base).unwrap().url(),
                "http://127.0.0.1:8081/json-rpc"
            );
        }
        assert_eq!(
            RpcClient::new("https://node.example/rpc/json-rpc")
                .unwrap()
                .url(),
            "https://node.example/rpc/json-rpc"
        );
        assert!(RpcClient::new("ws://127.0.0.1:5100").is_err());
        assert!(RpcClient::new("not a url").is_err());
        let cfg = RpcConfig {
            proto_ver: "0.1.0".into(),
            ..RpcConfig::default()
        };
        assert!(RpcClient::with_config("http://127.0.0.1:1/", cfg).is_err());
        let cfg = RpcConfig {
            timeout: Duration::ZERO,
            ..RpcConfig::default()
        };
        assert!(RpcClient::with_config("http://127.0.0.1:1/", cfg).is_err());
    }
}
