//! Measurements for the README (run by hand: `cargo test --test wasm_tier measure_ --
//! --ignored --nocapture`, one at a time so each has its own process).

use super::*;

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss_hwm_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn many_modules(max_cached_bytes: u64) {
    let sb = WasmSandbox::new(WasmConfig {
        max_cached_bytes,
        ..WasmConfig::default()
    })
    .unwrap();
    let before = rss_hwm_mib();
    for i in 0..12u8 {
        let mut m = bombs::many_functions(20_000);
        m.extend([0, 2, 1, b'a' + i]);
        let p = sb.prepare(&FunctionCode::new("wasm", m)).await.unwrap();
        sb.run(&p, call(b"", Limits::default())).await.unwrap();
    }
    let after = rss_hwm_mib();
    eprintln!(
        "max_cached_bytes {max_cached_bytes}: 12 distinct modules of 20,000 functions: RSS \
         {} -> {} MiB, {} cached ({} MiB of compiled code)",
        before.0,
        after.0,
        sb.cached_modules(),
        sb.cached_bytes() >> 20
    );
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_cache_rss_bounded() {
    many_modules(WasmConfig::default().max_cached_bytes / 16).await;
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_cache_rss_unbounded() {
    many_modules(u64::MAX).await;
}

async fn poll_flood(max_poll_subscriptions: u32, max_host_resources: usize) {
    let sb = WasmSandbox::new(WasmConfig {
        max_poll_subscriptions,
        max_host_resources,
        ..WasmConfig::default()
    })
    .unwrap();
    let p = sb.prepare(&poller(500_000)).await.unwrap();
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    // Warm the pool slot and allocator with one capped-size call first.
    let warm = sb.prepare(&poller(1)).await.unwrap();
    sb.run(&warm, call(b"", limits.clone())).await.unwrap();
    let before = rss_hwm_mib();
    let out = sb.run(&p, call(b"", limits)).await.unwrap();
    let after = rss_hwm_mib();
    eprintln!(
        "max_poll_subscriptions {max_poll_subscriptions}, max_host_resources \
         {max_host_resources}: poll_oneoff(500,000) {}: RSS {} -> {} MiB, peak {} -> {} MiB",
        describe_outcome(&out),
        before.0,
        after.0,
        before.1,
        after.1
    );
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_poll_flood_capped() {
    let d = WasmConfig::default();
    poll_flood(d.max_poll_subscriptions, d.max_host_resources).await;
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_poll_flood_table_cap_only() {
    poll_flood(u32::MAX, WasmConfig::default().max_host_resources).await;
}

fn describe_outcome(out: &Outcome) -> String {
    match out {
        Outcome::Completed { exit_code, .. } => format!("exit {exit_code}"),
        Outcome::Failed { failure, .. } => format!("{failure:?}").chars().take(120).collect(),
    }
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_poll_flood_uncapped() {
    poll_flood(u32::MAX, usize::MAX).await;
}
