//! The stem-cell pool: per (runtime command, image, limit shape), containers created, attached and
//! started ahead of demand, blocked in the stem cell until one call's frame arrives. Each is used
//! for exactly one call and then removed, so no state crosses calls (unless a profile opted into
//! same-function reuse, which keeps containers outside the pool). A background task refills
//! every pool that has been used (or pre-warmed) up to the configured size; an empty pool means
//! the call takes the cold path (create + start inline), never an error.

use crate::sync::LockExt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::call::{Warm, launch};
use super::guest::Allocator;
use super::spec::{Identity, Launch, Shape, create_body};

/// What makes two stem cells interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) runtime: String,
    pub(crate) image: String,
    pub(crate) argv: Vec<String>,
    pub(crate) shape: Shape,
}

pub(crate) struct Pool {
    size: usize,
    ready: Mutex<HashMap<Key, VecDeque<Warm>>>,
    wanted: Mutex<HashSet<Key>>,
    wake: Notify,
    stop: CancellationToken,
}

impl Pool {
    pub(crate) fn new(size: usize) -> Arc<Pool> {
        Arc::new(Pool {
            size,
            ready: Mutex::new(HashMap::new()),
            wanted: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            stop: CancellationToken::new(),
        })
    }

    /// A ready stem cell for `key`, if one is waiting. Either way the key is marked wanted so
    /// the refill task keeps it stocked, from the next [`Pool::kick`] on: the caller kicks once
    /// its call's outcome is out, so creating the replacement (about as much CPU as the call
    /// itself) never competes with the call.
    pub(crate) fn take(&self, key: &Key) -> Option<Warm> {
        if self.size == 0 || self.stop.is_cancelled() {
            return None;
        }
        self.wanted.lock_or_recover().insert(key.clone());
        self.ready
            .lock_or_recover()
            .get_mut(key)
            .and_then(VecDeque::pop_front)
    }

    /// Wakes the refill task.
    pub(crate) fn kick(&self) {
        self.wake.notify_one();
    }

    /// Asks for `key` to be stocked ahead of the first call.
    pub(crate) fn prewarm(&self, key: Key) {
        if self.size > 0 {
            self.wanted.lock_or_recover().insert(key);
            self.wake.notify_one();
        }
    }

    /// True when every wanted key has its full stock.
    pub(crate) fn full(&self) -> bool {
        let wanted = self.wanted.lock_or_recover();
        let ready = self.ready.lock_or_recover();
        wanted
            .iter()
            .all(|k| ready.get(k).map_or(0, VecDeque::len) >= self.size)
    }

    /// Containers waiting, over all keys.
    pub(crate) fn ready_count(&self) -> usize {
        self.ready
            .lock_or_recover()
            .values()
            .map(VecDeque::len)
            .sum()
    }

    /// Stops refilling and hands back every waiting container (for removal).
    pub(crate) fn drain(&self) -> Vec<Warm> {
        self.stop.cancel();
        self.wake.notify_one();
        self.ready
            .lock_or_recover()
            .drain()
            .flat_map(|(_, q)| q.into_iter())
            .collect()
    }

    /// The refill loop: creates stem cells one at a time (the engine serialises much of the
    /// work anyway, and the host's cores belong to the calls) until every wanted key is full.
    pub(crate) async fn refill(
        self: Arc<Self>,
        docker: Docker,
        who: Identity,
        guests: Arc<Allocator>,
        max_code_bytes: usize,
        oci_runtime: Option<String>,
    ) {
        loop {
            let next = {
                let wanted = self.wanted.lock_or_recover();
                let ready = self.ready.lock_or_recover();
                wanted
                    .iter()
                    .find(|k| ready.get(*k).map_or(0, VecDeque::len) < self.size)
                    .cloned()
            };
            let Some(key) = next else {
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    _ = self.wake.notified() => continue,
                }
            };
            // Never abandoned half-way: a container created but not recorded would leak.
            let made = match guests.lease() {
                Ok(lease) => {
                    let body = create_body(
                        &Launch::Stem {
                            image: key.image.clone(),
                            argv: key.argv.clone(),
                        },
                        key.shape,
                        &key.runtime,
                        &who,
                        lease.uid(),
                        max_code_bytes,
                        oci_runtime.as_deref(),
                    );
                    launch(&docker, body, lease).await
                }
                Err(e) => Err(e),
            };
            match made {
                Ok(warm) => {
                    if self.stop.is_cancelled() {
                        super::remove(&docker, &warm.id).await;
                        return;
                    }
                    self.ready
                        .lock_or_recover()
                        .entry(key)
                        .or_default()
                        .push_back(warm);
                }
                Err(e) => {
                    // E.g. the image was removed, or every guest uid is held: stop stocking
                    // this key until a call asks again.
                    tracing::warn!(runtime = %key.runtime, error = %e, "stem-cell pool refill failed");
                    self.wanted.lock_or_recover().remove(&key);
                    tokio::select! {
                        _ = self.stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }
}
