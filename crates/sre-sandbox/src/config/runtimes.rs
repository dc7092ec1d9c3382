//! Runtimes: one `runtimes/*.toml` per language, saying which tiers can run it (in preference
//! order), how to start it, and what each tier needs (process-tier binds, container image).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{ConfigError, merged_files};
use crate::Tier;

/// The runtimes shipped in the repository, compiled in.
pub const SHIPPED: &[(&str, &str)] = &[
    ("bash.toml", include_str!("../../../../runtimes/bash.toml")),
    (
        "image.toml",
        include_str!("../../../../runtimes/image.toml"),
    ),
    (
        "native.toml",
        include_str!("../../../../runtimes/native.toml"),
    ),
    (
        "nodejs-wasm.toml",
        include_str!("../../../../runtimes/nodejs-wasm.toml"),
    ),
    (
        "nodejs.toml",
        include_str!("../../../../runtimes/nodejs.toml"),
    ),
    ("perl.toml", include_str!("../../../../runtimes/perl.toml")),
    (
        "python3-wasm.toml",
        include_str!("../../../../runtimes/python3-wasm.toml"),
    ),
    (
        "python3.toml",
        include_str!("../../../../runtimes/python3.toml"),
    ),
    ("wasm.toml", include_str!("../../../../runtimes/wasm.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeFile {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    tiers: Vec<Tier>,
    source_file: String,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    process: Option<ProcessFile>,
    #[serde(default)]
    container: Option<ContainerFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessFile {
    binds: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContainerFile {
    image: String,
}

/// A validated runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// Canonical name (`python3`).
    pub name: String,
    /// Other names accepted at deploy time (`python`, `py`).
    pub aliases: Vec<String>,
    /// Tiers able to run it, most preferred first; never empty.
    pub tiers: Vec<Tier>,
    /// File name the code is stored under inside the sandbox.
    pub source_file: String,
    /// argv with `{source}` standing for the code's path (empty for `wasm` and `image`).
    pub command: Vec<String>,
    /// Read-only binds for the process tier (absolute paths).
    pub process_binds: Vec<PathBuf>,
    /// Image for the container tier, when it has one.
    pub image: Option<String>,
}

impl Runtime {
    /// Parses and validates one runtime file.
    pub fn parse(file: &str, text: &str) -> Result<Runtime, ConfigError> {
        let f: RuntimeFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            file: file.to_owned(),
            message,
        };
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        if !valid_name(&f.name) {
            return Err(invalid(format!(
                "name `{}` must be lowercase letters, digits, `_` or `-`",
                f.name
            )));
        }
        if let Some(a) = f.aliases.iter().find(|a| !valid_name(a)) {
            return Err(invalid(format!(
                "alias `{a}` must be lowercase letters, digits, `_` or `-`"
            )));
        }
        if f.tiers.is_empty() {
            return Err(invalid("tiers must name at least one tier".into()));
        }
        for (i, t) in f.tiers.iter().enumerate() {
            if f.tiers[..i].contains(t) {
                return Err(invalid(format!("tier `{t}` is listed twice")));
            }
        }
        if f.source_file.is_empty() || f.source_file.contains('/') || f.source_file.starts_with('.')
        {
            return Err(invalid(format!(
                "source_file `{}` must be a plain file name",
                f.source_file
            )));
        }
        let runs_a_command = f.tiers.contains(&Tier::Process)
            || (f.tiers.contains(&Tier::Container) && f.name != "image");
        if runs_a_command && !f.command.iter().any(|a| a.contains("{source}")) {
            return Err(invalid(
                "command must contain `{source}` for the process and container tiers".into(),
            ));
        }
        if f.tiers.contains(&Tier::Process) && f.process.is_none() {
            return Err(invalid(
                "the process tier needs a [process] section with its binds".into(),
            ));
        }
        let process_binds = f.process.map(|p| p.binds).unwrap_or_default();
        if let Some(b) = process_binds.iter().find(|b| {
            !b.is_absolute() || b.components().any(|c| c == std::path::Component::ParentDir)
        }) {
            return Err(invalid(format!(
                "bind `{}` must be an absolute path without `..`",
                b.display()
            )));
        }
        let image = f.container.map(|c| c.image);
        if f.tiers.contains(&Tier::Container) && f.name != "image" && image.is_none() {
            return Err(invalid(
                "the container tier needs a [container] section with its image".into(),
            ));
        }
        Ok(Runtime {
            name: f.name,
            aliases: f.aliases,
            tiers: f.tiers,
            source_file: f.source_file,
            command: f.command,
            process_binds,
            image,
        })
    }

    /// The command line with `{source}` replaced by `source_path`.
    pub fn argv(&self, source_path: &str) -> Vec<String> {
        self.command
            .iter()
            .map(|a| a.replace("{source}", source_path))
            .collect()
    }
}

/// All runtimes, by canonical name and alias.
#[derive(Debug, Clone)]
pub struct RuntimeCatalog {
    by_name: BTreeMap<String, Arc<Runtime>>,
    aliases: BTreeMap<String, String>,
}

impl RuntimeCatalog {
    /// Only the runtimes named in `names` (names or aliases: the worker operator's
    /// `accepted_runtimes`), with their aliases; a name no runtime has is an error naming it.
    pub fn only(&self, names: &[String]) -> Result<RuntimeCatalog, ConfigError> {
        let mut by_name = BTreeMap::new();
        for n in names {
            let r = self.resolve(n)?;
            by_name.insert(r.name.clone(), r);
        }
        let aliases = self
            .aliases
            .iter()
            .filter(|(_, to)| by_name.contains_key(*to))
            .map(|(a, to)| (a.clone(), to.clone()))
            .collect();
        Ok(RuntimeCatalog { by_name, aliases })
    }

    /// The shipped runtimes plus (overriding by file name) those in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<RuntimeCatalog, ConfigError> {
        let mut cat = RuntimeCatalog {
            by_name: BTreeMap::new(),
            aliases: BTreeMap::new(),
        };
        for (file, text) in merged_files(SHIPPED, dir)? {
            let rt = Runtime::parse(&file, &text)?;
            for n in std::iter::once(&rt.name).chain(&rt.aliases) {
                if cat.by_name.contains_key(n) || cat.aliases.contains_key(n) {
                    return Err(ConfigError::Invalid {
                        file,
                        message: format!("name `{n}` is already taken"),
                    });
                }
            }
            for a in &rt.aliases {
                cat.aliases.insert(a.clone(), rt.name.clone());
            }
            cat.by_name.insert(rt.name.clone(), Arc::new(rt));
        }
        Ok(cat)
    }

    /// The shipped runtimes only.
    pub fn shipped() -> Result<RuntimeCatalog, ConfigError> {
        RuntimeCatalog::load(None)
    }

    /// Resolves a name or alias.
    pub fn resolve(&self, name: &str) -> Result<Arc<Runtime>, ConfigError> {
        let canonical = self.aliases.get(name).map(String::as_str).unwrap_or(name);
        self.by_name
            .get(canonical)
            .cloned()
            .ok_or_else(|| ConfigError::Unknown {
                kind: "runtime",
                name: name.to_owned(),
                known: self.by_name.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// Every runtime, by canonical name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Runtime>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_runtimes_parse_and_resolve() {
        let cat = RuntimeCatalog::shipped().unwrap();
        for name in [
            "wasm", "python3", "nodejs", "bash", "perl", "image", "native",
        ] {
            assert_eq!(cat.resolve(name).unwrap().name, name);
        }
        assert_eq!(cat.resolve("py").unwrap().name, "python3");
        assert_eq!(cat.resolve("js").unwrap().name, "nodejs");
        assert_eq!(cat.resolve("wat").unwrap().tiers, vec![Tier::Wasm]);
        let err = cat.resolve("cobol").unwrap_err().to_string();
        assert!(
            err.contains("unknown runtime `cobol`") && err.contains("python3"),
            "{err}"
        );
        let py = cat.resolve("python3").unwrap();
        assert_eq!(
            py.argv("/sre/main.py"),
            vec!["/usr/bin/python3", "-I", "-B", "/sre/main.py"]
        );
        assert_eq!(py.tiers, vec![Tier::Process, Tier::Container]);
    }

    #[test]
    fn shipped_list_matches_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtimes");
        let on_disk: Vec<String> = super::super::read_toml_dir(&dir)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let shipped: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            on_disk, shipped,
            "add new runtime files to runtimes::SHIPPED"
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            (
                "name = \"x\"\ntiers = []\nsource_file = \"m\"",
                "at least one tier",
            ),
            (
                "name = \"x\"\ntiers = [\"gpu\"]\nsource_file = \"m\"",
                "unknown variant",
            ),
            (
                "name = \"x\"\ntiers = [\"wasm\"]\nsource_file = \"../m\"",
                "plain file name",
            ),
            (
                "name = \"x\"\ntiers = [\"process\"]\nsource_file = \"m\"\ncommand = [\"/bin/x\"]\n[process]\nbinds = []",
                "{source}",
            ),
            (
                "name = \"x\"\ntiers = [\"process\"]\nsource_file = \"m\"\ncommand = [\"{source}\"]\n[process]\nbinds = [\"lib\"]",
                "absolute",
            ),
            (
                "name = \"x\"\ntiers = [\"wasm\"]\nsource_file = \"m\"\ncolour = 1",
                "unknown field",
            ),
            (
                "name = \"X\"\ntiers = [\"wasm\"]\nsource_file = \"m\"",
                "lowercase",
            ),
        ];
        for (text, want) in cases {
            let err = Runtime::parse("x.toml", text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn duplicate_names_across_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("py2.toml"),
            "name = \"py2\"\naliases = [\"python\"]\ntiers = [\"wasm\"]\nsource_file = \"m\"",
        )
        .unwrap();
        let err = RuntimeCatalog::load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("already taken"), "{err}");
    }
}
