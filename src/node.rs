//! The worker's view of a node: the few JSON-RPC calls the stages make, behind a trait so every
//! stage can be unit-tested against [`fake::FakeNode`]. [`RpcClient`] implements it for real
//! nodes (and the built-in chain); it also feeds the follower
//! ([`crate::ledger::follower::rpc_source`]).

use std::future::Future;

use serde_json::Value;

use crate::ledger::crypto::{Hash, Signature};
use crate::ledger::rpc::{
    GetOp, GetRequest, MAX_GET_OPS, RpcClient, RpcError, SendResult, TxState,
};

/// The node calls the worker's stages make.
pub trait Node: Send + Sync + 'static {
    /// `ain_sendSignedTransaction`.
    fn send(
        &self,
        tx_body: &Value,
        signature: &Signature,
    ) -> impl Future<Output = Result<SendResult, RpcError>> + Send;

    /// Values at `paths` (latest state), one per path, `null` where nothing is stored.
    fn get_values(
        &self,
        paths: &[String],
    ) -> impl Future<Output = Result<Vec<Value>, RpcError>> + Send;

    /// The tracked state of a tx, `None` when the node does not know it.
    fn tx_state(
        &self,
        hash: &Hash,
    ) -> impl Future<Output = Result<Option<TxState>, RpcError>> + Send;

    /// A tracked tx as `{tx_body, signature, hash, address}` (for recovery), if known.
    fn transaction(
        &self,
        hash: &Hash,
    ) -> impl Future<Output = Result<Option<Value>, RpcError>> + Send;
}

/// One value, via [`Node::get_values`].
pub async fn get_value<N: Node>(node: &N, path: &str) -> Result<Value, RpcError> {
    let mut v = node.get_values(&[path.to_owned()]).await?;
    Ok(v.pop().unwrap_or(Value::Null))
}

impl Node for RpcClient {
    async fn send(&self, tx_body: &Value, signature: &Signature) -> Result<SendResult, RpcError> {
        self.send_signed_transaction(tx_body, signature).await
    }

    async fn get_values(&self, paths: &[String]) -> Result<Vec<Value>, RpcError> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(MAX_GET_OPS) {
            if let [one] = chunk {
                out.push(
                    self.get(&GetRequest::One(GetOp::value(one.clone())))
                        .await?,
                );
                continue;
            }
            let ops = chunk.iter().map(|p| GetOp::value(p.clone())).collect();
            match self.get(&GetRequest::Many(ops)).await? {
                Value::Array(vals) if vals.len() == chunk.len() => out.extend(vals),
                other => {
                    return Err(RpcError::Malformed(format!(
                        "ain_get op_list answer is not a list of {}: {other}",
                        chunk.len()
                    )));
                }
            }
        }
        Ok(out)
    }

    async fn tx_state(&self, hash: &Hash) -> Result<Option<TxState>, RpcError> {
        /// Only the state: the record also carries the whole tx and its results, which a
        /// per-call check has no use for (decoding them into a `Value` tree cost allocations).
        #[derive(serde::Deserialize)]
        struct StateOnly {
            state: Option<String>,
        }
        let info: Option<StateOnly> = self.get_transaction_by_hash(hash).await?;
        Ok(info.and_then(|v| v.state).map(|s| TxState::from_wire(&s)))
    }

    async fn transaction(&self, hash: &Hash) -> Result<Option<Value>, RpcError> {
        let info: Option<Value> = self.get_transaction_by_hash(hash).await?;
        Ok(info.and_then(|mut v| v.get_mut("transaction").map(Value::take)))
    }
}

#[cfg(any(test, feature = "test-util"))]
pub mod fake {
    //! An in-memory node for stage tests: values in a map, the write-once response rule, scripted
    //! transient failures, and a log of every submitted tx.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use serde_json::{Value, json};

    use super::Node;
    use crate::ledger::crypto::{Hash, Signature, hash_transaction};
    use crate::ledger::rpc::{RpcError, SendResult, TxResult, TxState, codes};
    use crate::ledger::sync::LockExt;

    /// A fake node. Response paths (ending in `/response`) are write-once, like the rule
    /// `ain-sre deploy` writes.
    #[derive(Debug, Default)]
    pub struct FakeNode {
        inner: Mutex<Inner>,
    }

    #[derive(Debug, Default)]
    struct Inner {
        values: HashMap<String, Value>,
        txs: HashMap<Hash, (Value, TxState)>,
        sends: Vec<(Value, Hash)>,
        fail_next: u32,
        /// `(code, count)`: the next `count` writes are refused with `code` after execution
        /// (kept by the node as reverted, as a real node keeps a failed tx in its tracker).
        refuse_next: Option<(i64, u32)>,
        /// How many times a tx's state was asked.
        tx_state_asks: usize,
    }

    impl FakeNode {
        /// An empty node.
        pub fn new() -> FakeNode {
            FakeNode::default()
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
            self.inner.lock_or_recover()
        }

        /// Stores a value.
        pub fn set(&self, path: &str, value: Value) {
            self.lock().values.insert(path.to_owned(), value);
        }

        /// The value at `path`.
        pub fn value(&self, path: &str) -> Value {
            self.lock().values.get(path).cloned().unwrap_or(Value::Null)
        }

        /// Makes the next `n` sends fail with a transient transport error.
        pub fn fail_next(&self, n: u32) {
            self.lock().fail_next = n;
        }

        /// Makes the next `n` writes fail with `code` (for example 10905, the state budget); the
        /// node remembers each such tx as reverted, so sending it again answers 10701.
        pub fn refuse_next(&self, code: i64, n: u32) {
            self.lock().refuse_next = Some((code, n));
        }

        /// Every tx submitted so far (body, hash), accepted or not.
        pub fn sends(&self) -> Vec<(Value, Hash)> {
            self.lock().sends.clone()
        }

        /// Loses a tx and the value it wrote, as a node restarted without it would.
        pub fn forget(&self, hash: &Hash) {
            let mut inner = self.lock();
            if let Some((body, _)) = inner.txs.remove(hash)
                && let Some(path) = body["operation"]["ref"].as_str()
            {
                inner.values.remove(path);
            }
        }

        /// Records a tx the node knows (a request written by someone else) in `state`.
        pub fn set_tx_state(&self, hash: Hash, state: TxState) {
            self.lock().txs.insert(hash, (Value::Null, state));
        }

        /// How many times a tx's state was asked (`ain_getTransactionByHash`).
        pub fn tx_state_asks(&self) -> usize {
            self.lock().tx_state_asks
        }

        /// Marks a known tx finalized.
        pub fn finalize(&self, hash: &Hash) {
            if let Some(t) = self.lock().txs.get_mut(hash) {
                t.1 = TxState::Finalized;
            }
        }
    }

    /// The values set below `path`, nested as the node returns a subtree; `Null` when none.
    fn subtree(values: &HashMap<String, Value>, path: &str) -> Value {
        let prefix = format!("{path}/");
        let mut root = serde_json::Map::new();
        for (k, v) in values {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let mut labels: Vec<&str> = rest.split('/').collect();
            let last = labels.pop().unwrap_or_default();
            let mut node = &mut root;
            for l in labels {
                let child = node
                    .entry(l.to_owned())
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if !child.is_object() {
                    *child = Value::Object(serde_json::Map::new());
                }
                let Value::Object(m) = child else {
                    unreachable!("made an object above")
                };
                node = m;
            }
            node.insert(last.to_owned(), v.clone());
        }
        if root.is_empty() {
            Value::Null
        } else {
            Value::Object(root)
        }
    }

    impl Node for FakeNode {
        async fn send(
            &self,
            tx_body: &Value,
            signature: &Signature,
        ) -> Result<SendResult, RpcError> {
            let hash = hash_transaction(tx_body);
            let mut inner = self.lock();
            inner.sends.push((tx_body.clone(), hash));
            if inner.fail_next > 0 {
                inner.fail_next -= 1;
                return Err(RpcError::Transport("simulated outage".into()));
            }
            if signature.hash != hash {
                return Err(RpcError::Node {
                    code: codes::TX_INVALID_SIGNATURE,
                    message: "bad signature".into(),
                });
            }
            let fail = |code: i64, msg: &str| {
                Ok(SendResult::Processed {
                    tx_hash: hash,
                    result: TxResult::new(json!({"code": code, "message": msg})),
                })
            };
            if inner.txs.contains_key(&hash) {
                return fail(codes::TX_ALREADY_RECEIVED, "already received");
            }
            let op = &tx_body["operation"];
            let (Some(path), value) = (op["ref"].as_str(), op["value"].clone()) else {
                return fail(codes::TX_INVALID_FORMAT, "no ref");
            };
            if let Some((code, n)) = inner.refuse_next.filter(|r| r.1 > 0) {
                inner.refuse_next = Some((code, n - 1));
                inner.txs.insert(hash, (tx_body.clone(), TxState::Reverted));
                return fail(code, "refused");
            }
            if path.ends_with("/response") && inner.values.contains_key(path) {
                inner.txs.insert(hash, (tx_body.clone(), TxState::Reverted));
                return fail(codes::EVAL_RULE_FALSE_WRITE_RULE_EVAL, "write rule false");
            }
            inner.values.insert(path.to_owned(), value);
            inner.txs.insert(hash, (tx_body.clone(), TxState::Executed));
            Ok(SendResult::Processed {
                tx_hash: hash,
                result: TxResult::new(json!({"code": 0})),
            })
        }

        async fn get_values(&self, paths: &[String]) -> Result<Vec<Value>, RpcError> {
            let inner = self.lock();
            Ok(paths
                .iter()
                .map(|p| match inner.values.get(p) {
                    Some(v) => v.clone(),
                    None => subtree(&inner.values, p),
                })
                .collect())
        }

        async fn tx_state(&self, hash: &Hash) -> Result<Option<TxState>, RpcError> {
            let mut inner = self.lock();
            inner.tx_state_asks += 1;
            Ok(inner.txs.get(hash).map(|t| t.1.clone()))
        }

        async fn transaction(&self, _hash: &Hash) -> Result<Option<Value>, RpcError> {
            Ok(None)
        }
    }
}
