//! What a dead worker leaves: containers of a dead worker removed at start-up, and nothing left
//! after a SIGKILL and the next start.

use super::*;

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
