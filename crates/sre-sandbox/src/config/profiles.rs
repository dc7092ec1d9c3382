//! Sandbox profiles: named limit sets from `sandbox-profiles/*.toml`, every limit written down.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, merged_files};
use crate::{Limits, NetworkPolicy, Reuse};

/// The profiles shipped in the repository, compiled in.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "batch.toml",
        include_str!("../../../../sandbox-profiles/batch.toml"),
    ),
    (
        "default.toml",
        include_str!("../../../../sandbox-profiles/default.toml"),
    ),
    (
        "strict.toml",
        include_str!("../../../../sandbox-profiles/strict.toml"),
    ),
];

/// One profile file as written. Every limit is required: a profile never inherits silently.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    description: String,
    wall_time_ms: u64,
    cpu_time_ms: u64,
    memory_mb: u64,
    pids: u32,
    output_bytes: usize,
    /// Largest input (inline or `input_ref`); absent: [`DEFAULT_INPUT_BYTES`].
    #[serde(default)]
    input_bytes: Option<u64>,
    stderr_bytes: usize,
    tmpfs_mb: u64,
    network: String,
    #[serde(default)]
    fuel: Option<u64>,
    /// Same-function container reuse: calls per container (0 or absent = off).
    #[serde(default)]
    container_reuse_calls: u32,
    /// Same-function container reuse: idle time before a kept container is removed.
    #[serde(default = "default_reuse_idle_ms")]
    container_reuse_idle_ms: u64,
    /// Egress bounds of functions that declare an allow-list (`deploy --allow-net`); 0
    /// connections = no egress under this profile. Defaults: `egress::Bounds::default()`.
    #[serde(default)]
    egress_connections: Option<u32>,
    #[serde(default)]
    egress_bytes_out: Option<u64>,
    #[serde(default)]
    egress_bytes_in: Option<u64>,
}

fn default_reuse_idle_ms() -> u64 {
    10_000
}

/// A validated profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The file stem (`default`, `strict`, ...).
    pub name: String,
    /// One line saying what it is for.
    pub description: String,
    /// The limits it grants.
    pub limits: Limits,
    /// The most egress a call may have under it (a function's caps are bounded by these);
    /// `None`: functions with an allow-list cannot run under this profile.
    pub egress: Option<crate::egress::Bounds>,
    /// Largest input a call may bring (`input_bytes`): inline inputs are further capped by the
    /// worker's `max_input_bytes` (what fits a request tx); an `input_ref` is fetched up to this.
    pub max_input_bytes: u64,
}

/// A profile's input limit when its file does not set `input_bytes`: 1 MiB.
pub const DEFAULT_INPUT_BYTES: u64 = 1 << 20;

fn check(file: &str, what: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::Invalid {
            file: file.to_owned(),
            message: format!("{what} = {value} is outside {min}..={max}"),
        });
    }
    Ok(())
}

impl Profile {
    /// Parses and validates one profile file.
    pub fn parse(file: &str, text: &str) -> Result<Profile, ConfigError> {
        let p: ProfileFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        check(file, "wall_time_ms", p.wall_time_ms, 1, 3_600_000)?;
        check(file, "cpu_time_ms", p.cpu_time_ms, 1, 3_600_000)?;
        check(file, "memory_mb", p.memory_mb, 1, 65_536)?;
        check(file, "pids", p.pids.into(), 1, 4096)?;
        check(file, "output_bytes", p.output_bytes as u64, 1, 64 << 20)?;
        let input_bytes = p.input_bytes.unwrap_or(DEFAULT_INPUT_BYTES);
        check(file, "input_bytes", input_bytes, 0, 1 << 30)?;
        check(file, "stderr_bytes", p.stderr_bytes as u64, 0, 16 << 20)?;
        check(file, "tmpfs_mb", p.tmpfs_mb, 0, 65_536)?;
        check(
            file,
            "container_reuse_calls",
            p.container_reuse_calls.into(),
            0,
            10_000,
        )?;
        check(
            file,
            "container_reuse_idle_ms",
            p.container_reuse_idle_ms,
            1,
            600_000,
        )?;
        if let Some(f) = p.fuel {
            check(file, "fuel", f, 1, u64::MAX)?;
        }
        let network = match p.network.as_str() {
            "none" => NetworkPolicy::None,
            other => {
                return Err(ConfigError::Invalid {
                    file: file.to_owned(),
                    message: format!(
                        "network = \"{other}\" is not supported; only \"none\" is (egress proxies are not implemented)"
                    ),
                });
            }
        };
        let d = crate::egress::Bounds::default();
        let egress = crate::egress::Bounds {
            connections: p.egress_connections.unwrap_or(d.connections),
            bytes_out: p.egress_bytes_out.unwrap_or(d.bytes_out),
            bytes_in: p.egress_bytes_in.unwrap_or(d.bytes_in),
        };
        check(
            file,
            "egress_connections",
            egress.connections.into(),
            0,
            10_000,
        )?;
        check(file, "egress_bytes_out", egress.bytes_out, 1, u64::MAX)?;
        check(file, "egress_bytes_in", egress.bytes_in, 1, u64::MAX)?;
        Ok(Profile {
            egress: (egress.connections > 0).then_some(egress),
            name: file.trim_end_matches(".toml").to_owned(),
            description: p.description,
            limits: Limits {
                wall_time: Duration::from_millis(p.wall_time_ms),
                cpu_time: Duration::from_millis(p.cpu_time_ms),
                memory_bytes: p.memory_mb << 20,
                pids: p.pids,
                output_bytes: p.output_bytes,
                stderr_bytes: p.stderr_bytes,
                tmpfs_bytes: p.tmpfs_mb << 20,
                network,
                fuel: p.fuel,
                reuse: (p.container_reuse_calls > 1).then(|| Reuse {
                    max_calls: p.container_reuse_calls,
                    idle: Duration::from_millis(p.container_reuse_idle_ms),
                }),
            },
            max_input_bytes: input_bytes,
        })
    }
}

/// All profiles by name. `default` always exists.
#[derive(Debug, Clone)]
pub struct ProfileCatalog {
    profiles: BTreeMap<String, Arc<Profile>>,
}

impl ProfileCatalog {
    /// Only the profiles named in `names` (the worker operator's `accepted_profiles`); a name
    /// no profile has is an error naming it.
    pub fn only(&self, names: &[String]) -> Result<ProfileCatalog, ConfigError> {
        let mut profiles = BTreeMap::new();
        for n in names {
            let p = self.get(n)?;
            profiles.insert(p.name.clone(), p);
        }
        Ok(ProfileCatalog { profiles })
    }

    /// The shipped profiles plus (overriding by file name) those in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<ProfileCatalog, ConfigError> {
        let mut profiles = BTreeMap::new();
        for (file, text) in merged_files(SHIPPED, dir)? {
            let p = Profile::parse(&file, &text)?;
            profiles.insert(p.name.clone(), Arc::new(p));
        }
        if !profiles.contains_key("default") {
            return Err(ConfigError::Invalid {
                file: "default.toml".into(),
                message: "missing".into(),
            });
        }
        Ok(ProfileCatalog { profiles })
    }

    /// The shipped profiles only.
    pub fn shipped() -> Result<ProfileCatalog, ConfigError> {
        ProfileCatalog::load(None)
    }

    /// Looks a profile up by name.
    pub fn get(&self, name: &str) -> Result<Arc<Profile>, ConfigError> {
        self.profiles
            .get(name)
            .cloned()
            .ok_or_else(|| ConfigError::Unknown {
                kind: "profile",
                name: name.to_owned(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// Every profile, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.profiles.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_parse_and_default_is_deny_all() {
        let cat = ProfileCatalog::shipped().unwrap();
        assert_eq!(cat.iter().count(), SHIPPED.len());
        let d = cat.get("default").unwrap();
        assert_eq!(d.limits.network, NetworkPolicy::None);
        assert_eq!(
            d.limits,
            Limits::default(),
            "default.toml and Limits::default() must agree"
        );
        assert!(cat.get("strict").unwrap().limits.memory_bytes < d.limits.memory_bytes);
        assert!(matches!(cat.get("nope"), Err(ConfigError::Unknown { .. })));
    }

    #[test]
    fn shipped_list_matches_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sandbox-profiles");
        let on_disk: Vec<String> = super::super::read_toml_dir(&dir)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let shipped: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            on_disk, shipped,
            "add new profile files to profiles::SHIPPED"
        );
    }

    #[test]
    fn unknown_keys_missing_limits_and_ranges_are_refused() {
        let base = include_str!("../../../../sandbox-profiles/default.toml");
        let extra = format!("{base}\nswap_mb = 1\n");
        assert!(matches!(
            Profile::parse("x.toml", &extra),
            Err(ConfigError::Parse { .. })
        ));
        let missing = base.replace("pids = 32", "");
        assert!(matches!(
            Profile::parse("x.toml", &missing),
            Err(ConfigError::Parse { .. })
        ));
        let huge = base.replace("memory_mb = 128", "memory_mb = 999999");
        let err = Profile::parse("x.toml", &huge).unwrap_err().to_string();
        assert!(err.contains("memory_mb"), "{err}");
        let net = base.replace("network = \"none\"", "network = \"host\"");
        assert!(
            Profile::parse("x.toml", &net)
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
    }

    #[test]
    fn container_reuse_is_off_by_default_and_opt_in() {
        let base = include_str!("../../../../sandbox-profiles/default.toml");
        assert_eq!(Profile::parse("x.toml", base).unwrap().limits.reuse, None);
        let on = format!("{base}\ncontainer_reuse_calls = 8\ncontainer_reuse_idle_ms = 2000\n");
        assert_eq!(
            Profile::parse("x.toml", &on).unwrap().limits.reuse,
            Some(Reuse {
                max_calls: 8,
                idle: Duration::from_millis(2000)
            })
        );
        let one = format!("{base}\ncontainer_reuse_calls = 1\n");
        assert_eq!(Profile::parse("x.toml", &one).unwrap().limits.reuse, None);
        let bad = format!("{base}\ncontainer_reuse_calls = 4\ncontainer_reuse_idle_ms = 0\n");
        assert!(Profile::parse("x.toml", &bad).is_err());
    }

    #[test]
    fn a_directory_overrides_and_extends() {
        let dir = tempfile::tempdir().unwrap();
        let base = include_str!("../../../../sandbox-profiles/default.toml");
        std::fs::write(
            dir.path().join("default.toml"),
            base.replace("pids = 32", "pids = 7"),
        )
        .unwrap();
        std::fs::write(dir.path().join("mine.toml"), base).unwrap();
        let cat = ProfileCatalog::load(Some(dir.path())).unwrap();
        assert_eq!(cat.get("default").unwrap().limits.pids, 7);
        assert!(cat.get("mine").is_ok());
    }
}
