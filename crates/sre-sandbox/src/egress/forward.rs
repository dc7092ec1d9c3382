//! Plain-HTTP forwarding, one exchange at a time, so one client connection can carry several
//! requests (HTTP/1.1 keep-alive), each checked, keyed and recorded on its own.
//!
//! An exchange stays reusable only when both of its messages have a known length: a request
//! with `Content-Length` (or no body) and a response with `Content-Length` (or none by its
//! status or method), on HTTP/1.1, with no `Connection: close` on either side. The heads are
//! read in user space (they are parsed and the request's is rewritten); bodies are relayed by
//! length with the same relay as tunnels (`splice(2)` on Linux), within the call's caps.
//! Anything else (a chunked request body, a response delimited by closing, a `1xx`) is
//! forwarded as one last exchange: both directions relayed until they end.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::EgressCall;
use super::proxy::{Request, read_head};
use super::record::Conn;
use super::relay::Pumped;

/// An upstream connection kept for the client's next request.
pub(super) struct Kept {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) addr: SocketAddr,
    pub(super) stream: TcpStream,
}

/// How an exchange ended.
pub(super) enum Exchange {
    /// Both messages were complete: the client may send another request; `carry` holds
    /// what it already sent of it.
    Again { upstream: TcpStream, carry: Vec<u8> },
    /// The connection is over (cut for the reason given, when there is one).
    Ended(Option<String>),
    /// A kept upstream connection turned out closed before it answered, and the whole request
    /// is still at hand (`rest`): send it again on a fresh connection. Safe for a request the
    /// destination may have seen: it carries the call's `Idempotency-Key`.
    Stale { rest: Vec<u8> },
}

/// The value of header `name` (case-insensitive), if present.
fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a `Connection` header asks to close.
fn asks_close(headers: &[(String, String)]) -> bool {
    header(headers, "connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// The body length a message declares: `Some(n)` for `Content-Length: n` (0 without one),
/// `None` when it has `Transfer-Encoding` or a length that does not parse.
fn declared_length(headers: &[(String, String)]) -> Option<u64> {
    if header(headers, "transfer-encoding").is_some() {
        return None;
    }
    match header(headers, "content-length") {
        None => Some(0),
        Some(v) => v.trim().parse().ok(),
    }
}

/// A response head: its version, status and headers.
struct Response {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
}

impl Response {
    fn parse(head: &[u8]) -> Option<Response> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let mut parts = lines.next()?.splitn(3, ' ');
        let version = parts.next()?.to_owned();
        let status = parts.next()?.parse().ok()?;
        let headers = lines
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Some(Response {
            version,
            status,
            headers,
        })
    }

    /// The body length when it is known before the body: `None` when only closing ends it.
    fn body_length(&self, method: &str) -> Option<u64> {
        if method == "HEAD" || self.status == 204 || self.status == 304 {
            return Some(0);
        }
        if self.status < 200 {
            return None;
        }
        match header(&self.headers, "content-length") {
            Some(_) => declared_length(&self.headers),
            None => None,
        }
    }
}

impl EgressCall {
    /// Forwards one plain-HTTP request (whose head is parsed, `rest` read after it) to
    /// `upstream` and its response back.
    pub(super) async fn exchange(
        &self,
        client: &mut TcpStream,
        mut upstream: TcpStream,
        req: &Request,
        mut rest: Vec<u8>,
        conn: &Conn<'_>,
        reused: bool,
    ) -> Exchange {
        let body = declared_length(&req.headers).filter(|_| req.version == "HTTP/1.1");
        let keep = body.is_some() && !asks_close(&req.headers);
        let head = req.forward_head(self.idempotency_key(), keep).into_bytes();
        let Some(body) = body.filter(|_| keep) else {
            // Not reusable: the request goes as today's one-per-connection forward.
            return self
                .last(client, upstream, [head, rest].concat(), conn)
                .await;
        };
        // What the client sent past this request's body is the start of its next one.
        let inline = usize::try_from(body).unwrap_or(usize::MAX).min(rest.len());
        let carry = rest.split_off(inline);
        let left = body - inline as u64;
        // Only a request held whole in memory can be sent again.
        let retry = (reused && left == 0).then(|| [rest.as_slice(), &carry].concat());
        let r = async {
            self.send_whole(true, &mut upstream, &[head, rest].concat(), &conn.out)
                .await?;
            if self
                .pump(true, client, &upstream, Some(left), &conn.out)
                .await?
                != Pumped::Done
            {
                return Err("the client closed in the middle of a request body".to_owned());
            }
            Ok(())
        }
        .await;
        match (r, retry) {
            (Err(_), Some(rest)) => Exchange::Stale { rest },
            (Err(why), None) => Exchange::Ended(Some(why)),
            (Ok(()), retry) => {
                self.response(client, upstream, req, carry, conn, retry)
                    .await
            }
        }
    }

    /// Relays the response to a request sent with `Connection: keep-alive`.
    async fn response(
        &self,
        client: &mut TcpStream,
        mut upstream: TcpStream,
        req: &Request,
        carry: Vec<u8>,
        conn: &Conn<'_>,
        retry: Option<Vec<u8>>,
    ) -> Exchange {
        let (head, mut rest) = match read_head(&mut upstream, Vec::new()).await {
            Ok(h) => h,
            Err(None) if let Some(rest) = retry => return Exchange::Stale { rest },
            Err(why) => {
                return Exchange::Ended(Some(
                    why.unwrap_or_else(|| "the destination closed without answering".into()),
                ));
            }
        };
        let resp = Response::parse(&head);
        let length = resp.as_ref().and_then(|r| {
            (r.version == "HTTP/1.1" && !asks_close(&r.headers))
                .then(|| r.body_length(&req.method))
                .flatten()
        });
        let Some(length) = length else {
            // Delimited by closing (or not reusable): relay it to the end.
            let _ = self
                .send_whole(false, client, &[head, rest].concat(), &conn.inb)
                .await;
            return self.rest_to_end(client, upstream, conn).await;
        };
        let inline = usize::try_from(length)
            .unwrap_or(usize::MAX)
            .min(rest.len());
        // Bytes past the response are not HTTP/1.1 a client asked for: this connection ends.
        let clean = rest.len() == inline;
        rest.truncate(inline);
        let r = async {
            self.send_whole(false, client, &[head, rest].concat(), &conn.inb)
                .await?;
            self.pump(
                false,
                &upstream,
                client,
                Some(length - inline as u64),
                &conn.inb,
            )
            .await
        }
        .await;
        match r {
            Ok(Pumped::Done) if clean => Exchange::Again { upstream, carry },
            Ok(Pumped::Done) => Exchange::Ended(None),
            Ok(Pumped::Eof) => {
                Exchange::Ended(Some("the response ended before its Content-Length".into()))
            }
            Err(why) => Exchange::Ended(Some(why)),
        }
    }

    /// Sends `first` upstream, then relays both directions until they end: the last exchange
    /// of a connection.
    async fn last(
        &self,
        client: &mut TcpStream,
        mut upstream: TcpStream,
        first: Vec<u8>,
        conn: &Conn<'_>,
    ) -> Exchange {
        if let Err(why) = self
            .send_whole(true, &mut upstream, &first, &conn.out)
            .await
        {
            return Exchange::Ended(Some(why));
        }
        self.rest_to_end(client, upstream, conn).await
    }

    async fn rest_to_end(
        &self,
        client: &mut TcpStream,
        upstream: TcpStream,
        conn: &Conn<'_>,
    ) -> Exchange {
        let (ur, mut uw) = upstream.into_split();
        let (cr, mut cw) = client.split();
        let r = tokio::try_join!(
            async {
                let end = self
                    .pump(true, cr.as_ref(), uw.as_ref(), None, &conn.out)
                    .await;
                let _ = uw.shutdown().await;
                end
            },
            async {
                let end = self
                    .pump(false, ur.as_ref(), cw.as_ref(), None, &conn.inb)
                    .await;
                let _ = cw.shutdown().await;
                end
            }
        );
        Exchange::Ended(r.err())
    }
}
