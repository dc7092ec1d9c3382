//! The process tier: a `/bin/true`-like static binary, a python3 hello and a Node.js hello through
//! the stem-cell pool, next to bare `python3 hello.py` (and the same under `bwrap --unshare-all`)
//! and bare `node hello.js`, in one run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Stats;
use crate::config::runtimes::RuntimeCatalog;
use crate::sandbox::process::{ProcessConfig, ProcessSandbox};
use crate::sandbox::{FunctionCode, Invocation, Limits, Sandbox};

const POOL: usize = 2;

/// Row names the whole report (`bench::suite`) picks figures by.
pub const NATIVE_POOL: &str = "process: native true, pool";
/// The static echo binary through the pool (the WASM tier's peer).
pub const NATIVE_ECHO_POOL: &str = "process: native echo (static binary), pool";
/// Bare fork + exec of the same static `true` binary (no sandbox).
pub const NATIVE_BARE: &str = "bare: exec of the same static true binary";
/// python3 hello through the pool.
pub const PY_POOL: &str = "process: python3 hello, pool";
/// python3 hello, bare.
pub const PY_BARE: &str = "bare: /usr/bin/python3 -I -B hello.py";
/// python3 hello under bwrap.
pub const PY_BWRAP: &str = "bwrap --unshare-all: python3 hello.py";

/// Node.js hello through the pool.
pub const JS_POOL: &str = "process: nodejs hello, pool";
/// Node.js hello, bare (the runtime's own flags).
pub const JS_BARE: &str = "bare: /usr/bin/node hello.js";
/// The Node.js function both variants run.
pub const HELLO_JS: &str = "process.stdout.write('hello\\n');\n";

/// The python3 function every variant runs.
pub const HELLO_PY: &str = "print('hello')\n";

/// The hand-assembled ELF samples live with the tier that checks them (`sre-sandbox`).
pub use crate::sandbox::process::samples::{static_echo_elf, static_elf};

fn call() -> Invocation {
    Invocation {
        // The WASM bench's echo input, so the native echo row compares like with like.
        input: Arc::<[u8]>::from(&b"{\"x\":1}"[..]).into(),
        env: vec![],
        limits: Limits::default(),
    }
}

async fn through_pool(
    sb: &ProcessSandbox,
    name: &str,
    runtime: &str,
    code: &[u8],
    n: usize,
    wait_for_pool: bool,
) -> anyhow::Result<Stats> {
    let p = sb
        .prepare(&FunctionCode::new(runtime, code.to_vec()))
        .await?;
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        if wait_for_pool {
            // Untimed: the pool is full again (no refill running) before the next call, as it
            // would be below saturation.
            let until = Instant::now() + Duration::from_secs(5);
            while sb.ready(runtime) < POOL && Instant::now() < until {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        let t = Instant::now();
        let out = sb.run(&p, call()).await?;
        samples.push(t.elapsed());
        if out.status() != "ok" {
            bail!("{name}: {out:?}");
        }
    }
    Ok(Stats::from_samples(name, samples, start.elapsed()))
}

fn command(name: &str, n: usize, mut make: impl FnMut() -> Command) -> anyhow::Result<Stats> {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let out = make()
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| name.to_owned())?;
        samples.push(t.elapsed());
        if !out.status.success() {
            bail!("{name}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(Stats::from_samples(name, samples, start.elapsed()))
}

/// `code` through the pool (row `pool_row`) and each bare command, one call at a time, `n` rounds
/// interleaved call by call so that a shared, noisy machine loads them alike; one row per variant,
/// the pool's first.
async fn interleaved(
    sb: &ProcessSandbox,
    pool_row: &str,
    runtime: &str,
    code: &str,
    bare: &[(&str, &dyn Fn() -> Command)],
    n: usize,
) -> anyhow::Result<Vec<Stats>> {
    let mut samples = vec![Vec::with_capacity(n); bare.len() + 1];
    let start = Instant::now();
    for _ in 0..n {
        let pooled = through_pool(sb, "", runtime, code.as_bytes(), 1, true).await?;
        samples[0].push(pooled.p50_us);
        for (i, (_, make)) in bare.iter().enumerate() {
            samples[i + 1].push(command("", 1, make)?.p50_us);
        }
    }
    let total = start.elapsed();
    let names = std::iter::once(pool_row).chain(bare.iter().map(|b| b.0));
    Ok(names
        .zip(samples)
        .map(|(name, us)| {
            let d = us.into_iter().map(|us| Duration::from_secs_f64(us / 1e6));
            Stats::from_samples(name, d.collect(), total)
        })
        .collect())
}

/// Runs the group; the notes carry the ratios against the targets.
pub async fn run(quick: bool) -> anyhow::Result<(Vec<Stats>, Vec<String>)> {
    let n = if quick { 30 } else { 200 };
    let dir = std::env::temp_dir().join(format!("ain-sre-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let hello = dir.join("hello.py");
    std::fs::write(&hello, HELLO_PY)?;
    let hello_js = dir.join("hello.js");
    std::fs::write(&hello_js, HELLO_JS)?;
    let config = ProcessConfig {
        pool_size: POOL,
        prewarm: vec!["native".into(), "python3".into(), "nodejs".into()],
        runtimes: Some(RuntimeCatalog::shipped()?),
        ..ProcessConfig::default()
    };
    let sb = ProcessSandbox::start(config.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    let cold = ProcessSandbox::start(ProcessConfig {
        pool_size: 0,
        prewarm: vec![],
        ..config
    })
    .await
    .map_err(anyhow::Error::msg)?;
    let elf = static_elf(b"");
    let true_path = dir.join("true");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&true_path)?
            .write_all(&elf)?;
    }
    let mut rows = vec![
        through_pool(&sb, NATIVE_POOL, "native", &elf, n, true).await?,
        through_pool(&sb, NATIVE_ECHO_POOL, "native", &static_echo_elf(), n, true).await?,
        command(NATIVE_BARE, n, || Command::new(&true_path))?,
        through_pool(
            &sb,
            "process: native true, back-to-back",
            "native",
            &elf,
            n,
            false,
        )
        .await?,
        through_pool(
            &cold,
            "process: native true, no pool (cell made per call)",
            "native",
            &elf,
            n / 2,
            false,
        )
        .await?,
    ];
    // The three python3 variants are interleaved call by call, so that a shared, noisy machine
    // loads them alike.
    let mut notes = Vec::new();
    let bwrap = Path::new("/usr/bin/bwrap");
    if !bwrap.exists() {
        notes.push("bwrap not installed (apt-get install bubblewrap): no bwrap row".into());
    }
    let bare = || {
        let mut c = Command::new("/usr/bin/python3");
        c.args(["-I", "-B"]).arg(&hello);
        c
    };
    let wrapped = || {
        let mut c = Command::new(bwrap);
        c.args(["--unshare-all", "--die-with-parent", "--new-session"])
            .args(["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib"])
            .args([
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--symlink",
                "usr/bin",
                "/bin",
            ])
            .args([
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--tmpfs",
                "/tmp",
                "--ro-bind",
            ])
            .arg(&hello)
            .args([
                "/sre/main.py",
                "/usr/bin/python3",
                "-I",
                "-B",
                "/sre/main.py",
            ]);
        c
    };
    let mut py_bare: Vec<(&str, &dyn Fn() -> Command)> = vec![(PY_BARE, &bare)];
    if bwrap.exists() {
        py_bare.push((PY_BWRAP, &wrapped));
    }
    rows.extend(interleaved(&sb, PY_POOL, "python3", HELLO_PY, &py_bare, n).await?);
    // Node.js, pool and bare interleaved likewise. Node starts in ~40-60 ms, so fewer calls.
    let node = Path::new("/usr/bin/node");
    if node.exists() {
        let bare_node = || {
            let mut c = Command::new(node);
            c.arg("--disallow-code-generation-from-strings")
                .arg(&hello_js);
            c
        };
        let js_bare: [(&str, &dyn Fn() -> Command); 1] = [(JS_BARE, &bare_node)];
        rows.extend(
            interleaved(&sb, JS_POOL, "nodejs", HELLO_JS, &js_bare, (n / 4).max(10)).await?,
        );
    } else {
        notes.push("/usr/bin/node not installed: no Node.js rows".into());
    }
    sb.shutdown().await;
    cold.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    // By exact row name: several rows start alike ("bare:" is the static binary's row first).
    let p50 = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.p50_us);
    if let Some(t) = p50(NATIVE_POOL) {
        notes.push(format!(
            "native true through the pool: p50 {:.2} ms (target ≤ 2 ms)",
            t / 1000.0
        ));
    }
    if let (Some(p), Some(b)) = (p50(PY_POOL), p50(PY_BARE)) {
        notes.push(format!(
            "python3 hello: pool / bare = {:.2} (target ≤ 1.2)",
            p / b
        ));
    }
    if let (Some(p), Some(w)) = (p50(PY_POOL), p50(PY_BWRAP)) {
        notes.push(format!(
            "python3 hello: pool / bwrap = {:.2} (must be < 1)",
            p / w
        ));
    }
    if let (Some(p), Some(b)) = (p50(JS_POOL), p50(JS_BARE)) {
        notes.push(format!("nodejs hello: pool / bare = {:.2}", p / b));
    }
    Ok((rows, notes))
}
