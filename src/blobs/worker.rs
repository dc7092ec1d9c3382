//! What the worker does with blobs around a call: fetch an `input_ref`, store an output too
//! large for the response tx and answer with an `output_ref`.

use std::sync::Arc;

use super::fetch::{FetchConfig, FetchError, fetch_input, fetch_input_to};
use super::store::BlobStore;
use super::{BlobRef, Sha256Hex};
use crate::ledger::crypto::Address;
use crate::sandbox::Input;

/// Remote inputs larger than this are downloaded to a temporary file rather than memory.
pub const STREAM_ABOVE: u64 = 1 << 20;

/// How much of a local blob is read at a time while it is verified.
const VERIFY_CHUNK: usize = 256 << 10;

/// The references of one call, carried from the scheduler to the response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    /// The request's `input_ref` (the receipt's `input_hash` is its `sha256`).
    pub input: Option<BlobRef>,
    /// The stored output (the response's `output_ref`).
    pub output: Option<BlobRef>,
}

impl Refs {
    /// No references: an inline call.
    pub const NONE: Refs = Refs {
        input: None,
        output: None,
    };
}

/// Where the worker keeps outputs too large for the chain.
#[derive(Debug, Clone)]
pub struct OutputStore {
    /// The store.
    pub store: Arc<BlobStore>,
    /// Its public base URL (`http://host:port`), as clients reach it.
    pub public_base: String,
}

/// The worker's blob settings.
#[derive(Debug, Clone)]
pub struct WorkerBlobs {
    /// How `input_ref`s are fetched.
    pub fetch: FetchConfig,
    /// Where large outputs go; `None`: they are only truncated, as before.
    pub outputs: Option<OutputStore>,
    /// Outputs longer than this are stored as blobs (when `outputs` is set). Default 4,096
    /// bytes: what a response tx keeps of an output is about 4,300 characters.
    pub inline_output_bytes: usize,
    /// Largest function code fetched by reference (a spec's `code_ref`). Default 64 MiB: the
    /// WASM tier's component limit (a Python component is ~19 MB, a JS one ~12 MB). Larger than
    /// the 16 MiB for code on chain because a reference costs no chain state and is fetched
    /// once per code hash (not per call); the bytes are held once while they are prepared.
    pub max_code_bytes: u64,
}

impl Default for WorkerBlobs {
    fn default() -> WorkerBlobs {
        WorkerBlobs {
            fetch: FetchConfig::default(),
            outputs: None,
            inline_output_bytes: 4096,
            max_code_bytes: 64 << 20,
        }
    }
}

impl WorkerBlobs {
    /// Fetches `r` for a function whose profile admits `limit` input bytes, as the sandbox's
    /// input: a blob in this worker's own store is handed over as its open, verified file; a
    /// remote one over [`STREAM_ABOVE`] bytes is downloaded to an unlinked temporary file (the
    /// store's `tmp/`, or the system's) while it is verified. Neither is ever whole in memory.
    pub async fn fetch(&self, r: &BlobRef, limit: u64) -> Result<Input, FetchError> {
        let t = std::time::Instant::now();
        let out = match self.local(r, limit).await {
            Some(found) => found.map(|(file, len)| Input::File {
                file: Arc::new(file),
                len,
            }),
            None if r.size > STREAM_ABOVE && r.size <= limit => self.fetch_to_file(r, limit).await,
            None => fetch_input(r, limit, &self.fetch).await.map(Input::from),
        };
        metrics::histogram!("ain_sre_stage_seconds", "stage" => "input_fetch")
            .record(t.elapsed().as_secs_f64());
        out
    }

    /// Fetches a function's `code_ref` (at most [`WorkerBlobs::max_code_bytes`]) the same way
    /// as an input: the same address rules, size and hash checks while streaming.
    pub async fn fetch_code(&self, r: &BlobRef) -> Result<Arc<[u8]>, FetchError> {
        let t = std::time::Instant::now();
        let limit = self.max_code_bytes;
        let out = match self.local(r, limit).await {
            // Code is compiled from one buffer anyway: read whole (once per code hash).
            Some(found) => match found {
                Ok((file, len)) => Input::File {
                    file: Arc::new(file),
                    len,
                }
                .to_bytes()
                .await
                .map_err(|e| FetchError::Unreachable(format!("reading the local blob: {e}"))),
                Err(e) => Err(e),
            },
            None => fetch_input(r, limit, &self.fetch).await,
        };
        metrics::histogram!("ain_sre_stage_seconds", "stage" => "code_fetch")
            .record(t.elapsed().as_secs_f64());
        out
    }

    /// Downloads `r` to a temporary file that is unlinked at once: the open descriptor keeps
    /// it readable for the call and the kernel frees it when the last reader drops it (no
    /// cleanup to forget, even on a crash the store's `tmp/` is emptied at start).
    async fn fetch_to_file(&self, r: &BlobRef, limit: u64) -> Result<Input, FetchError> {
        let dir = match &self.outputs {
            Some(o) => o.store.dir().join("tmp"),
            None => std::env::temp_dir(),
        };
        let path = dir.join(format!(
            "input-{}-{}",
            r.sha256,
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let disk = |e: std::io::Error| {
            FetchError::Unreachable(format!("a temporary file for the input: {e}"))
        };
        let file = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            std::fs::remove_file(&path)?;
            Ok::<_, std::io::Error>(f)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(disk)?;
        let writer = file.try_clone().map_err(disk)?;
        fetch_input_to(r, limit, &self.fetch, writer).await?;
        Ok(Input::File {
            file: Arc::new(file),
            len: r.size,
        })
    }

    /// A reference to this worker's own store (no `url`, or its own URL) is opened from disk:
    /// no HTTP, and no need to let loopback through the address rules. The file is read
    /// through once in chunks to verify its size and hash, and the same open file is returned
    /// (a retention sweep deleting the path afterwards cannot change what the call reads).
    /// `None` when the blob is not there.
    async fn local(
        &self,
        r: &BlobRef,
        limit: u64,
    ) -> Option<Result<(std::fs::File, u64), FetchError>> {
        let out = self.outputs.as_ref()?;
        let own = format!(
            "{}/blobs/{}",
            out.public_base.trim_end_matches('/'),
            r.sha256
        );
        if r.url.as_deref().is_some_and(|u| u != own) {
            return None;
        }
        if r.size > limit {
            return Some(Err(FetchError::Oversize {
                size: r.size,
                limit,
            }));
        }
        let stored = out.store.size(&r.sha256)?;
        if stored != r.size {
            return Some(Err(FetchError::SizeMismatch {
                declared: r.size,
                got: stored,
                over: stored > r.size,
            }));
        }
        let (file, _) = out.store.open_blob(&r.sha256).await?;
        let file = file.into_std().await;
        let r = r.clone();
        let checked = tokio::task::spawn_blocking(move || verify_file(file, &r))
            .await
            .unwrap_or_else(|e| {
                Err(FetchError::Unreachable(format!(
                    "reading the local blob: {e}"
                )))
            });
        Some(checked)
    }

    /// Stores `stdout` when it is too long to inline and a store is configured; the reference,
    /// or `None` (inline, or the store refused it: logged, the output is truncated as before).
    pub async fn store_output(&self, owner: Address, stdout: &[u8]) -> Option<BlobRef> {
        if stdout.len() <= self.inline_output_bytes {
            return None;
        }
        let out = self.outputs.as_ref()?;
        match out.store.put_local(owner, stdout).await {
            Ok(sha) => Some(BlobRef {
                sha256: sha,
                size: stdout.len() as u64,
                url: Some(format!(
                    "{}/blobs/{sha}",
                    out.public_base.trim_end_matches('/')
                )),
            }),
            Err(e) => {
                tracing::warn!(error = %e, bytes = stdout.len(), "cannot store the output as a blob; it is truncated on chain");
                None
            }
        }
    }
}

/// The disk is not trusted more than the network: a local blob is hashed before it is used,
/// reading at most [`VERIFY_CHUNK`] bytes at a time (positional reads: the file's offset is
/// left alone).
fn verify_file(file: std::fs::File, r: &BlobRef) -> Result<(std::fs::File, u64), FetchError> {
    use sha2::Digest;
    use std::os::unix::fs::FileExt;
    let io = |e: std::io::Error| FetchError::Unreachable(format!("reading the local blob: {e}"));
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; VERIFY_CHUNK];
    let mut at = 0u64;
    loop {
        let n = file.read_at(&mut buf, at).map_err(io)?;
        if n == 0 {
            break;
        }
        at += n as u64;
        if at > r.size {
            return Err(FetchError::SizeMismatch {
                declared: r.size,
                got: at,
                over: true,
            });
        }
        hasher.update(&buf[..n]);
    }
    if at != r.size {
        return Err(FetchError::SizeMismatch {
            declared: r.size,
            got: at,
            over: false,
        });
    }
    let got = Sha256Hex(hasher.finalize().into());
    if got != r.sha256 {
        return Err(FetchError::HashMismatch {
            declared: r.sha256,
            got,
        });
    }
    Ok((file, r.size))
}

/// The SHA-256 the receipt's `input_hash` names for a call: the reference's, or the inline
/// bytes'.
pub fn input_digest(refs: &Refs, inline: &[u8]) -> Sha256Hex {
    match &refs.input {
        Some(r) => r.sha256,
        None => Sha256Hex::of(inline),
    }
}
