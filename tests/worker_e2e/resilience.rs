//! Several workers and failures: each call answered once by two workers, a chain and channel
//! outage mid-burst, a worker without the tier leaving the call, and a reset chain refused before
//! anything is sent.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_answer_each_call_once() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "two", "echo", ECHO_WAT.as_bytes()).await;
    let (k1, k2) = (PrivateKey::generate(), PrivateKey::generate());
    register(&dev.rpc_url(), &k1, "two").await;
    register(&dev.rpc_url(), &k2, "two").await;
    let w1 = worker(&dev, &["two"], &k1, d1.path()).await;
    let w2 = worker(&dev, &["two"], &k2, d2.path()).await;
    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    let n = 40;
    let results: Vec<_> = futures_util::stream::iter(0..n)
        .map(|i| {
            let c = caller.clone();
            async move { call_wait(&c, "two", "echo", &format!("call {i}")).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut by_worker = std::collections::HashMap::new();
    for (_, _, resp) in &results {
        assert_eq!(resp["status"], "ok");
        *by_worker
            .entry(resp["receipt"]["worker"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    let url = dev.rpc_url();
    let ok = eventually(Duration::from_secs(20), async || {
        let w = response_writes(&url).await;
        w.len() == n && w.values().all(|(ok, _)| *ok == 1)
    })
    .await;
    assert!(
        ok,
        "every call has exactly one successful response write: {:?}",
        response_writes(&url).await
    );
    eprintln!("answers by worker: {by_worker:?}");
    w1.shutdown().await.unwrap();
    w2.shutdown().await.unwrap();
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_and_channel_outage_mid_burst_loses_nothing() {
    let (wdir, cdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (rp, ep) = (free_port(), free_port());
    let dev = chain(rp, ep, Some(cdir.path())).await;
    let (rpc, events) = (dev.rpc_url(), dev.events_url());
    let admin = admin(&rpc).await;
    deploy(&admin, "out", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&rpc, &key, "out").await;
    let w = worker_at(&rpc, &events, &["out"], &key, wdir.path()).await;
    let caller = ChainClient::connect(&rpc, PrivateKey::generate())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            caller
                .call("out", "echo", &format!("a{i}"))
                .await
                .unwrap()
                .0,
        );
    }
    // Chain down (its WebSocket channel with it), then up again on the same ports and data.
    dev.shutdown().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dev = chain(rp, ep, Some(cdir.path())).await;
    for i in 0..30 {
        ids.push(
            caller
                .call("out", "echo", &format!("b{i}"))
                .await
                .unwrap()
                .0,
        );
    }
    for id in &ids {
        let r = ain_sre::client::wait_response(
            caller.rpc(),
            "out",
            "echo",
            id,
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("call {id} unanswered after the outage: {e}"));
        assert_eq!(r["status"], "ok");
    }
    w.shutdown().await.unwrap();
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_tier_leaves_the_call_to_one_with_it() {
    use ain_sre::config::profiles::ProfileCatalog;
    use ain_sre::config::runtimes::RuntimeCatalog;
    use ain_sre::sandbox::Tier;
    use ain_sre::sandbox::any::{TierConfig, Tiers};
    use ain_sre::sandbox::process::ProcessConfig;
    use ain_sre::scheduler::capable;
    use std::sync::Arc;

    let test = "a_worker_without_the_tier_leaves_the_call_to_one_with_it";
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail(test, "the process tier needs root");
        return;
    }
    // One worker with the process tier, one with WASM only (Docker kept out of both, so the
    // container tier cannot serve python3 either).
    let full = Arc::new(
        Tiers::start(TierConfig {
            process: ProcessConfig {
                jail_exe: Some(
                    std::path::Path::new(env!("CARGO_BIN_EXE_ain-sre"))
                        .with_file_name("ain-sre-jail"),
                ),
                pool_size: 1,
                cgroup_parent: "ain-sre-test-caps".into(),
                uid_base: 2_950_000,
                uid_slots: 100,
                root_dir: "/run/ain-sre-test/caps".into(),
                ..ProcessConfig::default()
            },
            disabled: vec![Tier::Container],
            ..TierConfig::default()
        })
        .await,
    );
    if let Err(e) = full.get(Tier::Process) {
        common::skip_or_fail(test, &format!("process tier unavailable: {e}"));
        return;
    }
    let wasm_only = Arc::new(
        Tiers::start(TierConfig {
            disabled: vec![Tier::Process, Tier::Container],
            ..TierConfig::default()
        })
        .await,
    );
    let (runtimes, profiles) = (
        RuntimeCatalog::shipped().unwrap(),
        ProfileCatalog::shipped().unwrap(),
    );
    // Each registry entry lists only what its worker can run now.
    let (e_full, e_wasm) = (
        capable::entry(&*full, &runtimes, &profiles, 8, true),
        capable::entry(&*wasm_only, &runtimes, &profiles, 8, true),
    );
    // Egress needs the proxy of the process or container tier: a WASM-only worker offers none.
    assert!(e_full.egress && !e_wasm.egress, "{e_full:?} {e_wasm:?}");
    assert_eq!(e_full.runtimes.get("python3"), Some(&true), "{e_full:?}");
    assert!(!e_wasm.runtimes.contains_key("python3"), "{e_wasm:?}");
    assert_eq!(e_wasm.runtimes.get("wasm"), Some(&true), "{e_wasm:?}");

    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dev = chain(0, 0, None).await;
    let admin = admin(&dev.rpc_url()).await;
    deploy(&admin, "caps", "echo", ECHO_WAT.as_bytes()).await;
    let app = AppPaths::new("caps").unwrap();
    let py = include_str!("../../examples/functions/python3/main.py");
    let spec = |runtime: &str, code: &str, profile: Option<&str>| {
        let mut s = json!({"runtime": runtime, "code_hash": sha(code.as_bytes()), "size": code.len(), "code": code});
        if let Some(p) = profile {
            s["profile"] = json!(p);
        }
        s
    };
    admin
        .send(vec![
            SimpleOp::set_value(app.function("hello"), spec("python3", py, None)),
            // A profile neither worker accepts.
            SimpleOp::set_value(app.function("huge"), spec("wasm", ECHO_WAT, Some("huge"))),
        ])
        .await
        .unwrap();
    let (k_full, k_wasm) = (PrivateKey::generate(), PrivateKey::generate());
    for (k, e) in [(&k_full, &e_full), (&k_wasm, &e_wasm)] {
        // The app is closed by default: the admin approves both workers first.
        admin.approve_worker("caps", &k.address()).await.unwrap();
        ChainClient::connect(
            &dev.rpc_url(),
            PrivateKey::from_bytes(&k.secret_bytes()).unwrap(),
        )
        .await
        .unwrap()
        .register("caps", e)
        .await
        .unwrap();
    }
    let w_wasm = worker_with_tiers(&dev, &["caps"], &k_wasm, d2.path(), wasm_only.clone()).await;
    let w_full = worker_with_tiers(&dev, &["caps"], &k_full, d1.path(), full.clone()).await;
    let caller = ChainClient::connect(&dev.rpc_url(), PrivateKey::generate())
        .await
        .unwrap();
    for i in 0..3 {
        let (_, _, resp) =
            call_wait(&caller, "caps", "hello", &format!("{{\"name\":\"n{i}\"}}")).await;
        assert_eq!(resp["status"], "ok", "{resp}");
        assert_eq!(
            resp["receipt"]["worker"],
            k_full.address().to_string(),
            "{resp}"
        );
        assert_eq!(resp["receipt"]["sandbox"], "process", "{resp}");
    }
    // What nobody serves is rejected once, by the lowest registered address.
    let (_, _, resp) = call_wait(&caller, "caps", "huge", "x").await;
    assert_eq!(resp["status"], "rejected", "{resp}");
    assert_eq!(
        resp["error"], "no registered worker serves wasm with profile `huge`",
        "{resp}"
    );
    let lowest = k_full.address().min(k_wasm.address());
    assert_eq!(resp["receipt"]["worker"], lowest.to_string(), "{resp}");
    // Exactly one response write per call; the worker that cannot run it never tried.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = response_writes(&dev.rpc_url()).await;
    assert_eq!(writes.len(), 4, "{writes:?}");
    assert!(writes.values().all(|w| *w == (1, 0)), "{writes:?}");
    w_wasm.shutdown().await.unwrap();
    w_full.shutdown().await.unwrap();
    full.shutdown().await;
    // The test's cgroup parent: empty once the tier is shut down; removed.
    for c in ["memory", "pids", "cpu", "cpuacct", "freezer", ""] {
        let _ = std::fs::remove_dir(
            std::path::Path::new("/sys/fs/cgroup")
                .join(c)
                .join("ain-sre-test-caps"),
        );
    }
    dev.shutdown().await;
}

/// Plants a signed response for `app/echo/<id>` (a request that is not on chain) in the journal
/// of `dir`, as a worker that died before confirming it would have left it.
async fn plant_orphan(dir: &std::path::Path, key: &PrivateKey, app: &str, id: &str) {
    use ain_sre::journal::{Journal, SignedResponse};
    use ain_sre::ledger::tx::{NONCE_UNORDERED, Operation, TxBody};
    let path = AppPaths::new(app).unwrap().response("echo", id);
    let op = SimpleOp::set_value(path, json!({"status": "ok", "output": "orphan"}));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let tx = TxBody::new(Operation::Simple(op), NONCE_UNORDERED, now)
        .sign(key, 0)
        .unwrap();
    let j = Journal::open(&dir.join("journal.redb")).unwrap();
    let k = format!("{app}/echo/{id}");
    j.observe(&k, &format!("{}", ain_sre::ledger::crypto::Hash([9; 32])))
        .unwrap();
    j.record_signed(
        &k,
        SignedResponse {
            tx_body: serde_json::to_value(&tx.tx_body).unwrap(),
            signature: tx.signature.clone(),
            hash: tx.hash.to_string(),
        },
    )
    .await
    .unwrap();
    j.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_chain_is_refused_and_orphan_responses_are_never_sent() {
    use ain_sre::daemon::{DaemonConfig, DaemonError};
    use ain_sre::sandbox::any::{TierConfig, Tiers};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let (rp, ep) = (free_port(), free_port());
    let dev = chain(rp, ep, None).await;
    let (rpc, events) = (dev.rpc_url(), dev.events_url());
    let first = dev.genesis_hash();
    let admin = admin(&rpc).await;
    deploy(&admin, "reset", "echo", ECHO_WAT.as_bytes()).await;
    let key = PrivateKey::generate();
    register(&rpc, &key, "reset").await;
    let w = worker_at(&rpc, &events, &["reset"], &key, dir.path()).await;
    let caller = ChainClient::connect(&rpc, PrivateKey::generate())
        .await
        .unwrap();
    let (_, _, resp) = call_wait(&caller, "reset", "echo", "before").await;
    assert_eq!(resp["status"], "ok");
    w.shutdown().await.unwrap();

    // Recovery on the same chain: a journaled response whose request is not on chain is dropped.
    plant_orphan(dir.path(), &key, "reset", "ghost").await;
    let w = worker_at(&rpc, &events, &["reset"], &key, dir.path()).await;
    let (_, _, resp) = call_wait(&caller, "reset", "echo", "after restart").await;
    assert_eq!(resp["status"], "ok");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    w.shutdown().await.unwrap();
    let writes = response_writes(&rpc).await;
    assert!(
        !writes.keys().any(|p| p.contains("/ghost/")),
        "an orphan response was sent: {writes:?}"
    );
    let j = ain_sre::journal::Journal::open(&dir.path().join("journal.redb")).unwrap();
    assert_eq!(
        j.get("reset/echo/ghost").unwrap().unwrap().state,
        ain_sre::journal::CallState::NoRequest
    );
    j.close().await.unwrap();

    // The chain is reset (not persistent: a new chain on the same ports, set up again).
    plant_orphan(dir.path(), &key, "reset", "ghost2").await;
    dev.shutdown().await;
    let dev = chain(rp, ep, None).await;
    let second = dev.genesis_hash();
    assert_ne!(first, second, "a new chain has a new genesis");
    let admin = self::admin(&rpc).await;
    deploy(&admin, "reset", "echo", ECHO_WAT.as_bytes()).await;
    register(&rpc, &key, "reset").await;
    let mut c = DaemonConfig::new(&rpc, &events, vec!["reset".into()], dir.path().into());
    c.grace = Duration::from_secs(5);
    let tiers = Arc::new(Tiers::start(TierConfig::default()).await);
    let started = ain_sre::daemon::start(
        c,
        PrivateKey::from_bytes(&key.secret_bytes()).unwrap(),
        tiers,
    )
    .await;
    let err = match started {
        Err(e @ DaemonError::OtherChain { .. }) => e.to_string(),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(h) => {
            let _ = h.shutdown().await;
            panic!("a worker started on a reset chain with the old data dir")
        }
    };
    assert!(
        err.contains(&format!(
            "belongs to chain {first}; the node serves {second}"
        )) && err.contains("use a new --data-dir or reset the journal"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = response_writes(&rpc).await;
    assert!(
        writes.is_empty(),
        "nothing is posted to the new chain: {writes:?}"
    );
    dev.shutdown().await;
}
