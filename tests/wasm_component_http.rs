//! `wasi:http` from components goes through the call's egress proxy (issue 21): a Python
//! component (`import sre_http`) reaches an allowed loopback server with the call's
//! idempotency key, is denied a destination off its allow-list and everything when the call has
//! no egress, is cut at the byte cap, and opens HTTPS as a `CONNECT` tunnel; every attempt is in
//! the call's egress records (the receipt's summary).
//!
//! Needs `componentize-py` (see tests/wasm_component.rs): skips loudly without it, fails in
//! strict mode.

mod common;
mod component_support;

use component_support::{cache_dir, component};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ain_sre::egress::{Bounds, Caps, EgressCall, EgressHandle, EgressPolicy, OperatorEgress};
use ain_sre::sandbox::wasm::package::Language;
use ain_sre::sandbox::wasm::{WasmConfig, WasmSandbox};
use ain_sre::sandbox::{FunctionCode, Invocation, Limits, NetworkPolicy, Outcome, Sandbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Reads `METHOD URL` (and an optional body after a newline) from stdin, makes the request,
/// prints `status body` or `error <code>`.
const FETCH: &str = r#"import sys, sre_http
line, _, body = sys.stdin.read().partition("\n")
method, url = line.split(" ", 1)
try:
    status, headers, answer = sre_http.request(method, url, body=body or None,
                                               headers={"X-Test": "yes"})
    print(status, answer.decode(), end="")
except sre_http.HttpError as e:
    print("error", e, end="")
"#;

fn sandbox() -> WasmSandbox {
    WasmSandbox::new(WasmConfig {
        max_concurrency: 2,
        cache_dir: Some(cache_dir().join("compiled")),
        ..WasmConfig::default()
    })
    .expect("wasm engine")
}

/// A loopback HTTP server answering each request with `<path> key=<Idempotency-Key>
/// test=<X-Test> body=<body>`, then `pad` bytes of `x`; counts the connections it accepted.
async fn server(pad: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default()
                };
                let len: usize = header("content-length").parse().unwrap_or(0);
                while buf.len() < head_end + len {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let reply = format!(
                    "{path} key={} test={} body={body}{}",
                    header("idempotency-key"),
                    header("x-test"),
                    "x".repeat(pad)
                );
                let msg = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = s.write_all(msg.as_bytes()).await;
            });
        }
    });
    (port, accepted)
}

/// A loopback server that answers whatever arrives with a line of plain text and closes.
async fn not_tls() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 400 this is not TLS\r\n\r\n").await;
        }
    });
    port
}

fn egress(allow: &[String], bounds: Bounds) -> Arc<EgressCall> {
    let policy = EgressPolicy::parse(allow, Caps::default()).unwrap();
    let operator = Arc::new(OperatorEgress::allowing(&["127.0.0.1/32".into()]).unwrap());
    EgressCall::new(policy, operator, bounds, "app/fetch/c1".into())
}

async fn run(
    sb: &WasmSandbox,
    code: &FunctionCode,
    input: String,
    egress: Option<&Arc<EgressCall>>,
) -> String {
    let prepared = sb.prepare(code).await.expect("prepare");
    let limits = Limits {
        wall_time: Duration::from_secs(10),
        memory_bytes: 256 << 20,
        network: egress.map_or(NetworkPolicy::None, |e| {
            NetworkPolicy::Proxy(EgressHandle(e.clone()))
        }),
        ..Limits::default()
    };
    let call = Invocation {
        input: Arc::<[u8]>::from(input.as_bytes()).into(),
        env: vec![("SRE_FUNCTION".into(), "fetch".into())],
        limits,
    };
    match sb.run(&prepared, call).await.expect("run") {
        Outcome::Completed {
            stdout,
            exit_code: 0,
            ..
        } => String::from_utf8_lossy(&stdout).into_owned(),
        other => panic!("expected completion, got {other:?}"),
    }
}

/// Polls until the call's records number `n` (a record is written as its connection ends).
async fn records(e: &EgressCall, n: usize) -> Vec<ain_sre::egress::ConnectionRecord> {
    for _ in 0..300 {
        if e.records().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    e.records()
}

#[tokio::test]
async fn python_component_http_goes_through_the_egress_proxy() {
    let test = "python_component_http_goes_through_the_egress_proxy";
    let Some(code) = component(test, Language::Python, FETCH) else {
        return;
    };
    let sb = sandbox();
    let (port, accepted) = server(0).await;
    let (other, other_accepted) = server(0).await;
    let allowed = format!("127.0.0.1:{port}");

    // Allowed: reached through the proxy, keyed by the call, with the guest's own header and
    // body; recorded.
    let e = egress(std::slice::from_ref(&allowed), Bounds::default());
    let out = run(
        &sb,
        &code,
        format!("POST http://{allowed}/v1/items?q=1\nhello"),
        Some(&e),
    )
    .await;
    assert_eq!(
        out, "200 /v1/items?q=1 key=app/fetch/c1 test=yes body=hello",
        "{out}"
    );
    let recs = records(&e, 1).await;
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert!(recs[0].allowed && recs[0].method == "POST" && recs[0].bytes_in > 0);
    assert_eq!(e.summary().connections, 1);

    // Off the allow-list: denied, never connected, recorded as refused.
    let e = egress(std::slice::from_ref(&allowed), Bounds::default());
    let out = run(
        &sb,
        &code,
        format!("GET http://127.0.0.1:{other}/"),
        Some(&e),
    )
    .await;
    assert_eq!(out, "error HttpRequestDenied", "{out}");
    let recs = records(&e, 1).await;
    assert!(!recs[0].allowed && recs[0].port == other, "{recs:?}");
    assert_eq!(other_accepted.load(Ordering::SeqCst), 0);

    // No egress for the call: denied before any connection is made.
    let before = accepted.load(Ordering::SeqCst);
    let out = run(&sb, &code, format!("GET http://{allowed}/"), None).await;
    assert_eq!(out, "error HttpRequestDenied", "{out}");
    assert_eq!(accepted.load(Ordering::SeqCst), before);

    // HTTPS: a CONNECT tunnel through the proxy (the server here answers the TLS hello with
    // plain text, so the handshake fails after the tunnel was allowed and opened).
    let plain = not_tls().await;
    let e = egress(&[format!("127.0.0.1:{plain}")], Bounds::default());
    let out = run(
        &sb,
        &code,
        format!("GET https://127.0.0.1:{plain}/"),
        Some(&e),
    )
    .await;
    assert!(out.starts_with("error "), "{out}");
    assert_ne!(out, "error HttpRequestDenied");
    let recs = records(&e, 1).await;
    assert!(recs[0].allowed && recs[0].method == "CONNECT", "{recs:?}");
    // And a refused HTTPS destination is denied at the CONNECT.
    let e = egress(std::slice::from_ref(&allowed), Bounds::default());
    let out = run(&sb, &code, "GET https://example.com/".into(), Some(&e)).await;
    assert_eq!(out, "error HttpRequestDenied", "{out}");
    let recs = records(&e, 1).await;
    assert!(
        !recs[0].allowed && recs[0].host == "example.com",
        "{recs:?}"
    );
}

#[tokio::test]
async fn python_component_http_is_cut_at_the_byte_cap() {
    let test = "python_component_http_is_cut_at_the_byte_cap";
    let Some(code) = component(test, Language::Python, FETCH) else {
        return;
    };
    let sb = sandbox();
    let (port, _) = server(64 << 10).await;
    let allowed = format!("127.0.0.1:{port}");
    let bounds = Bounds {
        bytes_in: 16 << 10,
        ..Bounds::default()
    };
    let e = egress(std::slice::from_ref(&allowed), bounds);
    let out = run(&sb, &code, format!("GET http://{allowed}/big"), Some(&e)).await;
    assert!(
        out.starts_with("error "),
        "a cut response is an error: {out}"
    );
    let recs = records(&e, 1).await;
    assert!(
        recs[0]
            .why
            .as_deref()
            .is_some_and(|w| w.contains("bytes_in cap")),
        "{recs:?}"
    );
    assert!(recs[0].bytes_in <= 16 << 10, "{recs:?}");
}

/// A direct socket never works from a component, egress or not: `wasi:sockets` is linked only
/// because every packager's C library imports it, and it is inert (no TCP, no UDP, no lookup,
/// every address refused). Egress exists only through `wasi:http` and the proxy.
const SOCKET: &str = r#"import sys, socket
port = int(sys.stdin.read())
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    print("connected", end="")
except Exception as e:
    print("refused", type(e).__name__, end="")
"#;

#[tokio::test]
async fn python_component_direct_sockets_fail_even_with_egress() {
    let test = "python_component_direct_sockets_fail_even_with_egress";
    let Some(code) = component(test, Language::Python, SOCKET) else {
        return;
    };
    let sb = sandbox();
    let (port, accepted) = server(0).await;
    let e = egress(&[format!("127.0.0.1:{port}")], Bounds::default());
    for egress in [Some(&e), None] {
        let out = run(&sb, &code, port.to_string(), egress).await;
        assert!(out.starts_with("refused"), "{out}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
    assert!(e.records().is_empty());
}
