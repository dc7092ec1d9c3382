//! The worker's presence in the registries of the apps it serves: a heartbeat that keeps it in
//! the fleet's rankings ([`crate::scheduler::assign`]), the validator it is paired with, and the
//! announcement that it is draining.
//!
//! Every `interval` the worker writes, in one tx per app, `last_seen` (its clock, ms),
//! `heartbeat_ms`, `draining: false` and, when the node it follows has an address
//! (`ain_getAddress`), `paired_with`, into its own entry `workers/<address>`: the same four
//! values overwritten in place, so state does not grow with time. Readers count it live for
//! [`crate::scheduler::assign::LIVENESS_BEATS`] intervals after `last_seen`. At a graceful stop
//! it writes `draining: true` once, so the others stop ranking it at once. A worker whose entry
//! does not exist (not registered) writes nothing: it is not part of the fleet.
//!
//! Workers compare `last_seen` with their own clocks, so a fleet's hosts need synchronized clocks
//! (NTP); real nodes refuse txs with far-off timestamps anyway.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::call::now_ms;
use crate::client::ChainClient;
use crate::ledger::crypto::Address;
use crate::ledger::tx::SimpleOp;
use crate::node::get_value;
use crate::onchain::AppPaths;

/// The default heartbeat interval: 360 txs per hour per app.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Writes the worker's presence fields.
pub struct Presence {
    client: ChainClient,
    apps: Vec<AppPaths>,
    interval: Duration,
    paired_with: Option<Address>,
}

impl Presence {
    /// A writer signing with `client`'s key for `apps`.
    pub fn new(
        client: ChainClient,
        apps: Vec<AppPaths>,
        interval: Duration,
        paired_with: Option<Address>,
    ) -> Presence {
        Presence {
            client,
            apps,
            interval,
            paired_with,
        }
    }

    /// The ops of one presence write in `app` at `now` (ms).
    pub fn ops(&self, app: &AppPaths, now: u64, draining: bool) -> Vec<SimpleOp> {
        let entry = app.worker(&self.client.address());
        let mut ops = vec![
            SimpleOp::set_value(format!("{entry}/last_seen"), Value::from(now)),
            SimpleOp::set_value(
                format!("{entry}/heartbeat_ms"),
                Value::from(self.interval.as_millis() as u64),
            ),
            SimpleOp::set_value(format!("{entry}/draining"), Value::Bool(draining)),
        ];
        if let Some(node) = self.paired_with {
            ops.push(SimpleOp::set_value(
                format!("{entry}/paired_with"),
                Value::from(node.to_string()),
            ));
        }
        ops
    }

    /// One write in every app where this worker is registered; returns how many apps took it.
    pub async fn beat(&self, draining: bool) -> usize {
        let me = self.client.address();
        let mut written = 0;
        for app in &self.apps {
            // The entry's `runtimes` marks a registration; without it, heartbeats would create a
            // bare entry that ranks nowhere.
            match get_value(self.client.rpc(), &format!("{}/runtimes", app.worker(&me))).await {
                Ok(v) if !v.is_null() => {}
                Ok(_) => {
                    tracing::debug!(app = app.app(), "not registered in the app; no heartbeat");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(app = app.app(), error = %e, "cannot read the registry entry");
                    continue;
                }
            }
            let send = self.client.send(self.ops(app, now_ms(), draining));
            let wait = self.interval.max(Duration::from_secs(2));
            match tokio::time::timeout(wait, send).await {
                Ok(Ok(_)) => {
                    written += 1;
                    metrics::counter!("ain_sre_heartbeats_total", "outcome" => "ok").increment(1);
                }
                Ok(Err(e)) => {
                    metrics::counter!("ain_sre_heartbeats_total", "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(app = app.app(), error = %e, "heartbeat refused");
                }
                Err(_) => {
                    metrics::counter!("ain_sre_heartbeats_total", "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(app = app.app(), "heartbeat not accepted in time");
                }
            }
        }
        written
    }

    /// Heartbeats every `interval` until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        // Ticks from the start of each beat, so a slow tx does not stretch the interval (readers
        // allow three intervals); a beat that overruns delays the next instead of bursting.
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.beat(false).await;
        }
    }

    /// Announces that this worker is draining (best effort, bounded by `within`).
    pub async fn announce_draining(&self, within: Duration) {
        if tokio::time::timeout(within, self.beat(true)).await.is_err() {
            tracing::warn!("could not announce draining in time");
        }
    }
}
