//! How a fleet shares calls: each of 300 calls run about once, weights, and no rank for a worker
//! without the call's tier.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_run_each_of_300_calls_about_once() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleet3", 2000, 1000).await;
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    let mut ws = Vec::new();
    for (k, d) in keys.iter().zip(&dirs) {
        enroll(&url, k, "fleet3", 8).await;
        ws.push(start(&dev, "fleet3", k, d.path(), tiers.clone()).await);
    }
    all_live(&url, "fleet3", &keys.iter().collect::<Vec<_>>()).await;
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let out = burst(&caller, "fleet3", 300, 16).await;
    assert_eq!(out.len(), 300);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refs: Vec<&DaemonHandle> = ws.iter().collect();
    let execs = executions(&refs);
    let per_call = execs as f64 / 300.0;
    eprintln!(
        "300 calls, 3 workers: {execs} executions ({per_call:.3} per call), {} failovers, per worker {:?}",
        failovers(&refs),
        refs.iter()
            .map(|w| w.health.executions.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    );
    assert!(per_call <= 1.05, "{per_call} executions per call");
    // Every worker took part.
    assert!(
        refs.iter()
            .all(|w| w.health.rank_first.load(Ordering::Relaxed) > 50)
    );
    // No duplicate (the rule forbids it) and no race lost at the chain either.
    let writes = response_writes(&url).await;
    let ours: Vec<_> = writes
        .iter()
        .filter(|(p, _)| p.contains("/fleet3/"))
        .collect();
    assert_eq!(ours.len(), 300);
    assert!(ours.iter().all(|(_, w)| w.0 == 1), "{ours:?}");
    // The executions are in /metrics too, by app and function, with HELP lines and build info.
    let text = ain_sre::observe::install()
        .expect("the daemon installed the recorder")
        .render();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("ain_sre_calls_total{")
                && l.contains("app=\"fleet3\"")
                && l.contains("function=\"echo\"")
        })
        .unwrap_or_default();
    let counted: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert_eq!(counted as u64, execs, "{line}");
    assert!(text.contains("# HELP ain_sre_calls_total"), "{text}");
    assert!(
        text.contains("# HELP ain_sre_rank_outcomes_total"),
        "{text}"
    );
    assert!(text.contains("ain_sre_build_info{version="), "{text}");
    // Pairing: each worker named the node it follows (`ain_getAddress`: the chain's validator),
    // and `workers list` shows it with the liveness columns.
    let validator = PrivateKey::from_hex(DEFAULT_VALIDATOR_KEY)
        .unwrap()
        .address()
        .to_string();
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    let w = AppWorkers::fetch(&rpc, "fleet3").await.unwrap();
    for k in &keys {
        let p = assign::Presence::from_entry(&w.registered[&k.address()]);
        assert_eq!(p.paired_with.as_deref(), Some(validator.as_str()), "{p:?}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["workers", "list", "--app", "fleet3", "--node", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("| last seen | state | paired with |"),
        "{text}"
    );
    for k in &keys {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", k.address())))
            .unwrap_or_default();
        assert!(
            line.contains("| wasm | 8 |") && line.contains("| live |") && line.contains(&validator),
            "{line}"
        );
    }
    for w in ws {
        w.shutdown().await.unwrap();
    }
    dev.shutdown().await;
}

/// Two workers of capacities 16 and 8 over 300 calls: the heavy one answers about 2/3 of them
/// (expected 200; the binomial standard deviation is 8.2, tolerance ±25, about 3 σ; equal
/// weights would give 150 ± 8.7, so 175 is also ~3 σ above that). The ranking function itself
/// is checked over 1,000 calls in `scheduler::assign`'s unit tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_two_worker_gets_about_twice_the_calls() {
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleetw", 5000, 1000).await;
    let (heavy, light) = (PrivateKey::generate(), PrivateKey::generate());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    enroll(&url, &heavy, "fleetw", 16).await;
    enroll(&url, &light, "fleetw", 8).await;
    let wh = start(&dev, "fleetw", &heavy, dirs[0].path(), tiers.clone()).await;
    let wl = start(&dev, "fleetw", &light, dirs[1].path(), tiers.clone()).await;
    all_live(&url, "fleetw", &[&heavy, &light]).await;
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let out = burst(&caller, "fleetw", 300, 16).await;
    let by_heavy = out
        .iter()
        .filter(|(_, w, _)| *w == heavy.address().to_string())
        .count();
    let first = |w: &DaemonHandle| w.health.rank_first.load(Ordering::Relaxed);
    eprintln!(
        "weight 16 vs 8: heavy answered {by_heavy} of 300 (rank-1 turns {} vs {})",
        first(&wh),
        first(&wl)
    );
    assert!((175..=225).contains(&by_heavy), "heavy answered {by_heavy}");
    assert_eq!(failovers(&[&wh, &wl]), 0);
    wh.shutdown().await.unwrap();
    wl.shutdown().await.unwrap();
    dev.shutdown().await;
}

/// A worker whose tiers cannot run python3 (process and container tiers disabled) lists no
/// python3 in its entry and is never ranked for python3 calls: with a 20 s failover delay, every
/// call still goes straight to the worker that can run it, never through a failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_python3_tier_is_never_ranked_for_python3_calls() {
    use ain_sre::config::profiles::ProfileCatalog;
    use ain_sre::config::runtimes::RuntimeCatalog;
    use ain_sre::ledger::tx::SimpleOp;
    use ain_sre::onchain::AppPaths;
    use ain_sre::sandbox::Tier;
    use ain_sre::sandbox::process::ProcessConfig;
    use ain_sre::scheduler::capable;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    let test = "a_worker_without_the_python3_tier_is_never_ranked_for_python3_calls";
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail(test, "the process tier needs root");
        return;
    }
    let full = Arc::new(
        Tiers::start(TierConfig {
            process: ProcessConfig {
                jail_exe: Some(
                    std::path::Path::new(env!("CARGO_BIN_EXE_ain-sre"))
                        .with_file_name("ain-sre-jail"),
                ),
                pool_size: 1,
                cgroup_parent: "ain-sre-test-fleet".into(),
                uid_base: 2_960_000,
                uid_slots: 100,
                root_dir: "/run/ain-sre-test/fleet".into(),
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
    let wasm_only = wasm_tiers().await;
    let (runtimes, profiles) = (
        RuntimeCatalog::shipped().unwrap(),
        ProfileCatalog::shipped().unwrap(),
    );
    let (e_full, e_wasm) = (
        capable::entry(&*full, &runtimes, &profiles, 8, true),
        capable::entry(&*wasm_only, &runtimes, &profiles, 8, true),
    );
    assert_eq!(e_full.runtimes.get("python3"), Some(&true), "{e_full:?}");
    assert!(!e_wasm.runtimes.contains_key("python3"), "{e_wasm:?}");

    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleetp", 20_000, 1000).await;
    let app = AppPaths::new("fleetp").unwrap();
    let py = include_str!("../../examples/functions/python3/main.py");
    let spec = json!({"runtime": "python3", "code_hash": hex::encode(Sha256::digest(py.as_bytes())),
                      "size": py.len(), "code": py, "failover_ms": 20_000});
    admin
        .send(vec![SimpleOp::set_value(app.function("hello"), spec)])
        .await
        .unwrap();
    let (k_full, k_wasm) = (PrivateKey::generate(), PrivateKey::generate());
    for (k, e) in [(&k_full, &e_full), (&k_wasm, &e_wasm)] {
        admin.approve_worker("fleetp", &k.address()).await.unwrap();
        ChainClient::connect(&url, PrivateKey::from_bytes(&k.secret_bytes()).unwrap())
            .await
            .unwrap()
            .register("fleetp", e)
            .await
            .unwrap();
    }
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let w_full = start(&dev, "fleetp", &k_full, d1.path(), full.clone()).await;
    let w_wasm = start(&dev, "fleetp", &k_wasm, d2.path(), wasm_only.clone()).await;
    all_live(&url, "fleetp", &[&k_full, &k_wasm]).await;
    // The wasm-only worker is live and ranked for wasm calls...
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    let w = AppWorkers::fetch(&rpc, "fleetp").await.unwrap();
    let now = ain_sre::call::now_ms();
    let for_wasm = assign::candidates(&w, "wasm", "default", now, |_| true);
    assert_eq!(for_wasm.len(), 2);
    // ...and not for python3.
    let for_py = assign::candidates(&w, "python3", "default", now, |_| true);
    assert_eq!(
        for_py.iter().map(|c| c.address).collect::<Vec<_>>(),
        vec![k_full.address()]
    );
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    for i in 0..8 {
        let t = Instant::now();
        let (_, _, resp) = call_wait(
            &caller,
            "fleetp",
            "hello",
            &format!("{{\"name\":\"n{i}\"}}"),
        )
        .await;
        assert_eq!(resp["status"], "ok", "{resp}");
        assert_eq!(resp["receipt"]["worker"], k_full.address().to_string());
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }
    assert_eq!(failovers(&[&w_full, &w_wasm]), 0);
    assert_eq!(w_wasm.health.executions.load(Ordering::Relaxed), 0);
    w_full.shutdown().await.unwrap();
    w_wasm.shutdown().await.unwrap();
    full.shutdown().await;
    dev.shutdown().await;
}
