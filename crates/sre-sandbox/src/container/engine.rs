//! The connection to the Docker engine: connect and negotiate the API version, learn the engine
//! and runc versions (runc before the 2025 masked-path fixes earns a warning), and remove the
//! leftovers of ain-sre processes that died without cleaning up.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerSummary;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

use super::spec::{Identity, LABEL, LABEL_HOST, LABEL_PROCESS};
use crate::{SandboxError, Tier};

/// How long connecting to the engine may take before the tier is declared unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The first runc releases with the fixes for CVE-2025-31133 / -52565 / -52881 (per line).
const RUNC_FIXED: &[(u64, u64, u64)] = &[(1, 2, 8), (1, 3, 3)];

/// A connected engine and what it said about itself.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The API client (version negotiated).
    pub docker: Docker,
    /// Engine version, e.g. `20.10.24+dfsg1`.
    pub version: String,
    /// Negotiated API version.
    pub api_version: String,
    /// runc version as the engine reports it, if it does.
    pub runc: Option<String>,
}

fn unavailable(why: impl Into<String>) -> SandboxError {
    SandboxError::Unavailable {
        tier: Tier::Container,
        why: why.into(),
    }
}

/// Why the engine cannot be reached, with what to do about it: a socket the user may not open is
/// not fixed by installing Docker.
fn unreachable_hint(error: &str) -> String {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/var/run/docker.sock".to_owned());
    if error.contains("Permission denied") || error.contains("permission denied") {
        format!(
            "permission denied on {socket} (add the user to group docker, or run the worker as root)"
        )
    } else if !std::path::Path::new(&socket).exists() {
        format!("no Docker engine socket at {socket}: install docker.io and start dockerd")
    } else {
        format!("cannot reach the Docker engine at {socket} ({error}): is dockerd running?")
    }
}

impl Engine {
    /// Connects (`DOCKER_HOST` or the local socket), negotiates the API version and reads the
    /// engine's versions.
    pub async fn connect() -> Result<Engine, SandboxError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| unavailable(format!("cannot reach the Docker engine: {e}")))?
            .with_timeout(Duration::from_secs(120));
        let work = async {
            let docker = docker.negotiate_version().await?;
            let v = docker.version().await?;
            Ok::<_, bollard::errors::Error>((docker, v))
        };
        let (docker, v) = tokio::time::timeout(CONNECT_TIMEOUT, work)
            .await
            .map_err(|_| unavailable("the Docker engine did not answer within 3 s"))?
            .map_err(|e| unavailable(unreachable_hint(&e.to_string())))?;
        let runc = v
            .components
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.name.eq_ignore_ascii_case("runc"))
            .map(|c| c.version);
        Ok(Engine {
            api_version: docker.client_version().to_string(),
            docker,
            version: v.version.unwrap_or_else(|| "unknown".into()),
            runc,
        })
    }

    /// A warning when the engine's runc predates the 2025 masked-path CVE fixes (SECURITY.md).
    pub fn runc_warning(&self) -> Option<String> {
        let v = self.runc.as_deref()?;
        runc_vulnerable(v).then(|| {
            format!(
                "the engine's runc {v} is older than 1.2.8 / 1.3.3, which fix CVE-2025-31133, \
                 CVE-2025-52565 and CVE-2025-52881 (container escapes via masked-path races); \
                 upgrade runc unless your distribution backported the fixes"
            )
        })
    }

    /// Fails unless the engine has the OCI runtime `name` registered (`daemon.json` `runtimes`).
    pub async fn require_runtime(&self, name: &str) -> Result<(), SandboxError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| unavailable(format!("asking the engine for its runtimes: {e}")))?;
        let known: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        if known.iter().any(|k| k == name) {
            Ok(())
        } else {
            Err(unavailable(format!(
                "the engine has no OCI runtime `{name}` (it has: {}); register it under \
                 \"runtimes\" in /etc/docker/daemon.json and reload dockerd (SIGHUP)",
                known.join(", ")
            )))
        }
    }

    /// Fails when the engine remaps user namespaces (`userns-remap`): it maps only its
    /// subordinate range (usually 65,536 ids) into containers, so the per-container guest uids
    /// (65,536 and up, [`super::guest`]) do not exist there and every call would fail.
    pub async fn require_no_userns_remap(&self) -> Result<(), SandboxError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| unavailable(format!("asking the engine for its options: {e}")))?;
        if userns_remapped(&info.security_options.unwrap_or_default()) {
            return Err(unavailable(
                "the engine runs with userns-remap, which maps too few ids for a guest uid per \
                 container; run the container tier on an engine without it",
            ));
        }
        Ok(())
    }

    /// Every container, in any state, carrying `label` (`key` or `key=value`).
    pub async fn labelled(
        &self,
        label: &str,
    ) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
        let filters = HashMap::from([("label".to_owned(), vec![label.to_owned()])]);
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
    }

    /// Removes every ain-sre container on this host whose creating process is gone (crashed or
    /// killed before it could clean up). Containers of live processes are left alone, so
    /// several workers (and tests) can share one engine. Returns how many were removed.
    pub async fn remove_leftovers(&self, host: &str) -> Result<usize, SandboxError> {
        let list = self.labelled(LABEL).await.map_err(|e| SandboxError::Host {
            tier: Tier::Container,
            why: format!("listing containers: {e}"),
        })?;
        let mut removed = 0;
        for c in list {
            if !is_orphan(&c, host) {
                continue;
            }
            if let Some(id) = c.id {
                let r = self
                    .docker
                    .remove_container(
                        &id,
                        // With its anonymous volumes: a leftover of an older build may have one.
                        Some(
                            RemoveContainerOptionsBuilder::new()
                                .force(true)
                                .v(true)
                                .build(),
                        ),
                    )
                    .await;
                match r {
                    Ok(()) => removed += 1,
                    // Already gone (another sweep or its own removal got there first).
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => {}
                    Err(e) => {
                        tracing::warn!(container = %id, error = %e, "removing a leftover container")
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// True when the engine's security options (`docker info`) name user-namespace remapping.
pub fn userns_remapped(security_options: &[String]) -> bool {
    security_options
        .iter()
        .any(|o| o.split(',').any(|kv| kv == "name=userns"))
}

/// True when `version` (e.g. `1.1.5+ds1`, `v1.2.8`) lacks the 2025 fixes.
pub fn runc_vulnerable(version: &str) -> bool {
    let v = version.trim_start_matches('v');
    let mut nums = v
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let v = (
        nums.next().unwrap_or(0),
        nums.next().unwrap_or(0),
        nums.next().unwrap_or(0),
    );
    match RUNC_FIXED.iter().find(|f| (f.0, f.1) == (v.0, v.1)) {
        Some(fixed) => v < *fixed,
        None => v < (RUNC_FIXED[0].0, RUNC_FIXED[0].1, RUNC_FIXED[0].2),
    }
}

/// This process's identity labels.
pub fn identity(owner: &str) -> Identity {
    let pid = std::process::id();
    Identity {
        owner: owner.to_owned(),
        process: format!("{pid}:{}", start_time(pid).unwrap_or(0)),
        host: host_name(),
    }
}

/// The host name, as labels record it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Start time (clock ticks since boot) of `pid`, field 22 of `/proc/<pid>/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `c` is an ain-sre container of `host` whose creating process is gone.
pub fn is_orphan(c: &ContainerSummary, host: &str) -> bool {
    let Some(labels) = &c.labels else {
        return false;
    };
    labels.get(LABEL_HOST).map(String::as_str) == Some(host)
        && !labels.get(LABEL_PROCESS).is_some_and(|p| process_alive(p))
}

/// Whether the process named by a `<pid>:<start time>` label still runs (pid reuse is told
/// apart by the start time).
pub fn process_alive(label: &str) -> bool {
    let Some((pid, start)) = label.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userns_remap_is_recognised() {
        let opts = |o: &[&str]| o.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(!userns_remapped(&opts(&["name=seccomp,profile=default"])));
        assert!(userns_remapped(&opts(&[
            "name=seccomp,profile=default",
            "name=userns"
        ])));
        assert!(!userns_remapped(&[]));
    }

    #[test]
    fn an_unreachable_engine_says_what_to_do() {
        let denied = unreachable_hint(
            "Error in the hyper legacy client: client error (Connect): Permission denied (os error 13)",
        );
        assert!(
            denied.contains("permission denied on") && denied.contains("group docker"),
            "{denied}"
        );
        let other = unreachable_hint("connection refused");
        assert!(
            other.contains("install docker.io") || other.contains("is dockerd running"),
            "{other}"
        );
    }

    #[test]
    fn runc_versions() {
        assert!(runc_vulnerable("1.1.5+ds1"));
        assert!(runc_vulnerable("1.1.12"));
        assert!(runc_vulnerable("v1.2.7"));
        assert!(!runc_vulnerable("1.2.8"));
        assert!(runc_vulnerable("1.3.2"));
        assert!(!runc_vulnerable("1.3.3"));
        assert!(!runc_vulnerable("1.4.0"));
    }

    #[test]
    fn own_process_is_alive_and_a_dead_one_is_not() {
        let me = identity("x");
        assert!(process_alive(&me.process), "{}", me.process);
        assert!(!process_alive("4194999:1"));
        assert!(!process_alive("garbage"));
    }
}
