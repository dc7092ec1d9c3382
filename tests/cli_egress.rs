//! `ain-sre invoke --allow-net`: the example API function reaches a local server through the
//! proxy (the operator list opens loopback), the report shows the egress, and bad allow-lists
//! fail before anything runs. The process tier needs root (strict mode fails otherwise).

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output};

/// A one-thread HTTP server on loopback answering each request with the headers it got.
fn api() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut b) {
                got.extend_from_slice(&b[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&got).replace("\r\n", "|");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
                head.len()
            );
        }
    });
    port
}

fn invoke(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .arg("invoke")
        .args(args)
        .env(
            "AIN_SRE_JAIL",
            std::path::Path::new(env!("CARGO_BIN_EXE_ain-sre")).with_file_name("ain-sre-jail"),
        )
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ain-sre")
}

#[test]
fn the_api_example_reaches_an_allowed_local_server_through_the_proxy() {
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail("cli_egress", "the process tier needs root");
        return;
    }
    let port = api();
    let dest = format!("127.0.0.1:{port}");
    let input = format!("{{\"url\": \"http://{dest}/quote\"}}");
    let base = [
        "examples/functions/python3-api",
        "--fn",
        "quote",
        "--tier",
        "process",
    ];
    let out = invoke(
        &[
            &base[..],
            &[
                "--input",
                &input,
                "--allow-net",
                &dest,
                "--operator-allow",
                "127.0.0.1/32",
                "--json",
            ],
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let result: serde_json::Value = serde_json::from_str(v["output"].as_str().unwrap()).unwrap();
    assert_eq!(result["status"], 200);
    assert_eq!(result["egress"], true);
    let body = result["body"].as_str().unwrap();
    assert!(body.starts_with("GET /quote HTTP/1.1|"), "{body}");
    assert!(
        body.contains("Idempotency-Key: local/quote/local-0|"),
        "{body}"
    );
    assert_eq!(v["egress"]["connections"], 1);
    assert_eq!(v["egress"]["hosts"], dest);

    // Without the operator's list, loopback stays closed: the call fails, the refusal is shown.
    let out = invoke(&[&base[..], &["--input", &input, "--allow-net", &dest]].concat());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "egress: 0 connections, 0 B out, 0 B in, 1 refused ({dest})"
        )),
        "{err}"
    );
}

#[test]
fn bad_allow_lists_fail_before_anything_runs() {
    for (entry, want) in [
        ("*:443", "bare `*`"),
        ("api.example.com:70000", "between 1 and 65535"),
        ("api.example.com", "HOST:PORT"),
    ] {
        let out = invoke(&["examples/functions/python3-api", "--allow-net", entry]);
        assert_eq!(out.status.code(), Some(1), "{entry}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{entry}: {err}");
    }
    let out = invoke(&[
        "examples/functions/python3-api",
        "--allow-net",
        "a.example:1",
        "--profile",
        "strict",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("allows no egress"));
}
