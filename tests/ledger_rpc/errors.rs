//! How the client classifies what goes wrong: JSON-RPC errors, HTTP 500, hangs, garbage, oversized
//! bodies, refused connections, and the cap on exchanges in flight.

use super::*;

#[tokio::test]
async fn raw_call_returns_value_and_node_proto_ver() {
    let (node, url) = start().await;
    node.reply(
        "net_getChainId",
        Reply::Json(json!({"jsonrpc":"2.0","id":0,"result":{"result":0,"protoVer":"1.6.0"}})),
    );
    let client = RpcClient::new(&url).unwrap();
    let v = bounded(client.call("net_getChainId", Default::default()))
        .await
        .unwrap();
    assert_eq!(v.result, json!(0));
    assert_eq!(v.proto_ver.as_deref(), Some("1.6.0"));
    // A caller-supplied protoVer is kept (to probe other versions).
    let mut p = serde_json::Map::new();
    p.insert("protoVer".into(), json!("1.0.0"));
    bounded(client.call("net_getChainId", p)).await.unwrap();
    assert_eq!(node.requests()[1]["params"]["protoVer"], "1.0.0");
    // Request ids are distinct.
    assert_ne!(node.requests()[0]["id"], node.requests()[1]["id"]);
}

#[tokio::test]
async fn json_rpc_error_object_is_typed() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    // No reply configured: the server answers like jayson for an unknown method.
    let err = bounded(client.call("ain_noSuchMethod", Default::default()))
        .await
        .unwrap_err();
    match &err {
        RpcError::JsonRpc { code, message } => {
            assert_eq!(*code, -32601);
            assert_eq!(message, "Method not found");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    node.assert_proto_ver_everywhere();
}

#[tokio::test]
async fn http_500_is_transient_http_error() {
    let (node, url) = start().await;
    node.reply("ain_getLastBlockNumber", Reply::Raw(500, "boom"));
    let client = RpcClient::new(&url).unwrap();
    let err = bounded(client.get_last_block_number()).await.unwrap_err();
    match &err {
        RpcError::Http { status, body, .. } => {
            assert_eq!(*status, 500);
            assert_eq!(body, "boom");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    node.reply("ain_getLastBlockNumber", Reply::Raw(404, "nope"));
    let err = bounded(client.get_last_block_number()).await.unwrap_err();
    assert!(matches!(err, RpcError::Http { status: 404, .. }));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn hanging_server_times_out() {
    let (node, url) = start().await;
    node.reply("ain_getLastBlock", Reply::Hang);
    let cfg = RpcConfig {
        timeout: Duration::from_millis(300),
        ..RpcConfig::default()
    };
    let client = RpcClient::with_config(&url, cfg).unwrap();
    let started = std::time::Instant::now();
    let err = bounded(client.get_last_block::<Value>()).await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout), "{err:?}");
    assert!(err.is_transient());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn exchanges_in_flight_are_capped_per_client() {
    let (node, url) = start().await;
    node.reply(
        "ain_getLastBlockNumber",
        Reply::Slow(Duration::from_millis(50), json!(7)),
    );
    let cfg = RpcConfig {
        max_in_flight: 3,
        ..RpcConfig::default()
    };
    let client = RpcClient::with_config(&url, cfg).unwrap();
    // Clones share the cap.
    let calls = (0..20).map(|_| {
        let c = client.clone();
        async move { c.get_last_block_number().await }
    });
    let answers = bounded(futures_util::future::join_all(calls)).await;
    for a in answers {
        assert_eq!(a.unwrap(), Some(7));
    }
    let most = node.0.lock().unwrap().most_overlapping;
    assert!(
        (1..=3).contains(&most),
        "{most} requests overlapped with max_in_flight 3"
    );
    let zero = RpcConfig {
        max_in_flight: 0,
        ..RpcConfig::default()
    };
    assert!(RpcClient::with_config(&url, zero).is_err());
}

#[tokio::test]
async fn garbage_and_unexpected_bodies_are_malformed() {
    let (node, url) = start().await;
    let client = RpcClient::new(&url).unwrap();
    for body in [
        "<html>502 Bad Gateway</html>",
        "",
        "[1,2,3]",
        "{\"foo\":1}",
        "null",
    ] {
        node.reply("net_getChainId", Reply::Raw(200, body));
        let err = bounded(client.chain_id()).await.unwrap_err();
        assert!(matches!(err, RpcError::Malformed(_)), "{body:?}: {err:?}");
        assert!(!err.is_transient());
    }
    // Valid envelope, but the value is not what the method promises.
    node.reply(
        "net_getChainId",
        Reply::Json(json!({"jsonrpc":"2.0","id":0,"result":{"result":"zero","protoVer":"1.6.0"}})),
    );
    assert!(matches!(
        bounded(client.chain_id()).await,
        Err(RpcError::Malformed(_))
    ));
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let (node, url) = start().await;
    let big = "x".repeat(4096);
    node.reply(
        "ain_get",
        Reply::Json(json!({"jsonrpc":"2.0","id":0,"result":{"result":big,"protoVer":"1.6.0"}})),
    );
    let cfg = RpcConfig {
        max_response_bytes: 1024,
        ..RpcConfig::default()
    };
    let client = RpcClient::with_config(&url, cfg).unwrap();
    let err = bounded(client.get(&GetOp::value("/apps/a").into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RpcError::Malformed(ref m) if m.contains("exceeds")),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_transient_transport() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = RpcClient::new(&format!("http://{addr}/json-rpc")).unwrap();
    let err = bounded(client.chain_id()).await.unwrap_err();
    assert!(matches!(err, RpcError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
}
