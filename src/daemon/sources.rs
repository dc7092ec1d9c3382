//! Where calls come from, the intake stages: the follower with its block consumer
//! (`blocks_task`), and the event channels (the served apps' request filters spread over as few
//! channels as the node's limit of 5 filters each allows, the first also carrying
//! `BLOCK_FINALIZED`, each read by its own `events_task`). Each is spawned under the supervisor.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::ledger::crypto::Hash;
use crate::ledger::events::{EventClient, EventsConfig, Filter};
use crate::ledger::follower::{
    CursorStore, FileCursorStore, Follower, FollowerConfig, FollowerHandle, TrustedGenesis,
};
use crate::ledger::rpc::RpcClient;
use crate::observe::Health;
use crate::onchain::AppPaths;
use crate::trigger::run::{TriggerCtx, blocks_task, events_task};

use super::supervise::{Death, supervise};
use super::{DaemonConfig, DaemonError};

/// Starts the follower from the trusted `genesis` and the cursor in `cursor_store`, and the block
/// consumer that turns its blocks into calls.
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn_follower(
    config: &DaemonConfig,
    genesis: Hash,
    cursor_store: Arc<FileCursorStore>,
    chain_id: u64,
    health: &Health,
    ctx: &Arc<TriggerCtx>,
    death_tx: &Death,
    intake: &CancellationToken,
) -> Result<FollowerHandle, DaemonError> {
    let (follower, follower_rx, follower_handle) = Follower::new(
        // Its own client, so its own connection: a block list is megabytes, and the read buffer
        // of the connection that carried one stays grown while it is pooled. Sharing the pool
        // would leave such buffers on the many connections the poster uses.
        // Transient node errors are retried, permanent ones stop the worker with the node's
        // answer (`ledger::follower::rpc_source`).
        RpcClient::new(&config.node_url).map_err(|e| DaemonError::Config(e.to_string()))?,
        TrustedGenesis::Hash(genesis),
        cursor_store as Arc<dyn CursorStore>,
        FollowerConfig {
            chain_id,
            poll_interval: config.follower_poll,
            retry_interval: Duration::from_millis(500),
            // One block per fetch and one waiting: a catch-up over full blocks must not hold
            // thousands of txs (a full block is ~2.5 MB decoded). The trigger takes a second
            // per full block at 1,000 calls/s, so a deeper channel buys no throughput.
            batch_size: 1,
            channel_capacity: 1,
            ..FollowerConfig::default()
        },
    );
    let _ = health.follower.set(follower_handle.clone());
    let c = intake.clone();
    supervise(
        "follower",
        async move { follower.run(c).await.map(|_| ()) },
        death_tx,
        intake,
    );
    let (x, fh) = (ctx.clone(), follower_handle.clone());
    supervise(
        "trigger-blocks",
        async move { blocks_task(x, follower_rx, fh).await },
        death_tx,
        intake,
    );
    Ok(follower_handle)
}

/// Connects the event channels for `apps` and spawns their readers under the supervisor.
pub(super) async fn subscribe_events(
    config: &DaemonConfig,
    apps: &[AppPaths],
    ctx: &Arc<TriggerCtx>,
    follower_handle: &FollowerHandle,
    death_tx: &Death,
    intake: &CancellationToken,
) -> Result<(), DaemonError> {
    // Event channels: at most 5 filters each; the first also carries BLOCK_FINALIZED.
    let mut groups: Vec<Vec<AppPaths>> = vec![Vec::new()];
    for a in apps {
        let cap = if groups.len() == 1 { 4 } else { 5 };
        if groups.last().is_some_and(|g| g.len() >= cap) {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push(a.clone());
        }
    }
    for (i, group) in groups.into_iter().enumerate() {
        let ec = EventsConfig::new(&config.events_url, format!("{}-{i}", config.client_id));
        let (handle, rx) = EventClient::connect_with_cancel(ec, intake.child_token())
            .map_err(|e| DaemonError::Config(e.to_string()))?;
        for app in &group {
            let f = Filter::value_changed(format!("req-{}", app.app()), app.request_filter(), None)
                .map_err(|e| DaemonError::Config(e.to_string()))?;
            handle
                .register(f)
                .await
                .map_err(|e| DaemonError::Config(e.to_string()))?;
        }
        if i == 0 {
            let f = Filter::block_finalized("blocks", None)
                .map_err(|e| DaemonError::Config(e.to_string()))?;
            handle
                .register(f)
                .await
                .map_err(|e| DaemonError::Config(e.to_string()))?;
        }
        let (x, fh) = (ctx.clone(), follower_handle.clone());
        supervise(
            &format!("trigger-events-{i}"),
            async move {
                let _keep = handle;
                events_task(x, rx, Some(fh)).await
            },
            death_tx,
            intake,
        );
    }
    Ok(())
}
