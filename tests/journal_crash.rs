//! The journal survives kill -9: every `record_signed` that returned is on disk afterwards, with
//! its exact signed tx, however the process died. The child half of this test runs in a
//! subprocess (this same test binary, selected by an environment variable) and is SIGKILLed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ain_sre::journal::{CallState, Journal, SignedResponse};

const CHILD_ENV: &str = "AIN_SRE_JOURNAL_CHILD_PATH";

fn response(i: u64) -> SignedResponse {
    SignedResponse {
        tx_body: serde_json::json!({"operation": {"type": "SET_VALUE", "ref": format!("/apps/a/c{i}"), "value": i}}),
        signature: format!("0x{i:0194x}"),
        hash: format!("0x{i:064x}"),
    }
}

/// Child: writes records as fast as it can and prints each key once its write is durable.
/// Not a test of its own: the parent below runs it in a subprocess.
#[tokio::test]
#[ignore = "child process of acknowledged_signed_records_survive_kill_9"]
async fn child_writer() {
    let path =
        std::env::var(CHILD_ENV).expect("run only by acknowledged_signed_records_survive_kill_9");
    let j = Journal::open(std::path::Path::new(&path)).unwrap();
    let mut i = 0u64;
    loop {
        let key = format!("a/echo/c{i}");
        j.observe(&key, &format!("0xr{i}")).unwrap();
        j.set_state(&key, CallState::Running).unwrap();
        j.record_signed(&key, response(i)).await.unwrap();
        println!("acked {i}");
        i += 1;
    }
}

#[tokio::test]
async fn acknowledged_signed_records_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_writer",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = Vec::new();
        let started = Instant::now();
        // Kill at a different moment each round.
        let target = 50 + round * 97;
        while acked.len() < target && started.elapsed() < Duration::from_secs(30) {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(n) = l.strip_prefix("acked ") {
                        acked.push(n.parse::<u64>().unwrap());
                    }
                }
                _ => break,
            }
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        assert!(
            acked.len() >= target,
            "round {round}: child acknowledged only {} writes",
            acked.len()
        );

        let j = Journal::open(&path).unwrap();
        for i in &acked {
            let rec = j
                .get(&format!("a/echo/c{i}"))
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: c{i} lost"));
            assert_eq!(rec.state, CallState::Signed);
            assert_eq!(
                rec.response,
                Some(response(*i)),
                "round {round}: c{i} must keep its exact tx"
            );
        }
        j.close().await.unwrap();
        // The next round's child restarts numbering; records are overwritten consistently.
    }
}
