//! The blob store, its server and the fetcher, over loopback.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::client::{UploadError, download, upload};
use super::fetch::{FetchConfig, FetchError, fetch_input};
use super::store::{BlobStore, StoreConfig, StoreError};
use super::*;
use crate::netrules::AddressRules;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<BlobStore>,
    base: String,
    cancel: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn fixture(tune: impl FnOnce(&mut StoreConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("blobs"));
    tune(&mut config);
    let store = Arc::new(BlobStore::open(config).unwrap());
    let cancel = CancellationToken::new();
    let addr = server::serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        cancel.clone(),
    )
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        store,
        base: format!("http://{addr}"),
        cancel,
    }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn loopback_ok() -> FetchConfig {
    FetchConfig {
        rules: AddressRules::new(vec!["127.0.0.1/32".parse().unwrap()]),
        ..FetchConfig::default()
    }
}

#[tokio::test]
async fn a_16_mib_blob_round_trips_and_a_second_put_is_idempotent() {
    let f = fixture(|_| {}).await;
    let key = PrivateKey::generate();
    let bytes = payload(16 << 20);
    let r = upload(&f.base, &key, bytes.clone()).await.unwrap();
    assert_eq!(r.size, 16 << 20);
    assert_eq!(f.store.key_bytes(&key.address()), 16 << 20);
    // Again: 200, charged once.
    let again = upload(&f.base, &key, bytes.clone()).await.unwrap();
    assert_eq!(again, r);
    assert_eq!(f.store.used_bytes(), 16 << 20);
    let back = download(&r, None).await.unwrap();
    assert!(back == bytes);
    let fetched = fetch_input(&r, 16 << 20, &loopback_ok()).await.unwrap();
    assert!(*fetched == bytes[..]);
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_tampered_uploads_are_refused() {
    let f = fixture(|_| {}).await;
    let bytes = payload(1000);
    let sha = Sha256Hex::of(&bytes);
    let url = format!("{}/blobs/{sha}", f.base);
    let http = reqwest::Client::new();
    let unsigned = http
        .put(&url)
        .header(SIZE_HEADER, "1000")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert!(unsigned.text().await.unwrap().contains("unsigned upload"));
    // A signature over another size.
    let key = PrivateKey::generate();
    let wrong = http
        .put(&url)
        .header(SIZE_HEADER, "1000")
        .header(SIGNATURE_HEADER, sign_upload(&key, &sha, 999).to_string())
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Signed right, one byte changed: the hash does not match, nothing stored.
    let mut tampered = bytes.clone();
    tampered[500] ^= 1;
    let bad = http
        .put(&url)
        .header(SIZE_HEADER, "1000")
        .header(SIGNATURE_HEADER, sign_upload(&key, &sha, 1000).to_string())
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("hashes to"));
    assert_eq!(f.store.used_bytes(), 0);
    assert_eq!(f.store.key_bytes(&key.address()), 0);
    assert!(f.store.size(&sha).is_none());
    assert_eq!(
        std::fs::read_dir(f.store.dir().join("tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn per_key_and_total_quotas_refuse_uploads() {
    let f = fixture(|c| {
        c.per_key_quota_bytes = 3000;
        c.quota_bytes = 5000;
    })
    .await;
    let a = PrivateKey::generate();
    let b = PrivateKey::generate();
    upload(&f.base, &a, payload(2000)).await.unwrap();
    let over = upload(&f.base, &a, payload(1500)).await.unwrap_err();
    assert!(
        matches!(&over, UploadError::Refused { status: 403, body, .. } if body.contains("quota")),
        "{over}"
    );
    // Another key still has its own quota, up to the store's total.
    upload(&f.base, &b, payload(2500)).await.unwrap();
    let c = PrivateKey::generate();
    let full = upload(&f.base, &c, payload(600)).await.unwrap_err();
    assert!(
        matches!(&full, UploadError::Refused { status: 507, .. }),
        "{full}"
    );
}

#[tokio::test]
async fn retention_frees_space() {
    let f = fixture(|c| {
        c.quota_bytes = 4000;
        c.retention = Duration::from_secs(3600);
    })
    .await;
    let key = PrivateKey::generate();
    let first = upload(&f.base, &key, payload(3000)).await.unwrap();
    assert!(upload(&f.base, &key, payload(2000)).await.is_err());
    let object = f.store.dir().join("objects").join(first.sha256.to_string());
    assert!(object.exists());
    // Not yet expired: nothing freed.
    assert_eq!(f.store.sweep(SystemTime::now()), (0, 0));
    let later = SystemTime::now() + Duration::from_secs(3601);
    assert_eq!(f.store.sweep(later), (1, 3000));
    assert!(!object.exists(), "the file is deleted");
    assert_eq!(f.store.used_bytes(), 0);
    assert_eq!(f.store.key_bytes(&key.address()), 0);
    upload(&f.base, &key, payload(2000)).await.unwrap();
    assert!(download(&first, None).await.is_err(), "gone from the store");
}

/// A refreshing upload (deploy's, for code) restarts a stored blob's retention; a plain one
/// (inputs) does not send the bytes again.
#[tokio::test]
async fn a_refreshing_upload_restarts_retention() {
    let f = fixture(|c| c.retention = Duration::from_secs(3600)).await;
    let key = PrivateKey::generate();
    let before = SystemTime::now();
    let r = upload(&f.base, &key, payload(300_000)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Plain: the store is asked first, nothing is re-sent, the retention runs on.
    upload(&f.base, &key, payload(300_000)).await.unwrap();
    let expires_first = before + Duration::from_secs(3601);
    let object = f.store.dir().join("objects").join(r.sha256.to_string());
    let mtime = || std::fs::metadata(&object).unwrap().modified().unwrap();
    assert!(mtime() < before + Duration::from_secs(1), "not refreshed");
    super::client::upload_refreshing(&f.base, &key, payload(300_000))
        .await
        .unwrap();
    assert!(mtime() >= before + Duration::from_secs(1), "refreshed");
    // Past the first upload's retention, within the refreshed one: kept.
    assert_eq!(f.store.sweep(expires_first), (0, 0));
    assert_eq!(download(&r, None).await.unwrap(), payload(300_000));
}

#[tokio::test]
async fn a_reopened_store_keeps_its_blobs_and_charges() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate();
    let bytes = payload(4096);
    let sha = Sha256Hex::of(&bytes);
    {
        let s = BlobStore::open(StoreConfig::new(dir.path().into())).unwrap();
        s.put_local(key.address(), &bytes).await.unwrap();
    }
    let s = BlobStore::open(StoreConfig::new(dir.path().into())).unwrap();
    assert_eq!(s.size(&sha), Some(4096));
    assert_eq!(s.key_bytes(&key.address()), 4096);
}

#[tokio::test]
async fn a_body_longer_than_declared_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open(StoreConfig::new(dir.path().into())).unwrap();
    let bytes = payload(100);
    let sha = Sha256Hex::of(&bytes[..50]);
    // An endless body: the store stops reading right past the declared size.
    let endless = futures_util::stream::repeat_with(|| {
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(&[7u8; 10]))
    });
    let e = s
        .put(sha, 50, PrivateKey::generate().address(), endless)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::SizeMismatch { over: true, .. }),
        "{e}"
    );
    assert_eq!(s.used_bytes(), 0);
}

#[tokio::test]
async fn fetch_refuses_tampered_oversize_private_and_missing() {
    let f = fixture(|_| {}).await;
    let key = PrivateKey::generate();
    let bytes = payload(10_000);
    let r = upload(&f.base, &key, bytes.clone()).await.unwrap();
    // The stored file is changed behind the store's back: one byte.
    let object = f.store.dir().join("objects").join(r.sha256.to_string());
    let mut on_disk = std::fs::read(&object).unwrap();
    on_disk[1234] ^= 0x40;
    std::fs::write(&object, &on_disk).unwrap();
    let e = fetch_input(&r, 1 << 20, &loopback_ok()).await.unwrap_err();
    assert!(matches!(e, FetchError::HashMismatch { .. }), "{e}");
    // Over the function's limit: refused before connecting.
    let e = fetch_input(&r, 9_999, &loopback_ok()).await.unwrap_err();
    assert!(matches!(e, FetchError::Oversize { .. }), "{e}");
    // Loopback without the operator's allowance; private and metadata addresses.
    let e = fetch_input(&r, 1 << 20, &FetchConfig::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    for (url, class) in [
        ("http://10.0.0.5/blobs/x", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[::1]:9/blobs/x", "loopback"),
        ("http://localhost:9/blobs/x", "loopback"),
    ] {
        let rr = BlobRef {
            url: Some(url.into()),
            ..r.clone()
        };
        let e = fetch_input(&rr, 1 << 20, &FetchConfig::default())
            .await
            .unwrap_err();
        assert!(
            matches!(e, FetchError::Refused(_)) && e.to_string().contains(class),
            "{url}: {e}"
        );
    }
    // A declared size smaller than the body: abandoned past it.
    let short = BlobRef {
        size: 5_000,
        ..r.clone()
    };
    let e = fetch_input(&short, 1 << 20, &loopback_ok())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::SizeMismatch { .. }), "{e}");
    // Absent: unreachable (404).
    let absent = BlobRef {
        sha256: Sha256Hex([9; 32]),
        size: 10,
        url: None,
    };
    let cfg = FetchConfig {
        default_base: Some(f.base.clone()),
        ..loopback_ok()
    };
    let e = fetch_input(&absent, 1 << 20, &cfg).await.unwrap_err();
    assert!(matches!(e, FetchError::Unreachable(_)), "{e}");
}

#[test]
fn an_upload_signature_names_its_signer_on_any_chain_id() {
    let key = PrivateKey::generate();
    let sha = Sha256Hex::of(b"x");
    let msg = upload_message(&sha, 1);
    for chain_id in [0, 1, 100] {
        let sig = key.sign_message(&msg, chain_id).unwrap().to_string();
        assert_eq!(verify_upload(&sig, &sha, 1).unwrap(), key.address());
        assert!(matches!(
            verify_upload(&sig, &sha, 2),
            Err(AuthError::WrongMessage(_))
        ));
    }
    assert!(verify_upload("0x12", &sha, 1).is_err());
}

#[test]
fn digests_and_refs_parse_strictly() {
    let sha = Sha256Hex::of(b"abc");
    assert_eq!(
        sha.to_string(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(sha.to_string().parse::<Sha256Hex>().unwrap(), sha);
    assert!("abc".parse::<Sha256Hex>().is_err());
    let r: BlobRef =
        serde_json::from_value(serde_json::json!({"sha256": sha.to_string(), "size": 3})).unwrap();
    assert_eq!(r.url, None);
    assert!(
        serde_json::from_value::<BlobRef>(
            serde_json::json!({"sha256": sha.to_string(), "size": 3, "extra": 1})
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_large_input_reaches_the_sandbox_as_a_verified_file_local_or_downloaded() {
    use crate::sandbox::Input;
    use worker::{OutputStore, WorkerBlobs};
    let f = fixture(|_| {}).await;
    let key = PrivateKey::generate();
    let bytes = payload(3 << 20);
    let r = upload(&f.base, &key, bytes.clone()).await.unwrap();
    let fetch = FetchConfig {
        default_base: Some(f.base.clone()),
        ..loopback_ok()
    };
    let local = WorkerBlobs {
        fetch: fetch.clone(),
        outputs: Some(OutputStore {
            store: f.store.clone(),
            public_base: f.base.clone(),
        }),
        ..WorkerBlobs::default()
    };
    let remote = WorkerBlobs {
        fetch,
        ..WorkerBlobs::default()
    };
    for (name, w) in [("local", &local), ("remote", &remote)] {
        let input = w.fetch(&r, 16 << 20).await.unwrap();
        assert!(matches!(input, Input::File { .. }), "{name}: {input:?}");
        assert_eq!(input.len(), bytes.len(), "{name}");
        assert!(input.to_bytes().await.unwrap()[..] == bytes[..], "{name}");
    }
    // Opened, then the path deleted (retention): the call still reads every byte.
    let input = local.fetch(&r, 16 << 20).await.unwrap();
    std::fs::remove_file(f.store.dir().join("objects").join(r.sha256.to_string())).unwrap();
    let mut back = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut input.reader(), &mut back)
        .await
        .unwrap();
    assert!(back == bytes);
    // A small remote input stays in memory.
    let small = upload(&f.base, &key, payload(1000)).await.unwrap();
    let input = remote.fetch(&small, 16 << 20).await.unwrap();
    assert!(matches!(input, Input::Bytes(_)), "{input:?}");
}

#[tokio::test]
async fn a_tampered_large_blob_is_rejected_locally_and_when_downloaded_to_a_file() {
    use worker::{OutputStore, WorkerBlobs};
    let f = fixture(|_| {}).await;
    let key = PrivateKey::generate();
    let r = upload(&f.base, &key, payload(2 << 20)).await.unwrap();
    let object = f.store.dir().join("objects").join(r.sha256.to_string());
    let mut tampered = std::fs::read(&object).unwrap();
    tampered[1 << 20] ^= 1;
    std::fs::write(&object, &tampered).unwrap();
    let fetch = FetchConfig {
        default_base: Some(f.base.clone()),
        ..loopback_ok()
    };
    let local = WorkerBlobs {
        fetch: fetch.clone(),
        outputs: Some(OutputStore {
            store: f.store.clone(),
            public_base: f.base.clone(),
        }),
        ..WorkerBlobs::default()
    };
    let remote = WorkerBlobs {
        fetch,
        ..WorkerBlobs::default()
    };
    for (name, w) in [("local", &local), ("remote", &remote)] {
        let e = w.fetch(&r, 16 << 20).await.unwrap_err();
        assert!(matches!(e, FetchError::HashMismatch { .. }), "{name}: {e}");
    }
}
