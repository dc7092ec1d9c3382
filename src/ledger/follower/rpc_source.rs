//! [`BlockSource`] over a node's JSON-RPC: `ain_getLastBlockNumber` and `ain_getBlockList`.
//!
//! Transport failures, timeouts and 5xx answers are `Unavailable` (the follower retries); a node
//! refusing the request or answering with something that is not a block list is `Malformed`
//! (retrying would not help, so the follower stops and says why).

use super::source::{BlockSource, SourceError};
use crate::ledger::block::Block;
use crate::ledger::rpc::{RpcClient, RpcError};

fn classify(e: RpcError) -> SourceError {
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
