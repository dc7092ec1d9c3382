use super::*;
use crate::ledger::crypto::PrivateKey;
use crate::ledger::events::{EventSource, ValueChange};
use crate::ledger::tx::{SimpleOp, TxBody};
use serde_json::json;

fn apps() -> Apps {
    Apps(vec![AppPaths::new("app").unwrap()])
}

const PATH: &str = "/apps/app/sre/calls/echo/c1/request";

fn event(key: &PrivateKey, path: &str, value: Value) -> ValueChanged {
    let body = TxBody::new(
        SimpleOp::set_value(path, value.clone()),
        -1,
        1_795_000_000_000,
    );
    ValueChanged {
        filter_path: "/apps/app/sre/calls/$fn/$call_id/request".into(),
        matched_path: path.into(),
        params: Default::default(),
        auth: None,
        transaction: Some(body.sign(key, 0).unwrap()),
        event_source: EventSource::User,
        values: ValueChange {
            before: Value::Null,
            after: value,
        },
    }
}

#[test]
fn a_genuine_request_event_becomes_a_call() {
    let key = PrivateKey::generate();
    let ev = event(&key, PATH, json!({"input": "hi"}));
    let call = verify_event(&apps(), &ev, 0).unwrap();
    assert_eq!(call.key, "app/echo/c1");
    assert_eq!(call.caller, key.address());
    assert_eq!(call.request_tx, ev.transaction.as_ref().unwrap().hash);
    assert_eq!(call.request, json!({"input": "hi"}));
}

#[test]
fn forged_or_foreign_events_are_refused() {
    let key = PrivateKey::generate();
    // The event claims another value than the tx writes.
    let mut ev = event(&key, PATH, json!({"input": "hi"}));
    ev.values.after = json!({"input": "evil"});
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::Mismatch(_))
    ));
    // The event claims another path than the tx writes.
    let mut ev = event(&key, PATH, json!({"input": "hi"}));
    ev.matched_path = "/apps/app/sre/calls/echo/c2/request".into();
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::Mismatch(_))
    ));
    // A tampered body: the hash no longer matches.
    let mut ev = event(&key, PATH, json!({"input": "hi"}));
    ev.transaction.as_mut().unwrap().tx_body.timestamp = 1.into();
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::Hash { .. })
    ));
    // A bad signature: the claimed signer is not who signed.
    let mut ev = event(&key, PATH, json!({"input": "hi"}));
    ev.transaction.as_mut().unwrap().address = PrivateKey::generate().address();
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::Signature(TxVerifyError::Signer { .. }))
    ));
    // Signed for another chain id.
    let ev = event(&key, PATH, json!({"input": "hi"}));
    assert!(verify_event(&apps(), &ev, 1).is_err());
    // Not a served app, not a request path, a deletion, no tx.
    let ev = event(
        &key,
        "/apps/other/sre/calls/echo/c1/request",
        json!({"input": "hi"}),
    );
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::Path(_))
    ));
    let ev = event(
        &key,
        "/apps/app/sre/calls/echo/c1/response",
        json!({"x": 1}),
    );
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::Path(_))
    ));
    let mut ev = event(&key, PATH, json!({"input": "hi"}));
    ev.values.after = Value::Null;
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::Deleted)
    ));
    let mut ev = event(&key, PATH, json!({"input": "hi"}));
    ev.transaction = None;
    assert!(matches!(
        verify_event(&apps(), &ev, 0),
        Err(TriggerError::NoTransaction)
    ));
}

#[tokio::test]
async fn events_task_dedupes_and_survives_bad_events() {
    use crate::call::Registry;
    use crate::journal::Journal;
    use crate::ledger::events::{ClientEvent, Event, EventPayload};
    use std::sync::Arc;
    use tokio::sync::mpsc;

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.redb")).unwrap();
    let registry = Arc::new(Registry::new(journal, 100));
    let (calls_tx, mut calls_rx) = mpsc::channel(16);
    let (resubmit, _r) = mpsc::channel(16);
    let ctx = Arc::new(run::TriggerCtx {
        apps: apps(),
        chain_id: 0,
        registry: registry.clone(),
        calls: calls_tx,
        resubmit,
        gate: Arc::new(gate::FinalityGate::new(10)),
        confirmer: Arc::new(crate::poster::Confirmer::new(registry)),
        health: Arc::new(crate::observe::Health::default()),
    });
    let key = PrivateKey::generate();
    let good = event(&key, PATH, json!({"input": "hi"}));
    let mut forged = event(
        &key,
        "/apps/app/sre/calls/echo/c9/request",
        json!({"input": "x"}),
    );
    forged.transaction.as_mut().unwrap().address = PrivateKey::generate().address();
    let (tx, rx) = mpsc::channel(16);
    let wrap = |vc: ValueChanged| {
        ClientEvent::Event(Event {
            filter_id: "req-app".into(),
            payload: EventPayload::ValueChanged(Box::new(vc)),
        })
    };
    tx.send(ClientEvent::Connected { generation: 1 })
        .await
        .unwrap();
    tx.send(wrap(forged)).await.unwrap();
    tx.send(wrap(good.clone())).await.unwrap();
    // The BLOCK event of the same write, and a node restart re-firing it.
    let mut block = good.clone();
    block.event_source = EventSource::Block;
    tx.send(wrap(block)).await.unwrap();
    tx.send(wrap(good)).await.unwrap();
    drop(tx);
    run::events_task(ctx, rx, None).await.unwrap();
    let first = calls_rx.recv().await.unwrap();
    assert_eq!(first.key, "app/echo/c1");
    assert!(
        calls_rx.try_recv().is_err(),
        "one call for three sightings, none for the forgery"
    );
}
