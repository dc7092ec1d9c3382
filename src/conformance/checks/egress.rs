//! SECURITY.md row 32: egress beyond the allow-list. The guest gets the worker's proxy and a
//! policy listing one local server plus restricted addresses (metadata, private, IPv6
//! loopback); the operator list opens `127.0.0.1/32` only. The allowed server must answer
//! through the proxy and nothing else may: not a second local server standing for the worker's
//! own RPC/metrics ports, not the listed restricted addresses, not any direct TCP/UDP, not DNS;
//! the byte and connection caps must cut what exceeds them.

use std::sync::Arc;

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

async fn check(t: &Target<'_>) -> Res {
    let allowed = serve().await?;
    let other = serve().await?;
    let allow = [
        format!("127.0.0.1:{allowed}"),
        "169.254.169.254:80".into(),
        "10.0.0.1:80".into(),
        format!("[::1]:{allowed}"),
    ];
    let bounds = Bounds {
        connections: 10,
        bytes_out: 1 << 20,
        bytes_in: (BIG / 4) as u64,
    };
    let key = "conformance/egress/c1";
    let operator = OperatorEgress::allowing(&["127.0.0.1/32".into()]).map_err(|e| e.to_string())?;
    let policy = EgressPolicy::parse(&allow, Caps::default()).map_err(|e| e.to_string())?;
    let e = EgressCall::new(policy, Arc::new(operator), bounds, key.into());
    let mut l = limits();
    l.network = NetworkPolicy::Proxy(EgressHandle(e.clone()));
    let ctx = json!({"allowed": allowed, "other": other, "key": key, "big": BIG, "connections": 6});
    let info = probe(t, py!("egress_proxy"), ctx, l).await?;
    let recs = e.records();
    ensure(
        recs.iter()
            .all(|r| !r.allowed || r.addr.is_some_and(|a| a.port() == allowed)),
        || format!("the proxy connected somewhere else: {recs:?}"),
    )?;
    let s = e.summary();
    ensure(s.bytes_in <= bounds.bytes_in, || {
        format!(
            "{} bytes in passed the {}-byte cap",
            s.bytes_in, bounds.bytes_in
        )
    })?;
    Ok(format!(
        "allowed server reached; {} attempts refused (off-list, metadata, private, ::1, DNS, cap); \
         direct TCP/UDP and DNS failed; download cut at {} B; {} refused at the connection cap",
        s.refused, info["big_bytes"], info["refused_at_cap"]
    ))
}

/// A loopback HTTP server: `/big` answers [`BIG`] bytes, anything else the request head.
async fn serve() -> Result<u16, String> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
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
