//! When a worker goes: a killed worker's calls taken over by the next rank, and a drained worker
//! no longer ranked until it is back.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_calls_are_taken_over_by_the_next_rank() {
    const FAILOVER_MS: u64 = 800;
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    // Wall limit 300 ms + slack 200 ms < 800 ms: the delay alone decides when the call moves.
    deploy_fleet(&admin, "fleetk", FAILOVER_MS, 300).await;
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    let mut ws = Vec::new();
    for (k, d) in keys.iter().zip(&dirs) {
        enroll(&url, k, "fleetk", 8).await;
        ws.push(start(&dev, "fleetk", k, d.path(), tiers.clone()).await);
    }
    all_live(&url, "fleetk", &keys.iter().collect::<Vec<_>>()).await;
    // Kill worker 0: its heartbeat stays fresh for up to 1.5 s, so the others still rank it.
    let dead = keys[0].address();
    ws[0].kill();
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    // Calls whose rank 1 is the killed worker, sent while the others still count it live.
    let mut taken = Vec::new();
    let mut others = 0;
    // Bounded: once the killed worker's heartbeat is stale (1.5 s after its last one) nobody ranks
    // it first any more, so on a slow host fewer than 6 of its calls may be found in time.
    let killed_at = Instant::now();
    while taken.len() < 6 && killed_at.elapsed() < Duration::from_millis(1200) {
        let (id, _) = caller.call("fleetk", "echo", "{}").await.unwrap();
        let t = Instant::now();
        let first = rank1(&url, "fleetk", &id).await;
        if first != dead {
            others += 1;
            continue;
        }
        taken.push((id, t));
    }
    assert!(
        !taken.is_empty(),
        "no call ranked the killed worker first within 1.2 s of the kill ({others} others sent): the host is too slow for this test"
    );
    for (id, t) in &taken {
        let r = wait_response(&rpc, "fleetk", "echo", id, Duration::from_secs(10))
            .await
            .expect("taken over");
        let after = t.elapsed();
        assert_eq!(r["status"], "ok", "{r}");
        assert_ne!(r["receipt"]["worker"], dead.to_string());
        // Answered after the killed worker's turn and within the delay plus a bounded margin
        // (the first calls are sent right after the kill; later ones may find it already stale).
        assert!(
            after <= Duration::from_millis(FAILOVER_MS + 1000),
            "{id} answered after {after:?}"
        );
    }
    let alive: Vec<&DaemonHandle> = ws[1..].iter().collect();
    assert!(
        failovers(&alive) >= 1,
        "the next rank took calls over: {}",
        failovers(&alive)
    );
    eprintln!(
        "{} calls of the killed worker taken over ({others} others); failovers {}",
        taken.len(),
        failovers(&alive)
    );
    // Once its heartbeat is stale (3 × 500 ms), nobody ranks it: its calls run at once again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = failovers(&alive);
    let out = burst(&caller, "fleetk", 30, 8).await;
    assert!(out.iter().all(|(_, w, _)| *w != dead.to_string()));
    assert_eq!(failovers(&alive), before, "no failover once it dropped out");
    for w in ws.into_iter().skip(1) {
        w.shutdown().await.unwrap();
    }
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_worker_stops_being_ranked_and_rejoins_when_back() {
    // A long delay: a call still ranked on the drained worker would wait 20 s.
    const FAILOVER_MS: u64 = 20_000;
    let dev = chain(0, 0, None).await;
    let url = dev.rpc_url();
    let admin = admin(&url).await;
    deploy_fleet(&admin, "fleetd", FAILOVER_MS, 1000).await;
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let tiers = wasm_tiers().await;
    let mut ws = Vec::new();
    for (k, d) in keys.iter().zip(&dirs) {
        enroll(&url, k, "fleetd", 8).await;
        ws.push(start(&dev, "fleetd", k, d.path(), tiers.clone()).await);
    }
    all_live(&url, "fleetd", &keys.iter().collect::<Vec<_>>()).await;
    // Drain worker 0 (what SIGTERM does): it announces it, then stops.
    let w0 = ws.remove(0);
    w0.shutdown().await.unwrap();
    let rpc = ain_sre::ledger::rpc::RpcClient::new(&url).unwrap();
    let w = AppWorkers::fetch(&rpc, "fleetd").await.unwrap();
    let p = assign::Presence::from_entry(&w.registered[&keys[0].address()]);
    assert!(p.draining, "the drained worker announced it: {p:?}");
    assert!(
        p.live(ain_sre::call::now_ms()),
        "its heartbeat is still fresh"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let caller = ChainClient::connect(&url, PrivateKey::generate())
        .await
        .unwrap();
    let out = burst(&caller, "fleetd", 30, 8).await;
    let rest: Vec<&DaemonHandle> = ws.iter().collect();
    assert_eq!(failovers(&rest), 0, "no call waited for the drained worker");
    assert!(
        out.iter()
            .all(|(_, _, t)| *t < Duration::from_millis(FAILOVER_MS)),
        "{out:?}"
    );
    // It comes back: it heartbeats with draining false and takes its share again.
    let w0 = start(&dev, "fleetd", &keys[0], dirs[0].path(), tiers.clone()).await;
    all_live(&url, "fleetd", &keys.iter().collect::<Vec<_>>()).await;
    let out = burst(&caller, "fleetd", 30, 8).await;
    let back = out
        .iter()
        .filter(|(_, w, _)| *w == keys[0].address().to_string())
        .count();
    assert!(back > 0, "the returning worker answers again");
    w0.shutdown().await.unwrap();
    for w in ws {
        w.shutdown().await.unwrap();
    }
    dev.shutdown().await;
}
