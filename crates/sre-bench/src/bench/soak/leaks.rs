//! What the soak's workers may leave on the host, looked for after their final shutdown.
//!
//! Only objects traceable to this soak count, so other ain-sre users of the same host (tests,
//! other workers) are never blamed: containers whose `io.ain-sre.process` label names a soak
//! worker's pid, cgroups named `<soak worker pid>-<n>` under the process tier's cgroup parent,
//! processes in such a cgroup or carrying a soak caller's `SRE_CALLER`, and network-namespace
//! (`nsfs`) or sandbox-root mounts that were not there when the soak began. Docker's own
//! per-container namespaces (`/run/docker/netns`) go with their containers and are left to the
//! container check.

use std::collections::HashSet;
use std::path::Path;

use super::tally::Leaks;
use crate::sandbox::container::Engine;
use crate::sandbox::container::spec::{LABEL, LABEL_PROCESS};

/// Mounts that matter, as `mount point (fstype)`, from `/proc/self/mountinfo`.
pub fn watched_mounts() -> HashSet<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            let fstype = right.split_whitespace().next()?;
            let watched = point.starts_with("/run/ain-sre")
                || point.starts_with("/run/netns")
                || point.starts_with("/var/run/netns")
                || (fstype == "nsfs" && !point.contains("/docker/"));
            watched.then(|| format!("{point} ({fstype})"))
        })
        .collect()
}

fn pid_of_label(label: &str) -> Option<u32> {
    label.split(':').next()?.parse().ok()
}

/// Containers of the given worker pids (`None` when Docker cannot be reached).
async fn containers(pids: &HashSet<u32>) -> Option<Vec<String>> {
    let engine = Engine::connect().await.ok()?;
    let list = engine.labelled(LABEL).await.ok()?;
    Some(
        list.into_iter()
            .filter(|c| {
                c.labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_PROCESS))
                    .and_then(|p| pid_of_label(p))
                    .is_some_and(|p| pids.contains(&p))
            })
            .map(|c| {
                // The creating worker (`<pid>:<start>`) and the creation time tell a container
                // a killed incarnation left (its successor's sweep missed it) from one the final
                // shutdown did not remove.
                format!(
                    "container {} ({}, created at {} by worker {})",
                    c.id.unwrap_or_default(),
                    c.state.map(|s| format!("{s:?}")).unwrap_or_default(),
                    c.created.unwrap_or_default(),
                    c.labels
                        .as_ref()
                        .and_then(|l| l.get(LABEL_PROCESS))
                        .map_or("?", String::as_str)
                )
            })
            .collect(),
    )
}

/// Whether a cgroup directory name is `<pid>-<n>` of one of `pids`.
fn ours(name: &str, pids: &HashSet<u32>) -> bool {
    name.split_once('-')
        .and_then(|(p, _)| p.parse::<u32>().ok())
        .is_some_and(|p| pids.contains(&p))
}

/// Sandbox cgroups of the given worker pids, v2 (`<mount>/<parent>`) and v1
/// (`<mount>/<controller>/<parent>`).
fn cgroups(mount: &Path, parent: &str, pids: &HashSet<u32>) -> Vec<String> {
    let mut roots = vec![mount.join(parent)];
    if let Ok(entries) = std::fs::read_dir(mount) {
        roots.extend(entries.flatten().map(|e| e.path().join(parent)));
    }
    let mut out = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().is_dir() && ours(&e.file_name().to_string_lossy(), pids) {
                out.push(e.path().display().to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Processes of the soak still alive: a worker, anything in a worker's sandbox cgroup, any
/// process whose environment names a soak caller.
fn processes(parent: &str, pids: &HashSet<u32>, callers: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    let markers: Vec<Vec<u8>> = callers
        .iter()
        .map(|c| format!("SRE_CALLER={c}").into_bytes())
        .collect();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let dir = e.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if pids.contains(&pid) {
            out.push(format!("worker {pid} ({comm}) still running"));
            continue;
        }
        let cg = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        let in_ours = cg.lines().any(|l| {
            l.split(&format!("/{parent}/"))
                .nth(1)
                .is_some_and(|rest| ours(rest.split('/').next().unwrap_or(""), pids))
        });
        let env = std::fs::read(dir.join("environ")).unwrap_or_default();
        let marked = env
            .split(|b| *b == 0)
            .any(|var| markers.iter().any(|m| var == m.as_slice()));
        if in_ours || marked {
            out.push(format!(
                "process {pid} ({comm}){}",
                if in_ours {
                    " in a sandbox cgroup"
                } else {
                    " of a soak call"
                }
            ));
        }
    }
    out
}

/// Everything the soak's workers (`pids`, every incarnation) left behind, given the watched
/// mounts from before the soak.
pub async fn find(
    pids: &HashSet<u32>,
    callers: &[String],
    cgroup_mount: &Path,
    cgroup_parent: &str,
    mounts_before: &HashSet<String>,
) -> Leaks {
    let mut mounts: Vec<String> = watched_mounts()
        .difference(mounts_before)
        .cloned()
        .collect();
    mounts.sort();
    Leaks {
        containers: containers(pids).await,
        cgroups: cgroups(cgroup_mount, cgroup_parent, pids),
        processes: processes(cgroup_parent, pids, callers),
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cgroups_of_our_workers_count() {
        let pids = HashSet::from([41, 42]);
        assert!(ours("42-7", &pids));
        assert!(!ours("4-7", &pids));
        assert!(!ours("420-1", &pids));
        assert!(!ours("cgroup.procs", &pids));
        let dir = tempfile::tempdir().unwrap();
        for d in ["ain-sre/42-1", "ain-sre/99-1", "memory/ain-sre/41-3"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let found = cgroups(dir.path(), "ain-sre", &pids);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| !f.contains("99-1")));
    }

    #[test]
    fn a_process_carrying_a_soak_caller_is_found() {
        let caller = format!("0xSoakTest{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("SRE_CALLER", &caller)
            .spawn()
            .unwrap();
        // Until the child has exec'd, /proc shows this process's environment: scan until found.
        let mut found = Vec::new();
        for _ in 0..100 {
            found = processes(
                "ain-sre-soak-none",
                &HashSet::new(),
                std::slice::from_ref(&caller),
            );
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            found.iter().any(|p| p.contains(&child.id().to_string())),
            "{found:?}"
        );
    }

    #[test]
    fn label_pids_parse() {
        assert_eq!(pid_of_label("123:456"), Some(123));
        assert_eq!(pid_of_label("x:1"), None);
    }
}
