//! Built-in chain benchmarks: signed transactions accepted per second through JSON-RPC, and the
//! latency from `ain_sendSignedTransaction` to the matching VALUE_CHANGED event on the event
//! handler (what a worker waits for).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Stats;
use crate::ledger::crypto::PrivateKey;
use crate::ledger::devnet::{Devnet, DevnetConfig};
use crate::ledger::events::{
    ClientEvent, EventClient, EventPayload, EventSource, EventsConfig, Filter,
};
use crate::ledger::now_ms;
use crate::ledger::rpc::{RpcClient, SendResult};
use crate::ledger::tx::{Operation, SimpleOp, TxBody};

/// Runs the devnet measurements on a fresh in-memory chain.
pub fn run(quick: bool) -> anyhow::Result<Vec<Stats>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let handle = Devnet::start(DevnetConfig::default()).await?;
        let rpc = Arc::new(RpcClient::new(&handle.rpc_url())?);
        let admin = PrivateKey::generate();
        let app = "bench_devnet";
        let ts = now_ms();
        send_ok(
            &rpc,
            &admin,
            SimpleOp::set_value(
                format!("/manage_app/{app}/create/{ts}"),
                json!({"admin": {admin.address().to_string(): true}}),
            ),
            ts,
        )
        .await?;
        send_ok(
            &rpc,
            &admin,
            SimpleOp::set_rule(
                format!("/apps/{app}/data/$k"),
                json!({".rule": {"write": true}}),
            ),
            ts + 1,
        )
        .await?;
        let throughput = accept_rate(&rpc, app, if quick { 2_000 } else { 20_000 }).await?;
        let latency = event_latency(
            &rpc,
            &handle.events_url(),
            app,
            if quick { 200 } else { 2_000 },
        )
        .await?;
        handle.shutdown().await;
        Ok(vec![throughput, latency])
    })
}

/// Row name: signed txs accepted through JSON-RPC.
pub const ACCEPTED: &str = "devnet: signed txs accepted (64 concurrent senders; per-call latency)";
/// Row name: send → VALUE_CHANGED latency.
pub const EVENT_LATENCY: &str = "devnet: send → VALUE_CHANGED event (one at a time)";

async fn send_ok(rpc: &RpcClient, key: &PrivateKey, op: SimpleOp, ts: u64) -> anyhow::Result<()> {
    let signed = TxBody::new(Operation::Simple(op), -1, ts).sign(key, 0)?;
    let body = serde_json::to_value(&signed.tx_body)?;
    let sig = crate::ledger::crypto::Signature::parse(&signed.signature)?;
    match rpc.send_signed_transaction(&body, &sig).await? {
        SendResult::Processed { result, .. } if result.is_success() => Ok(()),
        other => anyhow::bail!("setup tx refused: {other:?}"),
    }
}

/// `n` txs signed ahead of time by 16 keys, sent by 64 concurrent senders.
async fn accept_rate(rpc: &Arc<RpcClient>, app: &str, n: usize) -> anyhow::Result<Stats> {
    let keys: Vec<PrivateKey> = (0..16).map(|_| PrivateKey::generate()).collect();
    let base = now_ms();
    let mut txs = Vec::with_capacity(n);
    for i in 0..n {
        let op = SimpleOp::set_value(format!("/apps/{app}/data/v{i}"), json!({"i": i}));
        let signed = TxBody::new(Operation::Simple(op), -1, base + i as u64)
            .sign(&keys[i % keys.len()], 0)?;
        txs.push((
            serde_json::to_value(&signed.tx_body)?,
            crate::ledger::crypto::Signature::parse(&signed.signature)?,
        ));
    }
    let txs = Arc::new(txs);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu = super::process_cpu_time();
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..64 {
        let (rpc, txs, next) = (rpc.clone(), txs.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((body, sig)) = txs.get(i) else { break };
                let t = Instant::now();
                match rpc.send_signed_transaction(body, sig).await? {
                    SendResult::Processed { result, .. } if result.is_success() => {
                        samples.push(t.elapsed())
                    }
                    other => anyhow::bail!("tx {i} refused: {other:?}"),
                }
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for s in senders {
        all.extend(s.await??);
    }
    Ok(Stats::from_samples(ACCEPTED, all, started.elapsed())
        .with_cpu(super::process_cpu_time().saturating_sub(cpu)))
}

/// One write at a time; time from sending to the VALUE_CHANGED (USER) event for it.
async fn event_latency(
    rpc: &RpcClient,
    events_url: &str,
    app: &str,
    n: usize,
) -> anyhow::Result<Stats> {
    let (events, mut rx) = EventClient::connect(EventsConfig::new(events_url, "bench"))?;
    events
        .register(Filter::value_changed(
            "lat",
            format!("/apps/{app}/data/$k"),
            Some(EventSource::User),
        )?)
        .await?;
    // Wait until connected and registered (the event client says so with Connected).
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await? {
            Some(ClientEvent::Connected { .. }) => break,
            Some(_) => {}
            None => anyhow::bail!("event client stopped"),
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let key = PrivateKey::generate();
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    let base = now_ms();
    for i in 0..n {
        let label = format!("lat{i}");
        let op = SimpleOp::set_value(format!("/apps/{app}/data/{label}"), json!(i));
        let signed = TxBody::new(Operation::Simple(op), -1, base + i as u64).sign(&key, 0)?;
        let body = serde_json::to_value(&signed.tx_body)?;
        let sig = crate::ledger::crypto::Signature::parse(&signed.signature)?;
        let t = Instant::now();
        rpc.send_signed_transaction(&body, &sig).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await? {
                Some(ClientEvent::Event(e)) => {
                    if let EventPayload::ValueChanged(v) = &e.payload
                        && v.params.get("k").map(String::as_str) == Some(label.as_str())
                    {
                        samples.push(t.elapsed());
                        break;
                    }
                }
                Some(_) => {}
                None => anyhow::bail!("event client stopped"),
            }
        }
    }
    events.shutdown();
    Ok(Stats::from_samples(
        EVENT_LATENCY,
        samples,
        started.elapsed(),
    ))
}
