//! Code by reference (`code_ref`, issue 21): fetched through the same path and address rules as
//! `input_ref`, verified, and refused with the reason when it does not match.

use super::blobs::{Blobs, blobs, config};
use super::*;
use crate::blobs::{BlobRef, client};
use crate::ledger::crypto::PrivateKey;

/// A fake tier that answers every call with the code it was given.
fn code_echo() -> FakeSandbox {
    FakeSandbox::new(Tier::Wasm, |code, _call| {
        Ok(Outcome::Completed {
            exit_code: 0,
            stdout: code.bytes.to_vec(),
            stderr_tail: Vec::new(),
            usage: Default::default(),
        })
    })
}

fn ref_spec(r: &BlobRef) -> serde_json::Value {
    json!({"runtime": "wasm", "code_hash": r.sha256.to_string(), "size": r.size, "code_ref": r})
}

async fn uploaded(b: &Blobs, bytes: Vec<u8>) -> BlobRef {
    client::upload(&b.base, &PrivateKey::generate(), bytes)
        .await
        .unwrap()
}

fn rejection(a: &Answer) -> String {
    match &a.result {
        CallResult::Rejected(why) => why.clone(),
        other => panic!("not rejected: {other:?}"),
    }
}

#[tokio::test]
async fn code_by_reference_runs_and_is_verified() {
    let b = blobs().await;
    let mut s = setup_with(config(&b), code_echo());
    // Larger than any inline code, so nothing but the blob can have provided it.
    let code: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = uploaded(&b, code.clone()).await;
    s.node.set("/apps/app/sre/functions/big", ref_spec(&r));
    let a = one(&mut s, call("big", "c1", json!({"input": "x"}))).await;
    match &a.result {
        CallResult::Ran(Outcome::Completed { stdout, .. }) => assert!(*stdout == code),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.code_hash, r.sha256.to_string());
    // Without a url: the worker's default store.
    let bare = BlobRef { url: None, ..r };
    s.node.set("/apps/app/sre/functions/bare", ref_spec(&bare));
    let a = one(&mut s, call("bare", "c2", json!({"input": "x"}))).await;
    assert!(matches!(a.result, CallResult::Ran(_)), "{:?}", a.result);
}

#[tokio::test]
async fn a_tampered_oversize_or_unreachable_code_blob_is_rejected() {
    let b = blobs().await;
    let mut cfg = config(&b);
    // Fetched over HTTP (not from the worker's own store on disk), and a small limit.
    cfg.blobs.outputs = None;
    cfg.blobs.max_code_bytes = 100_000;
    let mut s = setup_with(cfg, code_echo());
    let r = uploaded(&b, vec![7u8; 20_000]).await;
    let object = b.store.dir().join("objects").join(r.sha256.to_string());
    let mut tampered = std::fs::read(&object).unwrap();
    tampered[12_345] ^= 1;
    std::fs::write(&object, tampered).unwrap();
    let big = uploaded(&b, vec![8u8; 150_000]).await;
    let gone = BlobRef {
        url: Some("http://127.0.0.1:1/blobs/x".into()),
        ..r.clone()
    };
    let private = BlobRef {
        url: Some("http://10.9.9.9/blobs/x".into()),
        ..r.clone()
    };
    let cases = [
        (&r, "code_ref hash mismatch"),
        (
            &big,
            "code_ref of 150000 bytes exceeds the worker's limit of 100000",
        ),
        (&gone, "code_ref unreachable"),
        (&private, "code_ref url refused"),
    ];
    for (i, (r, why)) in cases.into_iter().enumerate() {
        let f = format!("f{i}");
        s.node
            .set(&format!("/apps/app/sre/functions/{f}"), ref_spec(r));
        let a = one(&mut s, call(&f, "c", json!({"input": "x"}))).await;
        let got = rejection(&a);
        assert!(got.contains(why), "{why}: {got}");
    }
    assert!(s.fake.calls().is_empty(), "nothing ran");
}
