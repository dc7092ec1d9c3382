//! A JavaScript component (`nodejs-wasm`) end to end on the built-in chain: deployed (its
//! 12 MB go up in blob chunks), called, answered by an in-process worker on the WASM tier with
//! a receipt naming the runtime and tier; an exception answered as an error status.

mod common;
mod component_support;
mod worker_support;

use std::sync::Arc;

use ain_sre::client::Deployment;
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use ain_sre::ledger::devnet::{Devnet, DevnetConfig};
use ain_sre::onchain::{Callers, WorkerPolicy};
use ain_sre::sandbox::any::{TierConfig, Tiers};
use ain_sre::sandbox::wasm::WasmConfig;
use ain_sre::sandbox::wasm::package::Language;
use component_support::{JS, cache_dir, component};
use sha2::{Digest, Sha256};
use worker_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_component_runs_through_the_chain_and_the_worker() {
    let Some(code) = component("js e2e", Language::JavaScript, JS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The admin funded at genesis, so it can stake (12 MB of code is 16 MB of base64 in state:
    // over the free tier without a stake).
    let admin_key = PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY).unwrap();
    let dev = Devnet::start(DevnetConfig {
        block_interval: std::time::Duration::from_millis(50),
        genesis_balances: vec![(admin_key.address().to_string(), 1_000_000)],
        ..DevnetConfig::default()
    })
    .await
    .expect("devnet starts");
    let admin = admin(&dev.rpc_url()).await;
    admin.stake("comp", 100_000.0).await.expect("stake");
    let deployed = admin
        .deploy(&Deployment {
            app: "comp".into(),
            function: "js".into(),
            runtime: "nodejs-wasm".into(),
            code: code.bytes.to_vec(),
            profile: None,
            callers: Callers::Any,
            finality: None,
            workers: WorkerPolicy::Approved,
            timeout_ms: None,
            failover_ms: None,
            public_stderr: true,
            egress: Default::default(),
        })
        .await
        .expect("deploy");
    assert!(deployed.chunks > 1000, "{}", deployed.chunks);
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
    let w = worker_with_tiers(&dev, &["comp"], &key, dir.path(), tiers).await;
    let caller = ain_sre::client::ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    let (_id, tx, resp) = call_wait(&caller, "comp", "js", "hello chain").await;
    assert_eq!(resp["status"], "ok", "{resp}");
    let out: serde_json::Value = serde_json::from_str(resp["output"].as_str().unwrap()).unwrap();
    assert_eq!(out["echo"], "hello chain", "{resp}");
    let r = &resp["receipt"];
    assert_eq!(r["request_tx"], tx.as_str());
    assert_eq!(r["runtime"], "nodejs-wasm");
    assert_eq!(r["sandbox"], "wasm");
    assert_eq!(r["code_hash"], hex::encode(Sha256::digest(&code.bytes)));
    let (_id, _tx, resp) = call_wait(&caller, "comp", "js", "raise").await;
    assert_ne!(resp["status"], "ok", "{resp}");
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}
