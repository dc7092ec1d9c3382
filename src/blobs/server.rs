//! The blob store's HTTP server (axum): `GET`/`HEAD`/`PUT /blobs/<sha256>`, plus a retention
//! sweep every `min(retention / 4, 60 s)`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

use super::store::{BlobStore, Put, StoreError};
use super::{AuthError, SIGNATURE_HEADER, SIZE_HEADER, Sha256Hex, verify_upload};

/// The routes over `store`.
pub fn router(store: Arc<BlobStore>) -> axum::Router {
    axum::Router::new()
        .route("/blobs/{sha}", axum::routing::get(get_blob).put(put_blob))
        .with_state(store)
}

/// Serves `store` on `addr` until `cancel`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    store: Arc<BlobStore>,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(store.clone());
    let c = cancel.clone();
    tokio::spawn(async move {
        let stop = async move { c.cancelled().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "blob server stopped");
        }
    });
    let every =
        (store.config().retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || s.sweep(SystemTime::now())).await;
        }
    });
    tracing::info!(addr = %bound, "serving blobs at /blobs/<sha256>");
    Ok(bound)
}

fn text(code: StatusCode, why: impl std::fmt::Display) -> Response {
    (code, format!("{why}\n")).into_response()
}

async fn get_blob(State(store): State<Arc<BlobStore>>, Path(sha): Path<String>) -> Response {
    let sha: Sha256Hex = match sha.parse() {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let Some((file, size)) = store.open_blob(&sha).await else {
        return text(StatusCode::NOT_FOUND, format!("no blob {sha}"));
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 << 10));
    (
        [
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_TYPE, "application/octet-stream".into()),
        ],
        body,
    )
        .into_response()
}

async fn put_blob(
    State(store): State<Arc<BlobStore>>,
    Path(sha): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let sha: Sha256Hex = match sha.parse() {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(size) = header_str(SIZE_HEADER).and_then(|s| s.trim().parse::<u64>().ok()) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("a PUT needs the header {SIZE_HEADER}: <bytes>"),
        );
    };
    if let Some(len) = header_str("content-length").and_then(|s| s.parse::<u64>().ok())
        && len != size
    {
        return text(
            StatusCode::BAD_REQUEST,
            format!("Content-Length {len} is not the declared size {size}"),
        );
    }
    let owner = match header_str(SIGNATURE_HEADER).ok_or(AuthError::Missing) {
        Ok(sig) => match verify_upload(sig, &sha, size) {
            Ok(a) => a,
            Err(e) => return text(StatusCode::UNAUTHORIZED, e),
        },
        Err(e) => return text(StatusCode::UNAUTHORIZED, e),
    };
    match store.put(sha, size, owner, body.into_data_stream()).await {
        Ok(put) => {
            let code = match put {
                Put::Stored => StatusCode::CREATED,
                Put::Existed => StatusCode::OK,
            };
            let doc = serde_json::json!({"sha256": sha, "size": size, "owner": owner.to_string()});
            (code, axum::Json(doc)).into_response()
        }
        Err(e) => {
            let code = match &e {
                StoreError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                StoreError::Full { .. } => StatusCode::INSUFFICIENT_STORAGE,
                StoreError::KeyQuota { .. } => StatusCode::FORBIDDEN,
                StoreError::SizeMismatch { .. } | StoreError::HashMismatch { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                StoreError::Body(_) => StatusCode::BAD_REQUEST,
                StoreError::Io(err) => {
                    tracing::error!(error = %err, "blob store I/O");
                    return text(StatusCode::INTERNAL_SERVER_ERROR, "blob store I/O error");
                }
            };
            text(code, e)
        }
    }
}
