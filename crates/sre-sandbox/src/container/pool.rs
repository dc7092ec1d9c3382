//! The stem-cell pool: per (runtime command, image, limit shape), containers created, attached and
//! started ahead of demand, blocked in the stem cell until one call's frame arrives. Each is used
//! for exactly one call and then removed, so no state crosses calls (unless a profile opted into
//! same-function reuse, which keeps containers outside the pool). A background task refills
//! every pool that has been used (or pre-warmed) up to the configured size, starting up to
//! [`REFILL_PARALLEL`] containers at once.
//!
//! A call that finds its pool empty while a refill for it is under way waits for that cell (it
//! is already part-way started, so it arrives sooner than a container started from nothing,
//! and a second start beside it would slow both); with nothing under way it takes the cold path
//! (create + start inline). An empty pool is never an error.

use crate::sync::LockExt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use tokio::sync::Notify;
use tokio::task::JoinSet;
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

/// How many stem cells the refill starts at once. The engine runs two starts side by side
/// about 1.6× faster than one after the other (measured on the 2-core host: 8 starts in 321 ms
/// two at a time, 509 ms one at a time; four at a time gained little more, 295 ms), and a burst
/// drains the pool faster than one refill at a time stocks it.
pub(crate) const REFILL_PARALLEL: usize = 2;

pub(crate) struct Pool {
    size: usize,
    ready: Mutex<HashMap<Key, VecDeque<Warm>>>,
    wanted: Mutex<HashSet<Key>>,
    /// Refills under way, per key.
    starting: Mutex<HashMap<Key, usize>>,
    wake: Notify,
    /// Signalled whenever a refill ends (a cell arrived, or the start failed).
    arrived: Notify,
    stop: CancellationToken,
}

impl Pool {
    pub(crate) fn new(size: usize) -> Arc<Pool> {
        Arc::new(Pool {
            size,
            ready: Mutex::new(HashMap::new()),
            wanted: Mutex::new(HashSet::new()),
            starting: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            arrived: Notify::new(),
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

    /// Like [`Pool::take`], but when the pool is empty and a refill for `key` is under way,
    /// waits (up to `limit`) for the cell it is starting; `None` when nothing is coming, so the
    /// caller takes the cold path. The refill is woken at once: a call waiting here is demand
    /// the stock did not meet.
    pub(crate) async fn take_or_wait(&self, key: &Key, limit: Duration) -> Option<Warm> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before looking, so an arrival between the look and the wait is seen.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(w) = self.take(key) {
                return Some(w);
            }
            if self.stop.is_cancelled() || self.size == 0 {
                return None;
            }
            self.wake.notify_one();
            let under_way = self
                .starting
                .lock_or_recover()
                .get(key)
                .copied()
                .unwrap_or(0);
            if under_way == 0 && !self.refill_would_start(key) {
                return None;
            }
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep_until(deadline) => return self.take(key),
                _ = self.stop.cancelled() => return None,
            }
        }
    }

    /// True when the refill task, once woken, will start a cell for `key` (it is wanted, below
    /// its stock, and a refill slot is free).
    fn refill_would_start(&self, key: &Key) -> bool {
        let starting = self.starting.lock_or_recover();
        let total: usize = starting.values().sum();
        let ready = self
            .ready
            .lock_or_recover()
            .get(key)
            .map_or(0, VecDeque::len);
        total < REFILL_PARALLEL
            && ready + starting.get(key).copied().unwrap_or(0) < self.size
            && self.wanted.lock_or_recover().contains(key)
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

    /// True when every wanted key has its full stock and no refill is under way.
    pub(crate) fn full(&self) -> bool {
        let wanted = self.wanted.lock_or_recover();
        let ready = self.ready.lock_or_recover();
        let starting = self.starting.lock_or_recover();
        starting.values().all(|n| *n == 0)
            && wanted
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

    /// The next key to start a cell for: wanted, and below its stock counting the cells under
    /// way; `None` when all are stocked or every refill slot is taken. The chosen key's start
    /// is counted as under way before the locks are let go.
    fn next_start(&self) -> Option<Key> {
        let wanted = self.wanted.lock_or_recover();
        let ready = self.ready.lock_or_recover();
        let mut starting = self.starting.lock_or_recover();
        if starting.values().sum::<usize>() >= REFILL_PARALLEL {
            return None;
        }
        let key = wanted
            .iter()
            .find(|k| {
                ready.get(*k).map_or(0, VecDeque::len) + starting.get(*k).copied().unwrap_or(0)
                    < self.size
            })?
            .clone();
        *starting.entry(key.clone()).or_default() += 1;
        Some(key)
    }

    /// The refill loop: keeps every wanted key stocked, up to [`REFILL_PARALLEL`] starts at a
    /// time, until the pool is drained. A start is never abandoned half-way (a container created
    /// but not recorded would leak): at a stop the loop waits for the starts under way and
    /// removes what they made.
    pub(crate) async fn refill(
        self: Arc<Self>,
        docker: Docker,
        who: Identity,
        guests: Arc<Allocator>,
        max_code_bytes: usize,
        oci_runtime: Option<String>,
    ) {
        let mut starts: JoinSet<Result<Warm, crate::SandboxError>> = JoinSet::new();
        let mut keys: HashMap<tokio::task::Id, Key> = HashMap::new();
        loop {
            if !self.stop.is_cancelled() {
                while let Some(key) = self.next_start() {
                    let docker = docker.clone();
                    let who = who.clone();
                    let guests = guests.clone();
                    let oci_runtime = oci_runtime.clone();
                    let task_key = key.clone();
                    let handle = starts.spawn(async move {
                        let key = task_key;
                        match guests.lease() {
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
                        }
                    });
                    keys.insert(handle.id(), key);
                }
            }
            let done = tokio::select! {
                done = starts.join_next_with_id(), if !starts.is_empty() => done,
                _ = self.stop.cancelled(), if starts.is_empty() => return,
                _ = self.wake.notified(), if !self.stop.is_cancelled() => continue,
            };
            let (id, made) = match done {
                Some(Ok((id, made))) => (id, made),
                Some(Err(e)) => {
                    let why = e.to_string();
                    (
                        e.id(),
                        Err(super::call::host_fault("starting a stem cell", why)),
                    )
                }
                None => continue,
            };
            if let Some(key) = keys.remove(&id) {
                self.ended(&key, made, &docker).await;
            }
        }
    }

    /// Records the end of one start for `key` and wakes waiting calls.
    async fn ended(&self, key: &Key, made: Result<Warm, crate::SandboxError>, docker: &Docker) {
        let failed = match made {
            Ok(warm) if self.stop.is_cancelled() => {
                super::remove(docker, &warm.id).await;
                false
            }
            Ok(warm) => {
                self.ready
                    .lock_or_recover()
                    .entry(key.clone())
                    .or_default()
                    .push_back(warm);
                false
            }
            Err(e) => {
                // E.g. the image was removed, or every guest uid is held: stop stocking this
                // key until a call asks again.
                tracing::warn!(runtime = %key.runtime, error = %e, "stem-cell pool refill failed");
                self.wanted.lock_or_recover().remove(key);
                true
            }
        };
        if let Some(n) = self.starting.lock_or_recover().get_mut(key) {
            *n = n.saturating_sub(1);
        }
        self.arrived.notify_waiters();
        if failed {
            tokio::select! {
                _ = self.stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}
