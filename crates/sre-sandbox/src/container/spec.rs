//! The hardened container definition every call gets, as one pure function of the call's
//! [`Limits`] and what to launch. Nothing here is optional per call: no network, no capabilities,
//! no privilege gain, a read-only root, sized tmpfs mounts (also over an image's declared volumes),
//! memory = memory+swap, a CPU quota, a pids limit, no log driver, a non-root guest with a uid of
//! its own ([`super::guest`]; a stem cell is root with `SETUID`/`SETGID`/`KILL` only, to keep the
//! guest away from it, and drops to that uid), no host mounts and never the Docker socket.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig,
};

use super::image::{GUEST_ENV, STEM_PATH, STEM_USER};
use super::seccomp::{self, MASKED_PATHS};
use crate::{Limits, NetworkPolicy, SandboxError};

/// Label present on every container ain-sre creates.
pub const LABEL: &str = "io.ain-sre";
/// Label naming the worker instance that created a container.
pub const LABEL_OWNER: &str = "io.ain-sre.owner";
/// Label with `<pid>:<start time>` of the creating process, to tell live owners from dead ones.
pub const LABEL_PROCESS: &str = "io.ain-sre.process";
/// Label with the host name of the creating process (leftovers are only judged on their host).
pub const LABEL_HOST: &str = "io.ain-sre.host";
/// Label naming the runtime (or `image`) a container serves.
pub const LABEL_RUNTIME: &str = "io.ain-sre.runtime";

/// Size of the `/sre` tmpfs that receives the function's code (a bit above the code cap).
pub fn code_tmpfs_bytes(max_code_bytes: usize) -> u64 {
    max_code_bytes as u64 + (64 << 10)
}

/// The part of [`Limits`] baked into a container at creation. Calls whose shape matches a
/// pool's can take a pre-started container from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Memory and memory+swap, bytes.
    pub memory_bytes: u64,
    /// CPU quota in billionths of a CPU.
    pub nano_cpus: i64,
    /// pids limit.
    pub pids: u32,
    /// `/tmp` size; 0 = no writable /tmp.
    pub tmpfs_bytes: u64,
    /// Egress through the worker's proxy: the seccomp profile also allows TCP/UDP sockets
    /// (which reach only the proxy's listener in the container's own network namespace).
    pub egress: bool,
}

impl Shape {
    /// The shape of `limits`, or a rejection for what the container tier cannot enforce.
    pub fn of(limits: &Limits) -> Result<Shape, SandboxError> {
        // The CPU quota: the share of one CPU the call may use over its wall time, capped at one
        // CPU and never below 1% (Docker's minimum is 0.01 CPU).
        let wall = limits.wall_time.as_nanos().max(1);
        let share = (limits.cpu_time.as_nanos() * 1_000_000_000 / wall).min(1_000_000_000);
        Ok(Shape {
            // Docker refuses less than 6 MiB.
            memory_bytes: limits.memory_bytes.max(6 << 20),
            nano_cpus: (share as i64).max(10_000_000),
            pids: limits.pids.max(1),
            tmpfs_bytes: limits.tmpfs_bytes,
            egress: matches!(limits.network, NetworkPolicy::Proxy(_)),
        })
    }
}

/// What a container runs.
#[derive(Debug, Clone)]
pub enum Launch {
    /// A shipped runtime image behind the stem cell: `argv` is `[code path, command...]`.
    Stem {
        /// Image reference.
        image: String,
        /// Arguments to the stem cell.
        argv: Vec<String>,
    },
    /// A bring-your-own image with its own entrypoint; the input is its whole stdin.
    Image {
        /// Image reference.
        image: String,
        /// `SRE_*` environment.
        env: Vec<String>,
        /// The image's declared `VOLUME` paths: each is covered by a sized tmpfs, so Docker
        /// creates no (unsized, host-disk) anonymous volume for it (abuse row 27).
        volumes: Vec<String>,
    },
}

/// The labels of a container created by this process.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Worker instance name.
    pub owner: String,
    /// `<pid>:<start time in clock ticks>` of this process.
    pub process: String,
    /// This host's name.
    pub host: String,
}

/// `no-new-privileges` and the shared seccomp allowlist ([`seccomp`]; with TCP/UDP sockets for
/// a container with egress).
fn security_opts(egress: bool) -> Vec<String> {
    let profile = if egress {
        seccomp::security_opt_egress()
    } else {
        seccomp::security_opt()
    };
    std::iter::once("no-new-privileges".to_owned())
        .chain(profile.map(str::to_owned))
        .collect()
}

/// Host tasks gVisor's own sandbox (the Sentry and its Go runtime threads) needs inside the
/// container's pids cgroup, on top of the call's limit: under `runsc` the guest's processes are
/// not host tasks at all (they live inside the Sentry), so the host pids limit bounds gVisor's
/// threads, and the Sentry fails to start below about 64 (measured: 48 fails, 64 starts).
pub const GVISOR_TASKS: u32 = 128;

/// True when `oci_runtime` is gVisor's (`runsc`, or a variant registered as `runsc-…`).
pub fn is_gvisor(oci_runtime: Option<&str>) -> bool {
    oci_runtime.is_some_and(|r| r.starts_with("runsc"))
}

/// Capabilities a stem cell keeps: it runs as root in the container so the guest (another user)
/// cannot reach it through `/proc/1` (abuse row 28), and needs these to drop to the guest's user
/// for each call (`SETUID`, `SETGID`) and to kill what the guest left (`KILL`). The guest never
/// holds any: the drop to a non-root user clears its capability sets, and `no-new-privileges`
/// keeps it from regaining them on exec.
pub const STEM_CAPS: &[&str] = &["SETUID", "SETGID", "KILL"];

/// The tmpfs options covering an image's declared volume: as large as `/tmp`, or read-only and
/// empty when the profile grants no scratch space (a tmpfs `size=0` would mean unbounded).
fn volume_tmpfs(tmpfs_bytes: u64) -> String {
    if tmpfs_bytes == 0 {
        "ro,nosuid,nodev,noexec,size=4096,nr_inodes=16,mode=0755".to_owned()
    } else {
        let inodes = (tmpfs_bytes / 4096).max(64);
        format!("rw,nosuid,nodev,noexec,size={tmpfs_bytes},nr_inodes={inodes},mode=1777")
    }
}

/// The full create request: hardened host config, stdin attached once, labels. `guest` is the
/// container's own guest uid and gid ([`super::guest`]): a stem cell learns it from
/// [`GUEST_ENV`] and drops to it for every call; a bring-your-own image runs as it.
/// `oci_runtime` names the engine's OCI runtime to use (e.g. `runsc` for gVisor); `None` is the
/// engine's default (runc).
pub fn create_body(
    launch: &Launch,
    shape: Shape,
    runtime: &str,
    who: &Identity,
    guest: u32,
    max_code_bytes: usize,
    oci_runtime: Option<&str>,
) -> ContainerCreateBody {
    let mut tmpfs = HashMap::new();
    if shape.tmpfs_bytes > 0 {
        // nr_inodes scaled to the size: one inode per 4 KiB, so tiny files cannot outlast bytes.
        let inodes = (shape.tmpfs_bytes / 4096).max(64);
        tmpfs.insert(
            "/tmp".to_owned(),
            format!(
                "rw,nosuid,nodev,noexec,size={},nr_inodes={inodes},mode=1777",
                shape.tmpfs_bytes
            ),
        );
    }
    let (image, entrypoint, cmd, env, user, cap_add) = match launch {
        Launch::Stem { image, argv } => {
            tmpfs.insert(
                "/sre".to_owned(),
                // Written by the stem cell (root), only read by the guest: not scratch space,
                // and the code of a kept container cannot be changed by the call before it.
                format!(
                    "rw,nosuid,nodev,noexec,size={},nr_inodes=16,mode=0755",
                    code_tmpfs_bytes(max_code_bytes)
                ),
            );
            (
                image.clone(),
                Some(vec![STEM_PATH.to_owned()]),
                Some(argv.clone()),
                // Not a secret: the guest sees its own uid anyway, and never this environment
                // (the stem cell runs it under `env -i`).
                vec![format!("{GUEST_ENV}={guest}")],
                STEM_USER.to_owned(),
                STEM_CAPS.iter().map(|c| (*c).to_owned()).collect(),
            )
        }
        Launch::Image {
            image,
            env,
            volumes,
        } => {
            for v in volumes {
                // A volume at /tmp is /tmp's own tmpfs (already sized).
                tmpfs
                    .entry(v.clone())
                    .or_insert_with(|| volume_tmpfs(shape.tmpfs_bytes));
            }
            // No stem cell: the image's entrypoint runs as the container's guest uid directly
            // (numeric, so the image needs no account for it).
            (
                image.clone(),
                None,
                None,
                env.clone(),
                format!("{guest}:{guest}"),
                Vec::new(),
            )
        }
    };
    // `strict` (no scratch space): no /dev/shm at all. IPC mode `none` is a private IPC
    // namespace without the /dev/shm mount (abuse row 12's scratch-space half).
    let (ipc_mode, shm_size) = if shape.tmpfs_bytes == 0 {
        ("none", None)
    } else {
        // /dev/shm is another writable tmpfs: no bigger than /tmp.
        ("private", Some(shape.tmpfs_bytes as i64))
    };
    let labels = HashMap::from([
        (LABEL.to_owned(), "1".to_owned()),
        (LABEL_OWNER.to_owned(), who.owner.clone()),
        (LABEL_PROCESS.to_owned(), who.process.clone()),
        (LABEL_HOST.to_owned(), who.host.clone()),
        (LABEL_RUNTIME.to_owned(), runtime.to_owned()),
    ]);
    ContainerCreateBody {
        image: Some(image),
        entrypoint,
        cmd,
        env: Some(env),
        user: Some(user),
        working_dir: Some("/".to_owned()),
        hostname: Some("sandbox".to_owned()),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        network_disabled: Some(true),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_owned()),
            cap_drop: Some(vec!["ALL".to_owned()]),
            cap_add: Some(cap_add),
            security_opt: Some(security_opts(shape.egress)),
            masked_paths: Some(MASKED_PATHS.iter().map(|p| (*p).to_owned()).collect()),
            readonly_rootfs: Some(true),
            tmpfs: Some(tmpfs),
            memory: Some(shape.memory_bytes as i64),
            memory_swap: Some(shape.memory_bytes as i64),
            memory_swappiness: None,
            nano_cpus: Some(shape.nano_cpus),
            pids_limit: Some(i64::from(
                shape.pids
                    + if is_gvisor(oci_runtime) {
                        GVISOR_TASKS
                    } else {
                        0
                    },
            )),
            // Per-user kernel counters (abuse row 26): few queued signals, no POSIX message
            // queue bytes. The kernel counts both per host uid, and every container's guest has
            // a uid of its own, so these bound what one container holds; inotify is refused by
            // the seccomp policy.
            ulimits: Some(
                [("sigpending", 64), ("msgqueue", 0)]
                    .into_iter()
                    .map(|(name, n)| bollard::models::ResourcesUlimits {
                        name: Some(name.to_owned()),
                        soft: Some(n),
                        hard: Some(n),
                    })
                    .collect(),
            ),
            log_config: Some(HostConfigLogConfig {
                typ: Some("none".to_owned()),
                config: None,
            }),
            ipc_mode: Some(ipc_mode.to_owned()),
            // A cgroup namespace of its own: Docker 20.10 on cgroup v1 defaults to the host's, and
            // `/proc/self/cgroup` then shows the host path (abuse row 12).
            cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
            // Docker opens ICMP "ping" sockets to every group; nobody may (abuse row 11). The
            // sysctl is per network namespace, and every container has its own.
            sysctls: Some(HashMap::from([(
                "net.ipv4.ping_group_range".to_owned(),
                "1 0".to_owned(),
            )])),
            shm_size,
            privileged: Some(false),
            publish_all_ports: Some(false),
            binds: Some(Vec::new()),
            mounts: Some(Vec::new()),
            devices: Some(Vec::new()),
            auto_remove: Some(false),
            init: Some(false),
            runtime: oci_runtime.map(str::to_owned),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn who() -> Identity {
        Identity {
            owner: "t".into(),
            process: "1:2".into(),
            host: "h".into(),
        }
    }

    #[test]
    fn every_container_is_hardened() {
        let limits = Limits::default();
        let shape = Shape::of(&limits).unwrap();
        let body = create_body(
            &Launch::Stem {
                image: "ain-sre/python3:6".into(),
                argv: vec!["/sre/main.py".into(), "/usr/bin/python3".into()],
            },
            shape,
            "python3",
            &who(),
            4_000_007,
            1 << 20,
            None,
        );
        let hc = body.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("none"));
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_owned()]));
        let opts = hc.security_opt.unwrap();
        assert_eq!(opts[0], "no-new-privileges");
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert!(opts[1].starts_with("seccomp={"), "{}", opts[1]);
        assert!(hc.masked_paths.unwrap().contains(&"/proc/1/mem".to_owned()));
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.memory, hc.memory_swap);
        assert_eq!(hc.memory, Some(128 << 20));
        assert_eq!(hc.pids_limit, Some(32));
        assert_eq!(hc.nano_cpus, Some(1_000_000_000));
        assert_eq!(hc.log_config.unwrap().typ.as_deref(), Some("none"));
        assert_eq!(hc.binds, Some(vec![]));
        assert_eq!(hc.privileged, Some(false));
        let tmp = &hc.tmpfs.as_ref().unwrap()["/tmp"];
        assert!(
            tmp.contains("size=16777216") && tmp.contains("noexec"),
            "{tmp}"
        );
        assert_eq!(body.user.as_deref(), Some("0:0"), "the stem cell is root");
        assert_eq!(
            hc.cap_add,
            Some(vec!["SETUID".into(), "SETGID".into(), "KILL".into()])
        );
        assert_eq!(hc.ipc_mode.as_deref(), Some("private"));
        assert_eq!(body.labels.unwrap()[LABEL], "1");
        assert_eq!(body.env, Some(vec![format!("{GUEST_ENV}=4000007")]));
    }

    #[test]
    fn shapes_and_rejections() {
        let l = Limits {
            cpu_time: Duration::from_millis(500),
            wall_time: Duration::from_secs(1),
            tmpfs_bytes: 0,
            ..Limits::default()
        };
        let s = Shape::of(&l).unwrap();
        assert_eq!(s.nano_cpus, 500_000_000);
        let body = create_body(
            &Launch::Image {
                image: "x".into(),
                env: vec![],
                volumes: vec!["/data".into()],
            },
            s,
            "image",
            &who(),
            4_000_009,
            1,
            Some("runsc"),
        );
        assert_eq!(body.user.as_deref(), Some("4000009:4000009"));
        let hc = body.host_config.unwrap();
        assert_eq!(hc.cap_add, Some(vec![]));
        assert_eq!(hc.runtime.as_deref(), Some("runsc"));
        assert_eq!(hc.pids_limit, Some(32 + i64::from(GVISOR_TASKS)));
        // No scratch space: no /tmp, no /dev/shm, and a declared volume is read-only and empty.
        let tmpfs = hc.tmpfs.unwrap();
        assert_eq!(tmpfs.len(), 1);
        assert!(tmpfs["/data"].starts_with("ro,"), "{tmpfs:?}");
        assert_eq!(hc.ipc_mode.as_deref(), Some("none"));
        assert_eq!(hc.shm_size, None);
        let proxy = Limits {
            network: NetworkPolicy::Proxy(crate::egress::EgressHandle(
                crate::egress::EgressCall::new(
                    Default::default(),
                    Default::default(),
                    Default::default(),
                    "a/f/c".into(),
                ),
            )),
            ..Limits::default()
        };
        // Egress changes the shape (its own pool) and the seccomp profile, not the network mode.
        let shape = Shape::of(&proxy).unwrap();
        assert!(shape.egress && !Shape::of(&Limits::default()).unwrap().egress);
        let hc = create_body(
            &Launch::Stem {
                image: "ain-sre/python3:6".into(),
                argv: vec![],
            },
            shape,
            "python3",
            &who(),
            4_000_007,
            1 << 20,
            None,
        )
        .host_config
        .unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("none"));
        let seccomp = &hc.security_opt.unwrap()[1];
        // socket(AF_INET/AF_INET6, SOCK_STREAM (1) / SOCK_DGRAM (2)) under a type mask of 0xf.
        for ty in [1, 2] {
            let rule = format!("\"value\":15,\"valueTwo\":{ty}");
            assert!(seccomp.contains(&rule), "{rule}");
        }
        assert!(
            !super::seccomp::security_opt()
                .unwrap()
                .contains("\"value\":15,")
        );
    }
}
