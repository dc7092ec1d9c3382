//! `call`'s blob side (issue 20): an input too large to inline (or not UTF-8) is uploaded to a
//! blob store and the request carries `input_ref`; `--output` writes a response's whole output,
//! downloading and verifying its `output_ref`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use crate::blobs::{BlobRef, Sha256Hex, client as blob_client};
use crate::client::{ChainClient, new_call_id};
use crate::ledger::crypto::{Hash, PrivateKey};
use crate::ledger::tx::SimpleOp;
use crate::onchain::{AppPaths, Request};

/// Inputs up to this many bytes go inline in the request tx (a worker's default
/// `max_input_bytes`); larger ones by reference.
pub(crate) const INLINE_INPUT_BYTES: usize = 4096;

/// The port `ain-sre dev` serves its blob store on.
pub(crate) const DEV_BLOBS_PORT: u16 = 8082;

/// What the request carries.
pub(crate) enum Input {
    /// `{input: "..."}`.
    Inline(String),
    /// `{input_ref: ...}`, the bytes uploaded.
    Ref(BlobRef),
}

/// The input bytes of `--input` (text, or `@FILE`).
pub(crate) fn input_bytes(arg: &str) -> anyhow::Result<Vec<u8>> {
    match arg.strip_prefix('@') {
        Some(f) => {
            std::fs::read(Path::new(f)).with_context(|| format!("reading the input file {f}"))
        }
        None => Ok(arg.as_bytes().to_vec()),
    }
}

/// The blob store for uploads: `--blobs`, else the dev chain's (`http://<node host>:8082`).
pub(crate) fn blobs_base(flag: Option<&str>, node: &str, dev_chain: bool) -> Option<String> {
    if let Some(f) = flag {
        return Some(f.trim_end_matches('/').to_owned());
    }
    if !dev_chain {
        return None;
    }
    let url = reqwest::Url::parse(node).ok()?;
    Some(format!(
        "{}://{}:{DEV_BLOBS_PORT}",
        url.scheme(),
        url.host_str()?
    ))
}

/// Whether `bytes` cannot go inline.
pub(crate) fn needs_ref(bytes: &[u8]) -> bool {
    bytes.len() > INLINE_INPUT_BYTES || std::str::from_utf8(bytes).is_err()
}

/// Why `bytes` cannot be sent without a blob store, and what to do.
pub(crate) fn no_store(bytes: &[u8]) -> String {
    let binary = std::str::from_utf8(bytes).is_err();
    format!(
        "the input ({} bytes{}) cannot go inline (at most {INLINE_INPUT_BYTES} bytes of UTF-8 text go in the request tx): name a blob store with --blobs URL (a worker's or the dev chain's, `http://host:8082`) and it is uploaded and sent as input_ref{}",
        bytes.len(),
        if binary { ", not UTF-8" } else { "" },
        if binary {
            "; or send it encoded, e.g. --input \"$(base64 -w0 FILE)\", and decode it in the function"
        } else {
            ""
        }
    )
}

/// Decides how `bytes` travel: inline when they fit and are text, else uploaded to `base`.
pub(crate) async fn prepare(
    bytes: Vec<u8>,
    base: Option<&str>,
    key: &PrivateKey,
) -> anyhow::Result<Input> {
    if !needs_ref(&bytes) {
        return Ok(Input::Inline(String::from_utf8(bytes)?));
    }
    let Some(base) = base else {
        anyhow::bail!("{}", no_store(&bytes));
    };
    let r = blob_client::upload(base, key, bytes).await?;
    eprintln!(
        "input: {} bytes uploaded to {} (input_ref)",
        r.size,
        r.url.as_deref().unwrap_or(base)
    );
    Ok(Input::Ref(r))
}

/// Sends a request carrying `input_ref`.
pub(crate) async fn send_ref(
    client: &ChainClient,
    app: &str,
    function: &str,
    r: &BlobRef,
) -> anyhow::Result<(String, Hash)> {
    let paths = AppPaths::new(app)?;
    let call_id = new_call_id();
    let hash = client
        .send(vec![SimpleOp::set_value(
            paths.request(function, &call_id),
            Request::value_ref(r),
        )])
        .await?;
    Ok((call_id, hash))
}

/// The whole output of `resp`: its `output_ref` downloaded and checked against the receipt's
/// `output_hash`, or the inline `output` (refused when truncated and no reference is given).
pub(crate) async fn whole_output(resp: &Value) -> anyhow::Result<Vec<u8>> {
    let output_hash = resp["receipt"]["output_hash"].as_str().unwrap_or_default();
    if let Some(r) = resp.get("output_ref").filter(|v| !v.is_null()) {
        let r: BlobRef = serde_json::from_value(r.clone()).context("the response's output_ref")?;
        anyhow::ensure!(
            r.sha256.to_string() == output_hash,
            "output_ref.sha256 {} is not the receipt's output_hash {output_hash}",
            r.sha256
        );
        let bytes = blob_client::download(&r, None)
            .await
            .context("downloading the output_ref")?;
        return Ok(bytes);
    }
    anyhow::ensure!(
        resp["output_truncated"] != Value::Bool(true),
        "the output was truncated on chain and the response has no output_ref"
    );
    let out = resp["output"].as_str().unwrap_or_default();
    let bytes = if resp["output_encoding"] == "base64" {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(out)
            .context("the output's base64")?
    } else {
        out.as_bytes().to_vec()
    };
    anyhow::ensure!(
        Sha256Hex::of(&bytes).to_string() == output_hash,
        "the output does not hash to the receipt's output_hash"
    );
    Ok(bytes)
}

/// Writes `bytes` to `dest` (`-`: stdout).
pub(crate) fn write_output(dest: &str, bytes: &[u8]) -> anyhow::Result<()> {
    if dest == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()?;
    } else {
        std::fs::write(dest, bytes).with_context(|| format!("writing the output to {dest}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_chain_store_is_the_default_only_on_a_dev_chain() {
        assert_eq!(
            blobs_base(None, "http://127.0.0.1:8081/json-rpc", true).as_deref(),
            Some("http://127.0.0.1:8082")
        );
        assert_eq!(blobs_base(None, "http://127.0.0.1:8081", false), None);
        assert_eq!(
            blobs_base(Some("http://s:9/"), "http://x", false).as_deref(),
            Some("http://s:9")
        );
    }

    #[tokio::test]
    async fn small_text_is_inline_and_large_input_needs_a_store() {
        let key = PrivateKey::generate();
        assert!(matches!(
            prepare(b"hi".to_vec(), None, &key).await.unwrap(),
            Input::Inline(s) if s == "hi"
        ));
        let e = prepare(vec![b'x'; 5000], None, &key)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--blobs URL"), "{e}");
        let e = prepare(vec![0xff; 10], None, &key)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not UTF-8") && e.contains("base64"), "{e}");
    }
}
