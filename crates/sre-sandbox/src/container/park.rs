//! Containers kept for same-function reuse: parked after a clean call of a function whose profile
//! opted in, handed only to a call of the same function, runtime, image and limit shape, swept
//! when idle, and reaped in the background.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::LockExt;

use super::call::Warm;
use super::{ContainerSandbox, remove};
use super::{guest, pool};

/// A kept container is only ever handed to a call of the same function (code hash) with the
/// same runtime command, image and limit shape.
pub(super) type ParkKey = (pool::Key, [u8; 32]);

pub(super) struct Parked {
    pub(super) warm: Warm,
    /// Calls it has served.
    pub(super) served: u32,
    /// When its last call ended, and how long it may wait for the next.
    pub(super) since: Instant,
    pub(super) idle: Duration,
}

impl ContainerSandbox {
    /// Containers kept for same-function reuse right now.
    pub fn reuse_parked(&self) -> usize {
        self.inner
            .parked
            .lock_or_recover()
            .values()
            .map(Vec::len)
            .sum()
    }

    /// Removes (from the map) every kept container `expired` says so of.
    pub(super) fn take_parked(&self, expired: impl Fn(&Parked) -> bool) -> Vec<Warm> {
        let mut out = Vec::new();
        let mut parked = self.inner.parked.lock_or_recover();
        for list in parked.values_mut() {
            let (gone, keep): (Vec<Parked>, Vec<Parked>) = list.drain(..).partition(&expired);
            *list = keep;
            out.extend(gone.into_iter().map(|p| p.warm));
        }
        parked.retain(|_, l| !l.is_empty());
        out
    }

    /// Removes kept containers whose idle time ran out, until shutdown. Holds only a weak
    /// reference, so a dropped tier is not kept alive by it.
    pub(super) async fn sweep_idle(self) {
        let weak = Arc::downgrade(&self.inner);
        let stop = self.inner.stop.clone();
        drop(self);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            let Some(inner) = weak.upgrade() else { return };
            let sb = ContainerSandbox { inner };
            for w in sb.take_parked(|p| p.since.elapsed() >= p.idle) {
                tracing::debug!(container = %w.id, "kept container idle too long");
                sb.reap(w.id, w.lease);
            }
        }
    }

    /// A kept container of this function, if one waits and may serve another call.
    pub(super) fn unpark(&self, key: &ParkKey) -> Option<Parked> {
        let mut parked = self.inner.parked.lock_or_recover();
        let list = parked.get_mut(key)?;
        let p = list.pop()?;
        if list.is_empty() {
            parked.remove(key);
        }
        if p.since.elapsed() >= p.idle {
            self.reap(p.warm.id, p.warm.lease);
            return None;
        }
        Some(p)
    }

    /// Removes `id` after the call, off the caller's path (tracked: shutdown waits for it), and
    /// only then gives its guest uid back.
    pub(super) fn reap(&self, id: String, lease: guest::Lease) {
        let docker = self.inner.engine.docker.clone();
        self.inner.reaper.spawn(async move {
            remove(&docker, &id).await;
            drop(lease);
        });
    }
}
