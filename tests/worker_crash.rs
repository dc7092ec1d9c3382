//! Exactly-once under crashes: a burst of 500 calls while the worker (the `ain-sre run` binary)
//! is killed with SIGKILL at random moments and restarted several times. Every call must get
//! exactly one response, and no response tx may be refused on chain (the journal allows none:
//! a signed response is re-submitted byte for byte, never re-signed).

mod worker_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ain_sre::client::ChainClient;
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::node::Node;
use ain_sre::onchain::AppPaths;
use futures_util::StreamExt;
use worker_support::*;

const CALLS: usize = 500;

fn spawn_worker(rpc: &str, events: &str, key_hex: &str, dir: &Path, run: usize) -> Child {
    let log = std::fs::File::create(dir.join(format!("worker-{run}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "run",
            "--node",
            rpc,
            "--events",
            events,
            "--app",
            "crash",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .env("AIN_SRE_PRIVATE_KEY", key_hex)
        .env("AIN_SRE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("worker binary starts")
}

async fn answered(client: &ChainClient, ids: &[String]) -> usize {
    let app = AppPaths::new("crash").unwrap();
    let mut n = 0;
    for chunk in ids.chunks(50) {
        let paths: Vec<String> = chunk.iter().map(|id| app.response("echo", id)).collect();
        if let Ok(v) = client.rpc().get_values(&paths).await {
            n += v.iter().filter(|v| !v.is_null()).count();
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_answered_exactly_once_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let (rpc, events) = (dev.rpc_url(), dev.events_url());
    let admin = admin(&rpc).await;
    deploy(&admin, "crash", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&rpc, &key, "crash").await;
    let key_hex = hex::encode(key.secret_bytes().as_ref());
    let started = Instant::now();

    let caller = ChainClient::connect(&rpc, PrivateKey::generate())
        .await
        .unwrap();
    let c = caller.clone();
    let sender = tokio::spawn(async move {
        futures_util::stream::iter(0..CALLS)
            .map(|i| {
                let c = c.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis((i as u64 % 50) * 2)).await;
                    c.call("crash", "echo", &format!("call {i}"))
                        .await
                        .unwrap()
                        .0
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<String>>()
            .await
    });

    let mut run = 0;
    let mut child = spawn_worker(&rpc, &events, &key_hex, dir.path(), run);
    let mut kills = 0;
    while kills < 6 {
        let wait = 150 + rand::random::<u64>() % 900;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        run += 1;
        child = spawn_worker(&rpc, &events, &key_hex, dir.path(), run);
    }
    let ids = sender.await.unwrap();
    assert_eq!(ids.len(), CALLS);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut done = 0;
    while Instant::now() < deadline {
        done = answered(&caller, &ids).await;
        if done == CALLS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    child.kill().ok();
    child.wait().ok();
    if done != CALLS {
        let log = std::fs::read_to_string(dir.path().join(format!("worker-{run}.log")))
            .unwrap_or_default();
        panic!(
            "{done}/{CALLS} calls answered after {kills} kills; last worker log:\n{}",
            &log[log.len().saturating_sub(4000)..]
        );
    }
    // Every response is in a final block once, and none was refused.
    let ok = eventually(Duration::from_secs(20), async || {
        let w = response_writes(&rpc).await;
        w.len() == CALLS && w.values().all(|(ok, _)| *ok == 1)
    })
    .await;
    let writes = response_writes(&rpc).await;
    assert!(ok, "each call has exactly one successful response write");
    let refused: u32 = writes.values().map(|(_, bad)| bad).sum();
    assert_eq!(refused, 0, "no response tx refused on chain");
    eprintln!(
        "{CALLS} calls, {kills} kills, all answered exactly once in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    dev.shutdown().await;
}
