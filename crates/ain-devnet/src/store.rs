//! Durable storage of the chain in one redb database, and the group-commit writer in front of it.
//!
//! Tables: `blocks` (number → block JSON), `block_hashes` (hash → number), `txs` (tx hash → where
//! the tx is and how it executed), `pool` (acceptance sequence → accepted tx not yet in a block),
//! `snapshot` (block number → full state JSON, only the latest kept) and `meta`.
//!
//! Every change is one redb write transaction committed with `Durability::Immediate`, so a
//! crash (kill -9 included) leaves the store at the last commit: a block, the removal of its txs
//! from `pool`, their `txs` entries and any snapshot appear together or not at all.
//!
//! [`Persister`] is the single writer: callers enqueue [`WriteOp`]s and get a sequence number;
//! a dedicated thread commits everything queued so far in one transaction (one fsync for many
//! accepted txs) and then publishes the highest durable sequence, which callers await before
//! answering. Without `--data` the same code runs on redb's in-memory backend.

use ain_ledger::sync::{CondvarExt, LockExt};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::watch;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("block_hashes");
const TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txs");
const POOL: TableDefinition<u64, &[u8]> = TableDefinition::new("pool");
const SNAPSHOT: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshot");

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("devnet store: {0}")]
pub struct StoreError(pub String);

fn err(e: impl Into<redb::Error>) -> StoreError {
    StoreError(e.into().to_string())
}

/// One change to the store.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Set a metadata entry.
    Meta {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
    /// A tx accepted into the pool.
    PoolAdd {
        /// Its acceptance sequence number.
        seq: u64,
        /// The pool entry (JSON).
        entry: Vec<u8>,
    },
    /// A produced block.
    Block {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: [u8; 32],
        /// The block JSON.
        block: Vec<u8>,
        /// `(tx hash, record JSON)` for each of its transactions.
        txs: Vec<([u8; 32], Vec<u8>)>,
        /// Pool entries it consumed.
        pool_remove: Vec<u64>,
        /// `(n, state after block n)`: a snapshot replacing older ones.
        snapshot: Option<(u64, Vec<u8>)>,
    },
}

/// The redb database.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    durable: bool,
}

impl Store {
    /// Opens (or creates) `dir/devnet.redb`, or an in-memory store for `None`.
    pub fn open(dir: Option<&Path>) -> Result<Store, StoreError> {
        let (db, durable) = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
                (
                    // redb's default cache is 1 GiB; a long `ain-sre dev` session must not grow
                    // towards that. Recent blocks are served from memory anyway.
                    Database::builder()
                        .set_cache_size(64 << 20)
                        .create(dir.join("devnet.redb"))
                        .map_err(err)?,
                    true,
                )
            }
            None => (
                Database::builder()
                    .create_with_backend(redb::backends::InMemoryBackend::new())
                    .map_err(err)?,
                false,
            ),
        };
        let store = Store {
            db: Arc::new(db),
            durable,
        };
        let txn = store.db.begin_write().map_err(err)?;
        {
            txn.open_table(META).map_err(err)?;
            txn.open_table(BLOCKS).map_err(err)?;
            txn.open_table(HASHES).map_err(err)?;
            txn.open_table(TXS).map_err(err)?;
            txn.open_table(POOL).map_err(err)?;
            txn.open_table(SNAPSHOT).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(store)
    }

    /// Applies `ops` in one transaction, durable when this returns.
    pub fn write(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(err)?;
        let durability = if self.durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability).map_err(err)?;
        {
            let mut meta = txn.open_table(META).map_err(err)?;
            let mut blocks = txn.open_table(BLOCKS).map_err(err)?;
            let mut hashes = txn.open_table(HASHES).map_err(err)?;
            let mut txs = txn.open_table(TXS).map_err(err)?;
            let mut pool = txn.open_table(POOL).map_err(err)?;
            let mut snapshot = txn.open_table(SNAPSHOT).map_err(err)?;
            for op in ops {
                match op {
                    WriteOp::Meta { key, value } => {
                        meta.insert(key.as_str(), value.as_slice()).map_err(err)?;
                    }
                    WriteOp::PoolAdd { seq, entry } => {
                        pool.insert(*seq, entry.as_slice()).map_err(err)?;
                    }
                    WriteOp::Block {
                        number,
                        hash,
                        block,
                        txs: records,
                        pool_remove,
                        snapshot: snap,
                    } => {
                        blocks.insert(*number, block.as_slice()).map_err(err)?;
                        hashes.insert(hash.as_slice(), *number).map_err(err)?;
                        for (h, rec) in records {
                            txs.insert(h.as_slice(), rec.as_slice()).map_err(err)?;
                        }
                        for seq in pool_remove {
                            pool.remove(*seq).map_err(err)?;
                        }
                        if let Some((n, s)) = snap {
                            snapshot.retain(|_, _| false).map_err(err)?;
                            snapshot.insert(*n, s.as_slice()).map_err(err)?;
                        }
                    }
                }
            }
        }
        txn.commit().map_err(err)
    }

    /// A metadata entry.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(META).map_err(err)?;
        Ok(t.get(key).map_err(err)?.map(|v| v.value().to_vec()))
    }

    /// Block `number` as stored JSON.
    pub fn block_bytes(&self, number: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(BLOCKS).map_err(err)?;
        Ok(t.get(number).map_err(err)?.map(|v| v.value().to_vec()))
    }

    /// The number of the block with `hash`.
    pub fn block_number(&self, hash: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(HASHES).map_err(err)?;
        Ok(t.get(hash.as_slice()).map_err(err)?.map(|v| v.value()))
    }

    /// The highest stored block number.
    pub fn last_block_number(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(BLOCKS).map_err(err)?;
        Ok(t.last().map_err(err)?.map(|(k, _)| k.value()))
    }

    /// The record of the in-block tx with `hash`.
    pub fn tx_record(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(TXS).map_err(err)?;
        Ok(t.get(hash.as_slice())
            .map_err(err)?
            .map(|v| v.value().to_vec()))
    }

    /// Every pool entry, in acceptance order.
    pub fn pool(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(POOL).map_err(err)?;
        let mut out = Vec::new();
        for item in t.range::<u64>(..).map_err(err)? {
            let (k, v) = item.map_err(err)?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The latest state snapshot and the block it follows.
    pub fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(SNAPSHOT).map_err(err)?;
        Ok(t.last()
            .map_err(err)?
            .map(|(k, v)| (k.value(), v.value().to_vec())))
    }
}

/// Where the writer is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durable {
    /// Every op with a sequence number up to this one is committed.
    pub seq: u64,
    /// Set when a commit failed; nothing is durable after that.
    pub failed: Option<String>,
}

struct Queue {
    ops: Vec<WriteOp>,
    last_seq: u64,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The group-commit writer (see the module docs).
#[derive(Clone)]
pub struct Persister {
    shared: Arc<Shared>,
    durable: watch::Receiver<Durable>,
}

impl Persister {
    /// Starts the writer thread over `store`.
    pub fn start(store: Store) -> Result<Persister, StoreError> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                ops: Vec::new(),
                last_seq: 0,
                closed: false,
            }),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        });
        let (tx, rx) = watch::channel(Durable::default());
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("devnet-store".into())
            .spawn(move || writer(s, store, tx))
            .map_err(|e| StoreError(format!("cannot start the store writer: {e}")))?;
        *shared.thread.lock_or_recover() = Some(handle);
        Ok(Persister {
            shared,
            durable: rx,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.shared.queue.lock_or_recover()
    }

    /// Queues `op`; returns the sequence number to [`Persister::wait`] for.
    pub fn enqueue(&self, op: WriteOp) -> u64 {
        let mut q = self.lock();
        q.ops.push(op);
        q.last_seq += 1;
        let seq = q.last_seq;
        drop(q);
        self.shared.wake.notify_one();
        seq
    }

    /// Waits until `seq` is durable.
    pub async fn wait(&self, seq: u64) -> Result<(), StoreError> {
        let mut rx = self.durable.clone();
        let state = rx
            .wait_for(|d| d.seq >= seq || d.failed.is_some())
            .await
            .map_err(|_| StoreError("the store writer stopped".into()))?;
        match &state.failed {
            Some(f) if state.seq < seq => Err(StoreError(f.clone())),
            _ => Ok(()),
        }
    }

    /// The highest durable sequence number so far.
    pub fn durable_seq(&self) -> u64 {
        self.durable.borrow().seq
    }

    /// Stops the writer after it has committed what is queued, and waits for it (so the
    /// database file is closed when this returns).
    pub fn close(&self) {
        self.lock().closed = true;
        self.shared.wake.notify_one();
        let handle = self.shared.thread.lock_or_recover().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn writer(shared: Arc<Shared>, store: Store, durable: watch::Sender<Durable>) {
    loop {
        let (ops, seq) = {
            let mut q = shared.queue.lock_or_recover();
            while q.ops.is_empty() && !q.closed {
                q = shared.wake.wait_or_recover(q);
            }
            if q.ops.is_empty() {
                return;
            }
            (std::mem::take(&mut q.ops), q.last_seq)
        };
        match store.write(&ops) {
            Ok(()) => {
                durable.send_modify(|d| d.seq = seq);
            }
            Err(e) => {
                tracing::error!(error = %e, "devnet store commit failed; no further writes");
                durable.send_modify(|d| d.failed = Some(e.0.clone()));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn group_commit_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        let p = Persister::start(store.clone()).unwrap();
        let a = p.enqueue(WriteOp::PoolAdd {
            seq: 1,
            entry: b"one".to_vec(),
        });
        let b = p.enqueue(WriteOp::PoolAdd {
            seq: 2,
            entry: b"two".to_vec(),
        });
        p.wait(b).await.unwrap();
        p.wait(a).await.unwrap();
        let c = p.enqueue(WriteOp::Block {
            number: 0,
            hash: [7; 32],
            block: b"{}".to_vec(),
            txs: vec![([1; 32], b"rec".to_vec())],
            pool_remove: vec![1],
            snapshot: Some((0, b"snap".to_vec())),
        });
        p.wait(c).await.unwrap();
        p.close();
        drop(p);
        drop(store);
        let store = Store::open(Some(dir.path())).unwrap();
        assert_eq!(store.pool().unwrap(), vec![(2, b"two".to_vec())]);
        assert_eq!(store.last_block_number().unwrap(), Some(0));
        assert_eq!(store.block_number(&[7; 32]).unwrap(), Some(0));
        assert_eq!(store.tx_record(&[1; 32]).unwrap(), Some(b"rec".to_vec()));
        assert_eq!(store.snapshot().unwrap(), Some((0, b"snap".to_vec())));
    }
}
