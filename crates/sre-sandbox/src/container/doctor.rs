//! `ain-sre doctor` for the container tier: the engine (reachable, versions), its runc (warn when
//! older than the 2025 CVE fixes), every runtime image (present, or how to build it), which
//! bring-your-own images the `image` runtime may run, and containers left by dead ain-sre
//! processes.

use super::ImagePolicy;
use super::engine::{Engine, host_name, is_orphan};
use super::spec::LABEL;
use crate::config::runtimes::RuntimeCatalog;
use crate::doctor::Check;

const AREA: &str = "container";

/// Connects to the engine and checks it; a failed connection is one failing check.
pub async fn doctor(runtimes: &RuntimeCatalog, images: &ImagePolicy) -> Vec<Check> {
    match Engine::connect().await {
        Ok(engine) => checks(&engine, runtimes, images).await,
        Err(e) => vec![Check::fail(AREA, "engine", e.to_string())],
    }
}

/// Checks a connected engine.
pub async fn checks(
    engine: &Engine,
    runtimes: &RuntimeCatalog,
    images: &ImagePolicy,
) -> Vec<Check> {
    let mut out = vec![Check::ok(
        AREA,
        "engine",
        format!(
            "Docker {} reachable (API {})",
            engine.version, engine.api_version
        ),
    )];
    out.push(match (&engine.runc, engine.runc_warning()) {
        (_, Some(w)) => Check::warn(AREA, "runc", w),
        (Some(v), None) => Check::ok(AREA, "runc", format!("runc {v}")),
        (None, None) => Check::warn(AREA, "runc", "the engine does not report its runc version"),
    });
    for rt in runtimes.iter() {
        let Some(image) = &rt.image else { continue };
        let what = format!("image {}", rt.name);
        out.push(match super::image_status(&engine.docker, image).await {
            Ok(super::ImageStatus::Ready) => Check::ok(AREA, what, format!("{image} present")),
            Ok(super::ImageStatus::StaleStem(_)) => Check::fail(
                AREA,
                what,
                format!(
                    "{image} has an older stem cell: run `ain-sre runtimes build {}`",
                    rt.name
                ),
            ),
            Ok(super::ImageStatus::Missing) => Check::fail(
                AREA,
                what,
                format!("{image} missing: run `ain-sre runtimes build {}`", rt.name),
            ),
            Err(e) => Check::fail(AREA, what, e.to_string()),
        });
    }
    // Informational either way: deny-all is the safe default, not a fault.
    out.push(Check::ok(
        AREA,
        "image policy",
        format!(
            "`image` runtime: {}{}",
            images.describe(),
            if images.denies_all() {
                "; allow images with `allowed_images` / `allowed_image_label` under `[container]` \
                 in the worker config"
            } else {
                ""
            }
        ),
    ));
    let host = host_name();
    match engine.labelled(LABEL).await {
        Ok(list) => {
            let dead = list.iter().filter(|c| is_orphan(c, &host)).count();
            out.push(if dead == 0 {
                Check::ok(
                    AREA,
                    "leftovers",
                    format!("{} ain-sre containers, none orphaned", list.len()),
                )
            } else {
                Check::warn(
                    AREA,
                    "leftovers",
                    format!(
                        "{dead} containers of dead ain-sre processes; the next worker start removes them"
                    ),
                )
            });
        }
        Err(e) => out.push(Check::warn(
            AREA,
            "leftovers",
            format!("cannot list containers: {e}"),
        )),
    }
    out
}
