//! The abuse suite's isolation rows (SECURITY.md): a guest uid per container, denied syscalls
//! (raw sockets, mount, keyring, ptrace, process_vm_readv), no devices, no residue between calls, and
//! no takeover of the next call by a reused container.

use super::*;

/// Abuse row 26 (SECURITY.md): the kernel counts queued signals and processes per host uid, and
/// containers have no user namespace, so each container's guest runs as a uid (and gid) of its
/// own from the configured range; so does a bring-your-own image's entrypoint, whatever its
/// `USER`. `ain-sre conformance --check 26` shows the consequence: a second container queues its
/// own signals while the first holds all it can.
#[tokio::test]
async fn every_container_has_a_guest_uid_of_its_own() {
    let test = "ct_guest_uids";
    let range = GuestIds {
        base: 4_300_000,
        count: 1000,
    };
    let Some(sb) = tier_with(test, 1, |c| c.guest_ids = range).await else {
        return;
    };
    let in_range = |u: u32| (range.base..range.base + range.count).contains(&u);
    let ids = |s: &str| -> Vec<u32> {
        s.split_whitespace()
            .map(|x| x.parse().unwrap_or_else(|_| panic!("{s}")))
            .collect()
    };
    // Three calls at once (one from the pool, two cold), each holding its container a moment.
    let code = "import os, time\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), \
                *os.getgroups())\ntime.sleep(0.5)";
    let (a, b, c) = tokio::join!(
        py(&sb, code, limits()),
        py(&sb, code, limits()),
        py(&sb, code, limits())
    );
    let mut uids = std::collections::BTreeSet::new();
    for o in [a, b, c] {
        let s = stdout_str(&o);
        let v = ids(&s);
        assert!(
            v.len() == 4 && v.iter().all(|&i| i == v[0]) && in_range(v[0]),
            "uid, euid, gid, egid (one number of the range) and no groups: {s}"
        );
        uids.insert(v[0]);
    }
    assert_eq!(
        uids.len(),
        3,
        "three containers, three guest uids: {uids:?}"
    );
    // A bring-your-own image runs as the container's guest uid, not as its own `USER`.
    build_image(
        &sb.engine().docker,
        "ain-sre-test/uid:1",
        vec![
            "USER 0:0".into(),
            format!("LABEL {ALLOW_LABEL}"),
            r#"ENTRYPOINT ["/usr/bin/bash", "-c", "echo $UID $EUID"]"#.into(),
        ],
    )
    .await;
    let s = stdout_str(&run(&sb, "image", "ain-sre-test/uid:1", b"", limits()).await);
    let v = ids(&s);
    assert!(
        v.len() == 2 && v[0] == v[1] && in_range(v[0]) && !uids.contains(&v[0]),
        "{s}"
    );
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_raw_sockets_mount_keyring_are_denied() {
    let test = "ct_syscalls";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let code = r#"
import socket, ctypes, os
got = []
for fam, typ, proto in [(socket.AF_PACKET, socket.SOCK_RAW, 0x0300), (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                        (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)]:
    try:
        socket.socket(fam, typ, proto); got.append('raw socket %d/%d' % (fam, typ))
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None) == 0: got.append('mount')
if libc.unshare(0x10000000) == 0: got.append('unshare userns')
if libc.unshare(0x00020000) == 0: got.append('unshare mntns')
# add_key(2) = 248, keyctl(2) = 250 on x86_64: keyrings are not namespaced.
if libc.syscall(248, b'user', b'ain-sre-test', b'secret', 6, -3) >= 0: got.append('add_key')
if libc.syscall(250, 0, -3, 0) >= 0: got.append('keyctl')
print(got)
"#;
    let out = py(&sb, code, limits()).await;
    assert_eq!(stdout_str(&out).trim(), "[]");
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_ptrace_and_process_vm_readv_are_denied() {
    // Row 9: the stem cell (pid 1, the guest's parent) runs as the guest's user. Attaching to it
    // or reading its memory would reveal the call's nonce and let the guest forge the stem
    // cell's report. Every door must be shut: ptrace (attach, seize), process_vm_readv and
    // /proc/<pid>/mem, on pid 1, the parent and any other process in the container.
    let test = "ct_ptrace";
    let Some(sb) = tier(test, 1).await else {
        return;
    };
    let code = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.process_vm_readv.restype = ctypes.c_ssize_t
libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.POINTER(iovec), ctypes.c_ulong,
                                  ctypes.POINTER(iovec), ctypes.c_ulong, ctypes.c_ulong]
def readable(pid):
    try:
        for l in open('/proc/%d/maps' % pid):
            f = l.split()
            if f[1].startswith('r'):
                return int(f[0].split('-')[0], 16)
    except OSError:
        pass
    return 0x400000
def err(e):
    return errno.errorcode.get(e, str(e))
me = os.getpid()
pids = {1, os.getppid()} | {int(p) for p in os.listdir('/proc') if p.isdigit()}
targets = sorted(pids - {0, me})
got = []
for pid in targets:
    for name, req in (('attach', 16), ('seize', 0x4206)):
        r = libc.ptrace(req, pid, None, None); e = ctypes.get_errno()
        if r == 0:
            libc.ptrace(17, pid, None, None)
        got.append('%s %d %s' % (name, pid, 'ok' if r == 0 else err(e)))
    buf = ctypes.create_string_buffer(64)
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
    remote = iovec(readable(pid), 64)
    r = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    got.append('readv %d %s' % (pid, 'ok' if r >= 0 else err(ctypes.get_errno())))
    try:
        with open('/proc/%d/mem' % pid, 'rb') as f:
            f.seek(readable(pid)); d = f.read(16)
        got.append('mem %d %s' % (pid, 'ok' if d else 'empty'))
    except OSError as e:
        got.append('mem %d %s' % (pid, err(e.errno)))
print(os.getppid(), targets)
print('\n'.join(got))
"#;
    let out = py(&sb, code, limits()).await;
    let text = stdout_str(&out);
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    assert!(
        head.starts_with("1 [1"),
        "the guest's parent is the stem cell, pid 1: {text}"
    );
    let mut pid1 = 0;
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (what, pid, res) = (f[0], f[1], f[2]);
        pid1 += usize::from(pid == "1");
        let denied = match what {
            "mem" if pid == "1" => res == "empty",
            "mem" => res != "ok",
            _ => res == "EPERM",
        };
        assert!(denied, "{l} (all: {text})");
    }
    assert_eq!(pid1, 4, "every attack was tried on pid 1: {text}");
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_devices_are_not_present() {
    let test = "ct_devices";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let code = r#"
import os
bad = []
for d in ['/dev/kvm', '/dev/mem', '/dev/kmem', '/dev/port', '/dev/sda', '/dev/vda', '/dev/net/tun', '/dev/fuse']:
    try:
        open(d, 'rb').close(); bad.append(d)
    except OSError:
        pass
print(bad)
"#;
    let out = py(&sb, code, limits()).await;
    assert_eq!(stdout_str(&out).trim(), "[]");
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_residue_between_calls_is_never_seen() {
    let test = "ct_residue";
    let Some(sb) = tier(test, 1).await else {
        return;
    };
    let l = limits();
    let code = r#"
import os, glob
found = glob.glob('/tmp/*') + glob.glob('/dev/shm/*') + [p for p in glob.glob('/sre/*') if not p.endswith('main.py')]
for p in ['/tmp/left', '/dev/shm/left', '/sre/left']:
    try:
        open(p, 'w').write('x')
    except OSError:
        pass
print(found)
"#;
    for _ in 0..3 {
        let out = py(&sb, code, l.clone()).await;
        assert_eq!(stdout_str(&out).trim(), "[]");
    }
    finish(sb, test).await;
}

const TAKEOVER: &str = r#"
import os, sys
what = sys.stdin.read()
if what == 'attack':
    # A frame the stem cell would run after this call: its output would answer the next call.
    forged = "print('FORGED')\n"
    frame = 'SRE1 0000 0 %d 0 1\n%s' % (len(forged), forged)
    try:
        fd = os.open('/proc/1/fd/0', os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, frame.encode())
        print('forged')
    except OSError as e:
        print('stdin refused')
    for f in ['maps', 'syscall', 'environ']:
        try:
            print(f, len(open('/proc/1/' + f, 'rb').read()))
        except OSError:
            print(f, 'refused')
else:
    print('real', what)
"#;

#[tokio::test]
async fn reuse_a_call_cannot_take_over_the_next_one() {
    // Row 28: with same-function reuse, a guest that could write to the stem cell's stdin would
    // queue a frame of its own, and the stem cell would answer the next real call with it.
    let test = "ct_takeover";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let reuse = Limits {
        reuse: Some(Reuse {
            max_calls: 3,
            idle: Duration::from_secs(30),
        }),
        ..limits()
    };
    let out = py_input(&sb, TAKEOVER, b"attack", reuse.clone()).await;
    let text = stdout_str(&out);
    assert!(text.contains("stdin refused"), "{text}");
    for f in ["maps", "syscall", "environ"] {
        assert!(
            text.contains(&format!("{f} refused")) || text.contains(&format!("{f} 0")),
            "{f} readable: {text}"
        );
    }
    assert_eq!(
        sb.reuse_parked(),
        1,
        "the container waits for the next call"
    );
    let out = py_input(&sb, TAKEOVER, b"hello", reuse.clone()).await;
    assert_eq!(stdout_str(&out), "real hello\n");
    let u = out.usage();
    assert!(u.cpu_us > 0 && u.mem_peak_kb > 0, "{u:?}");
    assert_eq!(sb.reuse_parked(), 1, "the same container served it");
    finish(sb, test).await;
}
