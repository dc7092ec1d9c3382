//! `wasi:http` for components: every outgoing request goes through the call's egress proxy.
//!
//! A component's `wasi:http/outgoing-handler` request is made by the host, so the host must
//! not simply connect where the guest says. Here the request always travels over a connection
//! to the call's own proxy ([`crate::egress::Attached`]), the same proxy (same allow-lists,
//! address rules after resolution, caps, idempotency key and records for the receipt) that
//! process and container guests reach through `HTTP_PROXY`:
//!
//! - `http://` requests are sent in absolute form, as any client behind a proxy sends them;
//!   the proxy forwards them and sets `Idempotency-Key`.
//! - `https://` requests open a `CONNECT` tunnel, and TLS runs end to end between the host and
//!   the destination inside it (certificates checked against the system's roots, through
//!   `rustls-platform-verifier`). The proxy never sees plaintext, so the host adds the call's
//!   `Idempotency-Key` itself: a component's HTTPS requests carry it without the guest's help.
//! - A call without egress, or a request the proxy refuses, fails with `HTTP-request-denied`;
//!   the receipt's egress summary names the refused destination.
//!
//! Nothing here resolves a name or opens a connection anywhere but the proxy.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::uri::Scheme;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::egress::Connector;

/// Largest `CONNECT` answer head read from the proxy.
const MAX_CONNECT_HEAD: usize = 8 << 10;

/// How long reaching the destination may take when the guest sets no connect timeout (the
/// call's deadline ends everything in any case).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `wasi:http` hooks of one component call.
pub(crate) struct EgressHooks {
    /// The call's proxy; `None`: the call has no egress and every request is denied.
    connector: Option<Connector>,
}

impl EgressHooks {
    pub(crate) fn new(connector: Option<Connector>) -> EgressHooks {
        EgressHooks { connector }
    }
}

/// What one request's future resolves to: the response, and the connection's remaining work.
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        drop(fut);
        let connector = self.connector.clone();
        Box::new(async move {
            let Some(connector) = connector else {
                return Err(Error::HttpRequestDenied);
            };
            send(&connector, request, options.unwrap_or_default()).await
        })
    }
}

/// Object-safe stream for the two transports (plain TCP to the proxy, TLS inside a tunnel).
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn send(
    connector: &Connector,
    mut request: http::Request<WasiBody>,
    options: RequestOptions,
) -> Result<Sent, Error> {
    let uri = request.uri().clone();
    let tls = uri.scheme() == Some(&Scheme::HTTPS);
    let host = uri
        .host()
        .ok_or(Error::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let connect_timeout = options.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
    let reach = async {
        let mut proxy = connector.connect().await.map_err(Error::Connect)?;
        let _ = proxy.set_nodelay(true);
        if !tls {
            return Ok::<_, Error>(Box::new(proxy) as Box<dyn Stream>);
        }
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        open_tunnel(&mut proxy, &authority).await?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, proxy)
            .await
            .map_err(Error::Tls)?;
        Ok(Box::new(tls) as Box<dyn Stream>)
    };
    let stream = tokio::time::timeout(connect_timeout, reach)
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    if tls {
        // Inside the tunnel the request is the destination's: origin form, and the call's
        // key set here because the proxy cannot see it.
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
        if let Ok(key) = HeaderValue::from_str(connector.idempotency_key()) {
            request
                .headers_mut()
                .insert(HeaderName::from_static("idempotency-key"), key);
        }
    }
    // Plain HTTP keeps the absolute URI: hyper writes the target as given, which is the form
    // a proxy takes.
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    let mut conn = Box::pin(conn);
    let answer = async {
        let sending = sender.send_request(request);
        tokio::pin!(sending);
        let mut conn_done = false;
        loop {
            tokio::select! {
                r = &mut sending => return r.map_err(Error::from).map(|r| (r, conn_done)),
                c = &mut conn, if !conn_done => {
                    conn_done = true;
                    c.map_err(Error::from)?;
                }
            }
        }
    };
    let (response, conn_done) = match options.first_byte_timeout {
        Some(t) => tokio::time::timeout(t, answer)
            .await
            .map_err(|_| Error::ConnectionReadTimeout)??,
        None => answer.await?,
    };
    if response
        .headers()
        .get("x-sre-egress")
        .is_some_and(|v| v == "refused")
        && response.status() == http::StatusCode::FORBIDDEN
        && !tls
    {
        return Err(Error::HttpRequestDenied);
    }
    let response = response.map(|b| b.map_err(Error::from).boxed_unsync());
    let rest: Box<dyn Future<Output = Result<(), Error>> + Send> = if conn_done {
        Box::new(async { Ok(()) })
    } else {
        Box::new(async move { conn.await.map_err(Error::from) })
    };
    Ok((response, rest))
}

/// Asks the proxy for a tunnel to `authority`; its refusal is the request's denial.
async fn open_tunnel(proxy: &mut tokio::net::TcpStream, authority: &str) -> Result<(), Error> {
    proxy
        .write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .map_err(Error::Connect)?;
    // Byte by byte: what follows the head is the destination's TLS, not ours to read.
    let mut head = Vec::with_capacity(128);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_HEAD {
            return Err(Error::HttpProtocolError);
        }
        let b = proxy
            .read_u8()
            .await
            .map_err(|_| Error::ConnectionTerminated)?;
        head.push(b);
    }
    let status = head
        .split(|b| *b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200) => Ok(()),
        Some(403) => Err(Error::HttpRequestDenied),
        Some(_) => Err(Error::DestinationUnavailable),
        None => Err(Error::HttpProtocolError),
    }
}

/// The TLS client settings, made once: the system's roots, through the platform verifier.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls_platform_verifier::ConfigVerifierExt;
            rustls::ClientConfig::with_platform_verifier().map(Arc::new)
        })
        .clone()
        .map_err(|e| Error::InternalError(Some(format!("TLS roots: {e}"))))
}
