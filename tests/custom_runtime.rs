//! A runtime defined only in the worker's `runtimes_dir` (`run`'s config file) or `--runtimes-dir`
//! (`dev`, `deploy`) runs end to end on the process tier and on the container tier. The catalogs
//! are loaded in one place and the tiers serve the scheduler's catalog: before, `run` and `dev`
//! started the tiers with the shipped runtimes and such a call was answered `rejected`.
//!
//! Needs root (process tier) and a Docker engine with the `python3` runtime image
//! (`ain-sre runtimes build python3`; container tier): without them the test skips loudly, or
//! fails in strict mode (CI).

mod common;
mod worker_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ain_sre::client::{ChainClient, wait_response};
use ain_sre::config::runtimes::RuntimeCatalog;
use ain_sre::ledger::crypto::PrivateKey;
use ain_sre::ledger::devnet::config::DEFAULT_VALIDATOR_KEY;
use ain_sre::sandbox::container::{Engine, ImageStatus, image_status};
use worker_support::*;

/// A function any python3 interpreter runs, saying which runtime it was deployed as.
const FN_PY: &str = "import os, sys\nprint('custom ' + os.environ.get('SRE_FUNCTION', '?') + ' ' + sys.stdin.read())\n";

/// A runtime file reusing the shipped python3's interpreter (binds, image) under another name,
/// source file and tier list.
fn runtime_file(name: &str, tiers: &str) -> String {
    let shipped = include_str!("../runtimes/python3.toml");
    shipped
        .lines()
        .filter(|l| !l.starts_with("aliases"))
        .map(|l| match l {
            l if l.starts_with("name =") => format!("name = \"{name}\""),
            l if l.starts_with("tiers =") => format!("tiers = [{tiers}]"),
            l if l.starts_with("source_file =") => "source_file = \"fn.py\"".to_owned(),
            l => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `pyproc` (process tier only) and `pybox` (container tier only) in `dir/runtimes`, and their
/// function as `dir/examples/<runtime>/fn.py`.
fn custom_runtimes(dir: &Path) -> (PathBuf, PathBuf) {
    let runtimes = dir.join("runtimes");
    let examples = dir.join("examples");
    std::fs::create_dir_all(&runtimes).unwrap();
    for (name, tiers) in [("pyproc", "\"process\""), ("pybox", "\"container\"")] {
        std::fs::write(
            runtimes.join(format!("{name}.toml")),
            runtime_file(name, tiers),
        )
        .unwrap();
        std::fs::create_dir_all(examples.join(name)).unwrap();
        std::fs::write(examples.join(name).join("fn.py"), FN_PY).unwrap();
    }
    // The files are valid, and define what the tests expect.
    let cat = RuntimeCatalog::load(Some(&runtimes)).unwrap();
    assert_eq!(
        cat.resolve("pyproc").unwrap().tiers,
        [ain_sre::sandbox::Tier::Process]
    );
    assert_eq!(
        cat.resolve("pybox").unwrap().tiers,
        [ain_sre::sandbox::Tier::Container]
    );
    (runtimes, examples)
}

/// Root for the process tier and Docker with the python3 image for the container tier; `false`
/// after a loud skip (a failure in strict mode).
async fn prerequisites(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail(test, "the process tier needs root");
        return false;
    }
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            common::skip_or_fail(test, &format!("no Docker engine: {e}"));
            return false;
        }
    };
    let image = RuntimeCatalog::shipped()
        .unwrap()
        .resolve("python3")
        .unwrap()
        .image
        .clone()
        .unwrap();
    match image_status(&engine.docker, &image).await {
        Ok(ImageStatus::Ready) => true,
        other => {
            common::skip_or_fail(
                test,
                &format!(
                    "runtime image {image} not ready ({other:?}): ain-sre runtimes build python3"
                ),
            );
            false
        }
    }
}

fn ain_sre(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ain-sre"));
    c.args(args)
        .env("AIN_SRE_LOG", "warn")
        .env_remove("AIN_SRE_PRIVATE_KEY");
    c
}

fn ok(out: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Stops a worker or `dev` process the way an operator does (SIGTERM: it drains and releases its
/// sandboxes), killing it if it does not exit in time.
fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtimes_dir_runtime_runs_on_the_process_and_container_tiers_under_run() {
    let test = "custom_runtime_under_run";
    if !prerequisites(test).await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (runtimes, examples) = custom_runtimes(dir.path());
    let dev = chain(0, 0, None).await;
    let (rpc, events) = (dev.rpc_url(), dev.events_url());

    // `deploy` knows the runtimes only from --runtimes-dir.
    let deploy = |function: &str, runtime: &str, with_dir: bool| {
        let file = examples.join(runtime).join("fn.py");
        let mut args = vec![
            "deploy",
            file.to_str().unwrap(),
            "--app",
            "custom",
            "--fn",
            function,
            "--runtime",
            runtime,
            "--node",
            &rpc,
        ];
        if with_dir {
            args.extend(["--runtimes-dir", runtimes.to_str().unwrap()]);
        }
        ain_sre(&args)
            .env("AIN_SRE_PRIVATE_KEY", DEFAULT_VALIDATOR_KEY)
            .output()
            .unwrap()
    };
    let refused = deploy("proc", "pyproc", false);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("unknown runtime `pyproc`"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    ok(deploy("proc", "pyproc", true), "deploy pyproc");
    ok(deploy("box", "pybox", true), "deploy pybox");

    let key = PrivateKey::generate();
    admin(&rpc)
        .await
        .approve_worker("custom", &key.address())
        .await
        .unwrap();
    let config = dir.path().join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "node = \"{rpc}\"\nevents = \"{events}\"\napps = [\"custom\"]\ndata_dir = \"{}\"\n\
             runtimes_dir = \"{}\"\ngrace_period_ms = 3000\n",
            dir.path().join("data").display(),
            runtimes.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("worker.log")).unwrap();
    let worker = ain_sre(&["run", "--config", config.to_str().unwrap(), "--register"])
        .env("AIN_SRE_PRIVATE_KEY", hex::encode(key.secret_bytes()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();

    let caller = ChainClient::connect(&rpc, PrivateKey::generate())
        .await
        .unwrap();
    let mut answers = Vec::new();
    for (function, runtime, tier) in [("proc", "pyproc", "process"), ("box", "pybox", "container")]
    {
        let (id, _) = caller.call("custom", function, "in").await.unwrap();
        let resp = wait_response(
            caller.rpc(),
            "custom",
            function,
            &id,
            Duration::from_secs(60),
        )
        .await;
        answers.push((function, runtime, tier, resp));
    }
    stop(worker);
    let log = std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default();
    for (function, runtime, tier, resp) in answers {
        let resp = resp.unwrap_or_else(|e| panic!("{function}: no response: {e}\n{log}"));
        assert_eq!(resp["status"], "ok", "{function}: {resp}\n{log}");
        assert_eq!(
            resp["output"].as_str().map(str::trim),
            Some(format!("custom {function} in").as_str()),
            "{resp}"
        );
        assert_eq!(resp["receipt"]["sandbox"], tier, "{resp}");
        assert_eq!(resp["receipt"]["runtime"], runtime, "{resp}");
    }
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtimes_dir_runtime_runs_on_the_process_and_container_tiers_under_dev() {
    let test = "custom_runtime_under_dev";
    if !prerequisites(test).await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (runtimes, examples) = custom_runtimes(dir.path());
    let (port, events, metrics) = (free_port(), free_port(), free_port());
    let metrics = format!("127.0.0.1:{metrics}");
    let out = tokio::task::spawn_blocking(move || {
        ain_sre(&[
            "dev",
            "--check-only",
            "--port",
            &port.to_string(),
            "--events-port",
            &events.to_string(),
            "--metrics-addr",
            &metrics,
            "--runtimes-dir",
            runtimes.to_str().unwrap(),
            "--examples",
            examples.to_str().unwrap(),
        ])
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    // Every example answered `ok` (the exit status says so), on the tier its runtime names.
    let table = ok(out, "ain-sre dev --check-only");
    for (runtime, tier) in [
        ("pyproc", "process"),
        ("pybox", "container"),
        ("wasm", "wasm"),
    ] {
        let row = table
            .lines()
            .find(|l| l.split('|').nth(2).map(str::trim) == Some(runtime))
            .unwrap_or_else(|| panic!("no self-check row for {runtime}:\n{table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[3], tier, "{row}");
        assert_eq!(cells[4], "ok", "{row}");
    }
}
