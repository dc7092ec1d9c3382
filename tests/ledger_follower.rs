//! The follower driver over the real 1-node chain fixtures: delivery, acknowledgements, cursor
//! persistence across restarts, invalid blocks, wake-ups, back-pressure and source outages.

mod common;
#[path = "ledger_follower/delivery.rs"]
mod delivery;
#[path = "ledger_follower/faults.rs"]
mod faults;
mod ledger_support;
#[path = "ledger_follower/restarts.rs"]
mod restarts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ain_sre::ledger::block::Block;
use ain_sre::ledger::follower::{
    CursorError, CursorStore, FileCursorStore, Follower, FollowerConfig, FollowerError,
    FollowerEvent, FollowerExit, FollowerHandle, MemoryCursorStore, MemorySource, TrustedGenesis,
    verify_chain,
};
use ledger_support::*;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

type RunResult = Result<FollowerExit, FollowerError>;

fn config(to: Option<u64>) -> FollowerConfig {
    FollowerConfig {
        poll_interval: Duration::from_millis(50),
        retry_interval: Duration::from_millis(10),
        to,
        ..FollowerConfig::default()
    }
}

struct Running {
    events: mpsc::Receiver<FollowerEvent>,
    handle: FollowerHandle,
    cancel: CancellationToken,
    task: JoinHandle<RunResult>,
}

fn spawn(
    source: Arc<MemorySource>,
    genesis: TrustedGenesis,
    store: Arc<dyn CursorStore>,
    config: FollowerConfig,
) -> Running {
    let (follower, events, handle) = Follower::new(SharedSource(source), genesis, store, config);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follower.run(cancel.clone()));
    Running {
        events,
        handle,
        cancel,
        task,
    }
}

/// Lets a test keep a handle on the source it gave the follower.
struct SharedSource(Arc<MemorySource>);

impl ain_sre::ledger::follower::BlockSource for SharedSource {
    async fn last_block_number(&self) -> Result<u64, ain_sre::ledger::follower::SourceError> {
        self.0.last_block_number().await
    }
    async fn block_list(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<Block>, ain_sre::ledger::follower::SourceError> {
        self.0.block_list(from, to).await
    }
}

/// Receives the next `Committed` block within a generous deadline.
async fn next_block(r: &mut Running) -> Arc<Block> {
    match tokio::time::timeout(Duration::from_secs(20), r.events.recv()).await {
        Ok(Some(FollowerEvent::Committed { block })) => block,
        other => panic!("expected a committed block, got {other:?}"),
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn fixture(test: &str) -> Option<Vec<Block>> {
    common::fixtures(test).map(|d| blocks(&d))
}
