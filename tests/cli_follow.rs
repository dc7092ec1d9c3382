//! `ain-sre follow` against a node serving the real captured chain (fixtures): every block is
//! verified and printed; a tampered block stops it with exit 1 naming the block and the check.

mod common;

use std::process::Command;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

const GENESIS: &str = "0x596e941f1e662150244ec8b6390a6b58fa0bbc5a39d9b0a7d430c1f405d2c1bc";

/// A minimal node: the block methods the follower uses, answering from `blocks`.
async fn serve(blocks: Vec<Value>) -> String {
    async fn rpc(State(blocks): State<Arc<Vec<Value>>>, Json(req): Json<Value>) -> Json<Value> {
        let p = &req["params"];
        let result = match req["method"].as_str().unwrap_or("") {
            "net_getChainId" => json!(0),
            "ain_getLastBlockNumber" => json!(blocks.len() - 1),
            "ain_getBlockByNumber" => blocks
                .get(p["number"].as_u64().unwrap_or(u64::MAX) as usize)
                .cloned()
                .unwrap_or(Value::Null),
            "ain_getBlockList" => {
                let from = p["from"].as_u64().unwrap_or(0) as usize;
                let to = (p["to"].as_u64().unwrap_or(0) as usize)
                    .min(blocks.len())
                    .min(from + 20);
                json!(
                    blocks
                        .get(from..to)
                        .map(<[Value]>::to_vec)
                        .unwrap_or_default()
                )
            }
            other => {
                return Json(
                    json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": format!("no {other}")}}),
                );
            }
        };
        Json(
            json!({"jsonrpc": "2.0", "id": req["id"], "result": {"result": result, "protoVer": "1.6.0"}}),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/json-rpc", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/json-rpc", axum::routing::post(rpc))
        .with_state(Arc::new(blocks));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn fixture_blocks(test: &str) -> Option<Vec<Value>> {
    let dir = common::fixtures(test)?;
    Some(
        serde_json::from_str(&std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap())
            .unwrap(),
    )
}

async fn follow(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ain-sre"))
            .arg("follow")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_and_verifies_the_real_chain() {
    let Some(blocks) = fixture_blocks("follows_and_verifies_the_real_chain") else {
        return;
    };
    let url = serve(blocks).await;
    let out = follow(vec![
        "--node".into(),
        url.clone(),
        "--to".into(),
        "45".into(),
        "--genesis-hash".into(),
        GENESIS.into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} stderr: {stderr}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 46, "blocks 0..=45: {stdout}");
    assert!(
        lines[0].starts_with("block        0  0x596e941f"),
        "{}",
        lines[0]
    );
    assert!(
        lines[14].contains("3 txs"),
        "block 14 holds 3 txs: {}",
        lines[14]
    );
    // Block 46 was verified too: it is what proves block 45.
    assert!(
        stderr.contains("verified 47 blocks") && stderr.contains("signatures/s"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal colours when stderr is not a terminal"
    );

    // From a checkpoint, as JSON lines.
    let out = follow(vec![
        "--node".into(),
        url.clone(),
        "--from".into(),
        "10".into(),
        "--to".into(),
        "12".into(),
        "--genesis-hash".into(),
        GENESIS.into(),
        "--json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let numbers: Vec<u64> = objs.iter().filter_map(|o| o["number"].as_u64()).collect();
    assert_eq!(numbers, [10, 11, 12]);
    assert!(
        objs.last().unwrap()["summary"]["blocks_verified"]
            .as_u64()
            .unwrap()
            >= 3
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("trusting block 9"));

    // `--from 0` is genesis.
    let out = follow(vec![
        "--node".into(),
        url,
        "--from".into(),
        "0".into(),
        "--to".into(),
        "1".into(),
        "--genesis-hash".into(),
        GENESIS.into(),
        "--json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let numbers: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).unwrap()["number"].as_u64())
        .collect();
    assert_eq!(numbers, [0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_block_stops_with_the_failed_check() {
    let Some(mut blocks) = fixture_blocks("a_tampered_block_stops_with_the_failed_check") else {
        return;
    };
    // Change what the first tx of block 14 wrote, without re-sealing the block.
    blocks[14]["transactions"][0]["tx_body"]["operation"]["op_list"][0]["value"]["status"] =
        json!("forged");
    let url = serve(blocks).await;
    let out = follow(vec![
        "--node".into(),
        url,
        "--genesis-hash".into(),
        GENESIS.into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("INVALID block 14: check `transactions_hash`"),
        "{stderr}"
    );
    // Block 13 is proven only by block 14's proposal and votes, so 0..=12 are all that commit.
    assert_eq!(
        stdout.lines().count(),
        13,
        "blocks 0..=12 are committed before the halt"
    );

    // A wrong genesis pin is refused before anything is printed.
    let url = serve(fixture_blocks("a_tampered_block_stops_with_the_failed_check").unwrap()).await;
    let out = follow(vec![
        "--node".into(),
        url,
        "--genesis-hash".into(),
        format!("0x{}", "ab".repeat(32)),
    ])
    .await;
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_of_another_chain_is_refused_with_both_genesis_hashes() {
    use ain_sre::ledger::devnet::{Devnet, DevnetConfig};
    let start = || {
        Devnet::start(DevnetConfig {
            empty_blocks: true,
            block_interval: std::time::Duration::from_millis(20),
            ..DevnetConfig::default()
        })
    };
    let (a, b) = (start().await.unwrap(), start().await.unwrap());
    assert_ne!(
        a.genesis_hash(),
        b.genesis_hash(),
        "each new chain has its own genesis"
    );
    let dir = tempfile::tempdir().unwrap();
    let cursor = dir.path().join("cursor").display().to_string();
    let args = |url: String| {
        vec![
            "--node".into(),
            url,
            "--cursor".into(),
            cursor.clone(),
            "--to".into(),
            "2".into(),
        ]
    };
    // Wait for block 3, which proves block 2.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let out = follow(args(a.rpc_url())).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = follow(args(b.rpc_url())).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "belongs to chain {}; the node serves {}",
            a.genesis_hash(),
            b.genesis_hash()
        )),
        "{err}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
