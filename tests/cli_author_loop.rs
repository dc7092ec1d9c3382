//! The author's loop as a newcomer drives it (issue 18), one `ain-sre` process per step against
//! a spawned `ain-sre dev`: `new`, `deploy` with no key and no `--app`, `call --wait`,
//! `functions list/show`, `calls list/show`, a redeploy, a rollback; what `deploy` says with no
//! key against a chain that is not a dev chain; what `call` says when no worker serves an app;
//! and every `new` template run by `invoke`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A spawned `ain-sre` server (`dev` or `devnet`), stopped with SIGTERM when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

/// `ain-sre` with no key and no node in its environment, as a newcomer's shell has it.
fn ain_sre() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ain-sre"));
    for k in [
        "AIN_SRE_PRIVATE_KEY",
        "AIN_SRE_NODE",
        "AIN_SRE_KEYSTORE_PASSWORD",
        "AIN_SRE_LOG",
        "RUST_LOG",
    ] {
        c.env_remove(k);
    }
    c
}

/// Starts a server with `args` and waits (at most 60 s) for `ready` on its stdout.
fn spawn(args: &[&str], ready: &str) -> Server {
    let mut child = ain_sre()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ain-sre");
    let out = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    let ready = ready.to_owned();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(&ready) {
                let _ = tx.send(Ok(seen.clone()));
            }
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(_)) => server,
        other => panic!("{args:?} did not become ready: {other:?}"),
    }
}

/// Runs `ain-sre args`; returns (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = ain_sre().args(args).output().expect("run ain-sre");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `ain-sre args` and fails the test unless it succeeds; returns its stdout.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let (success, out, err) = run(args);
    assert!(success, "ain-sre {args:?} failed:\n{out}\n{err}");
    out
}

/// A WAT module that prints `v2`, for the redeploy.
const V2_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "v2")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

/// A key that is not the dev chain's.
const OTHER_KEY: &str = "4b1e9c0b6e1d1f6b0cf8e1b4a2f4c2d2a9a0e3c1b7d5f3e9c8a6b4d2f0e1c3a5";

/// The `"output"` of a `call --wait`'s printed response.
fn output_of(call: &str) -> String {
    let start = call.find('{').expect("a response");
    let end = call.rfind('}').unwrap();
    let v: serde_json::Value = serde_json::from_str(&call[start..=end]).expect("response JSON");
    v["output"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_newcomer_runs_the_authors_loop_on_dev_with_no_key() {
    let (port, events, metrics) = (free_port(), free_port(), free_port());
    let _dev = spawn(
        &[
            "dev",
            // The component examples are checked by tests/dev_components.rs.
            "--no-components",
            "--port",
            &port.to_string(),
            "--events-port",
            &events.to_string(),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
        ],
        "serving; Ctrl-C to stop",
    );
    let node = format!("http://127.0.0.1:{port}");
    let n = ["--node", node.as_str()];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hello");
    let dir_s = dir.to_str().unwrap();

    let made = ok(&["new", "hello", "--runtime", "wasm", "--dir", dir_s]);
    assert!(
        made.contains("ain-sre deploy") && dir.join("main.wat").is_file(),
        "{made}"
    );

    // No key, no --app: the dev chain's admin key, app `dev`.
    let d1 = ok(&[&["deploy", dir_s, "--fn", "hello"][..], &n].concat());
    assert!(
        d1.contains("function: /apps/dev/sre/functions/hello"),
        "{d1}"
    );
    assert!(d1.contains("version:  1"), "{d1}");
    assert!(
        d1.contains("signed:   with the dev chain's public admin key"),
        "{d1}"
    );

    // The dev worker serves it at once.
    let c1 = ok(&[
        &[
            "call",
            "--fn",
            "hello",
            "--input",
            "hi-1",
            "--wait",
            "--timeout",
            "20",
        ][..],
        &n,
    ]
    .concat());
    assert_eq!(output_of(&c1), "hi-1", "{c1}");
    let call_id = c1
        .lines()
        .find_map(|l| l.strip_prefix("call:    dev/hello/"))
        .expect("call id")
        .to_owned();

    let list = ok(&[&["functions", "list"][..], &n].concat());
    assert!(list.contains("| hello | 1 | wasm | default |"), "{list}");
    let show = ok(&[&["functions", "show", "--fn", "hello"][..], &n].concat());
    assert!(
        show.contains("version:  1 (current)") && show.contains("retention: last 1000 calls"),
        "{show}"
    );

    let calls = ok(&[&["calls", "list", "--fn", "hello"][..], &n].concat());
    assert!(calls.contains(&format!("| {call_id} | ok |")), "{calls}");
    let one = ok(&[&["calls", "show", "--fn", "hello", &call_id][..], &n].concat());
    assert!(
        one.contains("status:   ok") && one.contains("output:   hi-1"),
        "{one}"
    );

    // Redeploy other code: version 2 serves, version 1 stays reachable.
    let v2 = tmp.path().join("v2.wat");
    std::fs::write(&v2, V2_WAT).unwrap();
    let d2 = ok(&[&["deploy", v2.to_str().unwrap(), "--fn", "hello"][..], &n].concat());
    assert!(d2.contains("version:  2 (replaces 1"), "{d2}");
    let c2 = ok(&[
        &[
            "call",
            "--fn",
            "hello",
            "--input",
            "hi-2",
            "--wait",
            "--timeout",
            "20",
        ][..],
        &n,
    ]
    .concat());
    assert_eq!(output_of(&c2), "v2", "{c2}");
    let old = ok(&[
        &["functions", "show", "--fn", "hello", "--version", "1"][..],
        &n,
    ]
    .concat());
    assert!(old.contains("version:  1 (kept; current is 2)"), "{old}");

    // Roll back: version 1 answers again, version 2 is kept.
    let rb = ok(&[&["deploy", "--rollback", "--fn", "hello"][..], &n].concat());
    assert!(rb.contains("version 1 is current again"), "{rb}");
    let c3 = ok(&[
        &[
            "call",
            "--fn",
            "hello",
            "--input",
            "hi-3",
            "--wait",
            "--timeout",
            "20",
        ][..],
        &n,
    ]
    .concat());
    assert_eq!(output_of(&c3), "hi-3", "{c3}");
    let after = ok(&[
        &["functions", "show", "--fn", "hello", "--version", "2"][..],
        &n,
    ]
    .concat());
    assert!(after.contains("(kept; current is 1)"), "{after}");

    // An app no worker serves: `call` says so instead of only timing out.
    ok(&[
        &["deploy", dir_s, "--fn", "hello", "--app", "lonely"][..],
        &n,
    ]
    .concat());
    let (success, _, err) = run(&[
        &[
            "call",
            "--app",
            "lonely",
            "--fn",
            "hello",
            "--wait",
            "--timeout",
            "2",
        ][..],
        &n,
    ]
    .concat());
    assert!(
        !success && err.contains("no worker is registered in app `lonely`"),
        "{err}"
    );

    // Remove it: the app lists no functions any more.
    let rm = ok(&[
        &["functions", "rm", "--app", "lonely", "--fn", "hello"][..],
        &n,
    ]
    .concat());
    assert!(rm.contains("removed lonely/hello"), "{rm}");
    let none = ok(&[&["functions", "list", "--app", "lonely"][..], &n].concat());
    assert!(none.contains("app lonely has no functions"), "{none}");

    // Mistakes are named, and a deploy every worker would refuse writes nothing.
    let (success, _, err) = run(&[
        &["call", "--app", "nosuch", "--fn", "f", "--input", "x"][..],
        &n,
    ]
    .concat());
    assert!(
        !success && err.contains("app `nosuch` does not exist"),
        "{err}"
    );
    let (success, _, err) = run(&[
        &["deploy", dir_s, "--fn", "g", "--runtime", "cobol"][..],
        &n,
    ]
    .concat());
    assert!(!success && err.contains("unknown runtime `cobol`"), "{err}");
    let (success, _, err) = run(&[
        &["deploy", dir_s, "--fn", "g", "--profile", "turbo"][..],
        &n,
    ]
    .concat());
    assert!(!success && err.contains("unknown profile `turbo`"), "{err}");
    let bad = tmp.path().join("bad.wat");
    std::fs::write(
        &bad,
        r#"(module (import "env" "system" (func)) (func (export "_start")))"#,
    )
    .unwrap();
    let (success, _, err) =
        run(&[&["deploy", bad.to_str().unwrap(), "--fn", "g"][..], &n].concat());
    assert!(
        !success && err.contains("refused before anything was written"),
        "{err}"
    );
    let list = ok(&[&["functions", "list"][..], &n].concat());
    assert!(
        list.contains("| hello |") && !list.contains("| g |"),
        "{list}"
    );

    // A key of one's own on the dev chain, without --app: the error says what to do.
    let out = ain_sre()
        .args([&["deploy", dir_s, "--fn", "g"][..], &n].concat())
        .env("AIN_SRE_PRIVATE_KEY", OTHER_KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("on a dev chain, leave out --keystore"),
        "{err}"
    );
}

#[test]
fn deploy_without_a_key_elsewhere_says_what_is_missing() {
    let (port, events) = (free_port(), free_port());
    // A chain whose validator key is not the public dev key.
    let _chain = spawn(
        &[
            "devnet",
            "--port",
            &port.to_string(),
            "--events-port",
            &events.to_string(),
            "--validator-key",
            OTHER_KEY,
        ],
        "",
    );
    let node = format!("http://127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("echo.wat");
    std::fs::write(&f, V2_WAT).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let err = loop {
        let (success, _, err) = run(&[
            "deploy",
            f.to_str().unwrap(),
            "--fn",
            "f",
            "--app",
            "a",
            "--node",
            &node,
        ]);
        assert!(!success);
        if !err.contains("cannot reach") || std::time::Instant::now() > deadline {
            break err;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        err.contains("no signing key")
            && err.contains("--keystore")
            && err.contains("AIN_SRE_PRIVATE_KEY")
            && err.contains("is not one"),
        "{err}"
    );
    // With a key but no --app: the flag is named.
    let (success, _, err) = {
        let out = ain_sre()
            .args(["deploy", f.to_str().unwrap(), "--fn", "f", "--node", &node])
            .env("AIN_SRE_PRIVATE_KEY", OTHER_KEY)
            .output()
            .unwrap();
        (
            out.status.success(),
            (),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(!success && err.contains("--app is missing"), "{err}");
}

/// Each template `new` writes runs with `invoke` and sees its `--fn` as SRE_FUNCTION.
#[test]
fn every_new_template_runs_with_invoke() {
    let tmp = tempfile::tempdir().unwrap();
    let root = nix::unistd::Uid::effective().is_root();
    for (runtime, program) in [
        ("wasm", None),
        ("python3", Some("python3")),
        ("nodejs", Some("node")),
        ("bash", Some("bash")),
        ("perl", Some("perl")),
        ("native", Some("gcc")),
    ] {
        let dir = tmp.path().join(runtime);
        let d = dir.to_str().unwrap();
        ok(&["new", "tpl", "--runtime", runtime, "--dir", d]);
        assert!(dir.join("README.md").is_file());
        if runtime != "wasm" {
            // Process-tier runtimes need root (namespaces, cgroups).
            if !root {
                common::skip_or_fail(
                    "every_new_template_runs_with_invoke",
                    &format!("{runtime} needs root"),
                );
                continue;
            }
            if common::require_program("every_new_template_runs_with_invoke", program.unwrap())
                .is_none()
            {
                continue;
            }
        }
        if runtime == "native" {
            let built = Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(dir.join("main"))
                .arg(dir.join("main.c"))
                .status()
                .unwrap();
            if !built.success() {
                common::skip_or_fail(
                    "every_new_template_runs_with_invoke",
                    "gcc -static failed (no static libc)",
                );
                continue;
            }
        }
        let out = ok(&["invoke", d, "--fn", "greet", "--input", r#"{"name":"ain"}"#]);
        if runtime == "wasm" {
            assert_eq!(out.trim(), r#"{"name":"ain"}"#, "{runtime}");
        } else {
            assert!(
                out.contains(r#""function":"greet""#) || out.contains(r#""function": "greet""#),
                "{runtime}: {out}"
            );
        }
    }
}

/// `invoke DIR` on a Rust project uses its built module, and says how to build it when there is
/// none.
#[test]
fn invoke_takes_a_rust_project_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("wc");
    std::fs::create_dir_all(proj.join("src")).unwrap();
    std::fs::write(proj.join("Cargo.toml"), "[package]\nname = \"wc\"\n").unwrap();
    let p = proj.to_str().unwrap();
    let (success, _, err) = run(&["invoke", p]);
    assert!(!success && err.contains("wasm32-wasip1"), "{err}");
    let release = proj.join("target/wasm32-wasip1/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(release.join("wc.wasm"), V2_WAT).unwrap();
    assert_eq!(ok(&["invoke", p]).trim(), "v2");
    // The README's example directory, when built (examples/functions/build.sh).
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/functions/rust-wordcount");
    let (_, _, err) = run(&["invoke", example.to_str().unwrap(), "--input", "a b"]);
    assert!(!err.contains("holds no runtime's source file"), "{err}");
}

/// `invoke --timeout-ms` caps the profile's wall deadline as `deploy --timeout-ms` does on chain.
#[test]
fn invoke_takes_deploys_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let spin = tmp.path().join("spin.wat");
    std::fs::write(
        &spin,
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
    )
    .unwrap();
    let (success, _, err) = run(&["invoke", spin.to_str().unwrap(), "--timeout-ms", "200"]);
    assert!(!success && err.contains("status timeout"), "{err}");
    // The default profile's deadline is 5,000 ms: the call ran out of the 200 ms given instead.
    let wall_us: u64 = err
        .split("wall ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("wall time");
    assert!(wall_us < 5_000_000, "{err}");
    let (success, _, err) = run(&["invoke", spin.to_str().unwrap(), "--timeout-ms", "0"]);
    assert!(
        !success && err.contains("--timeout-ms must be at least 1"),
        "{err}"
    );
}
