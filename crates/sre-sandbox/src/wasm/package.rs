//! Packaging Python and JavaScript source into WASI 0.2 components (`python3-wasm`,
//! `nodejs-wasm`), for `ain-sre build` and `deploy`.
//!
//! The worker never runs a packager: it only runs the built component. Packaging drives the
//! public tools when they are installed — `componentize-py` (PyPI) for Python and
//! `componentize-js` (npm, `@bytecodealliance/componentize-js`) for JavaScript — against a
//! narrow world of our own, `ain:sre/function`: the standard streams, environment, exit, clocks
//! and randomness, exporting `wasi:cli/run`. The source is wrapped so that it runs as a script
//! (`main.py` / `main.js` reading stdin, writing stdout) and an uncaught exception becomes an
//! error status with its message on stderr.
//!
//! The WASI 0.2 WIT files the packagers need ship in the `wasmtime-wasi-http` crate's sources
//! (`wit/deps`, `wasi:http` included); they are found through `$AIN_SRE_WASI_WIT`, else in
//! cargo's registry.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::package_text::{JS_WRAPPER, PY_HTTP, PY_WRAPPER, WORLD};

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The packager for this language is not installed.
    #[error(
        "{tool} is not installed: install it with `{install}` (or point {env} at it) to build \
         {runtime} functions"
    )]
    Missing {
        /// The tool's command name.
        tool: &'static str,
        /// How to install it.
        install: &'static str,
        /// The environment variable naming its path.
        env: &'static str,
        /// The runtime that needs it.
        runtime: &'static str,
    },
    /// The WASI WIT files were not found.
    #[error(
        "the WASI 0.2 WIT files were not found: set AIN_SRE_WASI_WIT to a directory holding \
         cli.wit, http.wit, io.wit, ... (wasmtime-wasi-http's wit/deps)"
    )]
    NoWit,
    /// The source is not valid for the runtime.
    #[error("{0}")]
    Source(String),
    /// The packager ran and failed.
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        /// The tool's command name.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// Working files.
    #[error("packaging: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `code` is a component binary (built already), as opposed to source.
pub fn is_component(code: &[u8]) -> bool {
    wasmparser::Parser::is_component(code)
}

/// A language packaged into a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `python3-wasm`: `main.py`, packaged by componentize-py.
    Python,
    /// `nodejs-wasm`: `main.js`, packaged by componentize-js.
    JavaScript,
}

impl Language {
    /// The language of a runtime name, if it is packaged into a component.
    pub fn of_runtime(runtime: &str) -> Option<Language> {
        match runtime {
            "python3-wasm" => Some(Language::Python),
            "nodejs-wasm" => Some(Language::JavaScript),
            _ => None,
        }
    }

    /// The runtime name.
    pub fn runtime(self) -> &'static str {
        match self {
            Language::Python => "python3-wasm",
            Language::JavaScript => "nodejs-wasm",
        }
    }

    fn tool(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Language::Python => (
                "componentize-py",
                "pip install componentize-py==0.25.1",
                "AIN_SRE_COMPONENTIZE_PY",
            ),
            Language::JavaScript => (
                "componentize-js",
                "npm install @bytecodealliance/componentize-js@0.23.0",
                "AIN_SRE_COMPONENTIZE_JS",
            ),
        }
    }

    /// The packager's executable: `$AIN_SRE_COMPONENTIZE_PY` / `$AIN_SRE_COMPONENTIZE_JS`, else
    /// the command on `PATH`.
    pub fn packager(self) -> Result<PathBuf, PackageError> {
        let (tool, install, env) = self.tool();
        let missing = PackageError::Missing {
            tool,
            install,
            env,
            runtime: self.runtime(),
        };
        if let Some(p) = std::env::var_os(env) {
            let p = PathBuf::from(p);
            return if p.is_file() { Ok(p) } else { Err(missing) };
        }
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
            .ok_or(missing)
    }
}

/// Identifies how packaging wraps and builds a source (world, wrappers, helper modules):
/// caches of built components include it in their key, so a changed recipe rebuilds.
pub fn recipe() -> String {
    super::package_text::recipe_digest()
}

/// Where the WASI 0.2 WIT files are: `$AIN_SRE_WASI_WIT`, else wasmtime-wasi-http's sources in
/// cargo's registry (`$CARGO_HOME`, default `~/.cargo`).
pub fn wasi_wit_dir() -> Result<PathBuf, PackageError> {
    if let Some(dir) = std::env::var_os("AIN_SRE_WASI_WIT") {
        let dir = PathBuf::from(dir);
        return if dir.join("cli.wit").is_file() && dir.join("http.wit").is_file() {
            Ok(dir)
        } else {
            Err(PackageError::NoWit)
        };
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or(PackageError::NoWit)?;
    let registry = home.join("registry/src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&registry)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wasmtime-wasi-http-48."))
        })
        .map(|p| p.join("wit/deps"))
        .filter(|p| p.join("cli.wit").is_file() && p.join("http.wit").is_file())
        .collect();
    found.sort();
    found.pop().ok_or(PackageError::NoWit)
}

/// Packages `source` (the text of `main.py` or `main.js`) into a component, working in a
/// fresh directory under `work`. Returns the component's bytes.
pub fn build(lang: Language, source: &[u8], work: &Path) -> Result<Vec<u8>, PackageError> {
    let source = std::str::from_utf8(source)
        .map_err(|_| PackageError::Source("the source is not UTF-8 text".into()))?;
    let tool = lang.packager()?;
    let wit_deps = wasi_wit_dir()?;
    let dir = tempdir_in(work)?;
    let result = build_in(lang, source, &tool, &wit_deps, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn build_in(
    lang: Language,
    source: &str,
    tool: &Path,
    wit_deps: &Path,
    dir: &Path,
) -> Result<Vec<u8>, PackageError> {
    let wit = dir.join("wit");
    std::fs::create_dir_all(wit.join("deps"))?;
    for entry in std::fs::read_dir(wit_deps)? {
        let entry = entry?;
        std::fs::copy(entry.path(), wit.join("deps").join(entry.file_name()))?;
    }
    std::fs::write(wit.join("world.wit"), WORLD)?;
    let out = dir.join("component.wasm");
    let mut cmd = Command::new(tool);
    match lang {
        Language::Python => {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(source);
            std::fs::write(
                dir.join("ain_sre_app.py"),
                PY_WRAPPER.replace("@SOURCE@", &encoded),
            )?;
            std::fs::write(dir.join("sre_http.py"), PY_HTTP)?;
            cmd.arg("-d")
                .arg(&wit)
                .args([
                    "-w",
                    "ain:sre/function",
                    "componentize",
                    "ain_sre_app",
                    "-p",
                ])
                .arg(dir)
                .arg("-o")
                .arg(&out);
        }
        Language::JavaScript => {
            if source.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with("import ") || l.starts_with("export ")
            }) {
                return Err(PackageError::Source(
                    "main.js must be a script (no import or export statements): it runs with \
                     `process` and `console` provided"
                        .into(),
                ));
            }
            let app = dir.join("app.js");
            std::fs::write(&app, JS_WRAPPER.replace("@SOURCE@", source))?;
            cmd.arg(&app)
                .arg("-w")
                .arg(&wit)
                .args(["-n", "function", "-d", "http", "fetch-event", "-o"])
                .arg(&out);
        }
    }
    let run = cmd.current_dir(dir).output()?;
    let (name, ..) = lang.tool();
    if !run.status.success() || !out.is_file() {
        let stderr = String::from_utf8_lossy(&run.stderr);
        let stdout = String::from_utf8_lossy(&run.stdout);
        let text = if stderr.trim().is_empty() {
            stdout
        } else {
            stderr
        };
        let tail: Vec<&str> = text.trim().lines().rev().take(20).collect();
        return Err(PackageError::Failed {
            tool: name,
            status: run.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(std::fs::read(&out)?)
}

fn tempdir_in(work: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(work)?;
    let nonce: u64 = rand::random();
    let dir = work.join(format!("ain-sre-package-{}-{nonce:x}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}
