//! The follower's persisted cursor: how far the consumer has finished, and what is needed to
//! verify the next block from there without going back to genesis.
//!
//! [`FileCursorStore`] is crash-safe: it writes a temporary file, fsyncs it, renames it over the
//! cursor and fsyncs the directory, so a crash leaves the old cursor or the new one, never a mix.
//! The file carries a checksum; a damaged or hand-edited file is refused with
//! [`CursorError::Corrupt`] instead of silently restarting somewhere else.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::verify::Anchor;
use crate::crypto::{Hash, hash_stable_text};
use crate::json::stable_stringify;
use crate::sync::LockExt;

const FORMAT: &str = "ain-sre-follower-cursor/1";

/// The persisted position: every block up to `anchor.number` is finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The chain id the blocks were verified under.
    pub chain_id: u64,
    /// The trusted genesis the chain descends from.
    pub genesis_hash: Hash,
    /// The last finished block, as needed to verify its successor.
    pub anchor: Anchor,
    /// The block before `anchor`, when known: lets a restarted follower re-verify a block the
    /// node re-finalized with a different hash (a 1-node ain-blockchain chain does this after a
    /// restart) from its parent instead of halting for good. Absent in cursors written before
    /// it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Anchor>,
}

impl Cursor {
    /// The last finished block number.
    pub fn height(&self) -> u64 {
        self.anchor.number
    }
}

/// Why the cursor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    /// Reading or writing the file failed.
    #[error("cursor file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists but is not a valid cursor (truncated, damaged, edited, other format).
    /// Nothing is assumed: delete the file to follow again from genesis.
    #[error("cursor file {path} is corrupt ({reason}); refusing to guess a position")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Persistent storage for the cursor.
pub trait CursorStore: Send + Sync + 'static {
    /// The stored cursor, `None` when nothing was stored yet.
    fn load(&self) -> Result<Option<Cursor>, CursorError>;
    /// Replaces the stored cursor durably: after `Ok`, a crash does not lose it.
    fn save(&self, cursor: &Cursor) -> Result<(), CursorError>;
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    checksum: Hash,
    cursor: serde_json::Value,
}

fn checksum(cursor: &serde_json::Value) -> Hash {
    hash_stable_text(&stable_stringify(cursor))
}

/// A cursor in one JSON file, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileCursorStore {
    path: PathBuf,
}

impl FileCursorStore {
    /// A store at `path`; its directory must exist.
    pub fn new(path: impl Into<PathBuf>) -> FileCursorStore {
        FileCursorStore { path: path.into() }
    }

    /// The cursor file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> CursorError {
        CursorError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> CursorError {
        CursorError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        self.path.with_file_name(name)
    }
}

impl CursorStore for FileCursorStore {
    fn load(&self) -> Result<Option<Cursor>, CursorError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let env: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| self.corrupt(e.to_string()))?;
        if env.format != FORMAT {
            return Err(self.corrupt(format!("unknown format {:?}", env.format)));
        }
        if checksum(&env.cursor) != env.checksum {
            return Err(self.corrupt("checksum mismatch"));
        }
        serde_json::from_value(env.cursor)
            .map(Some)
            .map_err(|e| self.corrupt(e.to_string()))
    }

    fn save(&self, cursor: &Cursor) -> Result<(), CursorError> {
        let value = serde_json::to_value(cursor).map_err(|e| self.corrupt(e.to_string()))?;
        let env = Envelope {
            format: FORMAT.to_owned(),
            checksum: checksum(&value),
            cursor: value,
        };
        let text = serde_json::to_vec_pretty(&env).map_err(|e| self.corrupt(e.to_string()))?;
        let tmp = self.tmp_path();
        let mut f = File::create(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&text).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        // The rename is durable only once the directory entry is.
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(e))
    }
}

/// A cursor kept in memory: for tests and for runs that should not persist.
#[derive(Debug, Default)]
pub struct MemoryCursorStore {
    cursor: Mutex<Option<Cursor>>,
}

impl MemoryCursorStore {
    /// An empty store.
    pub fn new() -> MemoryCursorStore {
        MemoryCursorStore::default()
    }

    /// The stored cursor.
    pub fn get(&self) -> Option<Cursor> {
        self.cursor.lock_or_recover().clone()
    }
}

impl CursorStore for MemoryCursorStore {
    fn load(&self) -> Result<Option<Cursor>, CursorError> {
        Ok(self.get())
    }

    fn save(&self, cursor: &Cursor) -> Result<(), CursorError> {
        *self.cursor.lock_or_recover() = Some(cursor.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::ValidatorInfo;
    use crate::crypto::Address;

    fn cursor(n: u64) -> Cursor {
        let mut validators = crate::block::Validators::new();
        validators.insert(
            Address([7; 20]),
            ValidatorInfo {
                stake: 5,
                proposal_right: true,
            },
        );
        Cursor {
            chain_id: 0,
            genesis_hash: Hash([1; 32]),
            anchor: Anchor {
                number: n,
                hash: Hash([2; 32]),
                epoch: 9,
                proposer: Address([7; 20]),
                validators: validators.clone(),
                parent_validators: Some(validators),
            },
            previous: None,
        }
    }

    #[test]
    fn file_round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path().join("cursor.json"));
        assert!(store.load().unwrap().is_none());
        store.save(&cursor(3)).unwrap();
        store.save(&cursor(4)).unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor(4)));
        assert!(!store.tmp_path().exists());
    }

    #[test]
    fn damaged_files_are_refused_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path().join("cursor.json"));
        store.save(&cursor(3)).unwrap();
        let good = fs::read_to_string(store.path()).unwrap();

        fs::write(store.path(), &good[..good.len() / 2]).unwrap();
        assert!(matches!(store.load(), Err(CursorError::Corrupt { .. })));

        fs::write(
            store.path(),
            good.replace("\"number\": 3", "\"number\": 30"),
        )
        .unwrap();
        let err = store.load().unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");

        fs::write(store.path(), "").unwrap();
        assert!(matches!(store.load(), Err(CursorError::Corrupt { .. })));

        // A leftover temporary file from a crash mid-write does not matter.
        fs::write(store.path(), &good).unwrap();
        fs::write(store.tmp_path(), "garbage").unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor(3)));
    }
}
