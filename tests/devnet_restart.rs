//! Persistence across kill -9: the `ain-sre devnet` binary is SIGKILLed during a stream of
//! writes; after a restart on the same data directory every acknowledged tx is readable and in a
//! final block, the chain continues, and the follower verifies it across the restart.

mod devnet_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ain_sre::ledger::crypto::Hash;
use ain_sre::ledger::tx::SimpleOp;
use devnet_support::{Client, SK, SK2, addr, create_app, follow, signed};
use serde_json::json;
use tokio::sync::Mutex;

struct Node {
    child: Child,
    rpc: String,
    genesis: Hash,
}

fn spawn(data: &std::path::Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "devnet",
            "--port",
            "0",
            "--events-port",
            "0",
            "--block-interval-ms",
            "20",
            "--data",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut rpc = String::new();
    let mut genesis = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("json-rpc: ") {
            rpc = url.trim().to_owned();
        }
        if let Some(h) = line.strip_prefix("genesis:") {
            genesis = Some(h.trim().parse().unwrap());
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Node {
        child,
        rpc,
        genesis: genesis.expect("the devnet printed its genesis"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_txs_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = spawn(dir.path());
    let c = Arc::new(Client::new(node.rpc.clone()));
    create_app(&c, SK, "keep").await;
    let rule = SimpleOp::set_rule(
        "/apps/keep/$who/$i",
        json!({".rule": {"write": "auth.addr === $who"}}),
    );
    c.send_ok(signed(SK, rule, -1)).await;
    // Two writers stream txs; every acknowledged one is remembered.
    let acked = Arc::new(Mutex::new(Vec::<(String, String, u64)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (w, sk) in [SK, SK2].into_iter().enumerate() {
        let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let me = addr(sk);
            for i in 0u64.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let path = format!("/apps/keep/{me}/{i}");
                let nonce = if w == 0 { -1 } else { -2 };
                let tx = signed(sk, SimpleOp::set_value(path.clone(), json!(i)), nonce);
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ain_sendSignedTransaction",
                                  "params": {"protoVer": "1.6.0", "tx_body": tx["tx_body"], "signature": tx["signature"]}});
                let Ok(r) = reqwest::Client::new().post(&c.url).json(&body).send().await else { break };
                let Ok(v) = r.json::<serde_json::Value>().await else { break };
                let res = &v["result"]["result"];
                if res["result"]["code"] == 0 {
                    acked.lock().await.push((res["tx_hash"].as_str().unwrap().to_owned(), path, i));
                }
            }
        }));
    }
    while acked.lock().await.len() < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = c
        .result("ain_getLastBlockNumber", json!({}))
        .await
        .as_u64()
        .unwrap();
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 60);

    let mut node2 = spawn(dir.path());
    assert_eq!(node2.genesis, node.genesis, "same chain");
    let c = Client::new(node2.rpc.clone());
    for (hash, path, i) in &acked {
        let info = c.wait_final(hash).await;
        assert_eq!(info["state"], "FINALIZED", "{hash}: {info}");
        assert_eq!(c.get_value(path).await, json!(i), "{path}");
    }
    // The chain continues after the restart, and is one chain from genesis.
    let tx = signed(SK, SimpleOp::set_value("/apps/keep/after", json!(1)), -1);
    let _ = c.send(tx).await;
    let after = c
        .result("ain_getLastBlockNumber", json!({}))
        .await
        .as_u64()
        .unwrap();
    let last = c
        .wait_final(
            c.send(signed(
                SK,
                SimpleOp::set_value(format!("/apps/keep/{}/x", addr(SK)), json!(2)),
                -1,
            ))
            .await["tx_hash"]
                .as_str()
                .unwrap(),
        )
        .await;
    let to = last["number"].as_u64().unwrap();
    assert!(
        to > before && after >= before,
        "before {before}, after {after}, last tx in {to}"
    );
    c.wait_block(to + 1).await;
    let blocks = follow(&node2.rpc, node2.genesis, to).await;
    assert_eq!(blocks.len() as u64, to + 1);
    node2.child.kill().unwrap();
    node2.child.wait().unwrap();
}
