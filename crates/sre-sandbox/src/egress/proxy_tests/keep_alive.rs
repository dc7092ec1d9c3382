//! Plain-HTTP keep-alive: several requests on one client connection, each checked and keyed.

use super::*;

/// An HTTP/1.1 server that keeps its connections: every request (head and `Content-Length`
/// body) is answered with its own bytes as the body. Returns its port and a count of the
/// connections it accepted.
async fn keep_alive_upstream() -> (u16, Arc<std::sync::atomic::AtomicU32>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some((head, body_len)) = next_head(&mut s, &mut buf).await else {
                        return;
                    };
                    while buf.len() < body_len {
                        let mut b = [0u8; 4096];
                        match s.read(&mut b).await {
                            Ok(n @ 1..) => buf.extend_from_slice(&b[..n]),
                            _ => return,
                        }
                    }
                    let body: Vec<u8> = [head.as_slice(), &buf[..body_len]].concat();
                    buf.drain(..body_len);
                    let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    if s.write_all(&[resp.as_bytes(), &body].concat())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, accepted)
}

/// Reads one message head from `s` (after what `buf` holds); returns it and its
/// `Content-Length`, leaving what followed in `buf`.
async fn next_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Vec<u8>, usize)> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..i + 4).collect();
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let len = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            return Some((head, len));
        }
        let mut b = [0u8; 4096];
        match s.read(&mut b).await {
            Ok(n @ 1..) => buf.extend_from_slice(&b[..n]),
            _ => return None,
        }
    }
}

/// Sends `req` on `c` and reads one response: its head and body.
async fn round_trip(c: &mut TcpStream, buf: &mut Vec<u8>, req: &str) -> (String, String) {
    c.write_all(req.as_bytes()).await.unwrap();
    let (head, len) = next_head(c, buf).await.expect("a response");
    while buf.len() < len {
        let mut b = [0u8; 4096];
        let n = c.read(&mut b).await.unwrap();
        assert!(n > 0, "the response ended early");
        buf.extend_from_slice(&b[..n]);
    }
    let body: Vec<u8> = buf.drain(..len).collect();
    (
        String::from_utf8_lossy(&head).into_owned(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn keep_alive_carries_several_requests_each_checked_and_keyed() {
    let (up, accepted) = keep_alive_upstream().await;
    let c = call(
        &[format!("127.0.0.1:{up}")],
        loopback_ok(),
        Bounds::default(),
    );
    let g = c.serve(listener()).unwrap();
    let mut client = TcpStream::connect(("127.0.0.1", g.port())).await.unwrap();
    let mut buf = Vec::new();
    let (head, body) = round_trip(
        &mut client,
        &mut buf,
        &format!("GET http://127.0.0.1:{up}/a HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.starts_with("GET /a HTTP/1.1\r\n"), "{body}");
    assert!(
        body.contains("Idempotency-Key: app/fn/call-1\r\n"),
        "{body}"
    );
    assert!(body.contains("Connection: keep-alive\r\n"), "{body}");
    // A body, and the next request pipelined right behind it in the same write.
    let two = format!(
        "POST http://127.0.0.1:{up}/b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
         GET http://127.0.0.1:{up}/c HTTP/1.1\r\nIdempotency-Key: forged\r\n\r\n"
    );
    let (_, body) = round_trip(&mut client, &mut buf, &two).await;
    assert!(
        body.starts_with("POST /b HTTP/1.1\r\n") && body.ends_with("\r\n\r\nhello"),
        "{body}"
    );
    assert!(
        body.contains("Idempotency-Key: app/fn/call-1\r\n"),
        "{body}"
    );
    let (_, body) = round_trip(&mut client, &mut buf, "").await;
    assert!(body.starts_with("GET /c HTTP/1.1\r\n"), "{body}");
    assert!(!body.contains("forged"), "{body}");
    // Each request is checked: one off the list is refused on the same connection.
    let (head, _) = round_trip(
        &mut client,
        &mut buf,
        "GET http://127.0.0.1:1/ HTTP/1.1\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one upstream connection"
    );
    let recs = c.records();
    let methods: Vec<(&str, bool)> = recs
        .iter()
        .map(|r| (r.method.as_str(), r.allowed))
        .collect();
    assert_eq!(
        methods,
        [("GET", true), ("POST", true), ("GET", true), ("GET", false)],
        "{recs:?}"
    );
    assert!(recs[1].bytes_in > 0, "{recs:?}");
    assert_eq!(c.open_connections(), 0);
}

#[tokio::test]
async fn a_kept_connection_the_destination_closed_is_replaced() {
    // This upstream answers one request per connection and closes.
    let up = upstream(|got| {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", got.len())
            .into_bytes()
            .into_iter()
            .chain(got)
            .collect()
    })
    .await;
    let c = call(
        &[format!("127.0.0.1:{up}")],
        loopback_ok(),
        Bounds::default(),
    );
    let g = c.serve(listener()).unwrap();
    let mut client = TcpStream::connect(("127.0.0.1", g.port())).await.unwrap();
    let mut buf = Vec::new();
    for path in ["/one", "/two", "/three"] {
        let (head, body) = round_trip(
            &mut client,
            &mut buf,
            &format!("GET http://127.0.0.1:{up}{path} HTTP/1.1\r\n\r\n"),
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        assert!(body.starts_with(&format!("GET {path} HTTP/1.1")), "{body}");
    }
    assert_eq!(c.summary().connections, 3);
}
