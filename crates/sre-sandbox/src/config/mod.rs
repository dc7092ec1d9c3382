//! Configuration files, parsed strictly (`deny_unknown_fields`) and validated once into the types
//! the rest of the worker uses: `runtimes/*.toml` (languages) and `sandbox-profiles/*.toml` (limits).
//!
//! The files shipped in the repository are compiled into the binary, so `ain-sre` works from any
//! directory; a directory given at start-up adds files or replaces shipped ones of the same name.
//!
//! [`Catalogs::load`] is the one place both catalogs are loaded: every command (`run`, `dev`,
//! `invoke`, `deploy`, `register`, `conformance`) and the worker's tests take them from it, and
//! the worker hands the same value to its scheduler and (through
//! [`crate::any::TierConfig::serving`]) to its sandbox tiers, so a runtime added or
//! overridden in `runtimes_dir` is the one every stage sees.

use std::path::{Path, PathBuf};

pub mod profiles;
pub mod runtimes;

use profiles::ProfileCatalog;
use runtimes::RuntimeCatalog;

/// The runtime and profile catalogs a command works with: the shipped files, with the files of
/// the configured directories added or replacing shipped ones of the same name.
#[derive(Debug, Clone)]
pub struct Catalogs {
    /// Runtimes (`runtimes/*.toml` and `runtimes_dir`).
    pub runtimes: RuntimeCatalog,
    /// Sandbox profiles (`sandbox-profiles/*.toml` and `profiles_dir`).
    pub profiles: ProfileCatalog,
    /// The runtimes this worker's operator accepts (`accepted_runtimes`); `None`: all. A call
    /// for a runtime the catalog knows but the operator does not accept is left to another
    /// worker, and the registry entry does not offer it.
    pub accepted_runtimes: Option<RuntimeCatalog>,
}

impl Catalogs {
    /// Loads both catalogs: the shipped files and those of `runtimes_dir` and `profiles_dir`.
    pub fn load(
        runtimes_dir: Option<&Path>,
        profiles_dir: Option<&Path>,
    ) -> Result<Catalogs, ConfigError> {
        Ok(Catalogs {
            runtimes: RuntimeCatalog::load(runtimes_dir)?,
            profiles: ProfileCatalog::load(profiles_dir)?,
            accepted_runtimes: None,
        })
    }

    /// Applies the worker operator's limits: only these runtimes are served and offered, only
    /// these profiles run (a call asking another profile is left to another worker). Names must
    /// exist in the catalogs.
    pub fn restrict(
        mut self,
        runtimes: Option<&[String]>,
        profiles: Option<&[String]>,
    ) -> Result<Catalogs, ConfigError> {
        if let Some(names) = runtimes {
            self.accepted_runtimes = Some(self.runtimes.only(names)?);
        }
        if let Some(names) = profiles {
            self.profiles = self.profiles.only(names)?;
        }
        Ok(self)
    }

    /// The runtimes this worker offers: the accepted ones, or all.
    pub fn offered_runtimes(&self) -> &RuntimeCatalog {
        self.accepted_runtimes.as_ref().unwrap_or(&self.runtimes)
    }

    /// The shipped files alone.
    pub fn shipped() -> Catalogs {
        // Compiled in and validated by this module's tests: loading them cannot fail at run time.
        Catalogs::load(None, None).expect("the shipped runtime and profile files are valid")
    }
}

/// Errors loading configuration. Each names the file and the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not valid TOML for its schema (unknown keys included).
    #[error("{file}: {message}")]
    Parse {
        /// The file name.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A value is out of its allowed range or inconsistent.
    #[error("{file}: {message}")]
    Invalid {
        /// The file name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A name that no file defines.
    #[error("unknown {kind} `{name}` (known: {known})")]
    Unknown {
        /// `runtime` or `profile`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
}

/// Reads every `*.toml` in `dir` as `(file name, text)`, sorted by name.
pub(crate) fn read_toml_dir(dir: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, text));
        }
    }
    out.sort();
    Ok(out)
}

/// Merges shipped files with a directory's files; a directory file replaces a shipped one of the same name.
pub(crate) fn merged_files(
    shipped: &[(&str, &str)],
    dir: Option<&Path>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut files: Vec<(String, String)> = shipped
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    if let Some(dir) = dir {
        for (name, text) in read_toml_dir(dir)? {
            files.retain(|(n, _)| *n != name);
            files.push((name, text));
        }
    }
    files.sort();
    Ok(files)
}
