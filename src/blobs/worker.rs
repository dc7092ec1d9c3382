//! What the worker does with blobs around a call: fetch an `input_ref`, store an output too
//! large for the response tx and answer with an `output_ref`.

use std::sync::Arc;

use super::fetch::{FetchConfig, FetchError, fetch_input};
use super::store::BlobStore;
use super::{BlobRef, Sha256Hex};
use crate::ledger::crypto::Address;

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
    /// Fetches `r` for a function whose profile admits `limit` input bytes.
    pub async fn fetch(&self, r: &BlobRef, limit: u64) -> Result<Arc<[u8]>, FetchError> {
        self.fetch_as("input_fetch", r, limit).await
    }

    /// Fetches a function's `code_ref` (at most [`WorkerBlobs::max_code_bytes`]) the same way
    /// as an input: the same address rules, size and hash checks while streaming.
    pub async fn fetch_code(&self, r: &BlobRef) -> Result<Arc<[u8]>, FetchError> {
        self.fetch_as("code_fetch", r, self.max_code_bytes).await
    }

    async fn fetch_as(
        &self,
        stage: &'static str,
        r: &BlobRef,
        limit: u64,
    ) -> Result<Arc<[u8]>, FetchError> {
        let t = std::time::Instant::now();
        let out = match self.local(r, limit).await {
            Some(found) => found,
            None => fetch_input(r, limit, &self.fetch).await,
        };
        metrics::histogram!("ain_sre_stage_seconds", "stage" => stage)
            .record(t.elapsed().as_secs_f64());
        out
    }

    /// A reference to this worker's own store (no `url`, or its own URL) is read from disk:
    /// no HTTP, and no need to let loopback through the address rules. `None` when the
    /// blob is not there.
    async fn local(&self, r: &BlobRef, limit: u64) -> Option<Result<Arc<[u8]>, FetchError>> {
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
        let (mut file, _) = out.store.open_blob(&r.sha256).await?;
        let mut bytes = super::fetch::zeroed(r.size);
        use tokio::io::AsyncReadExt;
        let buf = Arc::get_mut(&mut bytes).expect("a new Arc is unique");
        let mut extra = [0u8; 1];
        let read = async {
            file.read_exact(buf).await?;
            file.read(&mut extra).await
        };
        match read.await {
            Ok(0) => {}
            Ok(_) => {
                return Some(Err(FetchError::SizeMismatch {
                    declared: r.size,
                    got: r.size + 1,
                    over: true,
                }));
            }
            Err(e) => {
                return Some(Err(FetchError::Unreachable(format!(
                    "reading the local blob: {e}"
                ))));
            }
        }
        // The disk is not trusted more than the network: verified the same way.
        let got = Sha256Hex::of(&bytes);
        Some(if got != r.sha256 {
            Err(FetchError::HashMismatch {
                declared: r.sha256,
                got,
            })
        } else {
            Ok(bytes)
        })
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

/// The SHA-256 the receipt's `input_hash` names for a call: the reference's, or the inline
/// bytes'.
pub fn input_digest(refs: &Refs, inline: &[u8]) -> Sha256Hex {
    match &refs.input {
        Some(r) => r.sha256,
        None => Sha256Hex::of(inline),
    }
}
