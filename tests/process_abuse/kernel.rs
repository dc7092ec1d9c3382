//! Kernel-surface rows (9–18, 21–22, 26–30): dangerous syscalls, raw sockets, /proc and /sys,
//! privileges, the terminal, kill -1, devices, the clock, inherited descriptors, the sandbox's
//! own kernel counters and locks, the supervisor, and read-only host mounts.

use super::*;

// Rows 9, 10, 14, 15, 16, 22: the system calls the allowlist refuses.
#[tokio::test]
async fn r09_r10_r14_r15_r16_r22_dangerous_syscalls_fail_with_eperm() {
    let Some(j) = Jail::new("r09", 0).await else {
        return;
    };
    let out = py(&j, r#"
calls = {
  'ptrace_attach': (101, 16, 1, 0, 0), 'process_vm_readv': (310, 1, 0, 1, 0, 1, 0),
  'mount': (165, 0, 0, 0, 0, 0), 'umount2': (166, 0, 0), 'pivot_root': (155, 0, 0),
  'unshare_user': (272, 0x10000000), 'unshare_ns': (272, 0x00020000), 'setns': (308, 0, 0),
  'clone_newuser': (56, 0x10000000 | 17, 0, 0, 0, 0), 'clone_newns': (56, 0x00020000 | 17, 0, 0, 0, 0),
  'chroot': (161, 0), 'add_key': (248, 0, 0, 0, 0, 0), 'keyctl': (250, 0, 0, 0, 0, 0),
  'request_key': (249, 0, 0, 0, 0), 'io_uring_setup': (425, 8, 0), 'io_uring_enter': (426, 0, 0, 0, 0, 0, 0),
  'io_uring_register': (427, 0, 0, 0, 0), 'bpf': (321, 0, 0, 0), 'perf_event_open': (298, 0, 0, -1, -1, 0),
  'userfaultfd': (323, 0), 'kexec_load': (246, 0, 0, 0, 0), 'init_module': (175, 0, 0, 0),
  'settimeofday': (164, 0, 0), 'adjtimex': (159, 0), 'clock_settime': (227, 0, 0),
  'clock_adjtime': (305, 0, 0), 'mknod': (133, 0, 0, 0), 'personality': (135, 0xffffffff),
  'x32_getpid': (0x40000000 | 39,),
}
res = {}
for name, (nr, *args) in calls.items():
    res[name] = sys_(nr, *args)
print(json_ := __import__('json').dumps(res))
"#).await;
    let res: std::collections::BTreeMap<String, i64> = serde_json::from_str(&out).unwrap();
    for (name, r) in &res {
        assert_eq!(*r, -1, "{name} returned {r} (wanted -EPERM): {out}");
    }
    j.finish().await;
}

// Row 11.
#[tokio::test]
async fn r11_raw_and_packet_sockets_are_refused() {
    let Some(j) = Jail::new("r11", 0).await else {
        return;
    };
    let out = py(&j, r#"
import socket
res = []
for fam, typ, proto in [(17, socket.SOCK_RAW, 0x0300), (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                        (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), (16, socket.SOCK_RAW, 0)]:
    try: socket.socket(fam, typ, proto); res.append('opened')
    except OSError as e: res.append(e.errno)
print(res)
"#).await;
    assert_eq!(out, "[1, 1, 1, 1]");
    j.finish().await;
}

// Row 12.
#[tokio::test]
async fn r12_proc_and_sys_leak_nothing_and_refuse_writes() {
    let Some(j) = Jail::new("r12", 0).await else {
        return;
    };
    let out = py(
        &j,
        r#"
res = []
for p in ['/proc/kallsyms', '/proc/kcore', '/proc/sysrq-trigger', '/proc/sys/kernel/hostname',
          '/sys/fs/cgroup/cgroup.procs', '/sys/kernel/notes', '/proc/1/root/etc/shadow']:
    try: open(p, 'w').write('x'); res.append('wrote ' + p)
    except OSError as e: res.append(e.errno)
mi = open('/proc/self/mountinfo').read()
res.append('host paths' if ('/run/ain-sre' in mi or 'process_api' in mi) else 'clean')
res.append(open('/proc/self/cgroup').read().strip())
print(res)
"#,
    )
    .await;
    assert!(!out.contains("wrote"), "{out}");
    assert!(out.contains("'clean'"), "{out}");
    assert!(
        out.ends_with("'0::/']") || !out.contains("ain-sre"),
        "cgroup paths hidden: {out}"
    );
    j.finish().await;
}

// Row 13.
#[tokio::test]
async fn r13_no_privilege_can_be_gained() {
    let Some(j) = Jail::new("r13", 0).await else {
        return;
    };
    let out = py(&j, r#"
st = dict(l.split(':\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
res = [st['CapEff'].strip(), st['CapPrm'].strip(), st['CapBnd'].strip(), st['CapAmb'].strip(), st['NoNewPrivs'].strip(), os.getuid()]
for f in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.chown('/tmp', 0, 0)):
    try: f(); res.append('gained')
    except OSError as e: res.append(e.errno)
print(res)
"#).await;
    assert_eq!(
        out,
        "['0000000000000000', '0000000000000000', '0000000000000000', '0000000000000000', '1', 1000, 1, 1, 1]"
    );
    j.finish().await;
}

// Row 17.
#[tokio::test]
async fn r17_tiocsti_is_refused_and_there_is_no_terminal() {
    let Some(j) = Jail::new("r17", 0).await else {
        return;
    };
    let out = py(
        &j,
        r#"
import fcntl
res = []
for fd in (0, 1, 2):
    try: fcntl.ioctl(fd, 0x5412, b'x'); res.append('injected')
    except OSError as e: res.append(e.errno)
try: os.open('/dev/tty', os.O_RDWR); res.append('tty')
except OSError as e: res.append(e.errno)
res.append(os.getsid(0) == os.getpid())
print(res)
"#,
    )
    .await;
    assert_eq!(out, "[1, 1, 1, 2, True]");
    j.finish().await;
}

// Row 18.
#[tokio::test]
async fn r18_kill_minus_one_hits_only_the_sandbox() {
    let Some(j) = Jail::new("r18", 0).await else {
        return;
    };
    let mut victim = std::process::Command::new("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let out = py(&j, &format!("try: os.kill(-1, 9)\nexcept OSError: pass\ntry: os.kill({}, 9); print('killed')\nexcept OSError as e: print(e.errno)\n", victim.id())).await;
    assert_eq!(out, "3"); // ESRCH: not visible
    assert!(
        victim.try_wait().unwrap().is_none(),
        "a host process was killed"
    );
    victim.kill().unwrap();
    let _ = victim.wait();
    j.finish().await;
}

// Row 21.
#[tokio::test]
async fn r21_only_four_harmless_devices() {
    let Some(j) = Jail::new("r21", 0).await else {
        return;
    };
    let out = py(
        &j,
        r#"
res = [sorted(os.listdir('/dev'))]
for p in ['/dev/kvm', '/dev/mem', '/dev/sda', '/dev/vda', '/dev/net/tun', '/dev/shm']:
    res.append(os.path.exists(p))
res.append(len(open('/dev/urandom', 'rb').read(8)))
open('/dev/null', 'w').write('x')
print(res)
"#,
    )
    .await;
    assert_eq!(
        out,
        "[['full', 'null', 'urandom', 'zero'], False, False, False, False, False, False, 8]"
    );
    j.finish().await;
}

// Row 22 (also covered by the syscall test): the call's deadline does not depend on guest clocks.
#[tokio::test]
async fn r22_clock_cannot_be_set() {
    let Some(j) = Jail::new("r22", 0).await else {
        return;
    };
    let out = py(&j, "import time\ntry: time.clock_settime(time.CLOCK_REALTIME, 0); print('set')\nexcept OSError as e: print(e.errno)\n").await;
    assert_eq!(out, "1");
    j.finish().await;
}

// runc CVE-2024-21626 class: no descriptor of the daemon or the helper reaches the guest.
#[tokio::test]
async fn only_stdio_descriptors_are_inherited() {
    let Some(j) = Jail::new("fds", 0).await else {
        return;
    };
    let out = py(
        &j,
        "print(sorted(int(f) for f in os.listdir('/proc/self/fd')))",
    )
    .await;
    // 0-2 and the directory listing itself.
    assert_eq!(out, "[0, 1, 2, 3]");
    j.finish().await;
}

// Row 26 (and issue 14 item 10): per-user kernel counters. inotify is refused outright (an
// instance is a per-uid counter, and a watch on a bound runtime file - a host inode - would see
// other sandboxes open it); queued real-time signals stop at the sandbox's RLIMIT_SIGPENDING;
// and while the guest holds all it could queue, host root can still create a POSIX timer
// (which needs a signal-queue entry charged to its own uid).
#[tokio::test]
async fn r26_kernel_counters_are_the_sandboxs_own() {
    let Some(j) = Jail::new("r26", 0).await else {
        return;
    };
    let hoard = r#"
import signal, time
res = [sys_(253), libc.inotify_init1(0) if libc.inotify_init1(0) >= 0 else -ctypes.get_errno()]
sig = signal.SIGRTMIN
signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
n = 0
while n < 200000 and libc.sigqueue(os.getpid(), sig, ctypes.c_void_p(0)) == 0:
    n += 1
res += [n, ctypes.get_errno()]
libc.prctl(15, b'hoarder', 0, 0, 0)
time.sleep(2)
print(res)
"#;
    let lo = j.uid_base + 1;
    let hi = j.uid_base + 200;
    let watch = async {
        for _ in 0..1000 {
            let hoarding = process_common::guest_pids(lo, hi)
                .iter()
                .any(|(_, name)| name.ends_with("hoarder"));
            if hoarding {
                use nix::sys::signal::{SigEvent, SigevNotify};
                use nix::sys::timer::Timer;
                use nix::time::ClockId;
                return Some(
                    Timer::new(
                        ClockId::CLOCK_MONOTONIC,
                        SigEvent::new(SigevNotify::SigevNone),
                    )
                    .map(drop),
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    };
    let (out, host) = tokio::join!(py(&j, hoard), watch);
    // inotify_init and inotify_init1: EPERM; 64 signals queued, then EAGAIN.
    assert_eq!(out, "[-1, -1, 64, 11]");
    let host = host.expect("the guest never reported that it held its signals");
    assert!(
        host.is_ok(),
        "host root could not create a timer while the guest held its signals: {host:?}"
    );
    j.finish().await;
}

// Issue 14 item 13: a guest may flock(2) a file of a read-only bind - flock needs only a
// readable descriptor, programs lock their own scratch files with it, and a seccomp rule cannot
// tell a bound file's descriptor from a scratch file's, so it stays allowed - but the lock is advisory (reading, executing and mapping the file are unaffected)
// and lasts no longer than the call: every guest process is dead when the call ends. A write
// lock (fcntl F_WRLCK) needs a writable descriptor, which a read-only bind never gives.
#[tokio::test]
async fn r26_flock_on_a_bound_file_ends_with_the_call() {
    let Some(j) = Jail::new("flock", 0).await else {
        return;
    };
    let target = "/usr/bin/python3";
    let body = format!(
        r#"
import fcntl, struct
f = open({target:?}, 'rb')
fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
try:
    fcntl.fcntl(f, fcntl.F_SETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0)); w = 'locked'
except OSError as e:
    w = e.errno
print(['flocked', w])
"#
    );
    // EBADF: no write lock through a read-only descriptor.
    assert_eq!(py(&j, &body).await, "['flocked', 9]");
    // The call is over, so its lock is gone: the host takes it without waiting.
    let st = std::process::Command::new("flock")
        .args(["-n", "-x", target, "true"])
        .status()
        .expect("flock(1)");
    assert!(st.success(), "the guest's lock outlived the call");
    j.finish().await;
}

// Row 28 on the process tier: nothing of the guest's supervisors is reachable. The stem cell
// *becomes* the guest (pid 1 of the sandbox's pid namespace, by execve), and the keeper that
// reports its exit lives outside that namespace: the guest's /proc lists only its own
// processes, it has no parent, and the keeper (host uid `uid_base`, non-dumpable since it
// dropped host root) is neither visible nor nameable.
#[tokio::test]
async fn r28_the_supervisor_is_out_of_reach() {
    let Some(j) = Jail::new("r28", 0).await else {
        return;
    };
    let guest = r#"
import time
child = os.fork()
if child == 0:
    time.sleep(5); os._exit(0)
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
res = [pids == sorted([os.getpid(), child]), os.getpid(), os.getppid()]
libc.prctl(15, b'r28guest', 0, 0, 0)
time.sleep(1)
print(res)
"#;
    // From the host, while the guest waits: its parent is the keeper, which runs as the slot's
    // set-up uid (not the guest's, not root) and is non-dumpable (its /proc files are root's),
    // so even a process of its own uid could not read its memory, maps or environment.
    let keeper = async {
        for _ in 0..500 {
            let found = process_common::guest_pids(j.uid_base + 1, j.uid_base + 200)
                .into_iter()
                .find(|(_, name)| name.ends_with("r28guest"));
            if let Some((pid, _)) = found {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
                let field = |k: &str| -> u32 {
                    let line = status.lines().find_map(|l| l.strip_prefix(k)).unwrap();
                    line.split_whitespace().next().unwrap().parse().unwrap()
                };
                let (guest_uid, keeper) = (field("Uid:"), field("PPid:"));
                let kstatus = std::fs::read_to_string(format!("/proc/{keeper}/status")).unwrap();
                let kuid: u32 = kstatus
                    .lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().next()?.parse().ok())
                    .unwrap();
                use std::os::unix::fs::MetadataExt;
                let owner = std::fs::metadata(format!("/proc/{keeper}/environ"))
                    .unwrap()
                    .uid();
                return Some((guest_uid, kuid, owner));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    };
    let (out, keeper) = tokio::join!(py(&j, guest), keeper);
    // Only its own two processes, it is pid 1, it has no parent.
    assert_eq!(out, "[True, 1, 0]");
    let (guest_uid, keeper_uid, owner) = keeper.expect("the guest was never seen");
    assert_eq!(
        keeper_uid + 1,
        guest_uid,
        "the keeper is the slot's set-up uid"
    );
    assert_ne!(keeper_uid, 0, "the keeper must not be host root");
    assert_eq!(
        owner, 0,
        "the keeper is dumpable: its /proc files are its uid's"
    );
    j.finish().await;
}

// Row 30 (issue 14 item 7): a host mount below a bound directory is as read-only as the bind.
// The runtime binds a host directory that has a tmpfs (mode 1777, so only the mount flags can
// refuse the write) mounted below it; the guest can read the planted file and write nothing.
#[tokio::test]
async fn r30_host_mounts_below_a_bind_are_read_only_too() {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    if !nix::unistd::geteuid().is_root() {
        common::skip_or_fail("r30", "needs root to mount");
        return;
    }
    let bound = std::path::Path::new("/run/ain-sre-test/r30-bound");
    let sub = bound.join("sub");
    let _ = umount2(&sub, MntFlags::MNT_DETACH);
    std::fs::create_dir_all(&sub).unwrap();
    mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=64k,mode=1777"),
    )
    .unwrap();
    std::fs::write(sub.join("planted"), "x").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/runtimes/python3.toml"
    ))
    .unwrap();
    let toml = shipped.replacen("binds = [", &format!("binds = [{bound:?}, "), 1);
    assert_ne!(toml, shipped, "the python3 runtime has no binds line");
    std::fs::write(dir.path().join("python3.toml"), toml).unwrap();
    let catalog = RuntimeCatalog::load(Some(dir.path())).unwrap();
    let Some(j) = Jail::with_runtimes("r30", 0, Some(catalog)).await else {
        let _ = umount2(&sub, MntFlags::MNT_DETACH);
        return;
    };
    let body = format!(
        r#"
d = {sub:?}
res = [open(d + '/planted').read()]
for p in [d + '/written', {bound:?} + '/written']:
    try: open(p, 'w').write('x'); res.append('wrote')
    except OSError as e: res.append(e.errno)
print(res)
"#,
        bound = bound.to_str().unwrap(),
        sub = sub.to_str().unwrap()
    );
    let out = py(&j, &body).await;
    let left: Vec<_> = std::fs::read_dir(&sub)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    umount2(&sub, MntFlags::MNT_DETACH).unwrap();
    let _ = std::fs::remove_dir_all(bound);
    // EROFS below the bind as at its top, and nothing but the planted file on the host.
    assert_eq!(out, "['x', 30, 30]");
    assert_eq!(left, ["planted"]);
    j.finish().await;
}
