//! The tier working as meant: the shipped runtimes' examples in their images, pooled stem cells,
//! bring-your-own and image-runtime images with their volumes, egress through the proxy, and
//! same-function reuse, and the strict profile without scratch space.

use super::*;

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
