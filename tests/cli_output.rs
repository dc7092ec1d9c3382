//! The CLI's output to a reader that went away: `ain-sre ... | head -1` ends quietly.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    // A pipe whose read end is already closed: every write to stdout fails with EPIPE.
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["runtimes", "list"])
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run ain-sre");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn call_refuses_a_zero_timeout() {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "call",
            "--app",
            "a",
            "--fn",
            "f",
            "--wait",
            "--timeout",
            "0",
        ])
        .output()
        .expect("run ain-sre");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--timeout") && stderr.contains("0"),
        "{stderr}"
    );
}

#[test]
fn with_json_logs_every_line_on_stderr_is_json() {
    // `run` against a node that is not there: start-up gives up after --node-wait; each line it
    // wrote, the final error included, must be a JSON object.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "--log-format",
            "json",
            "run",
            "--node",
            "http://127.0.0.1:9/json-rpc",
            "--events",
            "ws://127.0.0.1:9/",
            "--app",
            "a",
            "--node-wait",
            "2",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env(
            "AIN_SRE_PRIVATE_KEY",
            "0x4207e9eb1b0b2a7e8a3ac2b1a1d6b3c4e5f60718293a4b5c6d7e8f9012345678",
        )
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run ain-sre");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.trim().is_empty());
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n--- all:\n{stderr}"));
        assert!(v.is_object(), "{line}");
    }
    assert!(stderr.contains("\"level\":\"ERROR\""), "{stderr}");
}

/// `ain-sre ARGS` → (exit code, stderr).
fn ain_sre(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(args)
        .env(
            "AIN_SRE_PRIVATE_KEY",
            "0x4207e9eb1b0b2a7e8a3ac2b1a1d6b3c4e5f60718293a4b5c6d7e8f9012345678",
        )
        .output()
        .expect("run ain-sre");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn errors_name_what_they_are_about_once() {
    let (code, err) = ain_sre(&[
        "call",
        "--app",
        "a",
        "--fn",
        "f",
        "--input",
        "@/nonexistent/in.json",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("/nonexistent/in.json") && err.contains("No such file"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("in.bin");
    std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
    let (_, err) = ain_sre(&[
        "call",
        "--app",
        "a",
        "--fn",
        "f",
        "--input",
        &format!("@{}", bin.display()),
    ]);
    assert!(err.contains("not UTF-8") && err.contains("base64"), "{err}");
    // A listener that is not a node: the status, the URL and a hint, not a page of HTML.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming().flatten().take(4) {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<!DOCTYPE html>\n<html><body>Not Found</body></html>\n";
            let _ = write!(
                s,
                "HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let url = format!("http://{addr}/rpc");
    let (code, err) = ain_sre(&["workers", "list", "--app", "a", "--node", &url]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("404") && err.contains(&url) && err.contains("/json-rpc"),
        "{err}"
    );
    assert!(!err.contains("</html>"), "{err}");
    // A busy port: the OS error once.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (_, err) = ain_sre(&["devnet", "--port", &port]);
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
}

#[test]
fn runtimes_list_shows_aliases() {
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args(["runtimes", "list"])
        .output()
        .expect("run ain-sre");
    let text = String::from_utf8_lossy(&out.stdout);
    let py = text
        .lines()
        .find(|l| l.starts_with("python3"))
        .expect("python3 listed");
    assert!(py.contains("aliases=python,py"), "{py}");
}

#[test]
fn a_wasm_invoke_starts_no_container_engine_client() {
    // Only the tiers the runtime can use start: no engine connection, so no warning about the
    // engine's runc either (this host's runc is old enough to draw one).
    let out = Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "invoke",
            "examples/functions/echo.wat",
            "--input",
            "{\"a\":1}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ain-sre");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "{\"a\":1}");
    assert!(!stderr.contains("runc"), "{stderr}");
}
