//! Per-sandbox cgroups, v1 or v2, through the cgroup filesystems directly (a handful of file
//! writes per sandbox; the version is chosen once at start-up and reported by `ain-sre doctor`).
//!
//! v1 uses the `memory` (with `memsw` when swap accounting is on), `cpu`, `cpuacct`, `pids` and
//! `freezer` hierarchies; v2 one directory with `memory.max`, `memory.swap.max`, `cpu.max`,
//! `pids.max`. The whole cgroup is killed at the deadline (v2 `cgroup.kill`; v1 freeze, SIGKILL
//! every member, thaw), never a single pid, and must be empty before it is removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Limits;

/// Which cgroup interface this host gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Legacy per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

const V1_CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "freezer"];
const V2_CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// Where cgroups are created: the version and, per controller, the parent directory.
#[derive(Debug, Clone)]
pub struct CgroupRoot {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// `(controller, parent dir)`; one entry (`unified`) for v2.
    dirs: Vec<(&'static str, PathBuf)>,
}

impl CgroupRoot {
    /// Finds the cgroup filesystem under `mount` (normally `/sys/fs/cgroup`) and creates the
    /// parent `parent` (e.g. `ain-sre`) in each hierarchy. `force` picks a version.
    pub fn open(
        mount: &Path,
        parent: &str,
        force: Option<CgroupVersion>,
    ) -> Result<CgroupRoot, String> {
        let v2_ok = || {
            fs::read_to_string(mount.join("cgroup.controllers"))
                .map(|c| {
                    V2_CONTROLLERS
                        .iter()
                        .all(|want| c.split_whitespace().any(|x| x == *want))
                })
                .unwrap_or(false)
        };
        let v1_ok = || {
            V1_CONTROLLERS
                .iter()
                .all(|c| mount.join(c).join("cgroup.procs").exists())
        };
        let version = match force {
            Some(v) => v,
            None if v2_ok() => CgroupVersion::V2,
            None if v1_ok() => CgroupVersion::V1,
            None => {
                return Err(format!(
                    "no usable cgroups under {}: need v2 with {} or v1 hierarchies {}",
                    mount.display(),
                    V2_CONTROLLERS.join(","),
                    V1_CONTROLLERS.join(",")
                ));
            }
        };
        let dirs = match version {
            CgroupVersion::V2 => {
                let dir = mount.join(parent);
                mkdir(&dir)?;
                // Controllers must be enabled on the way down (root → parent → sandbox).
                let enable = "+memory +pids +cpu";
                let _ = fs::write(mount.join("cgroup.subtree_control"), enable);
                fs::write(dir.join("cgroup.subtree_control"), enable)
                    .map_err(|e| format!("enabling controllers in {}: {e}", dir.display()))?;
                vec![("unified", dir)]
            }
            CgroupVersion::V1 => {
                let mut dirs = Vec::new();
                for c in V1_CONTROLLERS {
                    let dir = mount.join(c).join(parent);
                    mkdir(&dir)?;
                    dirs.push((c, dir));
                }
                dirs
            }
        };
        let root = CgroupRoot { version, dirs };
        root.reap_stale();
        Ok(root)
    }

    /// Removes sandbox cgroups left by a worker that died without shutting down: names are
    /// `<worker pid>-<n>`, and only those whose worker pid is gone are touched.
    fn reap_stale(&self) {
        let Ok(entries) = fs::read_dir(&self.dirs[0].1) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if e.path().is_dir() && !Path::new(&format!("/proc/{pid}")).exists() {
                let stale = Cgroup {
                    version: self.version,
                    dirs: self.dirs.iter().map(|(c, d)| (*c, d.join(&name))).collect(),
                    cpu_base_us: 0,
                    applied: None,
                };
                drop(stale); // kills what is left, removes the directories
            }
        }
    }

    /// Creates the cgroup `name` (one per sandbox).
    pub(crate) fn create(&self, name: &str) -> Result<Cgroup, String> {
        let dirs: Vec<(&'static str, PathBuf)> =
            self.dirs.iter().map(|(c, d)| (*c, d.join(name))).collect();
        for (_, d) in &dirs {
            mkdir(d)?;
        }
        Ok(Cgroup {
            version: self.version,
            dirs,
            cpu_base_us: 0,
            applied: None,
        })
    }

    /// One line for `ain-sre doctor`.
    pub fn describe(&self) -> String {
        match self.version {
            CgroupVersion::V2 => format!("v2 at {} (memory, cpu, pids)", self.dirs[0].1.display()),
            CgroupVersion::V1 => format!(
                "v1 under {} ({})",
                self.dirs[0].1.display(),
                V1_CONTROLLERS.join(", ")
            ),
        }
    }
}

fn mkdir(d: &Path) -> Result<(), String> {
    match fs::create_dir(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("creating cgroup {}: {e}", d.display())),
    }
}

/// Resources a finished call used, read from its cgroup.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CgroupUsage {
    pub(crate) cpu_us: u64,
    pub(crate) mem_peak_bytes: u64,
    pub(crate) oom_kills: u64,
}

/// One sandbox's cgroup. Dropping it kills whatever is left in it and removes it.
#[derive(Debug)]
pub(crate) struct Cgroup {
    version: CgroupVersion,
    dirs: Vec<(&'static str, PathBuf)>,
    cpu_base_us: u64,
    applied: Option<(u64, u32)>,
}

impl Cgroup {
    fn dir(&self, controller: &str) -> &Path {
        match self.version {
            CgroupVersion::V2 => &self.dirs[0].1,
            CgroupVersion::V1 => {
                &self
                    .dirs
                    .iter()
                    .find(|(c, _)| *c == controller)
                    .expect("known controller")
                    .1
            }
        }
    }

    fn write(&self, controller: &str, file: &str, value: &str) -> Result<(), String> {
        let p = self.dir(controller).join(file);
        fs::write(&p, value).map_err(|e| format!("writing {value:?} to {}: {e}", p.display()))
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        fs::read_to_string(self.dir(controller).join(file)).ok()
    }

    /// Moves process `pid` (and so everything it later starts) into the cgroup.
    pub(crate) fn add(&self, pid: u32) -> Result<(), String> {
        for (c, _) in &self.dirs {
            self.write(c, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Applies one call's limits and resets the usage counters (called just before the call).
    /// Limits already written (at stem-cell creation, with the expected profile) are not
    /// written again; the usage counters are always reset.
    pub(crate) fn apply(&mut self, limits: &Limits) -> Result<(), String> {
        let key = (limits.memory_bytes, limits.pids);
        if self.applied == Some(key) {
            match self.version {
                CgroupVersion::V1 => {
                    let _ = self.write("memory", "memory.max_usage_in_bytes", "0");
                    self.write("cpuacct", "cpuacct.usage", "0")?;
                }
                CgroupVersion::V2 => self.cpu_base_us = self.v2_cpu_us(),
            }
            return Ok(());
        }
        self.applied = Some(key);
        let mem = limits.memory_bytes.max(8 << 20).to_string();
        // Processes the guest may have, plus the keeper outside its pid namespace.
        let pids = (limits.pids.max(1) + 1).to_string();
        match self.version {
            CgroupVersion::V1 => {
                // memory+swap = memory: no swapping out of the limit (absent without
                // swapaccount). The kernel keeps memory <= memory+swap at every write, so a
                // rising limit writes memory+swap first and a falling one writes it last.
                let memsw = self
                    .dir("memory")
                    .join("memory.memsw.limit_in_bytes")
                    .exists();
                let current = self
                    .read("memory", "memory.limit_in_bytes")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(u64::MAX);
                let rising = limits.memory_bytes.max(8 << 20) > current;
                if memsw && rising {
                    self.write("memory", "memory.memsw.limit_in_bytes", &mem)?;
                }
                self.write("memory", "memory.limit_in_bytes", &mem)?;
                if memsw && !rising {
                    self.write("memory", "memory.memsw.limit_in_bytes", &mem)?;
                }
                let _ = self.write("memory", "memory.max_usage_in_bytes", "0");
                self.write("pids", "pids.max", &pids)?;
                // One CPU's worth per period (the CPU time limit itself is RLIMIT_CPU + the wall
                // deadline).
                self.write("cpu", "cpu.cfs_period_us", "100000")?;
                self.write("cpu", "cpu.cfs_quota_us", "100000")?;
                self.write("cpuacct", "cpuacct.usage", "0")?;
            }
            CgroupVersion::V2 => {
                self.write("memory", "memory.max", &mem)?;
                if self.dir("memory").join("memory.swap.max").exists() {
                    self.write("memory", "memory.swap.max", "0")?;
                }
                self.write("pids", "pids.max", &pids)?;
                self.write("cpu", "cpu.max", "100000 100000")?;
                // An OOM kills the whole sandbox, not one process of it.
                if self.dir("memory").join("memory.oom.group").exists() {
                    self.write("memory", "memory.oom.group", "1")?;
                }
                self.cpu_base_us = self.v2_cpu_us();
            }
        }
        Ok(())
    }

    fn v2_cpu_us(&self) -> u64 {
        self.read("cpu", "cpu.stat")
            .and_then(|s| field(&s, "usage_usec"))
            .unwrap_or(0)
    }

    /// CPU time, peak memory and OOM kills since [`Cgroup::apply`].
    pub(crate) fn usage(&self) -> CgroupUsage {
        let num = |s: Option<String>| s.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        match self.version {
            CgroupVersion::V1 => CgroupUsage {
                cpu_us: num(self.read("cpuacct", "cpuacct.usage")) / 1000,
                mem_peak_bytes: num(self.read("memory", "memory.max_usage_in_bytes")),
                oom_kills: self
                    .read("memory", "memory.oom_control")
                    .and_then(|s| field(&s, "oom_kill"))
                    .unwrap_or(0),
            },
            CgroupVersion::V2 => CgroupUsage {
                cpu_us: self.v2_cpu_us().saturating_sub(self.cpu_base_us),
                mem_peak_bytes: num(self.read("memory", "memory.peak"))
                    .max(num(self.read("memory", "memory.current"))),
                oom_kills: self
                    .read("memory", "memory.events")
                    .and_then(|s| field(&s, "oom_kill"))
                    .unwrap_or(0),
            },
        }
    }

    /// Process ids in the cgroup (host pid namespace).
    pub(crate) fn procs(&self) -> Vec<i32> {
        self.read("pids", "cgroup.procs")
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills every process in the cgroup and waits (up to `wait`) until it is empty. True when
    /// it is empty.
    pub(crate) fn kill_all(&self, wait: Duration) -> bool {
        match self.version {
            CgroupVersion::V2 if self.dir("pids").join("cgroup.kill").exists() => {
                let _ = self.write("pids", "cgroup.kill", "1");
            }
            CgroupVersion::V2 => self.kill_members(),
            CgroupVersion::V1 => {
                // Frozen members cannot fork while we kill them; SIGKILL is delivered on thaw.
                let frozen = self.write("freezer", "freezer.state", "FROZEN").is_ok();
                self.kill_members();
                if frozen {
                    let _ = self.write("freezer", "freezer.state", "THAWED");
                }
            }
        }
        let until = Instant::now() + wait;
        loop {
            if self.procs().is_empty() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            self.kill_members();
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn kill_members(&self) {
        for pid in self.procs() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.kill_all(Duration::from_secs(2));
        for (_, d) in &self.dirs {
            // A just-emptied v1 memory cgroup can refuse for a moment (EBUSY).
            for _ in 0..50 {
                match fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        }
    }
}

/// `name value` from a flat-keyed cgroup file.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(name)).then(|| it.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v2 path against a fake cgroup2 directory: the right files get the right values.
    #[test]
    fn v2_writes_the_unified_limits_and_reads_usage() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let root = CgroupRoot::open(dir.path(), "ain-sre", None).unwrap();
        assert_eq!(root.version, CgroupVersion::V2);
        let mut cg = root.create("1-0").unwrap();
        let cell = dir.path().join("ain-sre/1-0");
        fs::write(cell.join("memory.swap.max"), "max").unwrap();
        fs::write(cell.join("cpu.stat"), "usage_usec 1000\n").unwrap();
        let limits = Limits {
            memory_bytes: 64 << 20,
            pids: 10,
            ..Limits::default()
        };
        cg.apply(&limits).unwrap();
        let read = |f: &str| fs::read_to_string(cell.join(f)).unwrap();
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("pids.max"), "11");
        assert_eq!(read("cpu.max"), "100000 100000");
        fs::write(cell.join("cpu.stat"), "usage_usec 4000\n").unwrap();
        fs::write(cell.join("memory.peak"), "2048\n").unwrap();
        fs::write(cell.join("memory.events"), "low 0\noom 1\noom_kill 1\n").unwrap();
        let u = cg.usage();
        assert_eq!((u.cpu_us, u.mem_peak_bytes, u.oom_kills), (3000, 2048, 1));
        assert_eq!(read("../cgroup.subtree_control"), "+memory +pids +cpu");
        for f in [
            "memory.max",
            "memory.swap.max",
            "pids.max",
            "cpu.max",
            "cpu.stat",
            "memory.peak",
            "memory.events",
        ] {
            fs::remove_file(cell.join(f)).unwrap();
        }
        drop(cg);
        assert!(!cell.exists());
    }

    #[test]
    fn flat_keyed_fields() {
        let s = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(field(s, "oom_kill"), Some(3));
        assert_eq!(field(s, "missing"), None);
    }
}
