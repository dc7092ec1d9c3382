//! The worker's side of `input_ref`: fetch a blob from a URL a client chose, safely.
//!
//! - The declared size is checked against the function's limit before anything is fetched.
//! - The URL's host is resolved here, every address is checked against the [`AddressRules`]
//!   (SSRF: no loopback, private, link-local or metadata addresses unless the operator allows
//!   them), and the connection goes to a checked address (no second resolution, no redirects,
//!   no proxy).
//! - The body is read chunk by chunk, hashed as it arrives, and abandoned as soon as it runs past
//!   the declared size; its length and hash must match the reference.
//! - Connect, first-byte and whole-transfer timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::Digest;
use tokio::io::AsyncWriteExt;

use super::{BlobRef, Sha256Hex};
use crate::netrules::{AddressRules, Refusal};

/// How the worker fetches inputs.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Which addresses may be reached.
    pub rules: AddressRules,
    /// Where a reference without `url` is fetched from: `<base>/blobs/<sha256>` (the worker's
    /// own blob store, or the operator's choice); `None`: a `url` is required.
    pub default_base: Option<String>,
    /// TCP connect timeout. Default 5 s.
    pub connect_timeout: Duration,
    /// Whole transfer. Default 60 s.
    pub timeout: Duration,
}

impl Default for FetchConfig {
    fn default() -> FetchConfig {
        FetchConfig {
            rules: AddressRules::default(),
            default_base: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why an input could not be fetched (each is answered `rejected` with this text).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Declared or actual size over the function's limit.
    #[error("input_ref of {size} bytes exceeds the function's input limit of {limit} bytes")]
    Oversize {
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The body ran past, or stopped short of, the declared size.
    #[error("input_ref size mismatch: declared {declared} bytes, the body has {got}{more}", more = if *.over { " or more (download abandoned)" } else { "" })]
    SizeMismatch {
        /// Declared.
        declared: u64,
        /// Read.
        got: u64,
        /// The download was abandoned past the declared size.
        over: bool,
    },
    /// The bytes hash to something else.
    #[error("input_ref hash mismatch: declared {declared}, the body hashes to {got}")]
    HashMismatch {
        /// Declared.
        declared: Sha256Hex,
        /// The body's.
        got: Sha256Hex,
    },
    /// The URL is not usable.
    #[error("input_ref url {url:?}: {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The address rules refused it.
    #[error("input_ref url refused: {0}")]
    Refused(#[from] Refusal),
    /// Resolution, connection, a non-200 answer, a timeout.
    #[error("input_ref unreachable: {0}")]
    Unreachable(String),
}

/// The URL a reference is fetched from.
pub fn url_of(r: &BlobRef, default_base: Option<&str>) -> Result<String, FetchError> {
    match (&r.url, default_base) {
        (Some(u), _) => Ok(u.clone()),
        (None, Some(base)) => Ok(format!("{}/blobs/{}", base.trim_end_matches('/'), r.sha256)),
        (None, None) => Err(FetchError::BadUrl {
            url: String::new(),
            why: "no url, and this worker has no default blob store".into(),
        }),
    }
}

/// Resolves `url`'s host and checks every address; returns the host and the checked addresses.
async fn checked_addrs(
    url: &reqwest::Url,
    rules: &AddressRules,
    timeout: Duration,
) -> Result<(String, Vec<SocketAddr>), FetchError> {
    let bad = |why: &str| FetchError::BadUrl {
        url: url.to_string(),
        why: why.into(),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http and https are fetched"));
    }
    let host = url.host_str().ok_or_else(|| bad("no host"))?.to_owned();
    let port = url.port_or_known_default().ok_or_else(|| bad("no port"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if let Ok(ip) = bare.parse() {
        vec![SocketAddr::new(ip, port)]
    } else {
        let found = tokio::time::timeout(timeout, tokio::net::lookup_host((bare, port)))
            .await
            .map_err(|_| FetchError::Unreachable(format!("resolving {host} timed out")))?
            .map_err(|e| FetchError::Unreachable(format!("resolving {host}: {e}")))?;
        found.collect()
    };
    if addrs.is_empty() {
        return Err(FetchError::Unreachable(format!("{host} has no address")));
    }
    // Every address: a name with one public and one private address must not get through.
    for a in &addrs {
        rules.check(a.ip())?;
    }
    Ok((bare.to_owned(), addrs))
}

/// Fetches `r` for a function whose input limit is `limit` bytes, verifying size and hash.
pub async fn fetch_input(
    r: &BlobRef,
    limit: u64,
    config: &FetchConfig,
) -> Result<Arc<[u8]>, FetchError> {
    let resp = get(r, limit, config).await?;
    read_verified(resp, &r.sha256, r.size).await
}

/// Fetches `r` like [`fetch_input`] into `file` (opened for writing, empty) instead of memory:
/// the body goes to disk chunk by chunk while its size and hash are verified, so a large input
/// is never whole in the worker's memory.
pub async fn fetch_input_to(
    r: &BlobRef,
    limit: u64,
    config: &FetchConfig,
    file: std::fs::File,
) -> Result<(), FetchError> {
    let resp = get(r, limit, config).await?;
    let mut file = tokio::fs::File::from_std(file);
    read_verified_into(resp, &r.sha256, r.size, Sink::File(&mut file)).await?;
    // Everything reaches the kernel before the file is handed to a reader at other offsets.
    file.flush()
        .await
        .map_err(|e| FetchError::Unreachable(format!("writing the input to disk: {e}")))
}

/// Checks the declared size and the URL, then sends the GET.
async fn get(
    r: &BlobRef,
    limit: u64,
    config: &FetchConfig,
) -> Result<reqwest::Response, FetchError> {
    if r.size > limit {
        return Err(FetchError::Oversize {
            size: r.size,
            limit,
        });
    }
    let url = url_of(r, config.default_base.as_deref())?;
    let parsed = reqwest::Url::parse(&url).map_err(|e| FetchError::BadUrl {
        url: url.clone(),
        why: e.to_string(),
    })?;
    let (host, addrs) = checked_addrs(&parsed, &config.rules, config.connect_timeout).await?;
    // Pinned to the checked addresses: reqwest does not resolve the name again.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    client
        .get(parsed)
        .send()
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))
}

/// Reads a response body of exactly `size` bytes hashing to `sha`, abandoning it as soon as it
/// runs past `size`.
pub async fn read_verified(
    resp: reqwest::Response,
    sha: &Sha256Hex,
    size: u64,
) -> Result<Arc<[u8]>, FetchError> {
    // `size` is at most the caller's limit: this allocation is bounded. The bytes land in the
    // buffer the sandbox reads (one copy of the input in memory, not two).
    let mut out = zeroed(size);
    let buf = Arc::get_mut(&mut out).expect("a new Arc is unique");
    read_verified_into(resp, sha, size, Sink::Memory(buf)).await?;
    Ok(out)
}

/// Where a verified body goes.
enum Sink<'a> {
    /// A buffer of exactly the declared size.
    Memory(&'a mut [u8]),
    /// A file, appended to.
    File(&'a mut tokio::fs::File),
}

async fn read_verified_into(
    mut resp: reqwest::Response,
    sha: &Sha256Hex,
    size: u64,
    mut sink: Sink<'_>,
) -> Result<(), FetchError> {
    if resp.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Unreachable(format!(
            "{} answered {}",
            resp.url(),
            resp.status()
        )));
    }
    if let Some(len) = resp.content_length()
        && len != size
    {
        return Err(FetchError::SizeMismatch {
            declared: size,
            got: len,
            over: false,
        });
    }
    let mut got = 0usize;
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?
    {
        if (got + chunk.len()) as u64 > size {
            return Err(FetchError::SizeMismatch {
                declared: size,
                got: (got + chunk.len()) as u64,
                over: true,
            });
        }
        hasher.update(&chunk);
        match &mut sink {
            Sink::Memory(buf) => buf[got..got + chunk.len()].copy_from_slice(&chunk),
            Sink::File(f) => f
                .write_all(&chunk)
                .await
                .map_err(|e| FetchError::Unreachable(format!("writing the input to disk: {e}")))?,
        }
        got += chunk.len();
    }
    if got as u64 != size {
        return Err(FetchError::SizeMismatch {
            declared: size,
            got: got as u64,
            over: false,
        });
    }
    let got = Sha256Hex(hasher.finalize().into());
    if got != *sha {
        return Err(FetchError::HashMismatch {
            declared: *sha,
            got,
        });
    }
    Ok(())
}

/// A zeroed shared buffer of `size` bytes. The `Vec` it is copied from comes from `calloc`:
/// its pages are never touched (they read as the kernel's zero page), so only the `Arc`'s
/// bytes become resident.
pub(crate) fn zeroed(size: u64) -> Arc<[u8]> {
    Arc::from(vec![0u8; size as usize])
}
