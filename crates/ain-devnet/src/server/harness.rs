//! The devnet without sockets or a block producer, answering JSON-RPC bodies in-process: the
//! entry point of the `devnet_rpc` fuzz target and of its regression test. Hidden from the docs;
//! it grants nothing the HTTP endpoint does not.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;

use super::{DevnetError, Server, chain_params, rpc};
use crate::DevnetConfig;
use crate::chain::{self, Chain, ChainError};
use crate::perm::RuleCache;
use crate::store::Store;
use ain_ledger::block::Block;

/// A fresh in-memory devnet driven call by call. Blocks are produced only when asked.
#[doc(hidden)]
pub struct RpcHarness {
    server: Arc<Server>,
    rules: RuleCache,
}

impl RpcHarness {
    /// Opens a new in-memory chain (the config's `data_dir` and addresses are ignored).
    pub fn open(config: DevnetConfig) -> Result<RpcHarness, DevnetError> {
        let store = Store::open(None).map_err(ChainError::from)?;
        let chain = Chain::open(store, config.validator_key.clone(), chain_params(&config))?;
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(RpcHarness {
            server: Server::assemble(config, chain, unbound),
            rules: RuleCache::default(),
        })
    }

    /// Answers one `POST /json-rpc` body as the server would: the HTTP status and the JSON body.
    /// `query_ver` is the `?protoVer=` query parameter.
    pub async fn call(&self, query_ver: Option<&str>, body: &[u8]) -> (u16, Value) {
        if body.len() > self.server.config.max_request_bytes {
            return (413, Value::Null);
        }
        let (status, answer) = rpc::answer(&self.server, query_ver, body).await;
        self.server.flush_events();
        (status.as_u16(), answer)
    }

    /// Builds, stores and commits the next block as the producer does; `Ok(None)` when no block
    /// is due.
    pub async fn produce_block(&mut self) -> Result<Option<Arc<Block>>, String> {
        let Some(draft) = self.server.chain().draft() else {
            return Ok(None);
        };
        let built = match chain::build(draft, &mut self.rules, ain_ledger::now_ms()) {
            Ok(built) => built,
            Err(e) => {
                self.server.chain().abandon();
                return Err(e.to_string());
            }
        };
        let seq = self.server.persister.enqueue(built.write_op());
        if let Err(e) = self.server.persister.wait(seq).await {
            self.server.chain().abandon();
            return Err(e.to_string());
        }
        let block = built.block.clone();
        let events = self.server.chain().commit(built);
        self.server.flush_then(&events);
        Ok(Some(block))
    }

    /// Every block from genesis to the tip (final or not), in order.
    pub fn blocks(&self) -> Result<Vec<Arc<Block>>, String> {
        let chain = self.server.chain();
        (0..=chain.tip().number)
            .map(|n| match chain.any_block(n) {
                Ok(Some(b)) => Ok(b),
                Ok(None) => Err(format!("block {n} is missing")),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }
}

impl Drop for RpcHarness {
    fn drop(&mut self) {
        self.server.events.shutdown();
        self.server.chain().close();
    }
}
