//! The trigger's tasks: one per event channel, turning VALUE_CHANGED events into calls, and the
//! block consumer, turning the follower's verified blocks into calls (catch-up), releasing
//! finality waits, confirming posted responses, and acknowledging blocks to the follower once
//! every call in them is durably answered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::Instrument;

use super::gate::FinalityGate;
use super::{Apps, TriggerError, calls_in_block, verify_event};
use crate::call::{Admit, Call, Registry};
use crate::ledger::crypto::Hash;
use crate::ledger::events::{ClientEvent, EventPayload};
use crate::ledger::follower::{FollowerEvent, FollowerHandle};
use crate::observe::Health;
use crate::poster::Confirmer;

/// The poster's input message, sent by the trigger (defined by its consumer, so the poster
/// imports nothing of the trigger).
pub use crate::poster::Resubmit;

/// What the trigger tasks share.
pub struct TriggerCtx {
    /// Served apps.
    pub apps: Apps,
    /// Chain id signatures are verified under.
    pub chain_id: u64,
    /// Admission.
    pub registry: Arc<Registry>,
    /// To the scheduler.
    pub calls: mpsc::Sender<Call>,
    /// To the poster.
    pub resubmit: mpsc::Sender<Resubmit>,
    /// Finality waits.
    pub gate: Arc<FinalityGate>,
    /// Confirmation of posted responses.
    pub confirmer: Arc<Confirmer>,
    /// Health counters.
    pub health: Arc<Health>,
}

impl TriggerCtx {
    /// Admits a call and hands it on. Returns true when the call is not settled yet (it is in
    /// flight in this process).
    pub async fn dispatch(&self, call: Call) -> Result<bool, TriggerError> {
        let admit = self.registry.admit(&call.key, &call.request_tx)?;
        match admit {
            Admit::Run => {
                tracing::debug!(call = %call.key, request_tx = %call.request_tx, origin = ?call.origin, "call admitted");
                self.health.queue_depth.fetch_add(1, Ordering::Relaxed);
                metrics::gauge!("ain_sre_queue_depth").increment(1.0);
                self.calls
                    .send(call)
                    .await
                    .map_err(|_| TriggerError::SchedulerGone)?;
                Ok(true)
            }
            Admit::Resubmit(response) => {
                tracing::info!(call = %call.key, tx = %response.hash, "resubmitting the journaled response");
                self.resubmit
                    .send(Resubmit {
                        key: call.key,
                        response,
                    })
                    .await
                    .map_err(|_| TriggerError::SchedulerGone)?;
                Ok(false)
            }
            Admit::Duplicate => Ok(!self.registry.is_settled(&call.key)),
        }
    }
}

/// Consumes one event channel until it closes (the client was shut down).
pub async fn events_task(
    ctx: Arc<TriggerCtx>,
    mut rx: mpsc::Receiver<ClientEvent>,
    follower: Option<FollowerHandle>,
) -> Result<(), TriggerError> {
    while let Some(ev) = rx.recv().await {
        match ev {
            ClientEvent::Connected { generation } => {
                ctx.health.events_connected.fetch_add(1, Ordering::Relaxed);
                metrics::gauge!("ain_sre_events_connected").increment(1.0);
                tracing::info!(
                    generation,
                    "event channel connected; catching up from the cursor"
                );
                if let Some(f) = &follower {
                    f.wake();
                }
            }
            ClientEvent::Disconnected { generation, reason } => {
                let _ = ctx.health.events_connected.fetch_update(
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |n| n.checked_sub(1),
                );
                metrics::gauge!("ain_sre_events_connected").decrement(1.0);
                tracing::warn!(generation, %reason, "event channel lost; reconnecting");
            }
            ClientEvent::NodeError(e) => {
                tracing::warn!(code = e.code, message = %e.message, filter = ?e.filter_id, "node refused an event-handler message");
            }
            ClientEvent::Event(e) => match e.payload {
                EventPayload::ValueChanged(vc) => {
                    match verify_event(&ctx.apps, &vc, ctx.chain_id) {
                        Ok(call) => {
                            let span = tracing::info_span!("call", call = %call.key, request_tx = %call.request_tx);
                            ctx.dispatch(call).instrument(span).await?;
                        }
                        Err(TriggerError::Deleted) => {}
                        Err(err) => {
                            metrics::counter!("ain_sre_bad_events_total", "reason" => err.reason())
                                .increment(1);
                            tracing::warn!(path = %vc.matched_path, error = %err, "ignored a request event");
                        }
                    }
                }
                EventPayload::BlockFinalized(_) => {
                    if let Some(f) = &follower {
                        f.wake();
                    }
                }
                _ => {}
            },
        }
    }
    Ok(())
}

/// Consumes the follower's verified blocks until the channel closes.
pub async fn blocks_task(
    ctx: Arc<TriggerCtx>,
    mut rx: mpsc::Receiver<FollowerEvent>,
    follower: FollowerHandle,
) -> Result<(), TriggerError> {
    // Blocks delivered but not acknowledged, with the calls in them not settled yet.
    let mut pending: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut delivered: Option<u64> = None;
    let mut acked: Option<u64> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = tick.tick() => {
                ack(&ctx, &follower, &mut pending, delivered, &mut acked);
                continue;
            }
        };
        let Some(ev) = ev else { return Ok(()) };
        match ev {
            FollowerEvent::Committed { block } => {
                let (calls, hashes) = calls_in_block(&ctx.apps, &block);
                let number = block.number;
                // The calls are copied out; a full block is megabytes, and dispatching waits on
                // the scheduler's backpressure.
                drop(block);
                // Only a call already in flight (admitted from its event, before its block) can
                // be waiting for finality, or wait later: the rest of this block's calls are
                // admitted below as final already.
                let in_flight: Vec<Hash> = calls
                    .iter()
                    .filter(|c| ctx.registry.is_in_flight(&c.key))
                    .map(|c| c.request_tx)
                    .collect();
                ctx.gate.on_block(&in_flight);
                ctx.confirmer.on_block(&hashes);
                let mut keys = Vec::new();
                for call in calls {
                    let key = call.key.clone();
                    let span = tracing::info_span!("call", call = %call.key, request_tx = %call.request_tx);
                    if ctx.dispatch(call).instrument(span).await? {
                        keys.push(key);
                    }
                }
                pending.insert(number, keys);
                delivered = Some(number);
                ctx.health.follower_height.store(number, Ordering::Relaxed);
                metrics::gauge!("ain_sre_follower_height").set(number as f64);
                ack(&ctx, &follower, &mut pending, delivered, &mut acked);
            }
            FollowerEvent::Halted { error } => {
                return Err(TriggerError::Follower(error));
            }
        }
    }
}

/// Acknowledges every delivered block below the first one with an unsettled call.
fn ack(
    ctx: &TriggerCtx,
    follower: &FollowerHandle,
    pending: &mut BTreeMap<u64, Vec<String>>,
    delivered: Option<u64>,
    acked: &mut Option<u64>,
) {
    let Some(delivered) = delivered else { return };
    let mut done_to = None;
    while let Some(mut entry) = pending.first_entry() {
        entry.get_mut().retain(|k| !ctx.registry.is_settled(k));
        if !entry.get().is_empty() {
            break;
        }
        done_to = Some(*entry.key());
        entry.remove();
    }
    let to = if pending.is_empty() {
        Some(delivered)
    } else {
        done_to
    };
    if let Some(h) = to
        && *acked != Some(h)
    {
        follower.finished_height(h);
        *acked = Some(h);
    }
}
