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
    let sha = Sha256Hex::of(&bytes);
    let size = bytes.len() as u64;
    let url = format!("{}/blobs/{sha}", base.trim_end_matches('/'));
    let sig = sign_upload(key, &sha, size);
    let resp = http()
        .put(&url)
        .header(SIZE_HEADER, size.to_string())
        .header(SIGNATURE_HEADER, sig.to_string())
        .body(bytes)
        .send()
        .await
        .map_err(|e| UploadError::Transport {
            url: url.clone(),
            why: e.to_string(),
        })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(UploadError::Refused {
            url,
            status: status.as_u16(),
            body: body.trim().to_owned(),
        });
    }
    Ok(BlobRef {
        sha256: sha,
        size,
        url: Some(url),
    })
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
