//! ain-js, unchanged, against the devnet: `tests/js/ain-js/ain_js_roundtrip.js` creates an app,
//! sets a rule and a value (with ain-js's default numbered nonce), reads it back, receives the
//! VALUE_CHANGED event through `ain.em`, and tracks the tx to FINALIZED.
//!
//! Needs `node` and `npm`: the pinned `@ainblockchain/ain-js` is installed once into
//! `tests/js/ain-js/node_modules` with `npm ci --ignore-scripts` from the committed lockfile.
//! Without them the test skips loudly, or fails under `AIN_SRE_STRICT=1` / `CI=true`.

mod common;
mod devnet_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/ain-js")
}

/// Installs the pinned packages unless they are already there.
fn install(npm: &std::path::Path) -> Result<(), String> {
    let dir = js_dir();
    if dir
        .join("node_modules/@ainblockchain/ain-js/package.json")
        .is_file()
    {
        return Ok(());
    }
    let out = Command::new(npm)
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("npm ci: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm ci failed (is the npm registry reachable?): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ain_js_round_trip() {
    const NAME: &str = "ain_js_round_trip";
    let (Some(node), Some(npm)) = (
        common::require_program(NAME, "node"),
        common::require_program(NAME, "npm"),
    ) else {
        return;
    };
    let npm2 = npm.clone();
    match tokio::task::spawn_blocking(move || install(&npm2))
        .await
        .unwrap()
    {
        Ok(()) => {}
        Err(e) => {
            common::skip_or_fail(NAME, &e);
            return;
        }
    }
    let h = devnet_support::start().await;
    let script = js_dir().join("ain_js_roundtrip.js");
    let mut cmd = tokio::process::Command::new(node);
    cmd.arg(script)
        .arg(h.rpc_url())
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
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap();
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["create_code"], 0, "{v}");
    assert_eq!(v["rule_code"], 0, "{v}");
    assert_eq!(v["set_code"], 0, "{v}");
    assert_eq!(v["event"]["source"], "USER", "{v}");
    assert_eq!(v["event"]["params"], json!({"key": "k1"}), "{v}");
    assert_eq!(v["event"]["after"], json!({"hello": "world"}), "{v}");
    assert_eq!(v["read"], json!({"hello": "world"}), "{v}");
    assert_eq!(v["final_state"], "FINALIZED", "{v}");
    assert_eq!(v["final_read"], json!({"hello": "world"}), "{v}");
    assert_eq!(v["nonce"], 1, "ain-js used a numbered nonce: {v}");
    h.shutdown().await;
}
