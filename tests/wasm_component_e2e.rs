//! Python (`python3-wasm`) and JavaScript (`nodejs-wasm`) components end to end on the built-in
//! chain: deployed by reference (uploaded to a blob store, the spec naming it by `code_ref`; a
//! Python component is ~19 MB, over the 16 MiB a worker takes from the chain), called, answered
//! by an in-process worker that fetched the code through the `input_ref` path, on the WASM tier,
//! with a receipt naming the runtime and tier; an exception answered as an error status.

mod common;
mod component_support;
mod worker_support;

use std::sync::Arc;
use std::time::Duration;

use ain_sre::blobs::settings::BlobsFile;
use ain_sre::client::Deployment;
use ain_sre::daemon::{self, DaemonConfig};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::onchain::{KEPT_VERSIONS, Retention};
use ain_sre::sandbox::any::{TierConfig, Tiers};
use ain_sre::sandbox::wasm::WasmConfig;
use ain_sre::sandbox::wasm::package::Language;
use component_support::{JS, PY, cache_dir, component};
use sha2::{Digest, Sha256};
use worker_support::*;

async fn component_runs_by_reference(test: &str, lang: Language, source: &str) {
    let Some(code) = component(test, lang, source) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    // The chain's blob store, as `dev` serves it: its loopback address let through the address
    // rules, fetched over HTTP like any other store (no shortcut to its directory).
    let stop = tokio_util::sync::CancellationToken::new();
    let file = BlobsFile {
        fetch_allow: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    let served = file
        .serve_or_any(
            "127.0.0.1:0".parse().unwrap(),
            &dir.path().join("blobs"),
            stop.clone(),
        )
        .await
        .unwrap();
    let admin = admin(&dev.rpc_url()).await;
    let deployed = admin
        .deploy_by_ref(
            &Deployment {
                public_stderr: true,
                ..Deployment::new("comp", "f", lang.runtime(), code.bytes.to_vec())
            },
            &served.public_base,
            Retention::DEFAULT,
            KEPT_VERSIONS,
        )
        .await
        .expect("deploy by reference (no stake, no chunk txs)");
    assert_eq!(deployed.chunks, 0);
    let r = deployed.code_ref.clone().expect("a code_ref");
    assert_eq!(r.size, code.bytes.len() as u64);
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "comp").await;
    // The compiled artifact the component tests left (a debug compile takes minutes).
    let tiers = TierConfig {
        wasm: WasmConfig {
            cache_dir: Some(cache_dir().join("compiled")),
            ..WasmConfig::default()
        },
        ..TierConfig::default()
    };
    let catalogs = ain_sre::config::Catalogs::shipped();
    let tiers = Arc::new(Tiers::start(tiers.serving(&catalogs.runtimes)).await);
    let mut c = DaemonConfig::new(
        &dev.rpc_url(),
        &dev.events_url(),
        vec!["comp".into()],
        dir.path().join("worker"),
    );
    c.grace = Duration::from_secs(5);
    c.follower_poll = Duration::from_millis(200);
    c.scheduler.blobs = file.worker(None).unwrap();
    let w = daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        tiers,
    )
    .await
    .expect("worker starts");
    let caller = ain_sre::client::ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    let (_id, tx, resp) = call_wait(&caller, "comp", "f", "hello chain").await;
    assert_eq!(resp["status"], "ok", "{resp}");
    let out: serde_json::Value = serde_json::from_str(resp["output"].as_str().unwrap()).unwrap();
    assert_eq!(out["echo"], "hello chain", "{resp}");
    let rc = &resp["receipt"];
    assert_eq!(rc["request_tx"], tx.as_str());
    assert_eq!(rc["runtime"], lang.runtime());
    assert_eq!(rc["sandbox"], "wasm");
    assert_eq!(rc["code_hash"], hex::encode(Sha256::digest(&code.bytes)));
    let (_id, _tx, resp) = call_wait(&caller, "comp", "f", "raise").await;
    assert_eq!(resp["status"], "error", "{resp}");
    w.shutdown().await.unwrap();
    dev.shutdown().await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_component_runs_through_the_chain_by_reference() {
    component_runs_by_reference("py e2e", Language::Python, PY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_component_runs_through_the_chain_by_reference() {
    component_runs_by_reference("js e2e", Language::JavaScript, JS).await;
}
