//! A client's side of the blob protocol: upload signed bytes, download and verify a reference.

use std::time::Duration;

use super::fetch::{FetchError, read_verified};
use super::{BlobRef, SIGNATURE_HEADER, SIZE_HEADER, Sha256Hex, sign_upload};
use crate::ledger::crypto::PrivateKey;

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Transport.
    #[error("blob upload to {url}: {why}")]
    Transport {
        /// Where.
        url: String,
        /// Why.
        why: String,
    },
    /// The store refused it.
    #[error("the blob store at {url} refused the upload ({status}): {body}")]
    Refused {
        /// Where.
        url: String,
        /// HTTP status.
        status: u16,
        /// Its explanation.
        body: String,
    },
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .build()
        .expect("a default reqwest client builds")
}

/// Uploads `bytes` to the store at `base` (`http://host:port`), signed by `key`; returns the
/// reference, its `url` the blob's address in that store.
pub async fn upload(base: &str, key: &PrivateKey, bytes: Vec<u8>) -> Result<BlobRef, UploadError> {
    upload_as(base, key, bytes, false).await
}

/// [`upload`] that always sends the signed `PUT`, so a blob already stored has its retention
/// restarted: for function code (`deploy`), which must outlive the store's retention as long as
/// the function is redeployed.
pub async fn upload_refreshing(
    base: &str,
    key: &PrivateKey,
    bytes: Vec<u8>,
) -> Result<BlobRef, UploadError> {
    upload_as(base, key, bytes, true).await
}

async fn upload_as(
    base: &str,
    key: &PrivateKey,
    bytes: Vec<u8>,
    refresh: bool,
) -> Result<BlobRef, UploadError> {
    let sha = Sha256Hex::of(&bytes);
    let size = bytes.len() as u64;
    let url = format!("{}/blobs/{sha}", base.trim_end_matches('/'));
    let done = BlobRef {
        sha256: sha,
        size,
        url: Some(url.clone()),
    };
    // A store that has the blob answers a PUT at once without reading the body, and closes the
    // connection under a client still sending megabytes: ask first.
    if !refresh && stored(&url, size).await {
        return Ok(done);
    }
    let sig = sign_upload(key, &sha, size);
    let sent = http()
        .put(&url)
        .header(SIZE_HEADER, size.to_string())
        .header(SIGNATURE_HEADER, sig.to_string())
        .body(bytes)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        // Someone stored the same bytes meanwhile (the early answer cut the upload off).
        Err(_) if stored(&url, size).await => return Ok(done),
        Err(e) => {
            return Err(UploadError::Transport {
                url: url.clone(),
                why: e.to_string(),
            });
        }
    };
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(UploadError::Refused {
            url,
            status: status.as_u16(),
            body: body.trim().to_owned(),
        });
    }
    Ok(done)
}

/// Whether the store at `url` already holds the blob, with `size` bytes (a `HEAD`).
async fn stored(url: &str, size: u64) -> bool {
    match http().head(url).send().await {
        // The header itself: a HEAD response has no body for `content_length` to size.
        Ok(r) => {
            r.status().is_success()
                && r.headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    == Some(size)
        }
        Err(_) => false,
    }
}

/// Downloads `r` from its `url` (or `<default_base>/blobs/<sha256>`), verifying size and hash.
/// The client chose the URL itself, so no address rules apply.
pub async fn download(r: &BlobRef, default_base: Option<&str>) -> Result<Vec<u8>, FetchError> {
    let url = super::fetch::url_of(r, default_base)?;
    let resp = http()
        .get(&url)
        .send()
        .await
        .map_err(|e| FetchError::Unreachable(format!("{url}: {e}")))?;
    Ok(read_verified(resp, &r.sha256, r.size).await?.to_vec())
}
