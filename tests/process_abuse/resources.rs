//! Resource rows (1–8, 19–20): bombs, CPU burn, survivors, disk and inode fill, huge output, no
//! network, no host secrets, nothing between calls, outputs only through pipes.

use super::*;

// Row 1.
#[tokio::test]
async fn r01_fork_and_thread_bombs_stop_at_the_pids_limit() {
    let Some(j) = Jail::new("r01", 0).await else {
        return;
    };
    let limits = Limits {
        pids: 16,
        wall_time: Duration::from_secs(2),
        ..Limits::default()
    };
    let t = Instant::now();
    let out = j.py("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", limits.clone()).await;
    assert_eq!(out.status(), "timeout", "{out:?}");
    assert!(t.elapsed() < Duration::from_secs(6));
    let out = j
        .py("import threading, time\nn = 0\ntry:\n    while True:\n        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n        n += 1\nexcept RuntimeError:\n    pass\nprint(n, flush=True)\nimport os\nos._exit(0)\n", limits)
        .await;
    let n: u32 = text_of(&out).parse().unwrap();
    assert!(n < 16, "started {n} threads");
    j.finish().await;
}

// Row 2.
#[tokio::test]
async fn r02_memory_bombs_are_oom_killed_in_their_cgroup() {
    let Some(j) = Jail::new("r02", 0).await else {
        return;
    };
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..quick()
    };
    let out = j
        .py(
            "x = []\nwhile True:\n    x.append(bytearray(1 << 20))\n",
            limits.clone(),
        )
        .await;
    assert!(
        matches!(
            out,
            Outcome::Failed {
                failure: Failure::Oom,
                ..
            }
        ),
        "{out:?}"
    );
    // tmpfs fill beyond the memory limit: stopped by the tmpfs size first.
    let limits_big_tmp = Limits {
        memory_bytes: 64 << 20,
        tmpfs_bytes: 32 << 20,
        ..quick()
    };
    let out = j
        .py("try:\n    with open('/tmp/f', 'wb') as f:\n        while True: f.write(b'x' * (1 << 20)); f.flush()\nexcept OSError as e:\n    print(e.errno)\n", limits_big_tmp)
        .await;
    assert!(["28", "27"].contains(&text_of(&out).as_str()), "{out:?}"); // ENOSPC or EFBIG
    // A huge mapping that is never touched costs nothing and harms nobody.
    let out = j.py("import mmap\nm = mmap.mmap(-1, 64 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)\nprint('mapped')\n", limits).await;
    assert!(out.status() == "ok" || out.status() == "error", "{out:?}");
    j.finish().await;
}

// Row 3.
#[tokio::test]
async fn r03_cpu_burn_is_killed_at_the_wall_deadline() {
    let Some(j) = Jail::new("r03", 0).await else {
        return;
    };
    let limits = Limits {
        wall_time: Duration::from_millis(800),
        ..Limits::default()
    };
    let t = Instant::now();
    let out = j.py("while True:\n    pass\n", limits).await;
    assert!(
        matches!(
            out,
            Outcome::Failed {
                failure: Failure::Timeout,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // One CPU at most, even with several burning threads.
    let u = out.usage();
    assert!(u.cpu_us <= u.wall_us + 100_000, "{u:?}");
    j.finish().await;
}

// Row 4.
#[tokio::test]
async fn r04_nothing_outlives_the_call() {
    let Some(j) = Jail::new("r04", 0).await else {
        return;
    };
    // Sleeping past the deadline.
    let limits = Limits {
        wall_time: Duration::from_millis(500),
        ..Limits::default()
    };
    let out = j.py("import time\ntime.sleep(100)\n", limits.clone()).await;
    assert_eq!(out.status(), "timeout");
    // Double fork + setsid daemon; the parent returns at once.
    let out = j
        .py("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(1000)\n    os._exit(0)\nprint('parent done')\n", quick())
        .await;
    assert_eq!(text_of(&out), "parent done");
    // A stopped child, and an orphan busy loop.
    let out = j
        .py("import os, signal\nif os.fork() == 0:\n    os.kill(os.getpid(), signal.SIGSTOP)\nif os.fork() == 0:\n    while True: pass\nprint('bye')\n", quick())
        .await;
    assert_eq!(text_of(&out), "bye");
    // (Jail::run already asserted that no guest process is left after each call.)
    j.finish().await;
}

// Row 5.
#[tokio::test]
async fn r05_disk_and_inode_fill_stop_at_the_quota() {
    let Some(j) = Jail::new("r05", 0).await else {
        return;
    };
    let out = py(
        &j,
        r#"
res = []
try:
    with open('/tmp/big', 'wb') as f:
        while True: f.write(b'x' * 65536)
except OSError as e: res.append(e.errno)
os.unlink('/tmp/big')
try:
    with open('/tmp/sparse', 'wb') as f: f.seek(50 << 30); f.write(b'x')
except OSError as e: res.append(e.errno)
os.unlink('/tmp/sparse')
try:
    for i in range(10**6): open('/tmp/f%d' % i, 'w').close()
except OSError as e: res.append(e.errno)
for p in ['/big', '/usr/x', '/sre/x']:
    try: open(p, 'w')
    except OSError as e: res.append(e.errno)
print(res)
"#,
    )
    .await;
    // ENOSPC|EFBIG, EFBIG (sparse, RLIMIT_FSIZE), ENOSPC (inodes), EROFS x3
    let errnos: Vec<i32> = serde_json::from_str(&out).unwrap();
    assert_eq!(errnos.len(), 6, "{out}");
    assert!(
        [28, 27].contains(&errnos[0]) && errnos[1] == 27 && errnos[2] == 28,
        "{out}"
    );
    assert!(errnos[3..6].iter().all(|e| *e == 30), "{out}");
    j.finish().await;
}

// Row 6.
#[tokio::test]
async fn r06_huge_output_is_cut_at_the_cap_and_the_guest_stopped() {
    let Some(j) = Jail::new("r06", 0).await else {
        return;
    };
    let t = Instant::now();
    let out = j
        .py(
            "import sys\nwhile True:\n    sys.stdout.write('\\x1b[2J' + 'x' * 65536)\n",
            Limits {
                wall_time: Duration::from_secs(10),
                ..Limits::default()
            },
        )
        .await;
    assert!(
        matches!(
            out,
            Outcome::Failed {
                failure: Failure::OutputTooLarge,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    j.finish().await;
}

// Row 7.
#[tokio::test]
async fn r07_no_network_egress_at_all() {
    let Some(j) = Jail::new("r07", 0).await else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let out = py(&j, &format!(r#"
import socket
res = []
for fam, addr in [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_INET, ('10.0.0.1', 80)),
                  (socket.AF_INET, ('169.254.169.254', 80)), (socket.AF_INET, ('127.0.0.1', 2375)),
                  (socket.AF_INET6, ('::1', {port})), (socket.AF_INET, ('8.8.8.8', 53))]:
    try:
        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(1); s.connect(addr); res.append('connected')
    except OSError as e: res.append(e.errno)
try:
    s = socket.socket(socket.AF_UNIX); s.connect('/var/run/docker.sock'); res.append('connected')
except OSError as e: res.append(e.errno)
print(res)
"#)).await;
    assert!(!out.contains("connected"), "{out}");
    assert!(listener.accept().is_err(), "the host listener was reached");
    j.finish().await;
}

// Row 8.
#[tokio::test]
async fn r08_host_secrets_are_not_visible() {
    let Some(j) = Jail::new("r08", 0).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("worker.key");
    std::fs::write(&key, "secret-key-material").unwrap();
    let me = std::process::id();
    let out = py(&j, &format!(r#"
res = []
for p in ['/etc/shadow', '{key}', '/proc/{me}/environ', '/proc/{me}/mem', '/root/.docker/config.json',
          '/var/run/docker.sock', '/run/ain-sre', '/home']:
    try: open(p, 'rb').read(16); res.append('read ' + p)
    except OSError as e: res.append(e.errno)
env = open('/proc/self/environ', 'rb').read()
res.append('leak' if b'never-visible' in env or b'HOME' in env else 'clean')
res.append(sorted(x for x in os.listdir('/proc') if x.isdigit()))
print(res)
"#, key = key.display())).await;
    assert!(!out.contains("read "), "{out}");
    assert!(out.contains("'clean'"), "{out}");
    assert!(
        out.ends_with("['1']]"),
        "only the guest itself is visible: {out}"
    );
    j.finish().await;
}

// Row 19.
#[tokio::test]
async fn r19_nothing_passes_between_calls() {
    let Some(j) = Jail::new("r19", 1).await else {
        return;
    };
    let plant = r#"
import socket
open('/tmp/residue', 'w').write('x')
s = socket.socket(socket.AF_UNIX); s.bind('\0ain-residue'); s.listen()
print(libc.shmget(0x5eed, 4096, 0o1000 | 0o2000 | 0o600) >= 0)
if os.fork() == 0:
    import time; time.sleep(30)
"#;
    let check = r#"
import socket
res = [os.path.exists('/tmp/residue')]
s = socket.socket(socket.AF_UNIX)
try: s.bind('\0ain-residue'); res.append('free')
except OSError as e: res.append(e.errno)
res.append(libc.shmget(0x5eed, 4096, 0o1000 | 0o2000 | 0o600) >= 0)
print(res)
"#;
    assert_eq!(py(&j, plant).await, "True");
    assert_eq!(py(&j, check).await, "[False, 'free', True]");
    j.finish().await;
}

// Row 20.
#[tokio::test]
async fn r20_outputs_come_only_through_pipes() {
    let Some(j) = Jail::new("r20", 0).await else {
        return;
    };
    // Links and FIFOs the guest leaves behind are never looked at: only stdout bytes come back.
    let out = py(&j, "os.symlink('/etc/shadow', '/tmp/out')\ntry: os.mkfifo('/tmp/fifo')\nexcept OSError: pass\nprint('/tmp/out')\n").await;
    assert_eq!(out, "/tmp/out");
    j.finish().await;
}
