//! ain-js, unchanged, against the devnet: `tests/js/ain_js_devnet.js` (pinned
//! `@ainblockchain/ain-js` 1.15.0) creates an app, sets a rule and a value, reads it back, sees the
//! rule refuse a write, receives VALUE_CHANGED through `ain.em`, tracks the tx to FINALIZED and
//! looks it up with `getTransactionByHash`.
//!
//! Needs Node.js and npm (`tests/common/js.rs` installs the pinned packages once); without them the
//! test skips loudly, or fails under `AIN_SRE_STRICT=1` / `CI=true`.

mod common;
mod devnet_support;

use std::time::Duration;

use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ain_js_round_trip() {
    let Some(node) = common::js::node_with_peers("ain_js_round_trip") else {
        return;
    };
    let h = devnet_support::start().await;
    let origin = format!("http://{}", h.rpc_addr());
    let mut cmd = tokio::process::Command::new(node);
    cmd.arg(common::js::js_dir().join("ain_js_devnet.js"))
        .arg(&origin)
        .arg(h.events_url())
        .arg(devnet_support::SK)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("ain-js finished in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ain-js failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name} in {stdout}"))
            .clone()
    };
    assert_eq!(step("read_back")["value"], "hello from ain-js");
    assert_eq!(step("rule_refuses")["code"], 12103);
    assert_eq!(step("value_changed")["event_source"], "USER");
    assert_eq!(step("finalized")["state"], "FINALIZED");
    assert_eq!(step("get_transaction")["state"], "FINALIZED");
    step("done");
    h.shutdown().await;
}
