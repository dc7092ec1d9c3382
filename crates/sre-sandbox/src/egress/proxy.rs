//! The egress proxy: one listening socket per call, `CONNECT` tunnels and plain-HTTP forwarding,
//! every destination checked, resolved and counted here.
//!
//! A client connection carries one `CONNECT` tunnel, or plain-HTTP requests one after another
//! (HTTP/1.1 keep-alive, `forward.rs`): each request is checked against the policy, counted
//! against the connection cap, given the call's `Idempotency-Key` and recorded on its own; the
//! upstream connection is kept for the next request to the same destination while both
//! messages have known lengths. TLS is relayed byte for byte after `CONNECT`; the proxy never
//! sees its plaintext, so an HTTPS request carries the idempotency key only if the guest adds
//! it (it is in `SRE_IDEMPOTENCY_KEY`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::forward::{Exchange, Kept};
use super::record::Conn;
use super::{ConnectionRecord, EgressCall};

/// Largest request head (request line and headers) the proxy reads.
const MAX_HEAD: usize = 16 << 10;

/// Serving stops (the accept loop and every open connection) when this is dropped: at the end
/// of the call.
#[derive(Debug)]
pub struct ServeGuard {
    cancel: CancellationToken,
    port: u16,
}

impl ServeGuard {
    /// The port the proxy listens on (inside the sandbox's network namespace).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for ServeGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl EgressCall {
    /// Serves the proxy on `listener` (already bound and listening, wherever it lives) until
    /// the returned guard is dropped. Must be called inside a tokio runtime.
    pub fn serve(self: &Arc<Self>, listener: std::net::TcpListener) -> io::Result<ServeGuard> {
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let call = self.clone();
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => match a {
                        Ok((c, _)) => c,
                        Err(_) => continue,
                    },
                };
                let call = call.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = call.handle(client) => {}
                    }
                });
            }
        });
        Ok(ServeGuard { cancel, port })
    }

    /// Serves one client connection: a `CONNECT` tunnel, or plain-HTTP requests one after
    /// another (keep-alive), each checked, counted against the connection cap, keyed and
    /// recorded on its own.
    pub(super) async fn handle(self: Arc<Self>, mut client: TcpStream) {
        let _ = client.set_nodelay(true);
        let mut carry = Vec::new();
        let mut kept: Option<Kept> = None;
        for served in 0u32.. {
            let mut conn = Conn::new(&self);
            let (head, rest) = match read_head(&mut client, std::mem::take(&mut carry)).await {
                Ok(h) => h,
                // The client is done after its last request.
                Err(None) if served > 0 => return conn.forget(),
                Err(why) => {
                    let why = why.unwrap_or_else(|| {
                        "connection closed before the request head ended".into()
                    });
                    let _ = respond(&mut client, 400, &why).await;
                    return conn.forget();
                }
            };
            let req = match Request::parse(&head) {
                Ok(r) => r,
                Err(why) => {
                    let _ = respond(&mut client, 400, &why).await;
                    return conn.forget();
                }
            };
            let rec = conn.rec.insert(ConnectionRecord {
                method: req.method.clone(),
                host: req.host.clone(),
                port: req.port,
                addr: None,
                bytes_out: 0,
                bytes_in: 0,
                duration_ms: 0,
                allowed: false,
                why: None,
            });
            let n = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let reuse = kept
                .take()
                .filter(|k| k.host == req.host && k.port == req.port && req.method != "CONNECT");
            let reused = reuse.is_some();
            let admitted = if n > self.bounds.connections {
                Err(format!(
                    "connection cap of {} per call reached",
                    self.bounds.connections
                ))
            } else if let Some(k) = reuse {
                // The same destination, already checked and connected: the policy is
                // checked again (it names host and port, which are the same).
                self.policy
                    .allows(&req.host, req.port)
                    .map(|_| (k.stream, k.addr))
                    .ok_or_else(|| {
                        format!(
                            "{}:{} is not on the function's allow-list",
                            req.host, req.port
                        )
                    })
            } else {
                self.admit(&req.host, req.port).await
            };
            let (upstream, addr) = match admitted {
                Ok((s, addr)) => {
                    rec.addr = Some(addr);
                    rec.allowed = true;
                    (s, addr)
                }
                Err(why) => {
                    let _ = respond(&mut client, 403, &format!("egress refused: {why}")).await;
                    return conn.finish(Some(why));
                }
            };
            let _ = upstream.set_nodelay(true);
            if req.method == "CONNECT" {
                return self.tunnel(client, upstream, rest, conn).await;
            }
            let (mut upstream, mut rest, mut reused) = (upstream, rest, reused);
            loop {
                let ex = self
                    .exchange(&mut client, upstream, &req, rest, &conn, reused)
                    .await;
                match ex {
                    Exchange::Stale { rest: again } => {
                        match self.admit(&req.host, req.port).await {
                            Ok((s, _)) => {
                                let _ = s.set_nodelay(true);
                                (upstream, rest, reused) = (s, again, false);
                            }
                            Err(why) => {
                                let _ =
                                    respond(&mut client, 403, &format!("egress refused: {why}"))
                                        .await;
                                return conn.finish(Some(why));
                            }
                        }
                    }
                    Exchange::Again {
                        upstream,
                        carry: next,
                    } => {
                        kept = Some(Kept {
                            host: req.host.clone(),
                            port: req.port,
                            addr,
                            stream: upstream,
                        });
                        carry = next;
                        conn.finish(None);
                        break;
                    }
                    Exchange::Ended(why) => return conn.finish(why),
                }
            }
        }
    }

    /// Relays a `CONNECT` tunnel both ways until both directions end or a cap cuts it.
    async fn tunnel(
        &self,
        mut client: TcpStream,
        upstream: TcpStream,
        rest: Vec<u8>,
        conn: Conn<'_>,
    ) {
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return conn.finish(None);
        }
        let (cr, cw) = client.into_split();
        let (ur, mut uw) = upstream.into_split();
        let result = async {
            self.send_whole(true, &mut uw, &rest, &conn.out).await?;
            tokio::try_join!(
                self.relay(true, cr, uw, &conn.out),
                self.relay(false, ur, cw, &conn.inb)
            )
            .map(|_| ())
        }
        .await;
        conn.finish(result.err());
    }

    /// Writes `bytes` (a head, or what came with it) whole, or nothing when the cap does not
    /// leave room for all of them.
    pub(super) async fn send_whole(
        &self,
        outbound: bool,
        to: &mut (impl AsyncWriteExt + Unpin),
        bytes: &[u8],
        counted: &AtomicU64,
    ) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        let len = bytes.len();
        let fits = self.within_cap(outbound, len, |max| {
            if max < len {
                Err(io::ErrorKind::QuotaExceeded.into())
            } else {
                Ok(len)
            }
        });
        if !matches!(fits, Some(Ok(_))) {
            return Err(self.cap_why(outbound));
        }
        to.write_all(bytes).await.map_err(|e| e.to_string())?;
        counted.fetch_add(len as u64, Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn cap_why(&self, outbound: bool) -> String {
        if outbound {
            format!("cut: bytes_out cap of {} reached", self.bounds.bytes_out)
        } else {
            format!("cut: bytes_in cap of {} reached", self.bounds.bytes_in)
        }
    }

    /// Checks `host:port` against the operator and the function, resolves it, checks every
    /// address, and connects to an address it checked (never resolving twice).
    async fn admit(&self, host: &str, port: u16) -> Result<(TcpStream, SocketAddr), String> {
        self.operator.permits(host, port).map_err(str::to_owned)?;
        if self.policy.allows(host, port).is_none() {
            return Err(format!("{host}:{port} is not on the function's allow-list"));
        }
        let connect = async {
            let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|e| format!("cannot resolve {host}: {e}"))?
                    .collect(),
            };
            let mut refusal = None;
            let mut last_err = None;
            for addr in addrs {
                if let Err(r) = self.operator.addresses.check(addr.ip()) {
                    refusal.get_or_insert(r);
                    continue;
                }
                match TcpStream::connect(addr).await {
                    Ok(s) => return Ok((s, addr)),
                    Err(e) => last_err = Some(format!("connecting to {addr}: {e}")),
                }
            }
            Err(match (refusal, last_err) {
                (_, Some(e)) => e,
                (Some(r), None) => format!("{host} resolves to {r}", r = r),
                (None, None) => format!("{host} has no address"),
            })
        };
        tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| format!("connecting to {host}:{port} timed out"))?
    }
}

/// A parsed request head.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) method: String,
    pub(super) host: String,
    pub(super) port: u16,
    /// Origin-form target for forwarding (`/path?q`); empty for CONNECT.
    path: String,
    pub(super) version: String,
    pub(super) headers: Vec<(String, String)>,
}

impl Request {
    fn parse(head: &[u8]) -> Result<Request, String> {
        let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8")?;
        let mut lines = text.split("\r\n");
        let line = lines.next().unwrap_or_default();
        let mut parts = line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed request line".into());
        };
        if !version.starts_with("HTTP/1.") {
            return Err("only HTTP/1.x is proxied".into());
        }
        let headers = lines
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let (authority, path, default_port) = if method == "CONNECT" {
            (target, String::new(), None)
        } else if let Some(rest) = target.strip_prefix("http://") {
            let (auth, path) = match rest.find(['/', '?']) {
                Some(i) => (&rest[..i], rest[i..].to_owned()),
                None => (rest, "/".to_owned()),
            };
            let path = if path.starts_with('?') {
                format!("/{path}")
            } else {
                path
            };
            (auth, path, Some(80))
        } else {
            return Err(
                "the proxy takes CONNECT host:port or an absolute http:// URL (use CONNECT for https)"
                    .into(),
            );
        };
        if authority.contains('@') {
            return Err("credentials in the URL are not proxied".into());
        }
        let (host, port) = split_authority(authority, default_port)?;
        Ok(Request {
            method: method.to_owned(),
            host,
            port,
            path,
            version: version.to_owned(),
            headers,
        })
    }

    /// The head sent upstream: origin-form, hop-by-hop and proxy headers dropped, the call's
    /// idempotency key set (replacing any the guest wrote), and `Connection: keep-alive` when
    /// the upstream connection may carry the next request (`close` otherwise).
    pub(super) fn forward_head(&self, key: &str, keep: bool) -> String {
        let mut h = format!("{} {} {}\r\n", self.method, self.path, self.version);
        let mut has_host = false;
        for (k, v) in &self.headers {
            let lk = k.to_ascii_lowercase();
            if lk.starts_with("proxy-")
                || matches!(lk.as_str(), "connection" | "keep-alive" | "idempotency-key")
            {
                continue;
            }
            has_host |= lk == "host";
            h += &format!("{k}: {v}\r\n");
        }
        if !has_host {
            h += &format!("Host: {}:{}\r\n", self.host, self.port);
        }
        let connection = if keep { "keep-alive" } else { "close" };
        h += &format!("Idempotency-Key: {key}\r\nConnection: {connection}\r\n\r\n");
        h
    }
}

fn split_authority(a: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let bad = || format!("bad authority {a:?}");
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').ok_or_else(bad)?;
        (h, tail.strip_prefix(':'))
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    let port = match (port, default_port) {
        (Some(p), _) => p.parse::<u16>().map_err(|_| bad())?,
        (None, Some(d)) => d,
        (None, None) => return Err("CONNECT needs host:port".into()),
    };
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// Reads (after the bytes already in `buf`) up to the end of a message head; returns the head
/// and whatever followed it. `Err(None)`: the peer closed before sending anything.
pub(super) async fn read_head(
    from: &mut TcpStream,
    mut buf: Vec<u8>,
) -> Result<(Vec<u8>, Vec<u8>), Option<String>> {
    let mut chunk = [0u8; 4096];
    let mut from_at = 0;
    loop {
        if let Some(i) = buf[from_at..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from_at + i + 4;
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(Some(format!("message head larger than {MAX_HEAD} bytes")));
        }
        from_at = buf.len().saturating_sub(3);
        let n = from
            .read(&mut chunk)
            .await
            .map_err(|e| Some(e.to_string()))?;
        if n == 0 {
            return Err(buf.is_empty().then_some(()).map_or_else(
                || Some("connection closed before the message head ended".into()),
                |_| None,
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn respond(client: &mut TcpStream, status: u16, why: &str) -> io::Result<()> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        _ => "Error",
    };
    let body = format!("{why}\n");
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nX-Sre-Egress: refused\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(msg.as_bytes()).await?;
    client.shutdown().await
}

#[cfg(test)]
#[path = "proxy_tests/mod.rs"]
mod tests;
