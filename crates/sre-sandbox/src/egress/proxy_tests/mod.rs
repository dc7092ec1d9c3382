//! The proxy against local servers on loopback, which the tests' operator list allows: requests,
//! refusals and caps on connections here; tunnels and byte caps in `tunnel.rs`; keep-alive in
//! `keep_alive.rs`.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::egress::{Bounds, Caps, EgressCall, EgressPolicy, OperatorEgress};

/// An upstream that answers every connection with what `reply` makes of the bytes it got
/// (read until the client half-closes or 4 KiB arrive, or the head ends).
async fn upstream(reply: fn(Vec<u8>) -> Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut b).await {
                    got.extend_from_slice(&b[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") || got.ends_with(b"\n") {
                        break;
                    }
                }
                let _ = s.write_all(&reply(got)).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

fn call(allow: &[String], operator: OperatorEgress, bounds: Bounds) -> Arc<EgressCall> {
    EgressCall::new(
        EgressPolicy::parse(allow, Caps::default()).unwrap(),
        Arc::new(operator),
        bounds,
        "app/fn/call-1".into(),
    )
}

fn loopback_ok() -> OperatorEgress {
    OperatorEgress::allowing(&["127.0.0.1/32".into()]).unwrap()
}

async fn exchange(proxy: u16, request: &[u8]) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", proxy)).await.unwrap();
    c.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

#[tokio::test]
async fn connect_tunnels_to_an_allowed_destination_and_is_recorded() {
    let up = upstream(|got| [b"echo:".as_slice(), &got].concat()).await;
    let c = call(
        &[format!("127.0.0.1:{up}")],
        loopback_ok(),
        Bounds::default(),
    );
    let g = c.serve(listener()).unwrap();
    let out = exchange(
        g.port(),
        format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\nHost: x\r\n\r\nping\n").as_bytes(),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("echo:ping\n"), "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let recs = c.records();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert!(r.allowed);
    assert_eq!(r.addr.unwrap().port(), up);
    assert_eq!((r.bytes_out, r.bytes_in), (5, 10));
    let s = c.summary();
    assert_eq!(s.hosts, format!("127.0.0.1:{up}"));
}

#[tokio::test]
async fn plain_http_is_forwarded_in_origin_form_with_the_idempotency_key() {
    let up = upstream(|got| {
        let body = String::from_utf8_lossy(&got).replace("\r\n", "|");
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
    .await;
    let c = call(
        &[format!("127.0.0.1:{up}")],
        loopback_ok(),
        Bounds::default(),
    );
    let g = c.serve(listener()).unwrap();
    let req = format!(
        "POST http://127.0.0.1:{up}/pay?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{up}\r\n\
         Proxy-Connection: keep-alive\r\nIdempotency-Key: forged\r\nConnection: close\r\n\r\n"
    );
    let out = exchange(g.port(), req.as_bytes()).await;
    assert!(
        out.contains("|POST /pay?x=1 HTTP/1.1|") || out.contains("POST /pay?x=1 HTTP/1.1|"),
        "{out}"
    );
    assert!(out.contains("Idempotency-Key: app/fn/call-1|"), "{out}");
    assert!(
        !out.contains("forged") && !out.contains("Proxy-Connection"),
        "{out}"
    );
    assert!(out.contains("Connection: close"), "{out}");
}

#[tokio::test]
async fn destinations_off_the_list_are_refused_with_a_reason() {
    let up = upstream(|_| b"secret".to_vec()).await;
    let c = call(
        &["127.0.0.1:1".to_owned()],
        loopback_ok(),
        Bounds::default(),
    );
    let g = c.serve(listener()).unwrap();
    let out = exchange(
        g.port(),
        format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(out.contains("not on the function's allow-list"), "{out}");
    assert!(!out.contains("secret"));
    let out = exchange(
        g.port(),
        format!("GET http://example.invalid:{up}/ HTTP/1.1\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    let s = c.summary();
    assert_eq!((s.connections, s.refused), (0, 2));
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_unless_the_operator_allows_it() {
    let up = upstream(|_| b"secret".to_vec()).await;
    // The function lists the name and the literal; the operator opens nothing.
    let allow = [format!("localhost:{up}"), format!("127.0.0.1:{up}")];
    let c = call(&allow, OperatorEgress::default(), Bounds::default());
    let g = c.serve(listener()).unwrap();
    for target in [format!("localhost:{up}"), format!("127.0.0.1:{up}")] {
        let out = exchange(
            g.port(),
            format!("CONNECT {target} HTTP/1.1\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 403"), "{target}: {out}");
        assert!(out.contains("loopback"), "{target}: {out}");
    }
    // Denied by the operator outright.
    let c = call(&allow, OperatorEgress::deny_all(), Bounds::default());
    let g = c.serve(listener()).unwrap();
    let out = exchange(
        g.port(),
        format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(out.contains("offers no egress"), "{out}");
}

#[tokio::test]
async fn the_connection_cap_counts_every_attempt() {
    let up = upstream(|_| b"ok".to_vec()).await;
    let bounds = Bounds {
        connections: 2,
        ..Bounds::default()
    };
    let c = call(&[format!("127.0.0.1:{up}")], loopback_ok(), bounds);
    let g = c.serve(listener()).unwrap();
    let req = format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\n\r\n\n");
    for _ in 0..2 {
        assert!(
            exchange(g.port(), req.as_bytes())
                .await
                .starts_with("HTTP/1.1 200")
        );
    }
    let out = exchange(g.port(), req.as_bytes()).await;
    assert!(out.contains("connection cap of 2"), "{out}");
}

mod keep_alive;
mod tunnel;

#[tokio::test]
async fn malformed_requests_get_400() {
    let c = call(&["a.example:1".into()], loopback_ok(), Bounds::default());
    let g = c.serve(listener()).unwrap();
    for req in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET https://a.example/ HTTP/1.1\r\n\r\n",
        "CONNECT a.example HTTP/1.1\r\n\r\n",
        "garbage\r\n\r\n",
    ] {
        let out = exchange(g.port(), req.as_bytes()).await;
        assert!(out.starts_with("HTTP/1.1 400"), "{req}: {out}");
    }
}
