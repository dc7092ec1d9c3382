//! The abuse suite's resource rows (SECURITY.md): fork and memory bombs, CPU burn, sleeping past
//! the deadline, survivors, disk fill, huge output, egress, host secrets.

use super::*;

#[tokio::test]
async fn abuse_fork_bomb_hits_the_pids_limit_and_dies_at_the_deadline() {
    let test = "ct_fork_bomb";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let l = Limits {
        wall_time: Duration::from_secs(4),
        pids: 16,
        ..limits()
    };
    let code = "import os\nn=0\nwhile True:\n    try:\n        os.fork(); n+=1\n    except OSError:\n        pass\n";
    let t = Instant::now();
    let out = py(&sb, code, l).await;
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    assert_ne!(out.status(), "ok", "{out:?}");
    // The host still answers at once.
    let t = Instant::now();
    let out = py(&sb, "print('alive')", limits()).await;
    assert_eq!(stdout_str(&out).trim(), "alive");
    assert!(t.elapsed() < Duration::from_secs(5));
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_memory_bomb_is_oom() {
    let test = "ct_memory_bomb";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let l = Limits {
        memory_bytes: 64 << 20,
        ..limits()
    };
    let out = py(&sb, "x = b'a' * (512 << 20)\nprint(len(x))", l.clone()).await;
    assert_eq!(out.status(), "oom", "{out:?}");
    // A tmpfs fill counts against the same memory limit.
    let l2 = Limits {
        memory_bytes: 32 << 20,
        tmpfs_bytes: 256 << 20,
        ..l
    };
    let out = py(
        &sb,
        "f=open('/tmp/big','wb')\nwhile True: f.write(b'a'*(1<<20))",
        l2,
    )
    .await;
    assert_ne!(out.status(), "ok", "{out:?}");
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_cpu_burn_is_killed_at_the_deadline_and_removed() {
    let test = "ct_cpu_burn";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let l = Limits {
        wall_time: Duration::from_secs(2),
        cpu_time: Duration::from_secs(1),
        ..limits()
    };
    let t = Instant::now();
    let out = py(&sb, "while True: pass", l).await;
    let took = t.elapsed();
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
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_all_gone(test).await;
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_sleep_past_deadline_is_timeout() {
    let test = "ct_sleep";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let l = Limits {
        wall_time: Duration::from_secs(2),
        ..limits()
    };
    let out = py(&sb, "import time\ntime.sleep(60)", l).await;
    assert_eq!(out.status(), "timeout", "{out:?}");
    finish(sb, test).await;
}

#[tokio::test]
async fn a_guest_killed_by_a_signal_leaves_only_its_own_stderr() {
    // The stem cell is a bash script: bash reports a foreground job killed by a signal ("line
    // 74: 9 Segmentation fault | /usr/bin/setpriv ...") on its stderr, which is the container's.
    let test = "ct_signal";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let code = "import os,signal,sys\nprint('hi', flush=True)\nsys.stderr.write('mine\\n'); sys.stderr.flush()\nos.kill(os.getpid(), signal.SIGSEGV)";
    let out = py(&sb, code, limits()).await;
    assert_eq!(out.status(), "error", "{out:?}");
    let tail = match &out {
        Outcome::Completed { stderr_tail, .. } | Outcome::Failed { stderr_tail, .. } => {
            String::from_utf8_lossy(stderr_tail).into_owned()
        }
    };
    assert_eq!(tail, "mine\n", "no stem-cell internals in the stderr tail");
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_survivors_nothing_runs_after_the_call() {
    let test = "ct_survivors";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    // Double fork + setsid: a daemon that tries to outlive the call.
    let code = "import os,time,sys\nif os.fork()==0:\n    os.setsid()\n    if os.fork()==0:\n        os.close(1); os.close(2)\n        time.sleep(1000)\n    os._exit(0)\nprint('parent done')";
    let out = py(&sb, code, limits()).await;
    assert_eq!(stdout_str(&out).trim(), "parent done");
    // The container (and with it every process of the call) is gone shortly after.
    assert_all_gone(test).await;
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_disk_fill_stops_at_the_tmpfs_cap_and_root_is_read_only() {
    let test = "ct_disk_fill";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let l = Limits {
        tmpfs_bytes: 1 << 20,
        memory_bytes: 128 << 20,
        ..limits()
    };
    let code = r#"
import os, errno
n = 0
try:
    with open('/tmp/fill', 'wb') as f:
        while True:
            f.write(b'a' * 4096); f.flush(); n += 4096
except OSError as e:
    assert e.errno == errno.ENOSPC, e
files = 0
try:
    while True:
        open('/tmp/f%d' % files, 'w').close(); files += 1
except OSError:
    pass
ro = []
for p in ['/x', '/usr/x', '/etc/x', '/sre/../x']:
    try:
        open(p, 'w'); ro.append('writable:' + p)
    except OSError:
        pass
print(n, files < 100000, ro)
"#;
    let out = py(&sb, code, l).await;
    let s = stdout_str(&out);
    let mut it = s.split_whitespace();
    let n: u64 = it.next().unwrap().parse().unwrap();
    assert!(n <= 1 << 20, "wrote {n} bytes into a 1 MiB tmpfs");
    assert_eq!(it.next(), Some("True"), "{s}");
    assert!(s.trim_end().ends_with("[]"), "{s}");

    // No writable scratch space at all when the profile grants none.
    let l0 = Limits {
        tmpfs_bytes: 0,
        ..limits()
    };
    let out = py(
        &sb,
        "try:\n    open('/tmp/x','w'); print('writable')\nexcept OSError: print('denied')",
        l0,
    )
    .await;
    assert_eq!(stdout_str(&out).trim(), "denied");
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_huge_output_is_capped_and_stops_the_guest() {
    let test = "ct_huge_output";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let l = Limits {
        output_bytes: 1000,
        stderr_bytes: 100,
        ..limits()
    };
    let t = Instant::now();
    let out = py(
        &sb,
        "import sys\nsys.stderr.write('e'*100000)\nwhile True: sys.stdout.write('x'*65536)",
        l,
    )
    .await;
    match &out {
        Outcome::Failed {
            failure: Failure::OutputTooLarge,
            stderr_tail,
            ..
        } => assert!(stderr_tail.len() <= 100),
        other => panic!("expected output_too_large, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(8));
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_egress_every_destination_fails() {
    let test = "ct_egress";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let code = r#"
import socket
res = []
for host, port in [('127.0.0.1', 8081), ('127.0.0.1', 2375), ('10.0.0.1', 80), ('172.17.0.1', 2375),
                   ('169.254.169.254', 80), ('8.8.8.8', 53), ('::1', 80)]:
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    try:
        # The shared seccomp policy already refuses non-Unix sockets; either way, no connection.
        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(2)
        s.connect((host, port)); res.append('CONNECTED:%s' % host)
    except OSError:
        pass
try:
    socket.getaddrinfo('example.com', 80); res.append('DNS')
except OSError:
    pass
ifaces = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]
print(res, ifaces)
"#;
    let out = py(&sb, code, limits()).await;
    assert_eq!(stdout_str(&out).trim(), "[] ['lo']");
    finish(sb, test).await;
}

#[tokio::test]
async fn abuse_host_secrets_are_not_visible() {
    let test = "ct_secrets";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let code = r#"
import os
seen = [p for p in ['/etc/shadow', '/var/run/docker.sock', '/run/docker.sock', '/root', '/home',
                    '/work', '/var/cache/ain-sre', '/etc/ssh', '/root/.docker/config.json']
        if os.path.exists(p)]
env = sorted(os.environ)
pid1 = open('/proc/1/environ', 'rb').read()
print(seen, env, b'AIN_SRE_PRIVATE_KEY' in pid1, b'/root' in pid1, os.getuid() >= 4000000)
"#;
    let out = py(&sb, code, limits()).await;
    assert_eq!(
        stdout_str(&out).trim(),
        "[] ['SRE_CALL_ID', 'SRE_FUNCTION'] False False True"
    );
    finish(sb, test).await;
}
