//! `dev`'s component examples (`examples/functions/python3-wasm`, `nodejs-wasm`): built with the
//! packagers when they are installed, deployed by reference through the dev chain's blob store
//! (a component is 12-20 MB: too large for the chain), and self-checked like the others. When a
//! packager is missing, `dev` says which and how to install it.
//!
//! Start-up stays short on the second run: built components are kept under the user's cache
//! directory by (runtime, source, packager) hash, and the worker keeps compiled components there
//! too (the WASM tier's on-disk compilation cache), so only the first start pays for packaging
//! and compiling.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::Digest;

use crate::config::runtimes::RuntimeCatalog;
use crate::sandbox::wasm::package::{Language, PackageError};

/// A component example, built.
pub(crate) struct Built {
    /// The runtime (`python3-wasm`, `nodejs-wasm`), also the function's name.
    pub(crate) runtime: String,
    /// The component.
    pub(crate) code: Vec<u8>,
    /// How it was obtained: `built in 14.1 s` or `cached`.
    pub(crate) how: String,
}

/// `$XDG_CACHE_HOME/ain-sre`, else `~/.cache/ain-sre`, else under the temporary directory: kept
/// across `dev` runs (whose data directory is fresh by default).
pub(crate) fn cache_home() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ain-sre")
}

/// Where the worker `dev` starts keeps compiled WebAssembly.
pub(crate) fn compiled_dir() -> PathBuf {
    cache_home().join("wasm-compiled")
}

/// The component examples under `dir`: built (or taken from the cache), and one line for each
/// left out, saying why (its packager is missing, or packaging failed). Packagers run in
/// parallel.
pub(crate) fn component_examples(
    dir: &Path,
    runtimes: &RuntimeCatalog,
) -> (Vec<Built>, Vec<String>) {
    examples_with(dir, runtimes, &cache_home(), &|l: Language| l.packager())
}

type Packager = dyn Fn(Language) -> Result<PathBuf, PackageError> + Sync;

fn examples_with(
    dir: &Path,
    runtimes: &RuntimeCatalog,
    cache: &Path,
    packager: &Packager,
) -> (Vec<Built>, Vec<String>) {
    let found: Vec<(Language, String, PathBuf)> = runtimes
        .iter()
        .filter_map(|rt| {
            let lang = Language::of_runtime(&rt.name)?;
            let src = dir.join(&rt.name).join(&rt.source_file);
            src.is_file().then(|| (lang, rt.name.clone(), src))
        })
        .collect();
    let results: Vec<Result<Built, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = found
            .iter()
            .map(|(lang, name, src)| {
                s.spawn(move || {
                    let tool = packager(*lang).map_err(|e| e.to_string())?;
                    build_cached(name, src, cache, &tool)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the build panicked".into()))
            })
            .collect()
    });
    let mut built = Vec::new();
    let mut left_out = Vec::new();
    for ((_, name, src), r) in found.iter().zip(results) {
        match r {
            Ok(b) => built.push(b),
            Err(why) => left_out.push(format!("{name} ({}): {why}", src.display())),
        }
    }
    (built, left_out)
}

/// The component of `src`, from `cache/components` when built before by the same packager.
/// Where the component of `source` built by the packager at `tool` is cached: keyed by the
/// runtime, the source, the packaging recipe, and the packager's path and modification time
/// (upgrading either rebuilds).
fn cache_path(runtime: &str, source: &[u8], cache: &Path, tool: &Path) -> PathBuf {
    let stamp = std::fs::metadata(tool)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = sha2::Sha256::new();
    h.update(format!(
        "{runtime}\n{}\n{stamp}\n{}\n",
        tool.display(),
        crate::sandbox::wasm::package::recipe()
    ));
    h.update(source);
    cache
        .join("components")
        .join(format!("{}.wasm", hex::encode(h.finalize())))
}

fn build_cached(runtime: &str, src: &Path, cache: &Path, tool: &Path) -> Result<Built, String> {
    let source = std::fs::read(src).map_err(|e| format!("reading it: {e}"))?;
    let dir = cache.join("components");
    let path = cache_path(runtime, &source, cache, tool);
    if let Ok(code) = std::fs::read(&path)
        && crate::sandbox::wasm::package::is_component(&code)
    {
        return Ok(Built {
            runtime: runtime.to_owned(),
            code,
            how: "cached".into(),
        });
    }
    let t = Instant::now();
    let code = super::build::component_of(runtime, &source).map_err(|e| format!("{e:#}"))?;
    // Best effort: a cache that cannot be written only costs the next start a build.
    let tmp = dir.join(format!("{}.tmp", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&tmp, &code).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    Ok(Built {
        runtime: runtime.to_owned(),
        code,
        how: format!("built in {:.1} s", t.elapsed().as_secs_f64()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("python3-wasm")).unwrap();
        std::fs::write(dir.path().join("python3-wasm/main.py"), "print(1)").unwrap();
        dir
    }

    /// Without its packager, the example is left out with the tool to install named.
    #[test]
    fn a_missing_packager_is_named() {
        let dir = example_dir();
        let runtimes = RuntimeCatalog::shipped().unwrap();
        let missing = |l: Language| -> Result<PathBuf, PackageError> {
            Err(PackageError::Missing {
                tool: "componentize-py",
                install: "pip install componentize-py==0.25.1",
                env: "AIN_SRE_COMPONENTIZE_PY",
                runtime: l.runtime(),
            })
        };
        let (built, left_out) = examples_with(dir.path(), &runtimes, dir.path(), &missing);
        assert!(built.is_empty());
        assert_eq!(left_out.len(), 1, "{left_out:?}");
        assert!(
            left_out[0].starts_with("python3-wasm (")
                && left_out[0].contains("componentize-py is not installed")
                && left_out[0].contains("pip install"),
            "{left_out:?}"
        );
    }

    /// A component built before by the same packager is taken from the cache, without
    /// packaging (the "packager" here is not even executable); another source, or the packager
    /// changed, is another entry. The packager is never run: whether one is installed here does
    /// not matter.
    #[test]
    fn a_built_component_is_reused() {
        let dir = example_dir();
        let cache = tempfile::tempdir().unwrap();
        let tool = dir.path().join("fake-packager");
        std::fs::write(&tool, "not a program").unwrap();
        let src = dir.path().join("python3-wasm/main.py");
        let source = std::fs::read(&src).unwrap();
        let path = cache_path("python3-wasm", &source, cache.path(), &tool);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let header = b"\0asm\x0d\x00\x01\x00".to_vec();
        std::fs::write(&path, &header).unwrap();
        let b = build_cached("python3-wasm", &src, cache.path(), &tool).unwrap();
        assert_eq!((b.code, b.how.as_str()), (header, "cached"));
        assert_ne!(
            cache_path("python3-wasm", b"print(2)", cache.path(), &tool),
            path,
            "another source is another entry"
        );
        assert_ne!(
            cache_path("nodejs-wasm", &source, cache.path(), &tool),
            path
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&tool, "an upgraded packager").unwrap();
        assert_ne!(
            cache_path("python3-wasm", &source, cache.path(), &tool),
            path,
            "an upgraded packager builds again"
        );
    }
}
