//! Offline runtime images: a root filesystem assembled from the host's own files (the runtime's
//! interpreter, its library dirs and every ELF file's `ldd` closure, plus the stem cell), imported
//! through the Engine API. No registry is involved, so this works on air-gapped hosts; the
//! `Dockerfile` beside each recipe is the registry-based alternative.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use crate::config::runtimes::Runtime;
use crate::{SandboxError, Tier};

/// The stem cell entrypoint shipped in every runtime image.
pub const STEM: &str = include_str!("../../../../runtimes/images/stem.sh");
/// Where the stem cell lives inside an image.
pub const STEM_PATH: &str = "/usr/local/lib/ain-sre/stem";
/// The default user recorded in offline-built images (`nobody`), for a container started by
/// hand. The worker overrides it: the stem cell runs as [`STEM_USER`] and the guest as the
/// container's own uid ([`GUEST_ENV`]).
pub const IMAGE_USER: &str = "65534:65534";
/// The user a stem cell runs as: root in the container, so the guest (another uid) cannot open
/// its `/proc/1` files (its stdin, memory map, environment: abuse row 28). It holds only the
/// capabilities [`super::spec::STEM_CAPS`] and drops to the container's guest uid for each call.
pub const STEM_USER: &str = "0:0";
/// The stem cell's environment variable naming the container's guest uid (also its gid): a
/// number of the worker's guest range ([`super::guest`]), different for every live container,
/// so the kernel's per-user counters are per container. The stem cell refuses to run a call
/// without it.
pub const GUEST_ENV: &str = "AIN_SRE_GUEST_ID";

/// Label on offline-built images: the digest of the stem cell they carry, so an image built
/// with an older stem cell is noticed (and rebuilt) instead of speaking an old protocol.
pub const LABEL_STEM: &str = "io.ain-sre.stem";

/// Short digest of the compiled-in stem cell.
pub fn stem_digest() -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(STEM.as_bytes())[..6])
}

const BASE: &str = include_str!("../../../../runtimes/images/base.txt");

/// The host paths of each shipped runtime image (besides the base), compiled in.
const RECIPES: &[(&str, &str)] = &[
    (
        "bash",
        include_str!("../../../../runtimes/images/bash/rootfs.txt"),
    ),
    (
        "nodejs",
        include_str!("../../../../runtimes/images/nodejs/rootfs.txt"),
    ),
    (
        "perl",
        include_str!("../../../../runtimes/images/perl/rootfs.txt"),
    ),
    (
        "python3",
        include_str!("../../../../runtimes/images/python3/rootfs.txt"),
    ),
];

/// Runtimes that have an offline image recipe.
pub fn buildable() -> impl Iterator<Item = &'static str> {
    RECIPES.iter().map(|(n, _)| *n)
}

/// The host paths (base + runtime) that make up `runtime`'s image, or `None` without a recipe.
pub fn recipe(runtime: &str) -> Option<Vec<PathBuf>> {
    let (_, text) = RECIPES.iter().find(|(n, _)| *n == runtime)?;
    Some(
        BASE.lines()
            .chain(text.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(PathBuf::from)
            .collect(),
    )
}

/// What the builder is doing, for progress display.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// Files collected so far and their bytes.
    Collected {
        /// Entries in the tarball so far.
        files: u64,
        /// Bytes of file content so far.
        bytes: u64,
    },
    /// The tarball is complete; the upload starts.
    Assembled {
        /// Size of the tarball.
        total: u64,
    },
    /// Bytes of the tarball sent to the engine so far.
    Uploaded {
        /// Bytes sent.
        sent: u64,
    },
    /// The engine has the image.
    Done,
}

fn host_fault(why: impl Into<String>) -> SandboxError {
    SandboxError::Host {
        tier: Tier::Container,
        why: why.into(),
    }
}

/// Builds `runtime`'s image from host files and imports it as `runtime.image`.
pub async fn build(
    docker: &Docker,
    runtime: &Runtime,
    progress: impl Fn(BuildEvent) + Send + Sync + 'static,
) -> Result<(), SandboxError> {
    let image = runtime.image.clone().ok_or_else(|| {
        SandboxError::Rejected(format!("runtime `{}` has no container image", runtime.name))
    })?;
    let paths = recipe(&runtime.name).ok_or_else(|| {
        SandboxError::Rejected(format!(
            "runtime `{}` has no offline image recipe (runtimes/images/{}/rootfs.txt)",
            runtime.name, runtime.name
        ))
    })?;
    let progress = std::sync::Arc::new(progress);
    let p = progress.clone();
    let label = runtime.name.clone();
    let tarball = tokio::task::spawn_blocking(move || assemble(&paths, &label, &*p))
        .await
        .map_err(|e| host_fault(format!("image assembly panicked: {e}")))??;
    progress(BuildEvent::Assembled {
        total: tarball.len() as u64,
    });
    import(docker, &image, &runtime.name, tarball, progress.clone()).await?;
    progress(BuildEvent::Done);
    Ok(())
}

/// Sends a rootfs tarball to the engine as image `image` (`name:tag`), with the stem cell as
/// entrypoint and `nobody` as default user.
async fn import(
    docker: &Docker,
    image: &str,
    runtime: &str,
    tarball: Vec<u8>,
    progress: std::sync::Arc<impl Fn(BuildEvent) + Send + Sync + 'static>,
) -> Result<(), SandboxError> {
    let changes = vec![
        format!("USER {IMAGE_USER}"),
        format!("ENTRYPOINT [\"{STEM_PATH}\"]"),
        "WORKDIR /sre".to_owned(),
        format!("LABEL io.ain-sre.runtime={runtime}"),
        format!("LABEL {LABEL_STEM}={}", stem_digest()),
    ];
    import_tarball(docker, image, tarball, changes, progress).await
}

/// Imports a rootfs tarball as image `image` with Dockerfile-style `changes` (`ENTRYPOINT`,
/// `USER`, ...): the building block for runtime images and for test images.
pub async fn import_tarball(
    docker: &Docker,
    image: &str,
    tarball: Vec<u8>,
    changes: Vec<String>,
    progress: std::sync::Arc<impl Fn(BuildEvent) + Send + Sync + 'static>,
) -> Result<(), SandboxError> {
    let (repo, tag) = match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (image, "latest"),
    };
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .message("ain-sre runtimes build: rootfs from host files")
        .changes(changes)
        .build();
    let bytes = bytes::Bytes::from(tarball);
    let chunks: Vec<bytes::Bytes> = (0..bytes.len())
        .step_by(1 << 20)
        .map(|i| bytes.slice(i..(i + (1 << 20)).min(bytes.len())))
        .collect();
    let mut sent = 0u64;
    let body = futures_util::stream::iter(chunks).map(move |c| {
        sent += c.len() as u64;
        progress(BuildEvent::Uploaded { sent });
        c
    });
    let mut stream = docker.create_image(Some(options), Some(bollard::body_stream(body)), None);
    while let Some(item) = stream.next().await {
        item.map_err(|e| host_fault(format!("importing {image}: {e}")))?;
    }
    Ok(())
}

/// Adds an empty directory anyone may write to (mode 1777, like /tmp) to a tarball made by
/// [`assemble`]: test images whose declared `VOLUME` the guest (whatever its uid) can fill.
pub fn add_open_dir(mut tarball: Vec<u8>, rel: &str) -> Result<Vec<u8>, SandboxError> {
    // A finished archive ends in two zero blocks: drop them, append, finish again.
    tarball.truncate(tarball.len().saturating_sub(1024));
    let mut b = tar::Builder::new(tarball);
    let mut h = Tarball::header(tar::EntryType::Directory, 0o1777, 0);
    b.append_data(&mut h, format!("{rel}/"), std::io::empty())
        .and_then(|()| b.into_inner())
        .map_err(|e| host_fault(format!("tar {rel}: {e}")))
}

/// Assembles the rootfs tarball: every listed host path (recursively), each ELF file's shared
/// library closure, host top-level symlinks (merged `/usr`), the stem cell, a minimal
/// `/etc/passwd` and `/etc/group`, and the `/tmp` and `/sre` mount points.
pub fn assemble(
    paths: &[PathBuf],
    runtime: &str,
    progress: &dyn Fn(BuildEvent),
) -> Result<Vec<u8>, SandboxError> {
    let mut t = Tarball {
        b: tar::Builder::new(Vec::new()),
        seen: BTreeSet::new(),
        files: 0,
        bytes: 0,
        elves: Vec::new(),
    };
    for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
        // Only the link itself: its target directory is filled by the listed paths.
        if let Ok(target) = std::fs::read_link(top) {
            t.seen.insert(PathBuf::from(top));
            let mut h = Tarball::header(tar::EntryType::Symlink, 0o777, 0);
            t.b.append_link(&mut h, &top[1..], &target)
                .map_err(|e| host_fault(format!("tar {top}: {e}")))?;
        }
    }
    for p in paths {
        t.add(p, progress)
            .map_err(|e| host_fault(format!("{runtime} image: {e}")))?;
    }
    // ldd closure of every ELF file collected (the closure's own members included).
    let mut i = 0;
    while i < t.elves.len() {
        let elf = t.elves[i].clone();
        i += 1;
        for lib in ldd(&elf)? {
            t.add(&lib, progress)?;
        }
    }
    t.dir("etc")?;
    t.data(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n",
    )?;
    t.data("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")?;
    for d in ["usr", "usr/local", "usr/local/lib", "usr/local/lib/ain-sre"] {
        t.dir(d)?;
    }
    t.data(&STEM_PATH[1..], 0o755, STEM.as_bytes())?;
    for d in ["tmp", "sre", "proc", "sys", "dev"] {
        t.dir(d)?;
    }
    t.b.into_inner()
        .map_err(|e| host_fault(format!("finishing the tarball: {e}")))
}

struct Tarball {
    b: tar::Builder<Vec<u8>>,
    seen: BTreeSet<PathBuf>,
    files: u64,
    bytes: u64,
    elves: Vec<PathBuf>,
}

impl Tarball {
    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size);
        h
    }

    fn dir(&mut self, rel: &str) -> Result<(), SandboxError> {
        if !self.seen.insert(PathBuf::from("/").join(rel)) {
            return Ok(());
        }
        let mut h = Tarball::header(tar::EntryType::Directory, 0o755, 0);
        // runc gives a tmpfs mounted here the mode of the directory below it: /tmp is the
        // guest's scratch space, /sre only the stem cell (root) writes.
        let mode = if rel == "tmp" { 0o1777 } else { 0o755 };
        h.set_mode(mode);
        self.b
            .append_data(&mut h, format!("{rel}/"), std::io::empty())
            .map_err(|e| host_fault(format!("tar {rel}: {e}")))
    }

    fn data(&mut self, rel: &str, mode: u32, bytes: &[u8]) -> Result<(), SandboxError> {
        self.seen.insert(PathBuf::from("/").join(rel));
        let mut h = Tarball::header(tar::EntryType::Regular, mode, bytes.len() as u64);
        self.b
            .append_data(&mut h, rel, bytes)
            .map_err(|e| host_fault(format!("tar {rel}: {e}")))
    }

    /// Adds the parent directories of `path` (already canonical) as directories.
    fn parents(&mut self, path: &Path) -> Result<(), SandboxError> {
        let mut acc = PathBuf::new();
        let comps: Vec<_> = path.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            if let Component::Normal(n) = c {
                acc.push(n);
                let rel = acc.to_string_lossy().into_owned();
                self.dir(&rel)?;
            }
        }
        Ok(())
    }

    /// Adds a host path: symlinks as symlinks (and their targets), directories recursively,
    /// regular files with their content. Parent directories are canonicalised so host symlinks
    /// above the path (e.g. `/lib` → `usr/lib`) are kept as symlinks, not duplicated.
    fn add(&mut self, path: &Path, progress: &dyn Fn(BuildEvent)) -> Result<(), SandboxError> {
        if !path.is_absolute() {
            return Err(host_fault(format!(
                "{}: paths must be absolute",
                path.display()
            )));
        }
        let (parent, name) = match (path.parent(), path.file_name()) {
            (Some(p), Some(n)) => (p, n),
            _ => return Ok(()),
        };
        let parent = std::fs::canonicalize(parent)
            .map_err(|e| host_fault(format!("{}: {e}", parent.display())))?;
        let path = parent.join(name);
        if self.seen.contains(&path) {
            return Ok(());
        }
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| host_fault(format!("{}: {e}", path.display())))?;
        self.parents(&path)?;
        let rel = path
            .strip_prefix("/")
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let ft = meta.file_type();
        self.seen.insert(path.clone());
        if ft.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|e| host_fault(format!("{}: {e}", path.display())))?;
            let mut h = Tarball::header(tar::EntryType::Symlink, 0o777, 0);
            self.b
                .append_link(&mut h, &rel, &target)
                .map_err(|e| host_fault(format!("tar {rel}: {e}")))?;
            let resolved = if target.is_absolute() {
                target
            } else {
                parent.join(target)
            };
            if std::fs::metadata(&resolved).is_ok() {
                self.add(&normalize(&resolved), progress)?;
            }
        } else if ft.is_dir() {
            let mut h = Tarball::header(tar::EntryType::Directory, 0o755, 0);
            self.b
                .append_data(&mut h, format!("{rel}/"), std::io::empty())
                .map_err(|e| host_fault(format!("tar {rel}: {e}")))?;
            let mut entries: Vec<_> = std::fs::read_dir(&path)
                .map_err(|e| host_fault(format!("{}: {e}", path.display())))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect();
            entries.sort();
            for e in entries {
                self.add(&e, progress)?;
            }
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            // setuid/setgid bits are never copied into an image.
            let mode = meta.permissions().mode() & 0o755;
            let mut f = std::fs::File::open(&path)
                .map_err(|e| host_fault(format!("{}: {e}", path.display())))?;
            let mut magic = [0u8; 4];
            let is_elf = f.read_exact(&mut magic).is_ok() && magic == *b"\x7fELF";
            drop(f);
            let f = std::fs::File::open(&path)
                .map_err(|e| host_fault(format!("{}: {e}", path.display())))?;
            let mut h = Tarball::header(tar::EntryType::Regular, mode, meta.len());
            // Keep the host's mtime: CPython validates its cached .pyc files against it, and a
            // mismatch would recompile every imported module on every call.
            {
                use std::os::unix::fs::MetadataExt;
                h.set_mtime(meta.mtime().max(0) as u64);
            }
            self.b
                .append_data(&mut h, &rel, f)
                .map_err(|e| host_fault(format!("tar {rel}: {e}")))?;
            if is_elf {
                self.elves.push(path.clone());
            }
            self.files += 1;
            self.bytes += meta.len();
            if self.files.is_multiple_of(256) {
                progress(BuildEvent::Collected {
                    files: self.files,
                    bytes: self.bytes,
                });
            }
        }
        // Sockets, FIFOs and device nodes are never copied.
        Ok(())
    }
}

/// Removes `.` and `..` lexically (the parent part is already canonical).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The shared libraries `elf` loads (absolute paths), from the host's `ldd`. Static binaries and
/// files ldd cannot read yield nothing.
fn ldd(elf: &Path) -> Result<Vec<PathBuf>, SandboxError> {
    let out = std::process::Command::new("ldd")
        .arg(elf)
        .output()
        .map_err(|e| host_fault(format!("running ldd (needed to build images offline): {e}")))?;
    if !out.status.success() {
        return Ok(Vec::new());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_container_runtime_has_a_recipe_and_the_base() {
        let cat = crate::config::runtimes::RuntimeCatalog::shipped().unwrap();
        for r in cat.iter() {
            if r.image.is_some() {
                let paths = recipe(&r.name).unwrap_or_else(|| panic!("{} has no recipe", r.name));
                assert!(paths.contains(&PathBuf::from("/usr/bin/bash")));
                assert!(paths.iter().all(|p| p.is_absolute()));
            }
        }
    }

    #[test]
    fn assembled_rootfs_has_the_closure_and_no_setuid() {
        let tar = assemble(&recipe("bash").unwrap(), "bash", &|_| {}).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut names = BTreeSet::new();
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.header().mode().unwrap() & 0o6000, 0);
            names.insert(e.path().unwrap().to_string_lossy().into_owned());
        }
        for want in [
            "usr/bin/bash",
            "usr/bin/head",
            "usr/local/lib/ain-sre/stem",
            "etc/passwd",
            "tmp/",
            "sre/",
        ] {
            assert!(names.contains(want), "{want} missing from {names:?}");
        }
        assert!(names.iter().any(|n| n.contains("libc.so")), "{names:?}");
    }
}
