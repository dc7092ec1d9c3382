//! Host checks for the process tier, for `ain-sre doctor`.

use std::path::Path;

use super::cgroup::CgroupRoot;
use super::{ProcessConfig, find_jail_exe, policy};
use crate::Tier;
use crate::config::runtimes::RuntimeCatalog;
use crate::doctor::Check;

/// What the process tier needs from this host, one check each: root, user namespaces, the
/// cgroup version and controllers, seccomp, the jail helper, and each runtime's binds.
pub fn doctor(config: &ProcessConfig) -> Vec<Check> {
    let area = "process";
    let mut out = Vec::new();
    out.push(if nix::unistd::geteuid().is_root() {
        Check::ok(area, "root", "running as root")
    } else {
        Check::fail(
            area,
            "root",
            "not root: namespaces with a host uid mapping and cgroups need root",
        )
    });
    out.push(
        match std::fs::read_to_string("/proc/sys/user/max_user_namespaces") {
            Ok(s) if s.trim() != "0" => Check::ok(
                area,
                "user namespaces",
                format!("max_user_namespaces = {}", s.trim()),
            ),
            Ok(_) => Check::fail(area, "user namespaces", "user.max_user_namespaces is 0"),
            Err(e) => Check::fail(area, "user namespaces", format!("not available: {e}")),
        },
    );
    let force = config.cgroup_version.map(|v| match v {
        super::cgroup_version::CgroupVersionArg::V1 => super::cgroup::CgroupVersion::V1,
        super::cgroup_version::CgroupVersionArg::V2 => super::cgroup::CgroupVersion::V2,
    });
    out.push(
        match CgroupRoot::open(&config.cgroup_mount, &config.cgroup_parent, force) {
            Ok(r) => Check::ok(area, "cgroups", r.describe()),
            Err(e) => Check::fail(area, "cgroups", e),
        },
    );
    let seccomp = std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Seccomp:")))
        .unwrap_or(false);
    out.push(match (seccomp, policy::compile()) {
        (true, Ok(p)) => Check::ok(
            area,
            "seccomp",
            format!("allowlist of {} BPF instructions", p.len()),
        ),
        (false, _) => Check::fail(area, "seccomp", "the kernel has no seccomp filter support"),
        (_, Err(e)) => Check::fail(area, "seccomp", e),
    });
    out.push(match find_jail_exe(config) {
        Ok(p) => Check::ok(area, "jail helper", p.display().to_string()),
        Err(e) => Check::fail(area, "jail helper", e),
    });
    let catalog = match &config.runtimes {
        Some(c) => Some(c.clone()),
        None => RuntimeCatalog::shipped().ok(),
    };
    for rt in catalog.iter().flat_map(|c| c.iter()) {
        if !rt.tiers.contains(&Tier::Process) {
            continue;
        }
        let what = format!("runtime {} binds", rt.name);
        let missing: Vec<String> = rt
            .process_binds
            .iter()
            .filter(|b| !b.exists())
            .map(|b| b.display().to_string())
            .collect();
        let exe = rt
            .command
            .first()
            .filter(|c| c.starts_with('/'))
            .map(Path::new);
        out.push(match exe {
            Some(e) if !e.exists() => {
                Check::fail(area, what, format!("{} is not installed", e.display()))
            }
            _ if missing.is_empty() => Check::ok(
                area,
                what,
                format!("{} binds present", rt.process_binds.len()),
            ),
            _ => Check::warn(
                area,
                what,
                format!("missing on this host (skipped): {}", missing.join(", ")),
            ),
        });
    }
    out
}
