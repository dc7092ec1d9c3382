//! Runtime images: whether a reference is well formed, and whether the image is usable by this
//! build (present, missing, or built offline with another stem cell).

use bollard::Docker;

use crate::SandboxError;

use super::{call, image};

/// Whether an image is usable by this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStatus {
    /// Present (and, if built offline, with this build's stem cell).
    Ready,
    /// Not on the engine.
    Missing,
    /// Built offline with another stem cell (the digest it carries).
    StaleStem(String),
}

/// Looks `image` up on the engine.
pub async fn image_status(docker: &Docker, image: &str) -> Result<ImageStatus, SandboxError> {
    match docker.inspect_image(image).await {
        Ok(i) => {
            let label = i
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(image::LABEL_STEM));
            Ok(match label {
                Some(d) if d != image::stem_digest() => ImageStatus::StaleStem(d),
                _ => ImageStatus::Ready,
            })
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(ImageStatus::Missing),
        Err(e) => Err(call::host_fault("inspecting an image", e)),
    }
}

/// A plausible image reference: `[registry/]name[:tag][@digest]`, no spaces or control bytes.
pub(super) fn valid_image_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
}
