//! The container tier against hostile and well-behaved functions (SECURITY.md's abuse rows that
//! apply to containers, each passing when the attack fails), the shipped runtimes' examples in
//! their offline-built images, bring-your-own images, and leftover removal.
//!
//! Needs a Docker engine: without one every test skips loudly, or fails in strict mode (CI).
//! Missing runtime images are built first, from host files, as `ain-sre runtimes build` does.
//! Every test uses its own instance label and checks at the end that none of its containers is
//! left.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ain_sre::config::runtimes::RuntimeCatalog;
use ain_sre::sandbox::container::image::{self, BuildEvent};
use ain_sre::sandbox::container::spec::{LABEL, LABEL_HOST, LABEL_OWNER, LABEL_PROCESS};
use ain_sre::sandbox::container::{
    ContainerConfig, ContainerSandbox, Engine, GuestIds, ImagePolicy, ImageStatus, image_status,
};
use ain_sre::sandbox::{
    Failure, FunctionCode, Invocation, Limits, NetworkPolicy, Outcome, Reuse, Sandbox, SandboxError,
};

static IMAGES: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();

/// Builds any missing shipped runtime image (once per test binary).
async fn ensure_images(engine: &Engine) -> Result<(), String> {
    IMAGES
        .get_or_init(|| async {
            let cat = RuntimeCatalog::shipped().map_err(|e| e.to_string())?;
            for name in image::buildable() {
                let rt = cat.resolve(name).map_err(|e| e.to_string())?;
                let tag = rt.image.clone().unwrap_or_default();
                let status = image_status(&engine.docker, &tag)
                    .await
                    .map_err(|e| e.to_string())?;
                if status != ImageStatus::Ready {
                    image::build(&engine.docker, &rt, |_: BuildEvent| {})
                        .await
                        .map_err(|e| format!("building {tag}: {e}"))?;
                }
            }
            Ok(())
        })
        .await
        .clone()
}

/// The tier for one test (`instance` = the test's name, so its containers can be counted), or
/// `None` after a loud skip (a failure in strict mode) when Docker is missing.
async fn tier(test: &str, pool_size: usize) -> Option<ContainerSandbox> {
    tier_with(test, pool_size, |_| {}).await
}

/// [`tier`], with `adjust` applied to the configuration.
async fn tier_with(
    test: &str,
    pool_size: usize,
    adjust: impl FnOnce(&mut ContainerConfig),
) -> Option<ContainerSandbox> {
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            common::skip_or_fail(test, &format!("no Docker engine: {e}"));
            return None;
        }
    };
    ensure_images(&engine).await.expect("runtime images");
    let cfg = ContainerConfig {
        instance: test.to_owned(),
        pool_size,
        // The tests' own bring-your-own images, by name, and those labelled for the test.
        images: ImagePolicy {
            allow: vec![BYO_IMAGE.into(), VOLUME_IMAGE.into()],
            allow_label: Some(ALLOW_LABEL.into()),
        },
        ..ContainerConfig::default()
    };
    let mut cfg = cfg;
    adjust(&mut cfg);
    Some(ContainerSandbox::start(cfg).await.expect("container tier"))
}

/// The bring-your-own images the tests build and allow by name.
const BYO_IMAGE: &str = "ain-sre-test/byo:1";
const VOLUME_IMAGE: &str = "ain-sre-test/vol:1";
/// Held by the tests that create or count anonymous volumes: the volume list is host-wide, so a
/// test that checks nothing was left behind must not see another test's volume come and go.
static VOLUMES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Images carrying this label are allowed too.
const ALLOW_LABEL: &str = "io.ain-sre.test-function=yes";

/// Imports an image assembled from the bash runtime's files, with a `/data` directory anyone
/// may write to, and Dockerfile `changes`.
async fn build_image(docker: &bollard::Docker, name: &str, changes: Vec<String>) {
    let tar = tokio::task::spawn_blocking(|| {
        image::assemble(&image::recipe("bash").unwrap(), "byo", &|_| {})
            .and_then(|t| image::add_open_dir(t, "data"))
    })
    .await
    .unwrap()
    .unwrap();
    image::import_tarball(docker, name, tar, changes, Arc::new(|_: BuildEvent| {}))
        .await
        .unwrap();
}

/// Names of the engine's volumes.
async fn volumes(sb: &ContainerSandbox) -> std::collections::BTreeSet<String> {
    sb.engine()
        .docker
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .unwrap()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

/// Containers (any state) labelled as created by `test`'s instance.
async fn containers_of(test: &str) -> usize {
    let engine = Engine::connect().await.unwrap();
    engine
        .labelled(&format!("{LABEL_OWNER}={test}"))
        .await
        .unwrap()
        .len()
}

/// Waits until none of `test`'s containers exists (bounded), and fails if one survives.
async fn assert_all_gone(test: &str) {
    let t = Instant::now();
    loop {
        let n = containers_of(test).await;
        if n == 0 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{test}: {n} containers still exist"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn finish(sb: ContainerSandbox, test: &str) {
    sb.shutdown().await;
    assert_all_gone(test).await;
}

fn limits() -> Limits {
    Limits {
        wall_time: Duration::from_secs(10),
        cpu_time: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn call(input: &[u8], limits: Limits) -> Invocation {
    Invocation {
        input: Arc::<[u8]>::from(input).into(),
        env: vec![
            ("SRE_FUNCTION".into(), "f".into()),
            ("SRE_CALL_ID".into(), "c1".into()),
            ("HOME".into(), "/root".into()),
            ("AIN_SRE_PRIVATE_KEY".into(), "never-visible".into()),
        ],
        limits,
    }
}

async fn run(sb: &ContainerSandbox, runtime: &str, code: &str, input: &[u8], l: Limits) -> Outcome {
    let p = sb
        .prepare(&FunctionCode::new(runtime, code.as_bytes().to_vec()))
        .await
        .unwrap_or_else(|e| panic!("prepare: {e}"));
    sb.run(&p, call(input, l))
        .await
        .unwrap_or_else(|e| panic!("run: {e}"))
}

async fn py(sb: &ContainerSandbox, code: &str, l: Limits) -> Outcome {
    run(sb, "python3", code, b"", l).await
}

fn stdout_str(o: &Outcome) -> String {
    match o {
        Outcome::Completed {
            stdout,
            exit_code,
            stderr_tail,
            ..
        } => {
            assert_eq!(
                *exit_code,
                0,
                "stderr: {}",
                String::from_utf8_lossy(stderr_tail)
            );
            String::from_utf8_lossy(stdout).into_owned()
        }
        other => panic!("expected completion, got {other:?}"),
    }
}

fn example(rel: &str) -> String {
    let p = format!("{}/examples/functions/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

// ---- functional -------------------------------------------------------------------------------

#[tokio::test]
async fn every_shipped_runtime_example_runs_in_its_image() {
    let test = "ct_examples";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let input = br#"{"name":"ain","text":"abc"}"#;
    let cases = [
        (
            "python3",
            "python3/main.py",
            r#"{"greeting": "hello, ain", "runtime": "python3"}"#,
        ),
        (
            "nodejs",
            "nodejs/main.js",
            r#"{"greeting":"hello, ain","runtime":"nodejs"}"#,
        ),
        (
            "perl",
            "perl/main.pl",
            r#"{"reversed":"cba","runtime":"perl"}"#,
        ),
        (
            "bash",
            "bash/main.sh",
            r#"{"bytes":27,"lines":0,"runtime":"bash"}"#,
        ),
    ];
    for (rt, file, want) in cases {
        let out = run(&sb, rt, &example(file), input, limits()).await;
        assert_eq!(stdout_str(&out), want, "{rt}");
        let u = out.usage();
        assert!(u.cpu_us > 0 && u.mem_peak_kb > 0, "{rt} usage {u:?}");
    }
    finish(sb, test).await;
}

#[tokio::test]
async fn pooled_stem_cells_serve_calls_and_are_never_reused() {
    let test = "ct_pool";
    let Some(sb) = tier(test, 2).await else {
        return;
    };
    let l = limits();
    sb.prewarm("python3", &l).unwrap();
    let t = Instant::now();
    while sb.pool_ready() < 2 {
        assert!(t.elapsed() < Duration::from_secs(30), "pool never filled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each call writes a marker into /tmp and reports whether a previous call's marker exists:
    // a reused container would show it.
    let code = "import os,sys\nseen=os.path.exists('/tmp/marker')\nopen('/tmp/marker','w').write('x')\nprint(seen, os.environ.get('SRE_CALL_ID'), sys.stdin.read())";
    for i in 0..4 {
        let out = py_input(&sb, code, format!("in{i}").as_bytes(), l.clone()).await;
        assert_eq!(stdout_str(&out).trim(), format!("False c1 in{i}"));
    }
    // Refilled after use.
    let t = Instant::now();
    while sb.pool_ready() < 2 {
        assert!(t.elapsed() < Duration::from_secs(30), "pool never refilled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    finish(sb, test).await;
}

async fn py_input(sb: &ContainerSandbox, code: &str, input: &[u8], l: Limits) -> Outcome {
    run(sb, "python3", code, input, l).await
}

/// A multi-line secret (a PEM key) reaches the guest byte for byte: the stem cell's frame carries
/// one variable per line, so newlines, carriage returns and backslashes are escaped on the way
/// (they used to arrive as spaces).
#[tokio::test]
async fn multi_line_env_values_arrive_intact() {
    let test = "ct_env_lines";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let value = "-----BEGIN KEY-----\nMIIB\\x41\\n%s\\c \r\n\\\\end\n-----END KEY-----\n";
    let p = sb
        .prepare(&FunctionCode::new(
            "python3",
            b"import os,sys\nsys.stdout.write(os.environ['SRE_SECRET_PEM'])".to_vec(),
        ))
        .await
        .unwrap();
    let mut c = call(b"", limits());
    c.env.push(("SRE_SECRET_PEM".into(), value.into()));
    let out = sb.run(&p, c).await.unwrap();
    assert_eq!(stdout_str(&out), value);
    finish(sb, test).await;
}

#[tokio::test]
async fn bring_your_own_image_and_missing_image() {
    let test = "ct_byo";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    // A minimal image that is not a shipped runtime: bash + cat, its own entrypoint, no stem cell.
    let docker = sb.engine().docker.clone();
    let tar = tokio::task::spawn_blocking(|| {
        image::assemble(&image::recipe("bash").unwrap(), "byo", &|_| {})
    })
    .await
    .unwrap()
    .unwrap();
    image::import_tarball(
        &docker,
        "ain-sre-test/byo:1",
        tar,
        vec![
            // Some CPU first, so the usage read from the host has something to show.
            r#"ENTRYPOINT ["/usr/bin/bash", "-c", "printf '%s|' \"$SRE_CALL_ID\" \"${AIN_SRE_PRIVATE_KEY:-none}\"; i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done; /usr/bin/tr a-z A-Z"]"#.into(),
        ],
        Arc::new(|_: BuildEvent| {}),
    )
    .await
    .unwrap();
    let out = run(&sb, "image", "ain-sre-test/byo:1\n", b"hello", limits()).await;
    assert_eq!(stdout_str(&out), "c1|none|HELLO");
    // No stem cell inside: usage comes from the container's cgroup, read on the host.
    let u = out.usage();
    assert!(u.cpu_us > 10_000 && u.mem_peak_kb > 0, "{u:?}");

    let err = sb
        .prepare(&FunctionCode::new(
            "image",
            b"ain-sre-test/absent:404".to_vec(),
        ))
        .await
        .unwrap_err();
    match err {
        SandboxError::Rejected(m) => assert!(m.contains("ain-sre-test/absent:404"), "{m}"),
        other => panic!("expected a rejection, got {other}"),
    }
    let err = sb
        .prepare(&FunctionCode::new("image", b"bad ref; rm -rf /".to_vec()))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Rejected(_)), "{err}");
    finish(sb, test).await;
}

#[tokio::test]
async fn leftovers_of_a_dead_worker_are_removed_at_start_up() {
    let test = "ct_orphans";
    let _volumes = VOLUMES.lock().await;
    let Ok(engine) = Engine::connect().await else {
        common::skip_or_fail(test, "no Docker engine");
        return;
    };
    ensure_images(&engine).await.unwrap();
    // What a worker killed with -9 leaves behind: labelled containers of a process that is gone.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    // One of them from an image declaring a volume, created the way an older build did (no
    // tmpfs over it): its anonymous volume must go with it.
    let vol_image = "ain-sre-test/orphan-vol:1";
    build_image(
        &engine.docker,
        vol_image,
        vec![
            "VOLUME /data".into(),
            r#"ENTRYPOINT ["/usr/bin/cat"]"#.into(),
        ],
    )
    .await;
    let mut ids = Vec::new();
    for (dead, image) in [
        ("4194300:1", "ain-sre/bash:6"),
        ("1:999999999", "ain-sre/bash:6"),
        ("4194301:1", vol_image),
    ] {
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.into()),
            labels: Some(HashMap::from([
                (LABEL.to_owned(), "1".to_owned()),
                (LABEL_OWNER.to_owned(), test.to_owned()),
                (LABEL_PROCESS.to_owned(), dead.to_owned()),
                (LABEL_HOST.to_owned(), host.clone()),
            ])),
            open_stdin: Some(true),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = engine.docker.create_container(None, body).await.unwrap().id;
        engine.docker.start_container(&id, None).await.unwrap();
        ids.push(id);
    }
    let volume = engine
        .docker
        .inspect_container(&ids[2], None)
        .await
        .unwrap()
        .mounts
        .unwrap_or_default()
        .into_iter()
        .find_map(|m| m.name)
        .expect("the image's volume");
    // (Another test's tier starting in parallel may sweep them first: either way they must go.)
    let sb = ContainerSandbox::start(ContainerConfig {
        instance: "ct_orphans_new".into(),
        ..ContainerConfig::default()
    })
    .await
    .unwrap();
    // A removal another tier's sweep already started may still be under way (the engine then
    // refuses a second one): wait for it, bounded.
    assert_all_gone(test).await;
    assert!(
        !volumes(&sb).await.contains(&volume),
        "the leftover's volume {volume} survived"
    );
    finish(sb, "ct_orphans_new").await;
}

/// Egress: the proxy listens in the container's own network namespace; the guest reaches an
/// allowed loopback server of the host through it (HTTP_PROXY passes the stem cell) and nothing
/// directly.
#[tokio::test]
async fn egress_goes_through_the_proxy_in_the_containers_namespace() {
    use ain_sre::egress::{Bounds, EgressCall, EgressHandle, EgressPolicy, OperatorEgress};
    let test = "ct_egress";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in server.incoming() {
            let Ok(mut s) = s else { return };
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    let e = EgressCall::new(
        EgressPolicy::parse(&[format!("127.0.0.1:{port}")], Default::default()).unwrap(),
        Arc::new(OperatorEgress::allowing(&["127.0.0.1/32".into()]).unwrap()),
        Bounds::default(),
        "a/f/c".into(),
    );
    let l = Limits {
        network: NetworkPolicy::Proxy(EgressHandle(e.clone())),
        ..limits()
    };
    let src = format!(
        "import os, socket, urllib.request\n\
         print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode(), os.environ['SRE_EGRESS'])\n\
         try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1); print('direct')\n\
         except OSError:\n    print('no route')\n"
    );
    let out = run(&sb, "python3", &src, b"", l).await;
    assert_eq!(stdout_str(&out), "hello 1\nno route\n", "{out:?}");
    assert_eq!(e.summary().connections, 1);
    finish(sb, test).await;
}

// ---- abuse suite (SECURITY.md rows that apply to containers) ----------------------------------

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

/// A function that lists what earlier calls left in /tmp, leaves its own mark, and on request
/// sleeps past its deadline or blows its memory limit.
const RESIDUE: &str = r#"
import glob, sys
print(sorted(glob.glob('/tmp/*')))
open('/tmp/left-' + TAG, 'w').write('x')
sys.stdout.flush()
what = sys.stdin.read()
if what == 'sleep':
    import time; time.sleep(60)
if what == 'oom':
    x = b'a' * (512 << 20)
"#;

fn residue_fn(tag: &str) -> String {
    format!("TAG = '{tag}'\n{RESIDUE}")
}

#[tokio::test]
async fn same_function_reuse_is_opt_in_bounded_and_never_crosses_functions() {
    let test = "ct_reuse";
    let Some(sb) = tier(test, 1).await else {
        return;
    };
    let reuse = Limits {
        memory_bytes: 64 << 20,
        reuse: Some(Reuse {
            max_calls: 3,
            idle: Duration::from_secs(30),
        }),
        ..limits()
    };
    let (f, g) = (residue_fn("f"), residue_fn("g"));
    let seen = |o: &Outcome| stdout_str(o).trim().to_owned();

    // Off by default: every call of F starts clean.
    for _ in 0..2 {
        let o = py_input(&sb, &f, b"", limits()).await;
        assert_eq!(seen(&o), "[]");
    }
    assert_eq!(sb.reuse_parked(), 0);

    // Opted in: calls 2 and 3 of F run in call 1's container and see its file (the documented
    // weaker isolation); call 4 needs a new container (max_calls = 3).
    let want = ["[]", "['/tmp/left-f']", "['/tmp/left-f']", "[]"];
    for (i, w) in want.iter().enumerate() {
        let o = py_input(&sb, &f, b"", reuse.clone()).await;
        assert_eq!(seen(&o), *w, "call {} of F", i + 1);
        assert!(o.usage().cpu_us > 0, "{:?}", o.usage());
    }
    assert_eq!(sb.reuse_parked(), 1, "call 4's container waits for call 5");

    // G has other code: it never gets F's container, and F never gets G's.
    for _ in 0..2 {
        let o = py_input(&sb, &g, b"", reuse.clone()).await;
        let s = seen(&o);
        assert!(!s.contains("left-f"), "G saw F's residue: {s}");
    }
    let o = py_input(&sb, &f, b"", reuse.clone()).await;
    assert_eq!(
        seen(&o),
        "['/tmp/left-f']",
        "F's kept container, untouched by G"
    );

    // A call that timed out or ran out of memory never hands its container on.
    let h = residue_fn("h");
    let short = Limits {
        wall_time: Duration::from_secs(2),
        ..reuse.clone()
    };
    let o = py_input(&sb, &h, b"", short.clone()).await;
    assert_eq!(seen(&o), "[]");
    let o = py_input(&sb, &h, b"sleep", short.clone()).await;
    assert_eq!(o.status(), "timeout", "{o:?}");
    let o = py_input(&sb, &h, b"", short.clone()).await;
    assert_eq!(seen(&o), "[]", "the timed-out container was reused");
    let o = py_input(&sb, &h, b"oom", short.clone()).await;
    assert_eq!(o.status(), "oom", "{o:?}");
    let o = py_input(&sb, &h, b"", short.clone()).await;
    assert_eq!(seen(&o), "[]", "the OOM-killed container was reused");

    // Kept containers are removed after their idle time.
    let brief = Limits {
        reuse: Some(Reuse {
            max_calls: 3,
            idle: Duration::from_millis(300),
        }),
        ..reuse.clone()
    };
    let k = residue_fn("k");
    let o = py_input(&sb, &k, b"", brief.clone()).await;
    assert_eq!(seen(&o), "[]");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let o = py_input(&sb, &k, b"", brief.clone()).await;
    assert_eq!(seen(&o), "[]", "an idle container past its time was reused");

    assert!(sb.reuse_parked() > 0);
    finish(sb, test).await;
}

#[tokio::test]
async fn a_worker_killed_with_sigkill_leaves_nothing_after_the_next_start() {
    let test = "ct_kill9";
    let Ok(engine) = Engine::connect().await else {
        common::skip_or_fail(test, "no Docker engine");
        return;
    };
    ensure_images(&engine).await.unwrap();
    // A real ain-sre process running container calls in a loop (its pool keeps stem cells).
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ain-sre"))
        .args([
            "invoke",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/functions/python3"),
            "--tier",
            "container",
            "--repeat",
            "100000",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let of_child = || async {
        engine
            .labelled(LABEL)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| {
                c.labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_PROCESS))
                    .is_some_and(|p| p.starts_with(&format!("{pid}:")))
            })
            .count()
    };
    let t = Instant::now();
    while of_child().await == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the worker never created a container"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the pool fill, then kill -9 mid-flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let left = of_child().await;
    let sb = ContainerSandbox::start(ContainerConfig {
        instance: test.into(),
        ..ContainerConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(
        of_child().await,
        0,
        "{left} containers of the killed worker survived a restart"
    );
    finish(sb, test).await;
}

#[tokio::test]
async fn image_volumes_are_sized_tmpfs_and_leave_nothing_behind() {
    // Row 27: Docker backs an image's VOLUME with an unsized host directory, writable despite the
    // read-only root, and removing a container without `v` leaves it behind. The guest must find
    // a sized tmpfs at /data, its 400 MiB write must stop there, and no volume may appear.
    let test = "ct_volume";
    let _volumes = VOLUMES.lock().await;
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    build_image(
        &sb.engine().docker,
        VOLUME_IMAGE,
        vec![
            "VOLUME /data".into(),
            r#"ENTRYPOINT ["/usr/bin/bash", "-c", "while read -r _ m f _; do [ \"$m\" = /data ] && printf '%s ' \"$f\"; done < /proc/self/mounts; /usr/bin/head -c 419430400 /dev/zero > /data/fill 2>/dev/null; printf '%s %s' $? $(/usr/bin/wc -c < /data/fill 2>/dev/null)"]"#.into(),
        ],
    )
    .await;
    let before = volumes(&sb).await;
    let out = run(&sb, "image", VOLUME_IMAGE, b"", limits()).await;
    assert_eq!(
        stdout_str(&out),
        format!("tmpfs 1 {}", 16 << 20),
        "the call's /tmp size"
    );
    // No scratch space (strict): the volume is there but read-only and empty.
    let strict = Limits {
        tmpfs_bytes: 0,
        ..limits()
    };
    let out = run(&sb, "image", VOLUME_IMAGE, b"", strict).await;
    assert_eq!(stdout_str(&out), "tmpfs 1 ");
    finish(sb, test).await;
    let engine = Engine::connect().await.unwrap();
    let after: std::collections::BTreeSet<String> = engine
        .docker
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .unwrap()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    let left: Vec<_> = after.difference(&before).collect();
    assert!(left.is_empty(), "volumes left on the host: {left:?}");
}

#[tokio::test]
async fn image_runtime_runs_only_images_the_operator_allowed() {
    // Row 29: any image on the engine is one reference away; another service's image would run
    // as a function and give up its baked secrets. Only listed or labelled images run.
    let test = "ct_allow";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let private = "ain-sre-test/private:1";
    build_image(
        &sb.engine().docker,
        private,
        vec![
            "ENV SERVICE_DB_PASSWORD=hunter2".into(),
            r#"ENTRYPOINT ["/usr/bin/bash", "-c", "printf %s \"$SERVICE_DB_PASSWORD\""]"#.into(),
        ],
    )
    .await;
    let labelled = "ain-sre-test/labelled:1";
    build_image(
        &sb.engine().docker,
        labelled,
        vec![
            format!("LABEL {ALLOW_LABEL}"),
            r#"ENTRYPOINT ["/usr/bin/bash", "-c", "printf labelled"]"#.into(),
        ],
    )
    .await;
    let id = sb
        .engine()
        .docker
        .inspect_image(private)
        .await
        .unwrap()
        .id
        .unwrap();
    for reference in [private, id.as_str()] {
        match sb
            .prepare(&FunctionCode::new("image", reference.as_bytes().to_vec()))
            .await
        {
            Err(SandboxError::Rejected(m)) => {
                assert!(m.contains(reference) && m.contains("allowed_images"), "{m}")
            }
            Err(e) => panic!("expected a rejection, got {e}"),
            Ok(_) => panic!("{reference} was allowed"),
        }
    }
    let out = run(&sb, "image", labelled, b"", limits()).await;
    assert_eq!(stdout_str(&out), "labelled");
    let doctor = sb.doctor().await;
    let policy = doctor.iter().find(|c| c.what == "image policy").unwrap();
    assert!(policy.detail.contains(ALLOW_LABEL), "{policy:?}");
    finish(sb, test).await;

    // Deny by default: a tier without a policy refuses even the labelled image.
    let sb = ContainerSandbox::start(ContainerConfig {
        instance: "ct_allow_default".into(),
        pool_size: 0,
        ..ContainerConfig::default()
    })
    .await
    .unwrap();
    let err = sb
        .prepare(&FunctionCode::new("image", labelled.as_bytes().to_vec()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Rejected(m) if m.contains("deny by default")),
        "{err}"
    );
    let doctor = sb.doctor().await;
    let policy = doctor.iter().find(|c| c.what == "image policy").unwrap();
    assert!(policy.detail.contains("no image is allowed"), "{policy:?}");
    finish(sb, "ct_allow_default").await;
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

#[tokio::test]
async fn strict_has_no_scratch_space() {
    // Row 12/19, `strict` (tmpfs 0): no /tmp, no /dev/shm, no POSIX queue under /dev/mqueue, and
    // the code's own tmpfs is not writable by the guest.
    let test = "ct_strict_scratch";
    let Some(sb) = tier(test, 0).await else {
        return;
    };
    let code = r#"
import os
wrote = []
for p in ['/tmp/x', '/dev/shm/x', '/dev/mqueue/x', '/sre/x', '/x', '/dev/x']:
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        wrote.append(p)
    except OSError:
        pass
print(wrote, os.path.exists('/dev/shm'))
"#;
    let strict = Limits {
        tmpfs_bytes: 0,
        ..limits()
    };
    let out = py(&sb, code, strict).await;
    assert_eq!(stdout_str(&out).trim(), "[] False");
    // The default profile keeps /tmp and a /dev/shm of the same size, but no queues either.
    let out = py(&sb, code, limits()).await;
    assert_eq!(stdout_str(&out).trim(), "['/tmp/x', '/dev/shm/x'] True");
    finish(sb, test).await;
}
