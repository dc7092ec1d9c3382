//! The wire: every captured node frame decodes into the right variant, and the encoder writes the
//! captured client frames byte for byte.

use super::*;

#[test]
fn captured_frames_decode_into_expected_variants() {
    let Some(lines) = read_lines(
        "captured_frames_decode_into_expected_variants",
        "ain-1node-events.jsonl",
    ) else {
        return;
    };
    assert_eq!(lines.len(), 65);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut blocks = Vec::new();
    let mut sources = Vec::new();
    let mut deletions = Vec::new();
    let mut tx_states = Vec::new();
    for line in &lines {
        let frame = decode_frame(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let kind = match frame {
            Frame::Ping => "PING",
            Frame::Error(e) => {
                assert_eq!(e.code, 70020);
                assert_eq!(e.filter_id.as_deref(), Some("bad-cfg"));
                assert!(e.message.contains("config.path is missing"));
                "EMIT_ERROR"
            }
            Frame::Other { kind } => panic!("unexpected frame type {kind}"),
            Frame::Event(ev) => match ev.payload {
                EventPayload::BlockFinalized(b) => {
                    assert_eq!(ev.filter_id, "bf-all");
                    blocks.push((b.block_number, b.block_hash));
                    "BLOCK_FINALIZED"
                }
                EventPayload::ValueChanged(vc) => {
                    assert_eq!(ev.filter_id, "vc-req");
                    assert_eq!(
                        vc.filter_path,
                        "/apps/sre_demo/sre/calls/$fn/$call_id/request"
                    );
                    let call = &vc.params["call_id"];
                    assert_eq!(vc.params["fn"], "echo");
                    assert_eq!(
                        vc.matched_path,
                        format!("/apps/sre_demo/sre/calls/echo/{call}/request")
                    );
                    let tx = vc.transaction.expect("a tx caused the write");
                    // The embedded hash is the tx hash, and the signature recovers the signer.
                    assert_eq!(tx.verify(0).unwrap(), tx.address);
                    assert_eq!(vc.auth.and_then(|a| a.addr), Some(tx.address));
                    sources.push((call.clone(), vc.event_source, vc.values.after.is_null()));
                    "VALUE_CHANGED"
                }
                EventPayload::TxStateChanged(t) => {
                    assert_eq!(t.transaction.verify(0).unwrap(), t.transaction.address);
                    tx_states.push((
                        ev.filter_id.clone(),
                        t.tx_state.before,
                        t.tx_state.after,
                        t.transaction.extra.is_some(),
                    ));
                    "TX_STATE_CHANGED"
                }
                EventPayload::FilterDeleted(d) => {
                    assert_eq!(d.filter_id, ev.filter_id);
                    deletions.push((d.filter_id, d.reason));
                    "FILTER_DELETED"
                }
                EventPayload::Unknown { event_type, .. } => panic!("unknown event {event_type}"),
            },
        };
        *counts.entry(kind).or_default() += 1;
    }
    let want: BTreeMap<&str, usize> = [
        ("EMIT_ERROR", 1),
        ("BLOCK_FINALIZED", 44),
        ("VALUE_CHANGED", 8),
        ("TX_STATE_CHANGED", 5),
        ("FILTER_DELETED", 4),
        ("PING", 3),
    ]
    .into();
    assert_eq!(counts, want);

    // Blocks 1..44 in order, each hash equal to the blocks file's.
    let numbers: Vec<u64> = blocks.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=44).collect::<Vec<_>>());
    if let Some(dir) = common::fixtures("captured_frames_decode_into_expected_variants") {
        let text = std::fs::read_to_string(dir.join("ain-1node-blocks.json")).unwrap();
        let file: Vec<Value> = serde_json::from_str(&text).unwrap();
        for (n, h) in &blocks {
            assert_eq!(file[*n as usize]["hash"], h.to_string(), "block {n}");
        }
    }
    // Each write seen at USER, then at BLOCK; one of them is the c2 deletion.
    let users = sources.iter().filter(|s| s.1 == EventSource::User).count();
    assert_eq!(users, 4);
    assert_eq!(
        sources.iter().filter(|s| s.2).count(),
        2,
        "c2 delete at USER and BLOCK"
    );
    for pair in sources.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert_eq!(
            (pair[0].1, pair[1].1),
            (EventSource::User, EventSource::Block)
        );
    }
    use TxState::*;
    let seq: Vec<_> = tx_states
        .iter()
        .map(|(f, b, a, _)| (f.as_str(), b.clone(), a.clone()))
        .collect();
    assert_eq!(
        seq,
        vec![
            ("tx-c1-request", None, Executed),
            ("tx-c1-request", Some(Executed), InBlock),
            ("tx-c1-request", Some(InBlock), Finalized),
            ("tx-fail", None, Pending),
            ("tx-fail", Some(Pending), Reverted),
        ]
    );
    // Only a tx's first event carries `extra`.
    let extras: Vec<bool> = tx_states.iter().map(|t| t.3).collect();
    assert_eq!(extras, vec![true, false, false, true, false]);
    assert_eq!(
        deletions,
        vec![
            ("tx-c1-request".to_owned(), DeletionReason::EndStateReached),
            ("tx-fail".to_owned(), DeletionReason::EndStateReached),
            ("vc-req".to_owned(), DeletionReason::DeletedByUser),
            ("bf-all".to_owned(), DeletionReason::DeletedByUser),
        ]
    );
}

#[test]
fn encoder_matches_captured_sent_frames() {
    let Some(lines) = read_lines(
        "encoder_matches_captured_sent_frames",
        "ain-1node-events-sent.jsonl",
    ) else {
        return;
    };
    assert_eq!(lines.len(), 11);
    let hash = |s: &str| s.parse::<Hash>().unwrap();
    let vc = Filter::value_changed(
        "vc-req",
        "/apps/sre_demo/sre/calls/$fn/$call_id/request",
        None,
    )
    .unwrap();
    let bf = Filter::block_finalized("bf-all", None).unwrap();
    let c1 = Filter::tx_state_changed(
        "tx-c1-request",
        hash("0xe8f50a40ed261aa2f379e9851082bed64ae7c3f8801cf18bd65435ca46b1879c"),
    )
    .unwrap();
    let fail = Filter::tx_state_changed(
        "tx-fail",
        hash("0xe14122d9c9d803be5f973e89777ee66901151e0da3b6471d9abf1bd1d22a33b0"),
    )
    .unwrap();
    let ours: Vec<Option<String>> = vec![
        Some(ClientMessage::SetCustomClientId("sre-fixture-client").to_json()),
        Some(ClientMessage::RegisterFilter(&vc).to_json()),
        Some(ClientMessage::RegisterFilter(&bf).to_json()),
        // `bad-cfg` (config `{}`) was deliberately invalid; the builder cannot express it.
        None,
        Some(ClientMessage::RegisterFilter(&c1).to_json()),
        Some(ClientMessage::Pong.to_json()),
        Some(ClientMessage::RegisterFilter(&fail).to_json()),
        Some(ClientMessage::Pong.to_json()),
        Some(ClientMessage::Pong.to_json()),
        Some(ClientMessage::DeregisterFilter("vc-req").to_json()),
        Some(ClientMessage::DeregisterFilter("bf-all").to_json()),
    ];
    for (i, (line, mine)) in lines.iter().zip(&ours).enumerate() {
        match mine {
            Some(text) => assert_eq!(text, line, "frame {i}"),
            None => {
                let v: Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["data"]["id"], "bad-cfg");
                assert_eq!(v["data"]["config"], json!({}));
            }
        }
    }
}
