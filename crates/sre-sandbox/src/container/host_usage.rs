//! Usage of a container without a stem cell (a bring-your-own image), read on the host.
//!
//! Shipped images report their usage through the stem cell. A bring-your-own image has nobody
//! inside to do that, so the container's cgroup is found from its init process
//! (`/proc/<pid>/cgroup`, cgroup v1 or v2) and sampled while the call runs: the engine removes
//! the cgroup when the container exits, so the last sample is the figure. CPU time of the final
//! sampling interval ([`INTERVAL`]) may be missed; the memory figure is the cgroup's own
//! high-water mark, so it only misses growth in that last interval.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Time between samples.
pub(crate) const INTERVAL: Duration = Duration::from_millis(10);

/// The last figures read: CPU time and peak memory of the whole container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    /// CPU time, nanoseconds.
    pub cpu_ns: u64,
    /// Peak memory, bytes.
    pub mem_bytes: u64,
}

/// The counter files of one cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Files {
    /// v1 `cpuacct.usage` (ns) or v2 `cpu.stat` (`usage_usec`).
    cpu: PathBuf,
    /// v1 `memory.max_usage_in_bytes` or v2 `memory.peak`.
    mem: PathBuf,
}

/// Finds the counter files from a `/proc/<pid>/cgroup` text, under the cgroup root `root`.
fn files(proc_cgroup: &str, root: &Path) -> Option<Files> {
    let (mut cpu, mut mem) = (None, None);
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            // cgroup v2: one unified hierarchy.
            let dir = root.join(rel);
            cpu.get_or_insert(dir.join("cpu.stat"));
            mem.get_or_insert(dir.join("memory.peak"));
        } else {
            let names: Vec<&str> = controllers.split(',').collect();
            if names.contains(&"cpuacct") {
                cpu = Some(root.join(controllers).join(rel).join("cpuacct.usage"));
            }
            if names.contains(&"memory") {
                mem = Some(
                    root.join(controllers)
                        .join(rel)
                        .join("memory.max_usage_in_bytes"),
                );
            }
        }
    }
    Some(Files {
        cpu: cpu?,
        mem: mem?,
    })
}

/// Reads one sample; `None` once the cgroup is gone.
fn read(files: &Files) -> Option<Sample> {
    let cpu = std::fs::read_to_string(&files.cpu).ok()?;
    let cpu_ns = if files.cpu.ends_with("cpu.stat") {
        cpu.lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<u64>().ok())?
            .saturating_mul(1000)
    } else {
        cpu.trim().parse().ok()?
    };
    let mem_bytes = std::fs::read_to_string(&files.mem)
        .ok()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    Some(Sample { cpu_ns, mem_bytes })
}

/// A sampler running beside a call.
pub(crate) struct Watch {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Sample>,
}

impl Watch {
    /// Starts sampling the cgroup of the process `pid` (the container's init, as the host sees
    /// it). `None` when its cgroup cannot be found (the container already exited).
    pub(crate) fn start(pid: u32) -> Option<Watch> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let files = files(&text, Path::new("/sys/fs/cgroup"))?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut last = Sample::default();
            let mut tick = tokio::time::interval(INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
                match read(&files) {
                    Some(s) => {
                        last = Sample {
                            cpu_ns: s.cpu_ns.max(last.cpu_ns),
                            mem_bytes: s.mem_bytes.max(last.mem_bytes),
                        }
                    }
                    None => break,
                }
            }
            // One last read, in case the container is still there.
            read(&files).map_or(last, |s| Sample {
                cpu_ns: s.cpu_ns.max(last.cpu_ns),
                mem_bytes: s.mem_bytes.max(last.mem_bytes),
            })
        });
        Some(Watch { stop, task })
    }

    /// Stops sampling and returns the last figures.
    pub(crate) async fn finish(self) -> Sample {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_files_for_v1_and_v2() {
        let v1 = "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n9:memory:/docker/abc\n0::/\n";
        let f = files(v1, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(
            f.cpu,
            Path::new("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage")
        );
        assert_eq!(
            f.mem,
            Path::new("/sys/fs/cgroup/memory/docker/abc/memory.max_usage_in_bytes")
        );
        let v2 = "0::/system.slice/docker-abc.scope\n";
        let f = files(v2, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(
            f.cpu,
            Path::new("/sys/fs/cgroup/system.slice/docker-abc.scope/cpu.stat")
        );
        assert!(files("garbage", Path::new("/")).is_none());
    }

    #[test]
    fn samples_read_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        std::fs::write(d.join("memory.peak"), "4096\n").unwrap();
        let v2 = Files {
            cpu: d.join("cpu.stat"),
            mem: d.join("memory.peak"),
        };
        assert_eq!(
            read(&v2),
            Some(Sample {
                cpu_ns: 1_500_000,
                mem_bytes: 4096
            })
        );
        std::fs::write(d.join("cpuacct.usage"), "123456\n").unwrap();
        let v1 = Files {
            cpu: d.join("cpuacct.usage"),
            mem: d.join("gone"),
        };
        assert_eq!(
            read(&v1),
            Some(Sample {
                cpu_ns: 123_456,
                mem_bytes: 0
            })
        );
        std::fs::remove_file(d.join("cpuacct.usage")).unwrap();
        assert_eq!(read(&v1), None);
    }
}
