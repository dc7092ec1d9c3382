//! The load: calls sent in bursts with at most `IN_FLIGHT` outstanding, each recorded from its
//! request's acceptance to its response's, and a tx's success read from its block receipt.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::bench::echo_chain::Responses;
use crate::client::ChainClient;
use crate::ledger::block::Block;

use super::IN_FLIGHT;

/// One call's record: id, request accepted, response accepted (None: lost).
pub(super) type Record = (String, Instant, Option<Instant>);

pub(super) async fn burst(
    clients: &[ChainClient],
    responses: &Responses,
    n: usize,
    on_sent: impl Fn(usize) + Clone,
) -> anyhow::Result<Vec<Record>> {
    let out: Vec<anyhow::Result<Record>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (c, r, f) = (
                clients[i % clients.len()].clone(),
                responses.clone(),
                on_sent.clone(),
            );
            async move {
                let (id, at, rx) = r.send(&c, i).await?;
                f(i);
                let done = tokio::time::timeout(Duration::from_secs(60), rx)
                    .await
                    .ok()
                    .and_then(Result::ok);
                Ok((id, at, done))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    out.into_iter().collect()
}

/// A tx's success from its receipt: `code` 0, or for a `SET` every `result_list` entry's.
pub(super) fn succeeded(b: &Block, i: usize) -> bool {
    if b.tx_succeeded(i) {
        return true;
    }
    let Some(list) = b
        .receipts
        .get(i)
        .and_then(|r| r.get("result_list"))
        .and_then(|l| l.as_object())
    else {
        return false;
    };
    !list.is_empty()
        && list
            .values()
            .all(|r| r.get("code").and_then(serde_json::Value::as_i64) == Some(0))
}
