//! `ain-sre dev` and the component examples (issue 21): with the packagers installed it builds
//! `examples/functions/python3-wasm` and `nodejs-wasm`, deploys them by reference through its
//! blob store and self-checks them on the WASM tier; without one it says which is missing and
//! how to install it.
//!
//! Built components and their compiled code are cached (`$XDG_CACHE_HOME/ain-sre`, here under
//! the target directory), so only the first run pays for packaging (~15 s) and compiling (about
//! a minute in a debug build).

mod common;

use common::proc::free_port;

use std::process::{Command, Output};

use ain_sre::sandbox::wasm::package::Language;

/// `ain-sre dev --check-only` on free ports with `extra` arguments.
fn dev_check(extra: &[&str], env: &[(&str, &str)]) -> Output {
    let (port, events, blobs, metrics) = (free_port(), free_port(), free_port(), free_port());
    let cache = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("component-fixtures/dev-cache");
    let mut c = Command::new(env!("CARGO_BIN_EXE_ain-sre"));
    c.args([
        "dev",
        "--check-only",
        "--port",
        &port.to_string(),
        "--events-port",
        &events.to_string(),
        "--blobs-port",
        &blobs.to_string(),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
    ])
    .args(extra)
    .env("XDG_CACHE_HOME", &cache)
    .env("AIN_SRE_LOG", "warn")
    .env_remove("AIN_SRE_PRIVATE_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The self-check row of `function`: (runtime, tier, status).
fn row(table: &str, function: &str) -> Option<(String, String, String)> {
    let line = table
        .lines()
        .find(|l| l.split('|').nth(1).map(str::trim) == Some(function))?;
    let c: Vec<String> = line.split('|').map(|s| s.trim().to_owned()).collect();
    Some((c[2].clone(), c[3].clone(), c[4].clone()))
}

#[test]
fn dev_deploys_and_checks_the_component_examples_by_reference() {
    let test = "dev_component_examples";
    for lang in [Language::Python, Language::JavaScript] {
        if let Err(e) = lang.packager() {
            common::skip_or_fail(test, &e.to_string());
            return;
        }
    }
    let out = dev_check(&[], &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{table}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for (function, runtime) in [
        ("python3_wasm", "python3-wasm"),
        ("nodejs_wasm", "nodejs-wasm"),
    ] {
        let r = row(&table, function).unwrap_or_else(|| panic!("no {function} row:\n{table}"));
        assert_eq!(r, (runtime.into(), "wasm".into(), "ok".into()), "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(&format!("component: {function} ("))
                    && l.contains("deployed by reference (code_ref)")),
            "{table}"
        );
    }
    // `--no-components` leaves them out.
    let out = dev_check(&["--no-components"], &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(row(&table, "python3_wasm").is_none(), "{table}");
}

/// Without a packager the example is left out, naming the package to install (and `dev` still
/// succeeds with the others).
#[test]
fn dev_says_which_packager_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("python3-wasm")).unwrap();
    std::fs::write(dir.path().join("python3-wasm/main.py"), "print('hi')").unwrap();
    let missing = dir.path().join("no-componentize-py");
    let out = dev_check(
        &["--examples", dir.path().to_str().unwrap()],
        &[("AIN_SRE_COMPONENTIZE_PY", missing.to_str().unwrap())],
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(row(&table, "python3_wasm").is_none(), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("left out: python3-wasm (")
                && l.contains("componentize-py is not installed")
                && l.contains("pip install componentize-py")),
        "{table}"
    );
}
