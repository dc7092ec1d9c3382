//! Egress through the built-in chain: a python3 function deployed with an allow-list calls a
//! local HTTP API through a worker whose operator list opens loopback; the signed receipt
//! carries the egress summary, and a worker whose operator says `egress = "deny"` leaves the call
//! to one that offers egress. Needs root for the process tier (strict mode fails otherwise).

mod common;
mod worker_support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use ain_sre::client::{ChainClient, Deployment};
use ain_sre::daemon::{self, DaemonConfig, DaemonHandle};
use ain_sre::egress::{EgressPolicy, EgressSpec, OperatorEgress};
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::sandbox::Tier;
use ain_sre::sandbox::any::{TierConfig, Tiers};
use ain_sre::sandbox::process::ProcessConfig;
use worker_support::*;

/// The API key the test stores as a secret.
const SECRET: &str = "sk-test-4242-very-secret";

/// A loopback API answering with the `Idempotency-Key` it got and whether the bearer token was
/// the secret (never the token itself).
fn api() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut b) {
                got.extend_from_slice(&b[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&got).into_owned();
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Idempotency-Key: "))
                .unwrap_or("none")
                .to_owned();
            let authorized = head.contains(&format!("Authorization: Bearer {SECRET}\r\n"));
            let key = format!("{key} authorized={authorized}");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{key}",
                key.len()
            );
        }
    });
    port
}

async fn start(
    dev: &ain_sre::ledger::devnet::DevnetHandle,
    key: &PrivateKey,
    dir: &std::path::Path,
    tiers: Arc<Tiers>,
    egress: OperatorEgress,
) -> DaemonHandle {
    let mut c = DaemonConfig::new(
        &dev.rpc_url(),
        &dev.events_url(),
        vec!["eg".into()],
        dir.to_path_buf(),
    );
    c.grace = Duration::from_secs(5);
    c.follower_poll = Duration::from_millis(200);
    c.scheduler.egress = Arc::new(egress);
    daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        tiers,
    )
    .await
    .expect("worker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_with_an_allow_list_reaches_a_local_api_and_the_receipt_says_so() {
    let test = "worker_egress";
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail(test, "the process tier needs root");
        return;
    }
    let tiers = Arc::new(
        Tiers::start(TierConfig {
            process: ProcessConfig {
                jail_exe: Some(
                    std::path::Path::new(env!("CARGO_BIN_EXE_ain-sre"))
                        .with_file_name("ain-sre-jail"),
                ),
                pool_size: 1,
                cgroup_parent: "ain-sre-test-egress-e2e".into(),
                uid_base: 2_960_000,
                uid_slots: 100,
                root_dir: "/run/ain-sre-test/egress-e2e".into(),
                ..ProcessConfig::default()
            },
            disabled: vec![Tier::Container],
            ..TierConfig::default()
        })
        .await,
    );
    if let Err(e) = tiers.get(Tier::Process) {
        common::skip_or_fail(test, &format!("process tier unavailable: {e}"));
        return;
    }
    let port = api();
    let dest = format!("127.0.0.1:{port}");
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    let policy = EgressPolicy::parse(std::slice::from_ref(&dest), Default::default()).unwrap();
    admin
        .deploy(&Deployment {
            egress: EgressSpec::of(&policy),
            ..Deployment::new(
                "eg",
                "quote",
                "python3",
                include_bytes!("../examples/functions/python3-api/main.py").to_vec(),
            )
        })
        .await
        .expect("deploy");
    let entry = ain_sre::scheduler::capable::entry(
        &*tiers,
        &ain_sre::config::runtimes::RuntimeCatalog::shipped().unwrap(),
        &ain_sre::config::profiles::ProfileCatalog::shipped().unwrap(),
        8,
        true,
    );
    assert!(entry.egress, "a worker with the process tier offers egress");
    let (k_open, k_deny) = (PrivateKey::generate(), PrivateKey::generate());
    // The denying worker's entry says it offers no egress (as `run --register` writes it), so
    // assignment ranks only the open one for the egress function.
    let mut no_egress = entry.clone();
    no_egress.egress = false;
    for (k, entry) in [(&k_open, &entry), (&k_deny, &no_egress)] {
        admin.approve_worker("eg", &k.address()).await.unwrap();
        ChainClient::connect(
            &dev.rpc_url(),
            PrivateKey::from_bytes(&k.secret_bytes()).unwrap(),
        )
        .await
        .unwrap()
        .register("eg", entry)
        .await
        .unwrap();
    }
    // The API key, encrypted to both registered workers (and the admin).
    let app = ain_sre::onchain::AppPaths::new("eg").unwrap();
    let holders = ain_sre::secrets::client::set(
        &admin,
        &app,
        "quote",
        &[("API_KEY".to_owned(), SECRET.to_owned())],
    )
    .await
    .unwrap();
    assert_eq!(holders.len(), 3, "two workers and the admin");
    let listed = ain_sre::secrets::client::list(&admin, &app, "quote")
        .await
        .unwrap();
    assert_eq!(listed["API_KEY"].len(), 3);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // One worker offers no egress at all; the other opens loopback for the local API.
    let w_deny = start(
        &dev,
        &k_deny,
        d2.path(),
        tiers.clone(),
        OperatorEgress::deny_all(),
    )
    .await;
    let loopback = OperatorEgress::allowing(&["127.0.0.1/32".into()]).unwrap();
    let w_open = start(&dev, &k_open, d1.path(), tiers.clone(), loopback).await;
    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    let input = format!("{{\"url\": \"http://{dest}/quote\"}}");
    let (id, _, resp) = call_wait(&caller, "eg", "quote", &input).await;
    assert_eq!(resp["status"], "ok", "{resp}");
    assert_eq!(
        resp["receipt"]["worker"],
        k_open.address().to_string(),
        "{resp}"
    );
    let out: serde_json::Value = serde_json::from_str(resp["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        out["body"],
        format!("eg/quote/{id} authorized=true"),
        "{resp}"
    );
    // The secret reached the function and went nowhere public.
    assert!(!resp.to_string().contains(SECRET), "{resp}");
    let state = ain_sre::node::get_value(admin.rpc(), "/apps/eg/sre")
        .await
        .unwrap();
    assert!(
        !state.to_string().contains(SECRET),
        "the secret is on chain in clear"
    );
    assert!(
        state.to_string().contains("ephemPublicKey"),
        "ciphertexts are stored"
    );
    let e = &resp["receipt"]["egress"];
    assert_eq!(e["connections"], 1, "{resp}");
    assert_eq!(e["refused"], 0, "{resp}");
    assert_eq!(e["hosts"], dest, "{resp}");
    assert!(e["bytes_in"].as_u64().unwrap() > 0, "{resp}");
    // Another function of the same app, run by the same worker, sees none of them.
    admin
        .deploy(&Deployment::new(
            "eg",
            "peek",
            "python3",
            b"import os\nprint(' '.join(sorted(os.environ)))\n".to_vec(),
        ))
        .await
        .expect("deploy");
    let (_, _, resp) = call_wait(&caller, "eg", "peek", "").await;
    assert_eq!(resp["status"], "ok", "{resp}");
    let names = resp["output"].as_str().unwrap();
    assert!(
        names.contains("SRE_CALL_ID") && !names.contains("SRE_SECRET"),
        "{names}"
    );
    w_open.shutdown().await.unwrap();
    w_deny.shutdown().await.unwrap();
    tiers.shutdown().await;
}
