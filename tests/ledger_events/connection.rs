//! The connection manager against the mock node: registration, PING/PONG, keepalive, reconnect
//! with re-registration, deregistration, malformed frames, dead connections, lifetime, local
//! limits and shutdown.

use super::*;

#[tokio::test]
async fn registers_filters_and_receives_events() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, conn) =
        start_with_filters(&mut node, cfg, vec![vc_filter(), bf_filter()]).await;
    conn.text(BF_FRAME).await;
    match next_node_event(&mut rx).await {
        ClientEvent::Event(ev) => {
            assert_eq!(ev.filter_id, "bf");
            let EventPayload::BlockFinalized(b) = ev.payload else {
                panic!("{:?}", ev.payload)
            };
            assert_eq!(b.block_number, 1);
        }
        other => panic!("{other:?}"),
    }
    // A registration made while connected goes out at once.
    let tx = Filter::tx_state_changed("tx", Hash([1; 32])).unwrap();
    let mut conn = conn;
    timeout(WAIT, h.register(tx)).await.unwrap().unwrap();
    let f = conn.next().await;
    assert_eq!(f["data"]["config"]["tx_hash"], Hash([1; 32]).to_string());
    // The node refusing a filter arrives as NodeError and drops it from the set.
    conn.text(r#"{"type":"EMIT_ERROR","data":{"code":70020,"message":"Failed to register filter with filter ID: tx due to error: x","filter_id":"tx"}}"#).await;
    match next_node_event(&mut rx).await {
        ClientEvent::NodeError(e) => {
            assert_eq!((e.code, e.filter_id.as_deref()), (70020, Some("tx")))
        }
        other => panic!("{other:?}"),
    }
    let ids: Vec<String> = h
        .filters()
        .await
        .unwrap()
        .iter()
        .map(|f| f.id().to_owned())
        .collect();
    assert_eq!(ids, vec!["vc", "bf"]);
    assert_eq!(h.stats().generation, 1);
    assert!(h.stats().connected);
    h.shutdown();
}

#[tokio::test]
async fn answers_ping_with_pong() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, _rx, mut conn) = start_with_filters(&mut node, cfg, vec![]).await;
    for _ in 0..3 {
        conn.text(PING).await;
        assert_eq!(conn.next().await, json!({"type":"PONG","data":{}}));
    }
    assert_eq!(h.stats().pongs_sent, 3);
    h.shutdown();
}

#[tokio::test]
async fn sends_keepalive_within_interval() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.keepalive = Duration::from_millis(150);
    let (h, _rx, mut conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        let f = conn.next().await;
        assert_eq!(
            f,
            json!({"type":"SET_CUSTOM_CLIENT_ID","data":{"customClientId":"sre-test"}})
        );
    }
    // Three keepalives at 150 ms take about 450 ms; far less than the 5 s bound.
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(h.stats().keepalives_sent >= 3);
    h.shutdown();
}

#[tokio::test]
async fn reconnects_and_reregisters_every_filter() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, conn) =
        start_with_filters(&mut node, cfg, vec![vc_filter(), bf_filter()]).await;
    conn.drop_socket().await;
    match next_event(&mut rx).await {
        ClientEvent::Disconnected { generation, reason } => {
            assert_eq!(generation, 1);
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let mut conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    let frames = conn2.drain(Duration::from_millis(200)).await;
    assert_eq!(frames[0]["type"], "SET_CUSTOM_CLIENT_ID");
    assert_eq!(registered_ids(&frames), vec!["vc", "bf"]);
    // Events flow on the new connection.
    conn2.text(BF_FRAME).await;
    assert!(matches!(
        next_node_event(&mut rx).await,
        ClientEvent::Event(_)
    ));
    assert_eq!(h.stats().generation, 2);
    h.shutdown();
}

#[tokio::test]
async fn deregistered_and_node_deleted_filters_are_not_reregistered() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let tx = Filter::tx_state_changed("tx", Hash([2; 32])).unwrap();
    let (h, mut rx, mut conn) =
        start_with_filters(&mut node, cfg, vec![vc_filter(), bf_filter(), tx]).await;
    assert!(timeout(WAIT, h.deregister("vc")).await.unwrap().unwrap());
    assert_eq!(
        conn.next().await,
        json!({"type":"DEREGISTER_FILTER","data":{"id":"vc"}})
    );
    assert!(!timeout(WAIT, h.deregister("vc")).await.unwrap().unwrap());
    // The node ends the tx filter on its own.
    conn.text(r#"{"type":"EMIT_EVENT","data":{"type":"FILTER_DELETED","payload":{"filter_id":"tx","reason":"END_STATE_REACHED"},"filter_id":"tx"}}"#).await;
    match next_node_event(&mut rx).await {
        ClientEvent::Event(ev) => assert!(matches!(ev.payload, EventPayload::FilterDeleted(_))),
        other => panic!("{other:?}"),
    }
    conn.drop_socket().await;
    assert!(matches!(
        next_event(&mut rx).await,
        ClientEvent::Disconnected { .. }
    ));
    let mut conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    let frames = conn2.drain(Duration::from_millis(200)).await;
    assert_eq!(registered_ids(&frames), vec!["bf"]);
    h.shutdown();
}

#[tokio::test]
async fn malformed_frames_are_skipped_without_killing_the_connection() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, mut conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    let garbage = [
        "not json at all",
        "[]",
        r#"{"data":{}}"#,
        r#"{"type":5,"data":{}}"#,
        r#"{"type":"EMIT_EVENT"}"#,
        r#"{"type":"EMIT_EVENT","data":{"type":"BLOCK_FINALIZED","payload":{"block_number":"x","block_hash":"0x00"},"filter_id":"bf"}}"#,
        r#"{"type":"EMIT_EVENT","data":{"type":"VALUE_CHANGED","payload":{"matched_path":"/a"},"filter_id":"vc"}}"#,
        r#"{"type":"EMIT_ERROR","data":{"message":"no code"}}"#,
    ];
    for g in garbage {
        conn.text(g).await;
    }
    conn.send
        .send(ToClient::Binary(vec![0xff, 0x00, 0x13]))
        .await
        .unwrap();
    // Unknown frame types are not errors, just ignored.
    conn.text(r#"{"type":"SOMETHING_NEW","data":{}}"#).await;
    conn.text(BF_FRAME).await;
    match next_event(&mut rx).await {
        ClientEvent::Event(ev) => assert_eq!(ev.filter_id, "bf"),
        other => panic!("expected the valid event right after the garbage, got {other:?}"),
    }
    assert_eq!(h.stats().malformed_frames, 9);
    // Still the same, working connection.
    conn.text(PING).await;
    assert_eq!(conn.next().await["type"], "PONG");
    assert_eq!(h.stats().generation, 1);
    assert!(rx.try_recv().is_err(), "no Disconnected");
    h.shutdown();
}

#[tokio::test]
async fn silent_connection_is_treated_as_dead() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.ping_timeout = Duration::from_millis(500);
    let (h, mut rx, conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    // PINGs keep it alive past the timeout...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        conn.text(PING).await;
    }
    assert!(rx.try_recv().is_err(), "pinged connection must stay up");
    // ...and their absence kills it.
    match next_event(&mut rx).await {
        ClientEvent::Disconnected { generation, reason } => {
            assert_eq!(generation, 1);
            assert!(reason.contains("PING"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let _conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    h.shutdown();
}

#[tokio::test]
async fn reconnects_before_channel_lifetime() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.max_lifetime = Some(Duration::from_millis(300));
    let (h, mut rx, mut conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    match next_event(&mut rx).await {
        ClientEvent::Disconnected { reason, .. } => {
            assert!(reason.contains("lifetime"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    conn.wait_closed().await;
    let mut conn2 = node.accept().await;
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 2 }
    );
    assert_eq!(
        registered_ids(&conn2.drain(Duration::from_millis(100)).await),
        vec!["bf"]
    );
    h.shutdown();
}

#[tokio::test]
async fn keeps_retrying_until_the_node_is_up() {
    // Reserve a port, free it, and only start listening after a few failed attempts.
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let mut cfg = EventsConfig::new(format!("ws://{addr}"), "sre-test");
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(80);
    let (h, mut rx) = EventClient::connect(cfg).unwrap();
    // Filters registered while disconnected are kept and sent on connect.
    timeout(WAIT, h.register(bf_filter()))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!h.stats().connected);
    let listener = TcpListener::bind(addr).await.unwrap();
    let (tcp, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let mut frames = Vec::new();
    for _ in 0..2 {
        let m = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
        frames.push(serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap());
    }
    assert_eq!(frames[0]["type"], "SET_CUSTOM_CLIENT_ID");
    assert_eq!(registered_ids(&frames), vec!["bf"]);
    assert_eq!(
        next_event(&mut rx).await,
        ClientEvent::Connected { generation: 1 }
    );
    h.shutdown();
}

#[tokio::test]
async fn local_limits_and_validation() {
    let mut node = MockNode::start().await;
    let mut cfg = node.config();
    cfg.max_filters = 2;
    let (h, _rx, _conn) = start_with_filters(&mut node, cfg, vec![bf_filter()]).await;
    let dup = timeout(WAIT, h.register(bf_filter())).await.unwrap();
    assert_eq!(dup, Err(EventsError::DuplicateFilter("bf".into())));
    timeout(WAIT, h.register(vc_filter()))
        .await
        .unwrap()
        .unwrap();
    let full = Filter::block_finalized("third", Some(9)).unwrap();
    assert_eq!(
        timeout(WAIT, h.register(full)).await.unwrap(),
        Err(EventsError::TooManyFilters(2))
    );
    assert!(matches!(
        Filter::value_changed("a:b", "/apps/x", Some(EventSource::Block)),
        Err(FilterError::IdContainsColon(_))
    ));
    let bad = EventsConfig::new("http://127.0.0.1:1", "x");
    assert!(matches!(
        EventClient::connect(bad),
        Err(EventsError::Config(_))
    ));
    h.shutdown();
}

#[tokio::test]
async fn shutdown_and_dropped_receiver_end_the_client() {
    let mut node = MockNode::start().await;
    let cfg = node.config();
    let (h, mut rx, mut conn) = start_with_filters(&mut node, cfg.clone(), vec![]).await;
    h.shutdown();
    assert_eq!(timeout(WAIT, rx.recv()).await.unwrap(), None);
    conn.wait_closed().await;
    assert_eq!(
        timeout(WAIT, h.register(bf_filter())).await.unwrap(),
        Err(EventsError::Closed)
    );

    let (h2, rx2, mut conn2) = start_with_filters(&mut node, cfg, vec![]).await;
    drop(rx2);
    conn2.wait_closed().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while h2.stats().connected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "client still connected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
