//! SECURITY.md row 32: egress beyond the allow-list. The guest gets the worker's proxy and a
//! policy listing one local server plus restricted addresses (metadata, private, IPv6
//! loopback) and names that resolve to restricted addresses (`127.2` → 127.0.0.2, where a
//! server answers; `2852039166` → 169.254.169.254; `10.1` → 10.0.0.1); the operator list opens
//! `127.0.0.1/32` only. The allowed server must answer through the proxy and nothing else may:
//! not a second local server standing for the worker's own RPC/metrics ports, not the listed
//! restricted addresses or names, not any direct TCP/UDP, not DNS (and the proxy must not
//! resolve names off the list); the byte cap must stop the download exactly at the cap, the
//! connection cap refuse what exceeds it, and a tunnel held open to a silent server must end
//! with the call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Res, Target, Verdict, ensure, limits, probe, py, verdict};
use crate::egress::{Bounds, Caps, EgressCall, EgressHandle, EgressPolicy, OperatorEgress};
use crate::sandbox::{NetworkPolicy, Tier};

/// Bytes `/big` answers; the call's `bytes_in` cap is a quarter of it.
const BIG: usize = 256 << 10;

/// Row 32.
pub(super) async fn egress_proxy(t: &Target<'_>) -> Verdict {
    if t.tier == Tier::Wasm {
        return Verdict::NotApplicable(
            "modules import no sockets; WASM egress comes with wasi:http through the same proxy"
                .into(),
        );
    }
    verdict(check(t).await)
}

/// Listed names and the class of address each resolves to (by the system resolver's numeric
/// forms, so no DNS server is needed); the first one's address has a server on it.
fn names(loopback2: u16) -> [(String, &'static str); 3] {
    [
        (format!("127.2:{loopback2}"), "loopback"),
        ("2852039166:80".into(), "cloud metadata"),
        ("10.1:80".into(), "private"),
    ]
}

async fn check(t: &Target<'_>) -> Res {
    let allowed = serve("127.0.0.1").await?;
    let other = serve("127.0.0.1").await?;
    let loopback2 = serve("127.0.0.2").await?;
    let hold = silent().await?;
    let names = names(loopback2);
    let mut allow = vec![
        format!("127.0.0.1:{allowed}"),
        format!("127.0.0.1:{hold}"),
        "169.254.169.254:80".into(),
        "10.0.0.1:80".into(),
        format!("[::1]:{allowed}"),
    ];
    allow.extend(names.iter().map(|(n, _)| n.clone()));
    let bounds = Bounds {
        connections: 16,
        bytes_out: 1 << 20,
        bytes_in: (BIG / 4) as u64,
    };
    let key = "conformance/egress/c1";
    let operator = OperatorEgress::allowing(&["127.0.0.1/32".into()]).map_err(|e| e.to_string())?;
    let policy = EgressPolicy::parse(&allow, Caps::default()).map_err(|e| e.to_string())?;
    let e = EgressCall::new(policy, Arc::new(operator), bounds, key.into());
    let mut l = limits();
    l.network = NetworkPolicy::Proxy(EgressHandle(e.clone()));
    let ctx = json!({
        "allowed": allowed, "other": other, "hold": hold, "key": key, "big": BIG,
        "connections": 6, "names": names.iter().map(|(n, _)| n).collect::<Vec<_>>(),
    });
    let info = probe(t, py!("egress_proxy"), ctx, l).await?;
    // Time: the call is over, so nothing it opened may still be open.
    let start = Instant::now();
    while e.open_connections() > 0 && start.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure(e.open_connections() == 0, || {
        format!(
            "{} proxied connections outlived the call",
            e.open_connections()
        )
    })?;
    let recs = e.records();
    ensure(
        recs.iter().all(|r| {
            !r.allowed
                || r.addr
                    .is_some_and(|a| a.port() == allowed || a.port() == hold)
        }),
        || format!("the proxy connected somewhere else: {recs:?}"),
    )?;
    let why = |host: &str| -> String {
        recs.iter()
            .find(|r| format!("{}:{}", r.host, r.port) == host)
            .and_then(|r| r.why.clone())
            .unwrap_or_else(|| "no record".into())
    };
    for (name, class) in &names {
        let w = why(name);
        ensure(w.contains("resolves to") && w.contains(class), || {
            format!("{name} was not refused as {class} after resolution: {w}")
        })?;
    }
    let w = why("unlisted.invalid:80");
    ensure(w.contains("allow-list"), || {
        format!("an unlisted name was not refused before resolution: {w}")
    })?;
    let w = why(&format!("127.0.0.1:{hold}"));
    ensure(w == "cut: the call ended", || {
        format!("the tunnel held open was not ended by the call's end: {w}")
    })?;
    let s = e.summary();
    ensure(s.bytes_in == bounds.bytes_in, || {
        format!(
            "{} bytes in under a {}-byte cap (the cap must stop the stream exactly)",
            s.bytes_in, bounds.bytes_in
        )
    })?;
    Ok(format!(
        "allowed server reached; {} attempts refused (off-list, metadata, private, ::1, names \
         resolving to loopback/metadata/private, unlisted name unresolved, DNS, cap); direct \
         TCP/UDP and DNS failed; bytes in stopped at the {} B cap ({} B of body); {} refused at \
         the connection cap; a held tunnel ended with the call",
        s.refused, bounds.bytes_in, info["big_bytes"], info["refused_at_cap"]
    ))
}

/// A loopback server that accepts and never answers nor closes (until the check ends).
async fn silent() -> Result<u16, String> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    Ok(port)
}

/// A loopback HTTP server on `ip`: `/big` answers [`BIG`] bytes, anything else the request head.
async fn serve(ip: &str) -> Result<u16, String> {
    let l = tokio::net::TcpListener::bind((ip, 0))
        .await
        .map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut b).await {
                    got.extend_from_slice(&b[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") || got.len() > 16 << 10 {
                        break;
                    }
                }
                let body = if got.starts_with(b"GET /big ") {
                    vec![b'x'; BIG]
                } else {
                    got
                };
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    Ok(port)
}
