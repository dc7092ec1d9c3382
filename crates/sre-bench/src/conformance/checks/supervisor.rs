//! SECURITY.md rows 27–29: what lies around the guest rather than in it — the image's declared
//! volumes, the supervisor that hands the sandbox its calls, and images the function does not
//! own. Each check passes when the attack fails.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::{ensure, limits, probe, py, stdout_ok, verdict, wasm_na};
use crate::conformance::{Target, Verdict};
use crate::sandbox::container::Engine;
use crate::sandbox::container::image::{self, BuildEvent};
use crate::sandbox::{FunctionCode, Tier};

/// The bring-your-own image row 27 runs: the suite's tier config allows exactly this one.
pub const VOLUME_IMAGE: &str = "ain-sre-conformance/volume:1";
/// Row 29's stand-in for another service's image (a baked secret file and a password in `ENV`):
/// never on any allow-list.
pub const PRIVATE_IMAGE: &str = "ain-sre-conformance/private:1";

/// Bytes row 27's guest tries to write into its declared volume (four times the default /tmp).
const FILL_BYTES: u64 = 64 << 20;

/// Imports an image assembled from the bash runtime's files, with a `/data` directory anyone
/// may write to (as a service image's data directory would be), and Dockerfile `changes`.
async fn build_image(engine: &Engine, name: &str, changes: Vec<String>) -> Result<(), String> {
    let tar = tokio::task::spawn_blocking(|| {
        let paths = image::recipe("bash").ok_or("no bash recipe")?;
        image::assemble(&paths, "conformance", &|_| {})
            .and_then(|t| image::add_open_dir(t, "data"))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    image::import_tarball(
        &engine.docker,
        name,
        tar,
        changes,
        Arc::new(|_: BuildEvent| {}),
    )
    .await
    .map_err(|e| format!("building {name}: {e}"))
}

/// Names of the engine's volumes.
async fn volume_names(engine: &Engine) -> Result<BTreeSet<String>, String> {
    let list = engine
        .docker
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .map_err(|e| format!("listing volumes: {e}"))?;
    Ok(list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect())
}

/// Row 27: an image declaring `VOLUME /data` whose entrypoint fills /data. Docker would back
/// /data with an unsized directory on the host's disk that outlives the container; the guest
/// must find a sized tmpfs there, its write must stop at that size, and no volume may appear.
pub(super) async fn image_volumes(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(
        t,
        "a module has no image and no file system beyond its preopens",
    ) {
        return v;
    }
    if t.tier == Tier::Process {
        return Verdict::NotApplicable(
            "the process tier runs no images: its file system is the runtime's read-only binds \
             and a sized /tmp"
                .into(),
        );
    }
    verdict(
        async {
            let engine = Engine::connect().await.map_err(|e| e.to_string())?;
            let script = format!(
                "fs=none; while read -r _ m f _; do [ \"$m\" = /data ] && fs=$f; done < /proc/self/mounts; \
                 /usr/bin/head -c {FILL_BYTES} /dev/zero > /data/fill 2>/dev/null; rc=$?; \
                 n=$(/usr/bin/wc -c < /data/fill 2>/dev/null); \
                 printf '%s %s %s' \"$fs\" \"$rc\" \"${{n:-0}}\""
            );
            build_image(
                &engine,
                VOLUME_IMAGE,
                vec![
                    "VOLUME /data".into(),
                    format!(
                        "ENTRYPOINT [\"/usr/bin/bash\", \"-c\", {}]",
                        serde_json::to_string(&script).map_err(|e| e.to_string())?
                    ),
                ],
            )
            .await?;
            let before = volume_names(&engine).await?;
            let code = FunctionCode::new("image", VOLUME_IMAGE.as_bytes().to_vec());
            let out = t.run(&code, b"", limits()).await?;
            let text = String::from_utf8_lossy(stdout_ok(&out)?).into_owned();
            let mut f = text.split_whitespace();
            let (fs, rc, kept) = (f.next(), f.next(), f.next());
            ensure(fs == Some("tmpfs"), || {
                format!("/data is backed by {}, not a sized tmpfs", fs.unwrap_or("?"))
            })?;
            ensure(rc != Some("0"), || {
                format!("{FILL_BYTES} bytes written to the declared volume")
            })?;
            // Removal runs off the caller's path: give it a moment before counting.
            let mut appeared = BTreeSet::new();
            for _ in 0..50 {
                appeared = volume_names(&engine)
                    .await?
                    .difference(&before)
                    .cloned()
                    .collect();
                if appeared.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            ensure(appeared.is_empty(), || {
                format!("the call left volumes on the host: {appeared:?}")
            })?;
            Ok(format!(
                "VOLUME /data is a sized tmpfs (write stopped at {} bytes); no host volume",
                kept.unwrap_or("?")
            ))
        }
        .await,
    )
}

/// Row 28: the probe tries every other visible process (the stem cell first): a forged frame
/// on its stdin, its memory map, system call, environment and memory.
pub(super) async fn supervisor(t: &Target<'_>) -> Verdict {
    if let Some(v) = wasm_na(
        t,
        "WASI has no processes: the host is reached only through imports",
    ) {
        return v;
    }
    verdict(
        async {
            let info = probe(t, py!("supervisor"), json!({}), limits()).await?;
            let others = info["others"].as_array().map_or(0, Vec::len);
            Ok(if others == 0 {
                format!(
                    "the guest (pid {}) sees no other process: the supervisor is outside its pid \
                     namespace",
                    info["pid"]
                )
            } else {
                format!(
                    "{} refused: stdin, maps, syscall, environ, mem, fd",
                    info["others"]
                )
            })
        }
        .await,
    )
}

/// Row 29: an image the operator did not allow is refused by name and by id, naming the image
/// and how the operator would allow it.
pub(super) async fn not_owned(t: &Target<'_>) -> Verdict {
    match t.tier {
        Tier::Wasm => {
            return Verdict::NotApplicable(
                "a module is its own code: it names no image, file or host path".into(),
            );
        }
        Tier::Process => {
            return Verdict::NotApplicable(
                "a function names only a runtime; the host paths it sees are the operator's \
                 runtime definitions' binds (runtimes/*.toml), never chosen by the function"
                    .into(),
            );
        }
        Tier::Container => {}
    }
    verdict(
        async {
            let engine = Engine::connect().await.map_err(|e| e.to_string())?;
            build_image(
                &engine,
                PRIVATE_IMAGE,
                vec![
                    format!("ENV SERVICE_DB_PASSWORD={}", t.host.secret),
                    "ENTRYPOINT [\"/usr/bin/bash\", \"-c\", \"printf %s \\\"$SERVICE_DB_PASSWORD\\\"\"]"
                        .into(),
                ],
            )
            .await?;
            let id = engine
                .docker
                .inspect_image(PRIVATE_IMAGE)
                .await
                .map_err(|e| e.to_string())?
                .id
                .ok_or("the image has no id")?;
            for reference in [PRIVATE_IMAGE, id.as_str()] {
                let code = FunctionCode::new("image", reference.as_bytes().to_vec());
                match t.prepare(&code).await {
                    Ok(()) => return Err(format!("`{reference}` was accepted")),
                    Err(e) => ensure(
                        e.contains(reference) && e.contains("allowed_images"),
                        || format!("refused without naming the image and the remedy: {e}"),
                    )?,
                }
            }
            Ok("an image not on the operator's list is refused by name and by id".into())
        }
        .await,
    )
}
