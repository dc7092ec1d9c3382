//! `/healthz` tells the truth: ready only while the node answers, the event stream is up and the
//! follower keeps up; `/livez` stays alive through a node outage (restarting the worker would not
//! bring the node back).

mod worker_support;

use std::time::Duration;

use ain_sre::daemon::{self, DaemonConfig};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::sandbox::any::{TierConfig, Tiers};
use worker_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_not_ready_while_the_node_is_down_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "health", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&dev.rpc_url(), &key, "health").await;
    let mut c = DaemonConfig::new(
        &dev.rpc_url(),
        &dev.events_url(),
        vec!["health".into()],
        dir.path().to_path_buf(),
    );
    c.grace = Duration::from_secs(2);
    c.follower_poll = Duration::from_millis(200);
    c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let tiers = std::sync::Arc::new(Tiers::start(TierConfig::default()).await);
    let w = daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        tiers,
    )
    .await
    .expect("worker starts");
    let base = format!("http://{}", w.metrics_addr.unwrap());
    let http = reqwest::Client::new();
    let get = async |path: &str| {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        let code = r.status().as_u16();
        (code, r.json::<serde_json::Value>().await.unwrap())
    };
    let ready = eventually(Duration::from_secs(10), async || {
        get("/healthz").await.0 == 200
    })
    .await;
    assert!(ready, "{}", get("/healthz").await.1);
    let (_, body) = get("/readyz").await;
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["status"], "ok");

    // The node goes away: not ready, with the reasons; still alive.
    dev.shutdown().await;
    let down = eventually(Duration::from_secs(15), async || {
        let (code, body) = get("/healthz").await;
        code == 503
            && body["not_ready"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|x| x.as_str().unwrap().contains("the node does not answer"))
                    && r.iter()
                        .any(|x| x.as_str().unwrap().contains("event stream"))
            })
    })
    .await;
    assert!(down, "{}", get("/healthz").await.1);
    assert_eq!(get("/healthz").await.1["status"], "not_ready");
    let (code, body) = get("/livez").await;
    assert_eq!((code, &body["alive"]), (200, &serde_json::json!(true)));
    w.stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), w.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_before_its_node_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (rpc_port, events_port) = (free_port(), free_port());
    let rpc = format!("http://127.0.0.1:{rpc_port}/json-rpc");
    let events = format!("ws://127.0.0.1:{events_port}/");
    let key = PrivateKey::generate();
    let mut c = DaemonConfig::new(&rpc, &events, vec!["late".into()], dir.path().to_path_buf());
    c.grace = Duration::from_secs(2);
    c.follower_poll = Duration::from_millis(200);
    let tiers = std::sync::Arc::new(Tiers::start(TierConfig::default()).await);
    let secret = key.secret_bytes();
    let starting = tokio::spawn(async move {
        daemon::start(c, PrivateKey::from_bytes(&secret).unwrap(), tiers).await
    });
    // The node comes up 3 s later (a worker started first by systemd or Kubernetes).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !starting.is_finished(),
        "start-up gave up instead of waiting"
    );
    let dev = chain(rpc_port, events_port, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "late", "echo", ECHO_WAT.as_bytes()).await;
    register(&dev.rpc_url(), &key, "late").await;
    let w = tokio::time::timeout(Duration::from_secs(40), starting)
        .await
        .expect("start-up noticed the node within its backoff")
        .unwrap()
        .expect("the worker starts once the node answers");
    let caller = ain_sre::client::ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    let (_, _, resp) = call_wait(&caller, "late", "echo", "hi").await;
    assert_eq!(resp["output"], "hi");
    w.stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), w.wait()).await;
    dev.shutdown().await;
}
