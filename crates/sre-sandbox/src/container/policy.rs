//! Which bring-your-own images the `image` runtime may run (abuse row 29), and which of an
//! image's declared volumes it may have (abuse row 27).
//!
//! A function names its image by reference, and every image on the worker's engine is one
//! reference away: another service's image, with its baked secrets and its `ENV`, would run as
//! a function. So the `image` runtime runs only what the worker's operator allowed, **deny by
//! default**: an image is allowed when one of its names or its digest is on the configured list,
//! or when it carries the configured label. Nothing else identifies an image the operator meant
//! for functions: its name is chosen by whoever built it.

use bollard::models::ImageInspect;

/// The operator's allow-list for the `image` runtime. Empty (the default) allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePolicy {
    /// Allowed images: names (`name:tag`; a bare `name` means `name:latest`), repository digests
    /// (`name@sha256:…`) or image ids (`sha256:…`).
    pub allow: Vec<String>,
    /// A label (`key` or `key=value`): images carrying it are allowed.
    pub allow_label: Option<String>,
}

/// Most volumes an image may declare (each becomes a tmpfs mount).
pub const MAX_VOLUMES: usize = 16;

/// `docker.io/library/x:t` and `x:t` are one name; a name without a tag means `:latest`.
fn normalize(name: &str) -> String {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    let n = n.strip_prefix("library/").unwrap_or(n);
    if n.starts_with("sha256:") || n.contains('@') {
        return n.to_owned();
    }
    let last = n.rsplit('/').next().unwrap_or(n);
    if last.contains(':') {
        n.to_owned()
    } else {
        format!("{n}:latest")
    }
}

impl ImagePolicy {
    /// True when nothing is allowed (the default).
    pub fn denies_all(&self) -> bool {
        self.allow.is_empty() && self.allow_label.is_none()
    }

    /// Whether the inspected image may run.
    pub fn permits(&self, image: &ImageInspect) -> bool {
        let allowed: Vec<String> = self.allow.iter().map(|a| normalize(a)).collect();
        let id_ok = image
            .id
            .as_deref()
            .is_some_and(|id| allowed.iter().any(|a| a == id));
        let names = image
            .repo_tags
            .iter()
            .flatten()
            .chain(image.repo_digests.iter().flatten());
        let name_ok = names.map(|n| normalize(n)).any(|n| allowed.contains(&n));
        let label_ok = self.allow_label.as_deref().is_some_and(|want| {
            let labels = image.config.as_ref().and_then(|c| c.labels.as_ref());
            let (key, value) = match want.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (want, None),
            };
            labels
                .and_then(|l| l.get(key))
                .is_some_and(|v| value.is_none_or(|want| want == v))
        });
        id_ok || name_ok || label_ok
    }

    /// One line for `doctor` and for rejections: what is allowed.
    pub fn describe(&self) -> String {
        if self.denies_all() {
            return "no image is allowed (deny by default)".into();
        }
        let mut parts = Vec::new();
        if !self.allow.is_empty() {
            parts.push(format!(
                "{} listed ({})",
                self.allow.len(),
                self.allow.join(", ")
            ));
        }
        if let Some(l) = &self.allow_label {
            parts.push(format!("images labelled `{l}`"));
        }
        parts.join("; ")
    }

    /// The rejection for an image the policy does not allow: names it and says how the operator
    /// allows it.
    pub fn rejection(&self, reference: &str) -> String {
        format!(
            "image `{reference}` is not allowed on this worker [{}]; the operator allows an image \
             by adding its name or digest to `allowed_images`, or by building it with the label \
             set in `allowed_image_label`, in the `[container]` section of the worker config",
            self.describe()
        )
    }
}

/// The image's declared volumes, checked: each must be an absolute, plain path outside the
/// kernel's file systems, and at most [`MAX_VOLUMES`]. They are covered by sized tmpfs mounts
/// instead of Docker's anonymous volumes, which are unsized directories on the host's disk,
/// writable despite the read-only root, and outlive the container.
pub fn volumes(image: &ImageInspect) -> Result<Vec<String>, String> {
    let declared = image
        .config
        .as_ref()
        .and_then(|c| c.volumes.clone())
        .unwrap_or_default();
    if declared.len() > MAX_VOLUMES {
        return Err(format!(
            "the image declares {} volumes; at most {MAX_VOLUMES} are supported",
            declared.len()
        ));
    }
    let mut out = Vec::new();
    for v in declared {
        let p = std::path::Path::new(&v);
        let plain = p.is_absolute()
            && p.components()
                .skip(1)
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && p.components().count() > 1;
        let kernel = ["/proc", "/sys", "/dev"].iter().any(|k| p.starts_with(k));
        if !plain || kernel {
            return Err(format!("the image declares an unusable volume `{v}`"));
        }
        // Docker cleans the path the same way when it creates the mount.
        out.push(p.to_string_lossy().trim_end_matches('/').to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ImageConfig;
    use std::collections::HashMap;

    fn image(tags: &[&str], labels: &[(&str, &str)], volumes: &[&str]) -> ImageInspect {
        ImageInspect {
            id: Some("sha256:abc".into()),
            repo_tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
            config: Some(ImageConfig {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect::<HashMap<_, _>>(),
                ),
                volumes: Some(volumes.iter().map(|v| (*v).to_owned()).collect()),
                ..ImageConfig::default()
            }),
            ..ImageInspect::default()
        }
    }

    #[test]
    fn deny_by_default_and_allow_by_name_id_or_label() {
        let img = image(&["shop/fn:2"], &[("io.ain-sre.function", "yes")], &[]);
        assert!(!ImagePolicy::default().permits(&img));
        let by = |allow: &[&str], label: Option<&str>| ImagePolicy {
            allow: allow.iter().map(|a| (*a).to_owned()).collect(),
            allow_label: label.map(str::to_owned),
        };
        assert!(by(&["shop/fn:2"], None).permits(&img));
        assert!(by(&["docker.io/shop/fn:2"], None).permits(&img));
        assert!(
            !by(&["shop/fn"], None).permits(&img),
            "bare name is :latest"
        );
        assert!(!by(&["shop/fn:1"], None).permits(&img));
        assert!(by(&["sha256:abc"], None).permits(&img));
        assert!(by(&[], Some("io.ain-sre.function")).permits(&img));
        assert!(by(&[], Some("io.ain-sre.function=yes")).permits(&img));
        assert!(!by(&[], Some("io.ain-sre.function=no")).permits(&img));
        assert!(!by(&[], Some("other")).permits(&img));
        let msg = ImagePolicy::default().rejection("secret/db:1");
        assert!(
            msg.contains("secret/db:1") && msg.contains("allowed_images"),
            "{msg}"
        );
    }

    #[test]
    fn volumes_are_checked() {
        assert_eq!(
            volumes(&image(&[], &[], &["/data", "/var/lib/x/"])).unwrap(),
            vec!["/data".to_owned(), "/var/lib/x".to_owned()]
        );
        for bad in ["/", "relative", "/a/../etc", "/proc/x", "/dev"] {
            assert!(volumes(&image(&[], &[], &[bad])).is_err(), "{bad}");
        }
    }
}
