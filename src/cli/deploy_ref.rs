//! Where `deploy` puts a function's code: on chain (inline, or chunk txs) or in a blob store
//! with the spec naming it by `code_ref` (`{sha256, size, url}`).
//!
//! Components always go by reference when a blob store is known: a JavaScript one is ~12 MB
//! (~3,300 chunk txs and a staked app), a Python one ~19 MB (over the 16 MiB a worker takes from
//! the chain). Other code goes by reference above [`ON_CHAIN_MAX_BYTES`]. Without a store (no
//! `--blobs`, and not a dev chain) code up to the worker's on-chain limit still goes in chunks,
//! as before, and larger code is refused naming `--blobs`.

use crate::blobs::worker::WorkerBlobs;
use crate::sandbox::wasm::package::{self, Language};
use crate::scheduler::SchedulerConfig;

/// Largest code `deploy` writes on chain when a blob store is known: 1 MiB is already ~280 chunk
/// txs of state (base64, ~3.6 KB of code each); beyond it a reference costs one upload and a
/// few hundred bytes of spec.
pub(crate) const ON_CHAIN_MAX_BYTES: usize = 1 << 20;

/// Where the code goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Inline or in chunk txs.
    OnChain,
    /// Uploaded to the blob store at this base URL, named by `code_ref`.
    ByRef(String),
}

impl Placement {
    /// The largest code a worker with default settings takes this way.
    pub(crate) fn max_bytes(&self) -> usize {
        match self {
            Placement::OnChain => SchedulerConfig::default().max_code_bytes,
            Placement::ByRef(_) => WorkerBlobs::default().max_code_bytes as usize,
        }
    }

    /// The worker setting that limits it.
    pub(crate) fn limit_name(&self) -> &'static str {
        match self {
            Placement::OnChain => "max_code_bytes",
            Placement::ByRef(_) => "blobs.max_code_mb",
        }
    }
}

/// Decides where `code` of `runtime` goes, given the blob store `base` (`--blobs`, or a dev
/// chain's own).
pub(crate) fn placement(
    runtime: &str,
    code: &[u8],
    base: Option<String>,
) -> anyhow::Result<Placement> {
    let component = Language::of_runtime(runtime).is_some() || package::is_component(code);
    let wants_ref = component || code.len() > ON_CHAIN_MAX_BYTES;
    match base {
        Some(b) if wants_ref => Ok(Placement::ByRef(b)),
        _ => {
            let max = Placement::OnChain.max_bytes();
            anyhow::ensure!(
                code.len() <= max,
                "the code is {} bytes, over the {max} bytes a worker takes from the chain (max_code_bytes): name a blob store with --blobs URL (a worker's or the dev chain's, `http://host:8082`) and it is uploaded there and deployed by reference (code_ref, up to {} bytes)",
                code.len(),
                Placement::ByRef(String::new()).max_bytes()
            );
            Ok(Placement::OnChain)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_large_code_go_by_reference_when_a_store_is_known() {
        let store = || Some("http://127.0.0.1:8082".to_owned());
        let by_ref = Placement::ByRef("http://127.0.0.1:8082".into());
        // A component, however small, whether named by its runtime or by its bytes.
        assert_eq!(placement("python3-wasm", b"x", store()).unwrap(), by_ref);
        let header = b"\0asm\x0d\x00\x01\x00";
        assert_eq!(placement("wasm", header, store()).unwrap(), by_ref);
        // Small code stays on chain; large code goes by reference.
        assert_eq!(
            placement("python3", b"print(1)", store()).unwrap(),
            Placement::OnChain
        );
        let big = vec![b'#'; ON_CHAIN_MAX_BYTES + 1];
        assert_eq!(placement("python3", &big, store()).unwrap(), by_ref);
        // No store: chunks as before, up to the on-chain limit, then a clear refusal.
        assert_eq!(
            placement("nodejs-wasm", &big, None).unwrap(),
            Placement::OnChain
        );
        let huge = vec![b'#'; Placement::OnChain.max_bytes() + 1];
        let e = placement("python3", &huge, None).unwrap_err().to_string();
        assert!(e.contains("--blobs URL") && e.contains("code_ref"), "{e}");
        assert!(Placement::ByRef(String::new()).max_bytes() > Placement::OnChain.max_bytes());
    }
}
