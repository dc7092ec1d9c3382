//! [`BlockSource`] over a node's JSON-RPC: `ain_getLastBlockNumber` and `ain_getBlockList`. The
//! one adapter between a node and the follower: `ain-sre follow` and the worker daemon both use
//! it, so both treat a node error the same way.
//!
//! The policy, one rule: an error is *transient* when the same request may succeed later
//! ([`RpcError::is_transient`]): no answer (transport failure, timeout), HTTP 5xx, 408 or 429, a
//! node code meaning "not now" (transaction pool full, node not serving), or a node with no block
//! yet. Those are [`SourceError::Unavailable`]: the follower waits `retry_interval` and asks
//! again, for as long as it takes (a node restarting, a network outage). Everything else is
//! *permanent*: the node answered and will answer the same again — it refused the protocol
//! version, does not know the method, rejects the parameters, answers HTTP 4xx (a wrong URL
//! path, a gateway that denies the call), or sends something that is not a block list. Those are
//! [`SourceError::Malformed`]: the follower stops with the node's answer as the reason, so
//! `follow` exits with it and the worker's supervisor stops the worker with it (exit 1) instead of
//! retrying forever behind a worker that looks alive but answers nothing.

use super::source::{BlockSource, SourceError};
use crate::block::Block;
use crate::rpc::{RpcClient, RpcError};

/// Sorts a node error by the policy above.
pub fn classify(e: RpcError) -> SourceError {
    if e.is_transient() {
        SourceError::Unavailable(e.to_string())
    } else {
        SourceError::Malformed(e.to_string())
    }
}

impl BlockSource for RpcClient {
    async fn last_block_number(&self) -> Result<u64, SourceError> {
        match self.get_last_block_number().await.map_err(classify)? {
            Some(n) => Ok(n),
            None => Err(SourceError::Unavailable(
                "the node has no blocks yet".into(),
            )),
        }
    }

    async fn block_list(&self, from: u64, to_exclusive: u64) -> Result<Vec<Block>, SourceError> {
        self.get_block_list::<Block>(from, to_exclusive)
            .await
            .map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::codes;

    #[test]
    fn what_may_succeed_later_is_retried_and_the_rest_stops_the_follower() {
        let http = |status| RpcError::Http {
            url: String::new(),
            status,
            body: String::new(),
        };
        let node = |code| RpcError::Node {
            code,
            message: String::new(),
        };
        let retried = [
            RpcError::Timeout,
            RpcError::Transport("connection refused".into()),
            http(500),
            http(502),
            http(503),
            http(408),
            http(429),
            node(codes::BLOCKCHAIN_NODE_NOT_SERVING),
            node(codes::TX_POOL_NOT_ENOUGH_ROOM),
        ];
        for e in retried {
            let what = e.to_string();
            assert!(
                matches!(classify(e), SourceError::Unavailable(_)),
                "{what} is retried"
            );
        }
        let stops = [
            http(404),
            http(403),
            RpcError::JsonRpc {
                code: -32601,
                message: "Method not found".into(),
            },
            RpcError::JsonRpc {
                code: -32602,
                message: "Invalid params".into(),
            },
            RpcError::Protocol {
                code: 30103,
                message: "incompatible".into(),
            },
            node(10101),
            RpcError::Malformed("not a block list".into()),
            RpcError::InvalidRequest("too many".into()),
        ];
        for e in stops {
            let what = e.to_string();
            match classify(e) {
                SourceError::Malformed(why) => assert_eq!(why, what),
                other => panic!("{what} must stop the follower: {other:?}"),
            }
        }
    }
}
