//! `ain-sre run --blobs-addr`: a worker process serves its own blob store (issue 20), fetches an
//! `input_ref` from it and answers a large output with an `output_ref` there; without the flag
//! it serves none and a large output is only truncated, as before.

mod worker_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ain_sre::blobs::{BlobRef, client as blobs};
use ain_sre::client::{ChainClient, new_call_id, wait_response};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::tx::SimpleOp;
use ain_sre::onchain::{AppPaths, Request};
use worker_support::*;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_worker(
    rpc: &str,
    events: &str,
    key: &PrivateKey,
    dir: &std::path::Path,
    blobs: Option<u16>,
    config: Option<&std::path::Path>,
) -> Proc {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ain-sre"));
    c.args(["run", "--node", rpc, "--events", events, "--app", "big"])
        .arg("--data-dir")
        .arg(dir)
        .env("AIN_SRE_PRIVATE_KEY", hex::encode(*key.secret_bytes()))
        .env_remove("AIN_SRE_CONFIG")
        .env_remove("AIN_SRE_BLOBS_ADDR")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(f) = config {
        c.arg("--config").arg(f);
    }
    if let Some(p) = blobs {
        c.args(["--blobs-addr", &format!("127.0.0.1:{p}")]);
    }
    Proc(c.spawn().unwrap())
}

async fn call(rpc: &str, request: serde_json::Value) -> serde_json::Value {
    let c = ChainClient::connect(rpc, PrivateKey::generate())
        .await
        .unwrap();
    let id = new_call_id();
    let path = AppPaths::new("big").unwrap().request("echo", &id);
    c.send(vec![SimpleOp::set_value(path, request)])
        .await
        .unwrap();
    wait_response(c.rpc(), "big", "echo", &id, Duration::from_secs(30))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_its_blob_store_only_when_asked() {
    let dev = chain(0, 0, None).await;
    let rpc = dev.rpc_url();
    let admin = admin(&rpc).await;
    deploy(&admin, "big", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&rpc, &key, "big").await;
    let payload: Vec<u8> = (0..60_000u32).map(|i| b'a' + (i % 26) as u8).collect();

    // Without --blobs-addr: no store. The input comes from another store (loopback, let
    // through by `fetch_allow`); the 60 KB output is only truncated, as before.
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        ain_sre::blobs::store::BlobStore::open(ain_sre::blobs::store::StoreConfig::new(
            other.path().into(),
        ))
        .unwrap(),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = ain_sre::blobs::server::serve("127.0.0.1:0".parse().unwrap(), store, stop.clone())
        .await
        .unwrap();
    let elsewhere = blobs::upload(
        &format!("http://{addr}"),
        &PrivateKey::generate(),
        payload.clone(),
    )
    .await
    .unwrap();
    let config = dir.path().join("worker.toml");
    std::fs::write(&config, "[blobs]\nfetch_allow = [\"127.0.0.1\"]\n").unwrap();
    {
        let _w = run_worker(
            &rpc,
            &dev.events_url(),
            &key,
            dir.path(),
            None,
            Some(&config),
        );
        let v = call(&rpc, Request::value_ref(&elsewhere)).await;
        assert_eq!(v["status"], "ok", "{v}");
        assert_eq!(v["output_truncated"], true, "{v}");
        assert!(v.get("output_ref").is_none(), "{v}");
        assert_eq!(v["receipt"]["output_hash"], elsewhere.sha256.to_string());
    }
    stop.cancel();

    let port = free_port();
    let _w = run_worker(&rpc, &dev.events_url(), &key, dir.path(), Some(port), None);
    let base = format!("http://127.0.0.1:{port}");
    // Wait for the store to listen.
    let mut up = None;
    for _ in 0..100 {
        if let Ok(r) = blobs::upload(&base, &PrivateKey::generate(), payload.clone()).await {
            up = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r: BlobRef = up.expect("the worker's blob store answers");
    let v = call(&rpc, Request::value_ref(&r)).await;
    assert_eq!(v["status"], "ok", "{v}");
    let out: BlobRef = serde_json::from_value(v["output_ref"].clone()).expect("output_ref");
    assert!(out.url.as_deref().unwrap().starts_with(&base), "{out:?}");
    assert_eq!(blobs::download(&out, None).await.unwrap(), payload);
    assert_eq!(v["receipt"]["output_hash"], r.sha256.to_string());
    assert_eq!(v["receipt"]["input_hash"], r.sha256.to_string());
}
