//! Recovery at start: the journal's unfinished calls re-admitted once the chain shows their
//! request present and unanswered (signed responses re-submitted, seen or running calls fetched
//! and run again).

use std::sync::Arc;
use std::time::Instant;

use crate::call::{Call, Origin};
use crate::journal::CallState;
use crate::ledger::crypto::{Address, Hash};
use crate::ledger::tx::{OpType, SignedTx};
use crate::node::Node;
use crate::poster::{Standing, standing};
use crate::trigger::run::TriggerCtx;
use crate::trigger::{Apps, TriggerError};

/// Re-admits the journal's unfinished calls, each only once the chain shows its request present
/// and unanswered: signed responses are submitted again; calls that were only seen or running
/// are fetched from the node and run again. Nothing is sent for a call whose request is gone.
pub(super) async fn recover<N: Node>(
    ctx: Arc<TriggerCtx>,
    node: Arc<N>,
    chain_id: u64,
    me: Address,
) -> Result<(), TriggerError> {
    let unfinished = ctx.registry.journal().unfinished()?;
    if unfinished.is_empty() {
        return Ok(());
    }
    tracing::info!(
        calls = unfinished.len(),
        "recovering unfinished calls from the journal"
    );
    for (key, rec) in unfinished {
        let Ok(request_tx) = rec.request_tx.parse::<Hash>() else {
            continue;
        };
        match standing(&*node, &key, &me).await {
            Standing::Open => {}
            Standing::NoRequest => {
                tracing::warn!(call = %key, "recovery: the request is not on chain (its tx failed, or the chain was reset); nothing is sent");
                metrics::counter!("ain_sre_recovery_dropped_total", "reason" => "no_request")
                    .increment(1);
                ctx.registry.finish(&key, CallState::NoRequest);
                continue;
            }
            Standing::Answered { ours } => {
                tracing::info!(call = %key, ours, "recovery: already answered on chain");
                ctx.registry.finish(
                    &key,
                    if ours {
                        CallState::Confirmed
                    } else {
                        CallState::AnsweredElsewhere
                    },
                );
                continue;
            }
            Standing::Unknown => {
                tracing::warn!(call = %key, "recovery: cannot read the call from the node; the follower's catch-up will find it if it stands");
                continue;
            }
        }
        if rec.response.is_some() {
            let Some((app, function, call_id)) = crate::onchain::split_call_key(&key) else {
                continue;
            };
            let call = placeholder_call(&key, app, function, call_id, request_tx);
            ctx.dispatch(call).await?;
            continue;
        }
        match fetch_request(&*node, &ctx.apps, &key, request_tx, chain_id).await {
            Some(call) => {
                ctx.dispatch(call).await?;
            }
            None => {
                tracing::warn!(call = %key, "cannot fetch the request tx; the follower's catch-up will find it")
            }
        }
    }
    Ok(())
}

pub(super) fn placeholder_call(
    key: &str,
    app: &str,
    function: &str,
    call_id: &str,
    request_tx: Hash,
) -> Call {
    Call {
        key: key.to_owned(),
        app: app.to_owned(),
        function: function.to_owned(),
        call_id: call_id.to_owned(),
        request_tx,
        caller: Address([0; 20]),
        request: serde_json::Value::Null,
        origin: Origin::Recovery,
        seen_at: Instant::now(),
    }
}

pub(super) async fn fetch_request<N: Node>(
    node: &N,
    apps: &Apps,
    key: &str,
    request_tx: Hash,
    chain_id: u64,
) -> Option<Call> {
    let v = node.transaction(&request_tx).await.ok()??;
    let tx: SignedTx = serde_json::from_value(v).ok()?;
    if tx.hash != request_tx {
        return None;
    }
    let signer = tx.verify(chain_id).ok()?;
    tx.tx_body.operation.ops().iter().find_map(|op| {
        let (app, f, c) = apps.parse(&op.path)?;
        let value = op.value.clone().filter(|v| !v.is_null())?;
        (op.op_type == OpType::SetValue && crate::onchain::call_key(app.app(), &f, &c) == key).then(
            || Call {
                key: key.to_owned(),
                app: app.app().to_owned(),
                function: f,
                call_id: c,
                request_tx,
                caller: signer,
                request: value,
                origin: Origin::Recovery,
                seen_at: Instant::now(),
            },
        )
    })
}
