//! The author's loop on `dev`: a newcomer with no key runs it end to end, and `deploy` without a
//! key elsewhere says what is missing.

use super::*;

#[test]
fn a_newcomer_runs_the_authors_loop_on_dev_with_no_key() {
    let (port, events, metrics) = (free_port(), free_port(), free_port());
    let _dev = spawn(
        &[
            "dev",
            // The component examples are checked by tests/dev_components.rs.
            "--no-components",
            "--port",
            &port.to_string(),
            "--events-port",
            &events.to_string(),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
        ],
        "serving; Ctrl-C to stop",
    );
    let node = format!("http://127.0.0.1:{port}");
    let n = ["--node", node.as_str()];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hello");
    let dir_s = dir.to_str().unwrap();

    let made = ok(&["new", "hello", "--runtime", "wasm", "--dir", dir_s]);
    assert!(
        made.contains("ain-sre deploy") && dir.join("main.wat").is_file(),
        "{made}"
    );

    // No key, no --app: the dev chain's admin key, app `dev`.
    let d1 = ok(&[&["deploy", dir_s, "--fn", "hello"][..], &n].concat());
    assert!(
        d1.contains("function: /apps/dev/sre/functions/hello"),
        "{d1}"
    );
    assert!(d1.contains("version:  1"), "{d1}");
    assert!(
        d1.contains("signed:   with the dev chain's public admin key"),
        "{d1}"
    );

    // The dev worker serves it at once.
    let c1 = ok(&[
        &[
            "call",
            "--fn",
            "hello",
            "--input",
            "hi-1",
            "--wait",
            "--timeout",
            "20",
        ][..],
        &n,
    ]
    .concat());
    assert_eq!(output_of(&c1), "hi-1", "{c1}");
    let call_id = c1
        .lines()
        .find_map(|l| l.strip_prefix("call:    dev/hello/"))
        .expect("call id")
        .to_owned();

    let list = ok(&[&["functions", "list"][..], &n].concat());
    assert!(list.contains("| hello | 1 | wasm | default |"), "{list}");
    let show = ok(&[&["functions", "show", "--fn", "hello"][..], &n].concat());
    assert!(
        show.contains("version:  1 (current)") && show.contains("retention: last 1000 calls"),
        "{show}"
    );

    let calls = ok(&[&["calls", "list", "--fn", "hello"][..], &n].concat());
    assert!(calls.contains(&format!("| {call_id} | ok |")), "{calls}");
    let one = ok(&[&["calls", "show", "--fn", "hello", &call_id][..], &n].concat());
    assert!(
        one.contains("status:   ok") && one.contains("output:   hi-1"),
        "{one}"
    );

    // Redeploy other code: version 2 serves, version 1 stays reachable.
    let v2 = tmp.path().join("v2.wat");
    std::fs::write(&v2, V2_WAT).unwrap();
    let d2 = ok(&[&["deploy", v2.to_str().unwrap(), "--fn", "hello"][..], &n].concat());
    assert!(d2.contains("version:  2 (replaces 1"), "{d2}");
    let c2 = ok(&[
        &[
            "call",
            "--fn",
            "hello",
            "--input",
            "hi-2",
            "--wait",
            "--timeout",
            "20",
        ][..],
        &n,
    ]
    .concat());
    assert_eq!(output_of(&c2), "v2", "{c2}");
    let old = ok(&[
        &["functions", "show", "--fn", "hello", "--version", "1"][..],
        &n,
    ]
    .concat());
    assert!(old.contains("version:  1 (kept; current is 2)"), "{old}");

    // Roll back: version 1 answers again, version 2 is kept.
    let rb = ok(&[&["deploy", "--rollback", "--fn", "hello"][..], &n].concat());
    assert!(rb.contains("version 1 is current again"), "{rb}");
    let c3 = ok(&[
        &[
            "call",
            "--fn",
            "hello",
            "--input",
            "hi-3",
            "--wait",
            "--timeout",
            "20",
        ][..],
        &n,
    ]
    .concat());
    assert_eq!(output_of(&c3), "hi-3", "{c3}");
    let after = ok(&[
        &["functions", "show", "--fn", "hello", "--version", "2"][..],
        &n,
    ]
    .concat());
    assert!(after.contains("(kept; current is 1)"), "{after}");

    // An app no worker serves: `call` says so instead of only timing out.
    ok(&[
        &["deploy", dir_s, "--fn", "hello", "--app", "lonely"][..],
        &n,
    ]
    .concat());
    let (success, _, err) = run(&[
        &[
            "call",
            "--app",
            "lonely",
            "--fn",
            "hello",
            "--wait",
            "--timeout",
            "2",
        ][..],
        &n,
    ]
    .concat());
    assert!(
        !success && err.contains("no worker is registered in app `lonely`"),
        "{err}"
    );

    // Remove it: the app lists no functions any more.
    let rm = ok(&[
        &["functions", "rm", "--app", "lonely", "--fn", "hello"][..],
        &n,
    ]
    .concat());
    assert!(rm.contains("removed lonely/hello"), "{rm}");
    let none = ok(&[&["functions", "list", "--app", "lonely"][..], &n].concat());
    assert!(none.contains("app lonely has no functions"), "{none}");

    // Mistakes are named, and a deploy every worker would refuse writes nothing.
    let (success, _, err) = run(&[
        &["call", "--app", "nosuch", "--fn", "f", "--input", "x"][..],
        &n,
    ]
    .concat());
    assert!(
        !success && err.contains("app `nosuch` does not exist"),
        "{err}"
    );
    let (success, _, err) = run(&[
        &["deploy", dir_s, "--fn", "g", "--runtime", "cobol"][..],
        &n,
    ]
    .concat());
    assert!(!success && err.contains("unknown runtime `cobol`"), "{err}");
    let (success, _, err) = run(&[
        &["deploy", dir_s, "--fn", "g", "--profile", "turbo"][..],
        &n,
    ]
    .concat());
    assert!(!success && err.contains("unknown profile `turbo`"), "{err}");
    let bad = tmp.path().join("bad.wat");
    std::fs::write(
        &bad,
        r#"(module (import "env" "system" (func)) (func (export "_start")))"#,
    )
    .unwrap();
    let (success, _, err) =
        run(&[&["deploy", bad.to_str().unwrap(), "--fn", "g"][..], &n].concat());
    assert!(
        !success && err.contains("refused before anything was written"),
        "{err}"
    );
    let list = ok(&[&["functions", "list"][..], &n].concat());
    assert!(
        list.contains("| hello |") && !list.contains("| g |"),
        "{list}"
    );

    // A key of one's own on the dev chain, without --app: the error says what to do.
    let out = ain_sre()
        .args([&["deploy", dir_s, "--fn", "g"][..], &n].concat())
        .env("AIN_SRE_PRIVATE_KEY", OTHER_KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("on a dev chain, leave out --keystore"),
        "{err}"
    );
}

#[test]
fn deploy_without_a_key_elsewhere_says_what_is_missing() {
    let (port, events) = (free_port(), free_port());
    // A chain whose validator key is not the public dev key.
    let _chain = spawn(
        &[
            "devnet",
            "--port",
            &port.to_string(),
            "--events-port",
            &events.to_string(),
            "--validator-key",
            OTHER_KEY,
        ],
        "",
    );
    let node = format!("http://127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("echo.wat");
    std::fs::write(&f, V2_WAT).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let err = loop {
        let (success, _, err) = run(&[
            "deploy",
            f.to_str().unwrap(),
            "--fn",
            "f",
            "--app",
            "a",
            "--node",
            &node,
        ]);
        assert!(!success);
        if !err.contains("cannot reach") || std::time::Instant::now() > deadline {
            break err;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        err.contains("no signing key")
            && err.contains("--keystore")
            && err.contains("AIN_SRE_PRIVATE_KEY")
            && err.contains("is not one"),
        "{err}"
    );
    // With a key but no --app: the flag is named.
    let (success, _, err) = {
        let out = ain_sre()
            .args(["deploy", f.to_str().unwrap(), "--fn", "f", "--node", &node])
            .env("AIN_SRE_PRIVATE_KEY", OTHER_KEY)
            .output()
            .unwrap();
        (
            out.status.success(),
            (),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(!success && err.contains("--app is missing"), "{err}");
}
