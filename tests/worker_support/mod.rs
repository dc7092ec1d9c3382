//! Helpers for the worker's integration tests: a built-in chain, an admin, workers, calls, and a
//! scan of the chain's blocks for response writes.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ain_sre::client::{ChainClient, Deployment, wait_response};
use ain_sre::config::Catalogs;
use ain_sre::daemon::{self, DaemonConfig, DaemonHandle};
use ain_sre::ledger::block::Block;
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use ain_sre::ledger::devnet::{Devnet, DevnetConfig, DevnetHandle};
use ain_sre::ledger::rpc::RpcClient;
use ain_sre::onchain::{Callers, WorkerEntry};
use ain_sre::sandbox::any::{TierConfig, Tiers};
use serde_json::Value;

/// The echo example.
pub const ECHO_WAT: &str = include_str!("../../examples/functions/echo.wat");

/// A free local port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts a chain on the given ports (0 = any) with an optional data directory.
pub async fn chain(rpc_port: u16, events_port: u16, data: Option<&Path>) -> DevnetHandle {
    Devnet::start(DevnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], rpc_port)),
        events_addr: SocketAddr::from(([127, 0, 0, 1], events_port)),
        data_dir: data.map(Path::to_path_buf),
        block_interval: Duration::from_millis(50),
        ..DevnetConfig::default()
    })
    .await
    .expect("devnet starts")
}

/// The chain's admin (the well-known genesis key).
pub async fn admin(url: &str) -> ChainClient {
    ChainClient::connect(url, PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY).unwrap())
        .await
        .expect("admin connects")
}

/// Deploys `code` as `function` in `app`.
pub async fn deploy(
    admin: &ChainClient,
    app: &str,
    function: &str,
    code: &[u8],
) -> ain_sre::client::Deployed {
    deploy_with(admin, app, function, code, Callers::Any, None).await
}

/// Deploys with callers and finality.
pub async fn deploy_with(
    admin: &ChainClient,
    app: &str,
    function: &str,
    code: &[u8],
    callers: Callers,
    finality: Option<ain_sre::onchain::Finality>,
) -> ain_sre::client::Deployed {
    admin
        .deploy(&Deployment {
            callers,
            finality,
            ..Deployment::new(app, function, "wasm", code.to_vec())
        })
        .await
        .expect("deploy")
}

/// Approves `key` as a worker of `app` (with the admin key) and registers it.
pub async fn register(url: &str, key: &PrivateKey, app: &str) {
    admin(url)
        .await
        .approve_worker(app, &key.address())
        .await
        .expect("approve");
    let c = ChainClient::connect(url, PrivateKey::from_bytes(&key.secret_bytes()).unwrap())
        .await
        .unwrap();
    let entry = WorkerEntry {
        runtimes: [("wasm".to_owned(), true)].into_iter().collect(),
        version: "test".into(),
        capacity: 8,
        profiles: Default::default(),
        egress: true,
    };
    c.register(app, &entry).await.expect("register");
}

/// Starts an in-process worker serving `apps`.
pub async fn worker(
    dev: &DevnetHandle,
    apps: &[&str],
    key: &PrivateKey,
    dir: &Path,
) -> DaemonHandle {
    worker_at(&dev.rpc_url(), &dev.events_url(), apps, key, dir).await
}

/// Starts an in-process worker against explicit endpoints, with the shipped runtimes and
/// profiles.
pub async fn worker_at(
    rpc: &str,
    events: &str,
    apps: &[&str],
    key: &PrivateKey,
    dir: &Path,
) -> DaemonHandle {
    worker_serving(rpc, events, apps, key, dir, Catalogs::shipped()).await
}

/// Starts an in-process worker whose scheduler and tiers serve `catalogs` (as `ain-sre run`
/// wires them from `runtimes_dir` and `profiles_dir`).
pub async fn worker_serving(
    rpc: &str,
    events: &str,
    apps: &[&str],
    key: &PrivateKey,
    dir: &Path,
    catalogs: Catalogs,
) -> DaemonHandle {
    let mut c = DaemonConfig::new(
        rpc,
        events,
        apps.iter().map(|a| a.to_string()).collect(),
        dir.to_path_buf(),
    );
    c.grace = Duration::from_secs(5);
    c.follower_poll = Duration::from_millis(200);
    let tiers = Arc::new(Tiers::start(TierConfig::default().serving(&catalogs.runtimes)).await);
    c.catalogs = catalogs;
    daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        tiers,
    )
    .await
    .expect("worker starts")
}

/// Starts an in-process worker with its own sandboxes (which must serve the shipped runtimes).
pub async fn worker_with_tiers(
    dev: &DevnetHandle,
    apps: &[&str],
    key: &PrivateKey,
    dir: &Path,
    tiers: Arc<Tiers>,
) -> DaemonHandle {
    let mut c = DaemonConfig::new(
        &dev.rpc_url(),
        &dev.events_url(),
        apps.iter().map(|a| a.to_string()).collect(),
        dir.to_path_buf(),
    );
    c.grace = Duration::from_secs(5);
    c.follower_poll = Duration::from_millis(200);
    daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        tiers,
    )
    .await
    .expect("worker starts")
}

/// Calls and waits for the response.
pub async fn call_wait(
    client: &ChainClient,
    app: &str,
    function: &str,
    input: &str,
) -> (String, String, Value) {
    let (id, tx) = client.call(app, function, input).await.expect("call");
    let resp = wait_response(client.rpc(), app, function, &id, Duration::from_secs(30))
        .await
        .expect("response");
    (id, tx.to_string(), resp)
}

/// Successful and reverted writes per response path, over every finalized block.
pub async fn response_writes(url: &str) -> HashMap<String, (u32, u32)> {
    let rpc = RpcClient::new(url).unwrap();
    let last = rpc.get_last_block_number().await.unwrap().unwrap_or(0);
    let blocks: Vec<Block> = rpc.get_block_list(0, last + 1).await.unwrap();
    let mut out: HashMap<String, (u32, u32)> = HashMap::new();
    for b in &blocks {
        for (i, tx) in b.transactions.iter().enumerate() {
            let ok = b.tx_succeeded(i);
            for op in tx.tx_body.operation.ops() {
                if op.path.ends_with("/response")
                    && op.op_type == ain_sre::ledger::tx::OpType::SetValue
                {
                    let e = out.entry(op.path.clone()).or_default();
                    if ok {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
            }
        }
    }
    out
}

/// Waits until `f` holds or `timeout` passes.
pub async fn eventually<F: AsyncFnMut() -> bool>(timeout: Duration, mut f: F) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
