//! The JavaScript peers the tests run under Node.js (`tests/js`: ain-util, ain-js), installed
//! once per machine into `tests/js/node_modules` with `npm ci` from the committed lockfile.
//!
//! To stay safe when several test processes start at once, `npm ci` runs in a private temporary
//! copy of `tests/js` and its `node_modules` is then renamed into place: a rename is atomic, so
//! another process sees either no tree or a complete one, and the loser of a race simply discards
//! its copy. An existing tree is reused only if its hidden lockfile
//! (`node_modules/.package-lock.json`, written by npm) lists exactly the packages of
//! `package-lock.json`; a stale tree is moved aside and reinstalled.
//!
//! Install scripts are skipped (`--ignore-scripts`): the only ones in the tree try to compile the
//! native addons of `secp256k1@3` and `keccak@2`, which need node-gyp headers from the internet
//! and do not build on current Node versions anyway; both packages then use their bundled pure-JS
//! implementations, which is also what a default install on Node 20 ends up with.
#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long `npm ci` may take before it is killed.
const NPM_TIMEOUT: Duration = Duration::from_secs(300);

/// `tests/js`.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// The `node` binary once the `tests/js` dependencies are installed, or `None` after a loud skip
/// (a panic in strict mode) when node, npm or the npm registry is unavailable.
#[track_caller]
pub fn node_with_peers(test: &str) -> Option<PathBuf> {
    let node = super::require_program(test, "node")?;
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    // One install per test binary; the tests in it share the result.
    if let Err(why) = INSTALLED.get_or_init(install) {
        super::skip_or_fail(test, why);
        return None;
    }
    Some(node)
}

pub fn install() -> Result<(), String> {
    let dir = js_dir();
    let target = dir.join("node_modules");
    if target.is_dir() {
        if up_to_date(&dir) {
            return Ok(());
        }
        // Move the stale tree out of the way; a concurrent process may already have done so.
        let trash = tempfile::Builder::new()
            .prefix(".stale-")
            .tempdir_in(&dir)
            .map_err(|e| format!("tempdir in {}: {e}", dir.display()))?;
        let _ = fs::rename(&target, trash.path().join("node_modules"));
        eprintln!("tests/js: tests/js/node_modules was stale; reinstalling");
    }
    let npm =
        which("npm").ok_or("`npm` is not on PATH, so the ain-util oracle cannot be installed")?;
    let work = tempfile::Builder::new()
        .prefix(".npm-install-")
        .tempdir_in(&dir)
        .map_err(|e| format!("tempdir in {}: {e}", dir.display()))?;
    for f in ["package.json", "package-lock.json"] {
        fs::copy(dir.join(f), work.path().join(f)).map_err(|e| format!("copy {f}: {e}"))?;
    }
    eprintln!("tests/js: installing the ain-util oracle with `npm ci` (once)");
    let started = Instant::now();
    let mut cmd = Command::new(npm);
    cmd.args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(work.path());
    let out = run_bounded(cmd, NPM_TIMEOUT, work.path())?;
    if !out.success {
        return Err(format!(
            "`npm ci` in a copy of tests/js failed (is the npm registry reachable?):\n{}",
            tail(&out.stderr, 3000)
        ));
    }
    match fs::rename(work.path().join("node_modules"), &target) {
        Ok(()) => {}
        // Another process won the race; its tree is as good as ours.
        Err(_) if target.is_dir() => {}
        Err(e) => return Err(format!("rename node_modules into tests/js: {e}")),
    }
    eprintln!(
        "ain_util_compat: npm ci took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !up_to_date(&dir) {
        return Err("tests/js/node_modules does not match package-lock.json after npm ci".into());
    }
    Ok(())
}

/// True when `node_modules/.package-lock.json` lists exactly the packages of `package-lock.json`.
pub fn up_to_date(dir: &Path) -> bool {
    let read = |p: PathBuf| -> Option<Value> {
        let mut v: Value = serde_json::from_str(&fs::read_to_string(p).ok()?).ok()?;
        let mut packages = v.get_mut("packages")?.take();
        packages.as_object_mut()?.remove("");
        Some(packages)
    };
    match (
        read(dir.join("package-lock.json")),
        read(dir.join("node_modules/.package-lock.json")),
    ) {
        (Some(want), Some(have)) => want == have,
        _ => false,
    }
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

pub struct Finished {
    pub success: bool,
    pub stderr: String,
}

/// Runs `cmd` with stdout/stderr captured to files in `scratch` (no pipes, so a chatty child can
/// never block on a full pipe), killing its whole process group if it outlives `timeout`.
pub fn run_bounded(
    mut cmd: Command,
    timeout: Duration,
    scratch: &Path,
) -> Result<Finished, String> {
    use std::os::unix::process::CommandExt;
    let err_path = scratch.join("stderr.txt");
    let open = |p: &Path| fs::File::create(p).map_err(|e| format!("create {}: {e}", p.display()));
    cmd.stdin(Stdio::null())
        .stdout(open(&scratch.join("stdout.txt"))?)
        .stderr(open(&err_path)?)
        // Own process group, so a timeout also takes down anything npm spawned.
        .process_group(0);
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd.spawn().map_err(|e| format!("spawn {program}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            break status;
        }
        if Instant::now() >= deadline {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            let stderr = fs::read_to_string(&err_path).unwrap_or_default();
            return Err(format!(
                "{program} did not finish within {} s and was killed\n{}",
                timeout.as_secs(),
                tail(&stderr, 3000)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Finished {
        success: status.success(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// The last `max` bytes of `s` (on a char boundary), for error messages.
pub fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
