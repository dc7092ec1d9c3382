//! The proxy for a guest inside the worker's own process: WASM components, whose `wasi:http`
//! requests the host sends (`sandbox::wasm::http`).
//!
//! Such a guest has no network namespace to put a listening socket in, and a listener on the
//! worker's loopback would be reachable by every local process for the length of the call. So
//! each request gets its own connection pair instead: a listener on an ephemeral loopback port
//! lives only until the worker's own connect to it is accepted, and a connection from any other
//! peer that races in is closed unserved. The proxy then serves that connection exactly as it
//! serves a process or container guest: the same checks, resolution, caps, idempotency key and
//! records.

use std::io;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::EgressCall;

/// How many strangers' connections one attach closes before it gives up.
const MAX_STRANGERS: usize = 16;

/// A call's proxy, reached from inside the worker. Every connection it served ends when it
/// is dropped (with the call's store).
#[derive(Debug)]
pub struct Attached(Connector);

impl Drop for Attached {
    fn drop(&mut self) {
        self.0.cancel.cancel();
    }
}

impl EgressCall {
    /// The proxy of this call, for a guest the worker's own process runs.
    pub fn attach(self: &Arc<Self>) -> Attached {
        Attached(Connector {
            call: self.clone(),
            cancel: CancellationToken::new(),
        })
    }
}

impl Attached {
    /// A handle that opens connections to the proxy from a task of its own; what it opens
    /// still ends when this attachment is dropped.
    pub fn connector(&self) -> Connector {
        self.0.clone()
    }

    /// A fresh connection to the proxy, served as one client connection of the call.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        self.0.connect().await
    }
}

/// Opens connections to an [`Attached`] proxy (see [`Attached::connector`]).
#[derive(Debug, Clone)]
pub struct Connector {
    call: Arc<EgressCall>,
    cancel: CancellationToken,
}

impl Connector {
    /// The call's idempotency key (`<app>/<fn>/<call_id>`).
    pub fn idempotency_key(&self) -> &str {
        self.call.idempotency_key()
    }

    /// A fresh connection to the proxy, served as one client connection of the call.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("egress: the call is over"));
        }
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let to = listener.local_addr()?;
        let client = TcpStream::connect(to).await?;
        let ours = client.local_addr()?;
        for _ in 0..MAX_STRANGERS {
            let (server, peer) = listener.accept().await?;
            if peer != ours {
                // Some other local process found the port in the moment it was open.
                tracing::warn!(%peer, "egress: closed a connection that was not the worker's");
                drop(server);
                continue;
            }
            drop(listener);
            let call = self.call.clone();
            let stop = self.cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = call.handle(server) => {}
                }
            });
            return Ok(client);
        }
        Err(io::Error::other(
            "egress: the proxy's one-connection listener was flooded by other local processes",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::{Bounds, Caps, EgressPolicy, OperatorEgress};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn call(allow: &str) -> Arc<EgressCall> {
        let policy = EgressPolicy::parse(&[allow.to_owned()], Caps::default()).unwrap();
        let operator = Arc::new(OperatorEgress::allowing(&["127.0.0.1/32".into()]).unwrap());
        EgressCall::new(policy, operator, Bounds::default(), "a/f/1".into())
    }

    /// A request through an attached proxy reaches an allowed server with the call's key,
    /// and is recorded; an unlisted destination is refused and recorded as refused.
    #[tokio::test]
    async fn an_attached_connection_is_served_as_a_proxied_client() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = if head.contains("Idempotency-Key: a/f/1") {
                "keyed"
            } else {
                "unkeyed"
            };
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(reply.as_bytes()).await.unwrap();
        });
        let egress = call(&format!("127.0.0.1:{port}"));
        let attached = egress.attach();
        let mut c = attached.connect().await.unwrap();
        c.write_all(format!("GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).await.unwrap();
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("\r\nkeyed"),
            "{got}"
        );
        // The proxy relays a `Connection: close` exchange until both sides end.
        drop(c);

        let mut c = attached.connect().await.unwrap();
        c.write_all(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).await.unwrap();
        assert!(got.starts_with("HTTP/1.1 403"), "{got}");
        // A connection's record is written as its task ends, just after the client saw the end.
        let mut records = egress.records();
        for _ in 0..200 {
            if records.len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            records = egress.records();
        }
        records.sort_by_key(|r| r.allowed);
        assert_eq!(records.len(), 2, "{records:?}");
        records.reverse();
        assert!(records[0].allowed && records[0].bytes_in > 0);
        assert!(!records[1].allowed && records[1].host == "example.com");
    }

    /// Dropping the attachment ends the connections it served.
    #[tokio::test]
    async fn connections_end_with_the_attachment() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Accepts and holds the tunnel open, silent.
            let (_s, _) = server.accept().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        });
        let egress = call(&format!("127.0.0.1:{port}"));
        let attached = egress.attach();
        let mut c = attached.connect().await.unwrap();
        c.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut head = [0u8; 39];
        c.read_exact(&mut head).await.unwrap();
        assert!(head.starts_with(b"HTTP/1.1 200"));
        drop(attached);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("the tunnel ends with the attachment")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
}
