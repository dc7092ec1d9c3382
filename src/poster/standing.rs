//! What the chain says about a journaled call, read before anything is re-sent.

use std::time::Duration;

use serde_json::Value;

use crate::ledger::crypto::Address;
use crate::node::Node;
use crate::onchain::AppPaths;

/// What the chain says about a journaled call: read before re-sending anything (at recovery and
/// before a refused response is signed again).
#[derive(Debug, PartialEq)]
pub enum Standing {
    /// The request is there and unanswered: an answer may still land.
    Open,
    /// No request on chain (its tx failed, or the chain is another one): nothing to answer.
    NoRequest,
    /// Answered, by this worker or not.
    Answered {
        /// By this worker.
        ours: bool,
    },
    /// The node could not be read (three tries).
    Unknown,
}

/// Reads the request and response of `key` from the node.
pub async fn standing<N: Node>(node: &N, key: &str, me: &Address) -> Standing {
    let Some((app, function, call_id)) = crate::onchain::split_call_key(key) else {
        return Standing::NoRequest;
    };
    let Ok(paths) = AppPaths::new(app) else {
        return Standing::NoRequest;
    };
    let want = [
        paths.request(function, call_id),
        paths.response(function, call_id),
    ];
    for attempt in 0..3u32 {
        match node.get_values(&want).await {
            Ok(v) => {
                let (request, response) = (
                    v.first().unwrap_or(&Value::Null),
                    v.get(1).unwrap_or(&Value::Null),
                );
                return if request.is_null() {
                    Standing::NoRequest
                } else if !response.is_null() {
                    Standing::Answered {
                        ours: response["receipt"]["worker"]
                            .as_str()
                            .and_then(|w| w.parse::<Address>().ok())
                            .is_some_and(|w| w == *me),
                    }
                } else {
                    Standing::Open
                };
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "recovery read failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    Standing::Unknown
}
