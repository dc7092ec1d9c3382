//! The blob store on disk: `objects/<sha256>` holds the bytes, `owners/<sha256>` the address
//! that paid for them, `tmp/` the uploads in progress. An index in memory (rebuilt from the
//! directory at start) keeps the sizes, owners and store times, so quotas are checked before a
//! byte of an upload is read.
//!
//! Limits: `max_blob_bytes` per blob, `quota_bytes` in all, `per_key_quota_bytes` per uploading
//! key. Retention: a blob older than `retention` (counted from its last upload) is deleted by
//! [`BlobStore::sweep`], which the server runs periodically and before refusing an upload for
//! lack of space.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use super::Sha256Hex;
use crate::ledger::crypto::Address;
use crate::ledger::sync::LockExt;

/// Sizes and retention of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory holding the blobs.
    pub dir: PathBuf,
    /// Largest blob accepted. Default 256 MiB (the `batch` profile's 64 MiB each way, with room).
    pub max_blob_bytes: u64,
    /// All blobs together. Default 4 GiB.
    pub quota_bytes: u64,
    /// Blobs charged to one uploading key. Default 1 GiB.
    pub per_key_quota_bytes: u64,
    /// How long a blob is kept after its last upload. Default 24 h.
    pub retention: Duration,
}

impl StoreConfig {
    /// The defaults, in `dir`.
    pub fn new(dir: PathBuf) -> StoreConfig {
        StoreConfig {
            dir,
            max_blob_bytes: 256 << 20,
            quota_bytes: 4 << 30,
            per_key_quota_bytes: 1 << 30,
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

/// Why a blob was not stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Over `max_blob_bytes`.
    #[error("a blob of {size} bytes exceeds this store's limit of {limit} bytes")]
    TooLarge {
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The store is full even after retention ran.
    #[error("the blob store is full ({used} of {quota} bytes used; {size} more requested)")]
    Full {
        /// Bytes in use (and reserved).
        used: u64,
        /// The quota.
        quota: u64,
        /// Requested.
        size: u64,
    },
    /// The uploading key is over its quota.
    #[error(
        "key {key} is over its blob quota ({used} of {quota} bytes used; {size} more requested)"
    )]
    KeyQuota {
        /// The key.
        key: Address,
        /// Bytes charged to it.
        used: u64,
        /// Its quota.
        quota: u64,
        /// Requested.
        size: u64,
    },
    /// The body's length is not the declared size.
    #[error("the body is {got}{more} bytes, not the declared {declared}", more = if *.over { "+" } else { "" })]
    SizeMismatch {
        /// Declared.
        declared: u64,
        /// Read (at least, when `over`).
        got: u64,
        /// The body went on past the declared size (it was cut off).
        over: bool,
    },
    /// The body does not hash to its name.
    #[error("the body hashes to {got}, not {declared}")]
    HashMismatch {
        /// The name.
        declared: Sha256Hex,
        /// The body's hash.
        got: Sha256Hex,
    },
    /// The client's body stream failed.
    #[error("the upload broke off: {0}")]
    Body(String),
    /// The disk.
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// What a PUT did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Stored now.
    Stored,
    /// It was already there (its retention restarts).
    Existed,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    owner: Address,
    stored_at: SystemTime,
}

#[derive(Debug, Default)]
struct Index {
    blobs: HashMap<Sha256Hex, Entry>,
    /// Stored plus reserved bytes.
    used: u64,
    per_key: HashMap<Address, u64>,
}

impl Index {
    fn charge(&mut self, key: Address, size: u64) {
        self.used += size;
        *self.per_key.entry(key).or_default() += size;
    }
    fn refund(&mut self, key: Address, size: u64) {
        self.used = self.used.saturating_sub(size);
        if let Some(k) = self.per_key.get_mut(&key) {
            *k = k.saturating_sub(size);
            if *k == 0 {
                self.per_key.remove(&key);
            }
        }
    }
}

/// A content-addressed blob store on disk.
#[derive(Debug)]
pub struct BlobStore {
    config: StoreConfig,
    index: Mutex<Index>,
}

/// Bytes reserved for an upload in progress; refunded unless the upload is committed.
struct Reservation<'a> {
    store: &'a BlobStore,
    key: Address,
    size: u64,
    done: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.store
                .index
                .lock_or_recover()
                .refund(self.key, self.size);
        }
    }
}

impl BlobStore {
    /// Opens (or creates) the store in `config.dir`, indexing what is there and removing
    /// uploads a previous process left unfinished.
    pub fn open(config: StoreConfig) -> Result<BlobStore, StoreError> {
        let dir = &config.dir;
        for sub in ["objects", "owners", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        for e in std::fs::read_dir(dir.join("tmp"))? {
            let _ = std::fs::remove_file(e?.path());
        }
        let mut index = Index::default();
        for e in std::fs::read_dir(dir.join("objects"))? {
            let e = e?;
            let Some(sha) = e.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let meta = e.metadata()?;
            let owner = std::fs::read_to_string(dir.join("owners").join(e.file_name()))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(Address([0; 20]));
            let stored_at = meta.modified().unwrap_or_else(|_| SystemTime::now());
            index.charge(owner, meta.len());
            let entry = Entry {
                size: meta.len(),
                owner,
                stored_at,
            };
            index.blobs.insert(sha, entry);
        }
        Ok(BlobStore {
            config,
            index: Mutex::new(index),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn object(&self, sha: &Sha256Hex) -> PathBuf {
        self.config.dir.join("objects").join(sha.to_string())
    }

    fn owner_file(&self, sha: &Sha256Hex) -> PathBuf {
        self.config.dir.join("owners").join(sha.to_string())
    }

    /// Bytes stored (and reserved by uploads in progress).
    pub fn used_bytes(&self) -> u64 {
        self.index.lock_or_recover().used
    }

    /// Bytes charged to `key`.
    pub fn key_bytes(&self, key: &Address) -> u64 {
        self.index
            .lock_or_recover()
            .per_key
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// The size of a stored blob.
    pub fn size(&self, sha: &Sha256Hex) -> Option<u64> {
        self.index.lock_or_recover().blobs.get(sha).map(|e| e.size)
    }

    /// Opens a stored blob for reading, with its size.
    pub async fn open_blob(&self, sha: &Sha256Hex) -> Option<(tokio::fs::File, u64)> {
        let size = self.size(sha)?;
        let f = tokio::fs::File::open(self.object(sha)).await.ok()?;
        Some((f, size))
    }

    /// Deletes blobs whose retention ended by `now`; returns how many and their bytes.
    pub fn sweep(&self, now: SystemTime) -> (usize, u64) {
        let retention = self.config.retention;
        let expired: Vec<(Sha256Hex, Entry)> = {
            let mut ix = self.index.lock_or_recover();
            let gone: Vec<Sha256Hex> = ix
                .blobs
                .iter()
                .filter(|(_, e)| e.stored_at + retention <= now)
                .map(|(s, _)| *s)
                .collect();
            gone.into_iter()
                .filter_map(|s| {
                    let e = ix.blobs.remove(&s)?;
                    ix.refund(e.owner, e.size);
                    Some((s, e))
                })
                .collect()
        };
        let mut bytes = 0;
        for (sha, e) in &expired {
            // Out of the index first: a reader that opened it keeps its handle (Unix).
            let _ = std::fs::remove_file(self.object(sha));
            let _ = std::fs::remove_file(self.owner_file(sha));
            bytes += e.size;
        }
        if !expired.is_empty() {
            tracing::info!(blobs = expired.len(), bytes, "blob retention freed space");
        }
        (expired.len(), bytes)
    }

    fn reserve(&self, key: Address, size: u64) -> Result<Reservation<'_>, StoreError> {
        if size > self.config.max_blob_bytes {
            return Err(StoreError::TooLarge {
                size,
                limit: self.config.max_blob_bytes,
            });
        }
        let check = |ix: &Index| -> Result<(), StoreError> {
            let used = ix.per_key.get(&key).copied().unwrap_or(0);
            if used + size > self.config.per_key_quota_bytes {
                return Err(StoreError::KeyQuota {
                    key,
                    used,
                    quota: self.config.per_key_quota_bytes,
                    size,
                });
            }
            if ix.used + size > self.config.quota_bytes {
                return Err(StoreError::Full {
                    used: ix.used,
                    quota: self.config.quota_bytes,
                    size,
                });
            }
            Ok(())
        };
        let first = check(&self.index.lock_or_recover());
        if first.is_err() {
            // Expired blobs may be what stands in the way.
            self.sweep(SystemTime::now());
        }
        let mut ix = self.index.lock_or_recover();
        check(&ix)?;
        ix.charge(key, size);
        Ok(Reservation {
            store: self,
            key,
            size,
            done: false,
        })
    }

    /// Stores `body`, which must be `size` bytes hashing to `sha`, charged to `owner`. Reads at
    /// most `size + 1` bytes of it before refusing a longer body; nothing is stored unless size
    /// and hash match.
    pub async fn put<S, E>(
        &self,
        sha: Sha256Hex,
        size: u64,
        owner: Address,
        mut body: S,
    ) -> Result<Put, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if self.refresh(&sha) {
            return Ok(Put::Existed);
        }
        let mut reservation = self.reserve(owner, size)?;
        let tmp = self
            .config
            .dir
            .join("tmp")
            .join(format!("{sha}.{:016x}", rand::random::<u64>()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut hasher = sha2::Sha256::new();
            let mut got: u64 = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
                got += chunk.len() as u64;
                if got > size {
                    return Err(StoreError::SizeMismatch {
                        declared: size,
                        got,
                        over: true,
                    });
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
            }
            if got != size {
                return Err(StoreError::SizeMismatch {
                    declared: size,
                    got,
                    over: false,
                });
            }
            let digest = Sha256Hex(hasher.finalize().into());
            if digest != sha {
                return Err(StoreError::HashMismatch {
                    declared: sha,
                    got: digest,
                });
            }
            file.sync_all().await?;
            tokio::fs::write(self.owner_file(&sha), owner.to_string()).await?;
            tokio::fs::rename(&tmp, self.object(&sha)).await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let mut ix = self.index.lock_or_recover();
        if ix.blobs.contains_key(&sha) {
            // A concurrent upload of the same bytes won: same file, charge once.
            return Ok(Put::Existed);
        }
        reservation.done = true;
        let entry = Entry {
            size,
            owner,
            stored_at: SystemTime::now(),
        };
        ix.blobs.insert(sha, entry);
        Ok(Put::Stored)
    }

    /// Restarts a stored blob's retention; false when it is not stored.
    fn refresh(&self, sha: &Sha256Hex) -> bool {
        let now = SystemTime::now();
        let mut ix = self.index.lock_or_recover();
        let Some(e) = ix.blobs.get_mut(sha) else {
            return false;
        };
        e.stored_at = now;
        drop(ix);
        // The mtime is the stored time across restarts; best effort.
        if let Ok(f) = std::fs::File::options().write(true).open(self.object(sha)) {
            let _ = f.set_modified(now);
        }
        true
    }

    /// Stores bytes the worker itself produced (an output), charged to `owner`; copied to disk
    /// a megabyte at a time, never whole.
    pub async fn put_local(&self, owner: Address, bytes: &[u8]) -> Result<Sha256Hex, StoreError> {
        let sha = Sha256Hex::of(bytes);
        let chunks = bytes
            .chunks(1 << 20)
            .map(|c| Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(c)));
        self.put(
            sha,
            bytes.len() as u64,
            owner,
            futures_util::stream::iter(chunks),
        )
        .await?;
        Ok(sha)
    }

    /// The directory (for tests and logs).
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }
}
