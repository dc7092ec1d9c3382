//! Egress on the process tier (SECURITY.md row 32): the guest reaches an allowed local server
//! through the worker's proxy, which is the only endpoint in its network namespace; everything
//! else — other destinations, names resolving to loopback, direct TCP/UDP, DNS, the host's own
//! ports — fails, and the caps hold. The upstream servers listen on the host's loopback, which the
//! test's operator list (`127.0.0.1/32`) opens. Needs root (strict mode fails otherwise).

mod common;
mod process_common;

use std::sync::Arc;
use std::time::Duration;

use ain_sre::egress::{Bounds, Caps, EgressCall, EgressHandle, EgressPolicy, OperatorEgress};
use ain_sre::sandbox::{Failure, Limits, NetworkPolicy, Outcome};
use process_common::{Jail, text_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A local HTTP server: `/big` answers 4 MiB, `/slow` never answers, anything else answers the
/// request head it got (so the test sees the headers the proxy sent).
async fn server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut b).await {
                    got.extend_from_slice(&b[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&got).into_owned();
                if head.contains(" /slow ") {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let body = if head.contains(" /big ") {
                    vec![b'x'; 4 << 20]
                } else {
                    head.into_bytes()
                };
                let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = s.write_all(h.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    port
}

fn egress(allow: &[String], operator: OperatorEgress, bounds: Bounds) -> Arc<EgressCall> {
    EgressCall::new(
        EgressPolicy::parse(allow, Caps::default()).unwrap(),
        Arc::new(operator),
        bounds,
        "app/t/c1".into(),
    )
}

fn loopback_operator() -> OperatorEgress {
    OperatorEgress::allowing(&["127.0.0.1/32".into()]).unwrap()
}

fn limits(e: &Arc<EgressCall>) -> Limits {
    Limits {
        network: NetworkPolicy::Proxy(EgressHandle(e.clone())),
        wall_time: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// python3: GET each URL through the proxy (urllib reads `http_proxy`), print status per line.
const FETCH: &str = r#"
import os, sys, urllib.request, urllib.error
print("egress", os.environ.get("SRE_EGRESS"), os.environ.get("SRE_IDEMPOTENCY_KEY"))
for url in sys.stdin.read().split():
    try:
        body = urllib.request.urlopen(url, timeout=3).read()
        print("ok", len(body), body.decode(errors="replace").replace("\r\n", "|")[:400])
    except urllib.error.HTTPError as e:
        print("http", e.code, e.read().decode(errors="replace").strip())
    except Exception as e:
        print("err", type(e).__name__)
"#;

#[tokio::test]
async fn an_allowed_host_is_reached_through_the_proxy_and_nothing_else_is() {
    let Some(j) = Jail::new("egress-basic", 0).await else {
        return;
    };
    let up = server().await;
    let other = server().await;
    let e = egress(
        &[format!("127.0.0.1:{up}"), format!("localhost:{other}")],
        loopback_operator(),
        Bounds::default(),
    );
    let input = format!(
        "http://127.0.0.1:{up}/hello http://127.0.0.1:{other}/x http://localhost:{other}/y"
    );
    let out = j
        .run("python3", FETCH.as_bytes(), input.as_bytes(), limits(&e))
        .await;
    let text = text_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "egress 1 app/t/c1", "{out:?}");
    assert!(lines.len() == 4, "{out:?}");
    // Allowed: reached, in origin form, with the call's idempotency key.
    assert!(lines[1].starts_with("ok "), "{text}");
    assert!(lines[1].contains("GET /hello HTTP/1.1|"), "{text}");
    assert!(lines[1].contains("Idempotency-Key: app/t/c1|"), "{text}");
    // Not on the list: refused by the proxy.
    assert!(
        lines[2].starts_with("http 403") && lines[2].contains("allow-list"),
        "{text}"
    );
    // On the list by name, but the name resolves to loopback, which only 127.0.0.1/32 of the
    // operator's list opens: `localhost` may resolve to ::1 first, or to 127.0.0.1 (allowed).
    let summary = e.summary();
    assert_eq!(summary.connections + summary.refused, 3, "{summary:?}");
    assert!(
        summary.hosts.contains(&format!("127.0.0.1:{up}")),
        "{summary:?}"
    );
    assert!(
        summary
            .refused_hosts
            .contains(&format!("127.0.0.1:{other}")),
        "{summary:?}"
    );

    // With no operator list, the same names and literals are refused as loopback.
    let e = egress(
        &[format!("localhost:{up}"), format!("127.0.0.1:{up}")],
        OperatorEgress::default(),
        Bounds::default(),
    );
    let input = format!("http://localhost:{up}/a http://127.0.0.1:{up}/b");
    let out = j
        .run("python3", FETCH.as_bytes(), input.as_bytes(), limits(&e))
        .await;
    let text = text_of(&out);
    for line in text.lines().skip(1) {
        assert!(
            line.starts_with("http 403") && line.contains("loopback"),
            "{text}"
        );
    }
    assert_eq!(e.summary().refused, 2);
    j.finish().await;
}

/// python3: direct TCP to the host's server port and a public address, UDP to a resolver, a DNS
/// lookup: every one must fail.
const DIRECT: &str = r#"
import socket, sys
port = int(sys.stdin.read())
def attempt(name, f):
    try:
        f(); print(name, "REACHED")
    except Exception as e:
        print(name, "failed", type(e).__name__)
attempt("tcp-host-port", lambda: socket.create_connection(("127.0.0.1", port), timeout=2))
attempt("tcp-public", lambda: socket.create_connection(("1.1.1.1", 80), timeout=2))
attempt("tcp6", lambda: socket.create_connection(("::1", port), timeout=2))
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"\0" * 12, ("8.8.8.8", 53))
    s.recvfrom(512)
attempt("udp-dns", udp)
attempt("dns-lookup", lambda: socket.getaddrinfo("example.com", 80))
attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
"#;

#[tokio::test]
async fn direct_connections_dns_and_the_hosts_ports_are_unreachable() {
    let Some(j) = Jail::new("egress-direct", 0).await else {
        return;
    };
    // The server stands for the worker's own RPC/metrics ports on the host's loopback: even
    // listed and operator-allowed, it is reachable only through the proxy, never directly.
    let up = server().await;
    let e = egress(
        &[format!("127.0.0.1:{up}")],
        loopback_operator(),
        Bounds::default(),
    );
    let out = j
        .run(
            "python3",
            DIRECT.as_bytes(),
            up.to_string().as_bytes(),
            limits(&e),
        )
        .await;
    let text = text_of(&out);
    assert_eq!(text.lines().count(), 7, "{text}");
    for line in text.lines() {
        assert!(line.contains(" failed "), "{text}");
    }
    // Nothing went through the proxy.
    assert_eq!(e.records().len(), 0);
    j.finish().await;
}

#[tokio::test]
async fn caps_hold_connections_bytes_and_time() {
    let Some(j) = Jail::new("egress-caps", 0).await else {
        return;
    };
    let up = server().await;
    let bounds = Bounds {
        connections: 2,
        bytes_in: 1 << 20,
        ..Bounds::default()
    };
    let e = egress(&[format!("127.0.0.1:{up}")], loopback_operator(), bounds);
    let input =
        format!("http://127.0.0.1:{up}/a http://127.0.0.1:{up}/big http://127.0.0.1:{up}/c");
    let out = j
        .run("python3", FETCH.as_bytes(), input.as_bytes(), limits(&e))
        .await;
    let text = text_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("ok "), "{text}");
    // 4 MiB against a 1 MiB cap: cut (urllib sees a short read).
    assert!(!lines[2].starts_with("ok 4194304"), "{text}");
    assert!(lines[3].contains("connection cap of 2"), "{text}");
    let recs = e.records();
    assert!(
        recs[1]
            .why
            .as_deref()
            .unwrap_or("")
            .contains("bytes_in cap"),
        "{recs:?}"
    );
    assert!(recs[1].bytes_in <= 1 << 20, "{recs:?}");

    // Time: a destination that never answers cannot hold the call past its deadline.
    let e = egress(
        &[format!("127.0.0.1:{up}")],
        loopback_operator(),
        Bounds::default(),
    );
    let mut l = limits(&e);
    l.wall_time = Duration::from_millis(1500);
    let slow = "import urllib.request,sys\nurllib.request.urlopen(sys.stdin.read()).read()\n";
    let t = std::time::Instant::now();
    let out = j
        .run(
            "python3",
            slow.as_bytes(),
            format!("http://127.0.0.1:{up}/slow").as_bytes(),
            l,
        )
        .await;
    assert!(
        matches!(
            out,
            Outcome::Failed {
                failure: Failure::Timeout,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    j.finish().await;
}

#[tokio::test]
async fn a_call_without_egress_still_has_no_inet_sockets() {
    let Some(j) = Jail::new("egress-none", 0).await else {
        return;
    };
    let src = "import socket\ntry:\n    socket.socket(); print('socket')\nexcept OSError as e:\n    print('refused', e.errno)\n";
    let out = j.py(src, Limits::default()).await;
    assert_eq!(text_of(&out).trim(), "refused 1", "{out:?}");
    j.finish().await;
}
