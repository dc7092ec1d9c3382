//! Components on the WASM tier (issue 21): a Python hello and a JavaScript hello packaged as
//! WASI components, per call once prepared, against bare `python3` and `node` in the same run;
//! and each component's first compile and its load from the on-disk cache. The process tier's
//! python3 row is `bench process` (run it in the same session for the ratio).
//!
//! Needs the packagers (componentize-py, componentize-js); without one its rows are left out
//! and the reason printed.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Stats;
use crate::sandbox::wasm::package::{self, Language};
use crate::sandbox::wasm::{WasmConfig, WasmSandbox};
use crate::sandbox::{FunctionCode, Invocation, Limits, Sandbox};

const HELLO_PY: &str = "print('hello')\n";
const HELLO_JS: &str = "process.stdout.write('hello\\n');\n";

/// Runs the component rows for each language whose packager is installed.
pub fn run(quick: bool) -> anyhow::Result<Vec<Stats>> {
    let min_time = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let mut rows = Vec::new();
    for (lang, source, bare) in [
        (
            Language::Python,
            HELLO_PY,
            ["/usr/bin/python3", "-I", "-B", "-c"],
        ),
        (Language::JavaScript, HELLO_JS, ["node", "-e", "", ""]),
    ] {
        if let Err(e) = lang.packager() {
            eprintln!("bench: {} component rows left out: {e}", lang.runtime());
            continue;
        }
        let work = std::env::temp_dir().join(format!("ain-sre-bench-comp-{}", std::process::id()));
        let t = Instant::now();
        let component = package::build(lang, source.as_bytes(), &work)?;
        let _ = std::fs::remove_dir_all(&work);
        eprintln!(
            "bench: {} hello packaged: {:.1} MB in {:.1} s",
            lang.runtime(),
            component.len() as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        rows.extend(one_language(lang, component, min_time)?);
        rows.push(bare_row(lang, source, bare, min_time));
    }
    Ok(rows)
}

fn one_language(
    lang: Language,
    component: Vec<u8>,
    min_time: Duration,
) -> anyhow::Result<Vec<Stats>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let name = lang.runtime();
    let mb = component.len() as f64 / 1e6;
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("ain-sre-bench-cache-{}", std::process::id()));
        let cfg = WasmConfig {
            cache_dir: Some(dir.clone()),
            max_concurrency: 8,
            ..WasmConfig::default()
        };
        let code = FunctionCode::new(name, component);
        let sb = WasmSandbox::new(cfg.clone())?;
        let t = Instant::now();
        sb.prepare(&code).await?;
        let compile = t.elapsed();
        drop(sb);
        // A restarted worker: the component now loads from the disk cache.
        let sb = WasmSandbox::new(cfg)?;
        let t = Instant::now();
        let p = sb.prepare(&code).await?;
        let load = t.elapsed();
        let call = || Invocation {
            input: Arc::<[u8]>::from(&b""[..]).into(),
            env: vec![("SRE_FUNCTION".into(), "hello".into())],
            limits: Limits::default(),
        };
        for _ in 0..20 {
            sb.run(&p, call()).await?;
        }
        let mut samples = Vec::new();
        let start = Instant::now();
        while start.elapsed() < min_time || samples.len() < 50 {
            let t = Instant::now();
            let out = sb.run(&p, call()).await?;
            samples.push(t.elapsed());
            anyhow::ensure!(out.status() == "ok", "{name} hello failed: {out:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(vec![
            Stats::from_samples(
                &format!("wasm component: {name} hello, prepared, 1 caller"),
                samples,
                start.elapsed(),
            ),
            Stats::from_samples(
                &format!("wasm component: {name} first compile ({mb:.1} MB)"),
                vec![compile],
                compile,
            ),
            Stats::from_samples(
                &format!("wasm component: {name} load from disk cache"),
                vec![load],
                load,
            ),
        ])
    })
}

/// The same hello under the bare interpreter (`python3 -c`, `node -e`), one process per call.
fn bare_row(lang: Language, source: &str, argv: [&str; 4], min_time: Duration) -> Stats {
    let (exe, args): (&str, Vec<&str>) = match lang {
        Language::Python => (argv[0], vec![argv[1], argv[2], argv[3], source]),
        Language::JavaScript => (argv[0], vec![argv[1], source]),
    };
    Stats::measure(
        &format!("bare: {exe} hello"),
        20,
        min_time.min(Duration::from_secs(2)),
        || {
            let _ = Command::new(exe)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        },
    )
}
