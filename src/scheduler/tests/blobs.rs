//! `input_ref` and `output_ref` through the scheduler (issue 20), with a blob store on loopback.

use super::*;
use crate::blobs::fetch::FetchConfig;
use crate::blobs::store::{BlobStore, StoreConfig};
use crate::blobs::worker::{OutputStore, WorkerBlobs};
use crate::blobs::{BlobRef, client, server};
use crate::ledger::crypto::PrivateKey;
use crate::netrules::AddressRules;
use crate::receipt::{CallFacts, build_response};

pub(super) struct Blobs {
    _dir: tempfile::TempDir,
    pub(super) store: Arc<BlobStore>,
    pub(super) base: String,
    _stop: tokio_util::sync::DropGuard,
}

pub(super) async fn blobs() -> Blobs {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BlobStore::open(StoreConfig::new(dir.path().into())).unwrap());
    let cancel = CancellationToken::new();
    let addr = server::serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        cancel.clone(),
    )
    .await
    .unwrap();
    Blobs {
        _dir: dir,
        store,
        base: format!("http://{addr}"),
        _stop: cancel.drop_guard(),
    }
}

pub(super) fn config(b: &Blobs) -> SchedulerConfig {
    SchedulerConfig {
        blobs: WorkerBlobs {
            fetch: FetchConfig {
                rules: AddressRules::new(vec!["127.0.0.1/32".parse().unwrap()]),
                default_base: Some(b.base.clone()),
                ..FetchConfig::default()
            },
            outputs: Some(OutputStore {
                store: b.store.clone(),
                public_base: b.base.clone(),
            }),
            inline_output_bytes: 4096,
            ..WorkerBlobs::default()
        },
        ..SchedulerConfig::default()
    }
}

fn rejection(a: &Answer) -> &str {
    match &a.result {
        CallResult::Rejected(why) => why,
        other => panic!("not rejected: {other:?}"),
    }
}

#[tokio::test]
async fn an_input_ref_is_fetched_run_and_a_large_output_stored_as_a_blob() {
    let b = blobs().await;
    let mut s = setup(config(&b));
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let key = PrivateKey::generate();
    let r = client::upload(&b.base, &key, bytes.clone()).await.unwrap();
    let request = json!({"input_ref": {"sha256": r.sha256, "size": r.size}});
    let a = one(&mut s, call("echo", "big", request)).await;
    match &a.result {
        CallResult::Ran(Outcome::Completed { stdout, .. }) => assert!(*stdout == bytes),
        other => panic!("{other:?}"),
    }
    assert!(
        s.fake.calls()[0].input.to_vec_blocking().unwrap() == bytes,
        "the sandbox got the blob"
    );
    let out = a.refs.output.clone().expect("an output_ref");
    assert_eq!((out.sha256, out.size), (r.sha256, r.size));
    assert_eq!(client::download(&out, None).await.unwrap(), bytes);
    // The response: receipt over the whole input and output, the reference beside them.
    let facts = CallFacts::of(&a, Address([1; 20]));
    let v = build_response(
        &facts,
        &a.result,
        "/apps/app/sre/calls/echo/big/response",
        10_000,
    );
    assert_eq!(v["receipt"]["input_hash"], r.sha256.to_string());
    assert_eq!(v["receipt"]["output_hash"], r.sha256.to_string());
    assert_eq!(v["output_ref"]["sha256"], r.sha256.to_string());
    assert_eq!(v["output_ref"]["url"], out.url.unwrap());
    assert_eq!(v["output_truncated"], true);
    // A small output stays inline.
    let small = one(&mut s, call("echo", "small", json!({"input": "hi"}))).await;
    assert!(small.refs.output.is_none());
}

#[tokio::test]
async fn bad_references_are_rejected_with_the_reason() {
    let b = blobs().await;
    let mut s = setup(config(&b));
    let key = PrivateKey::generate();
    let bytes = vec![5u8; 20_000];
    let r = client::upload(&b.base, &key, bytes).await.unwrap();
    let object = b.store.dir().join("objects").join(r.sha256.to_string());
    let mut tampered = std::fs::read(&object).unwrap();
    tampered[19_999] ^= 1;
    std::fs::write(&object, tampered).unwrap();
    let cases: [(BlobRef, &str); 3] = [
        (r.clone(), "hash mismatch"),
        // Over the default profile's 1 MiB input limit: refused before fetching.
        (
            BlobRef {
                size: 2 << 20,
                ..r.clone()
            },
            "exceeds the function's input limit of 1048576",
        ),
        (
            BlobRef {
                url: Some("http://192.168.7.7/blobs/x".into()),
                ..r.clone()
            },
            "private (RFC 1918)",
        ),
    ];
    for (i, (r, why)) in cases.into_iter().enumerate() {
        let a = one(
            &mut s,
            call("echo", &format!("c{i}"), json!({"input_ref": r})),
        )
        .await;
        assert!(rejection(&a).contains(why), "{why}: {}", rejection(&a));
        // The receipt names the reference's hash, so the caller can verify the rejection.
        let v = build_response(
            &CallFacts::of(&a, Address([1; 20])),
            &a.result,
            "/x",
            10_000,
        );
        assert_eq!(v["receipt"]["input_hash"], r.sha256.to_string());
    }
    assert!(s.fake.calls().is_empty(), "nothing ran");
}
