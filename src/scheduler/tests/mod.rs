use super::*;
use crate::call::{Origin, Registry};
use crate::journal::Journal;
use crate::ledger::crypto::{Address, Hash};
use crate::ledger::rpc::TxState;
use crate::node::fake::FakeNode;
use crate::onchain::FunctionSpec;
use crate::sandbox::fake::FakeSandbox;
use crate::sandbox::{Outcome, Tier};
use serde_json::json;
use sha2::Digest;

const CODE: &str = "(module)";

struct Setup {
    _dir: tempfile::TempDir,
    node: Arc<FakeNode>,
    fake: FakeSandbox,
    calls: mpsc::Sender<Call>,
    answers: mpsc::Receiver<Answer>,
    registry: Arc<Registry>,
    gate: Arc<FinalityGate>,
}

fn spec(runtime: &str, hash: &str) -> serde_json::Value {
    FunctionSpec {
        runtime: runtime.into(),
        code_hash: hash.into(),
        size: CODE.len() as u64,
        code: Some(CODE.into()),
        chunks: None,
        code_ref: None,
        entry: None,
        profile: None,
        timeout_ms: None,
        memory_mb: None,
        finality: None,
        failover_ms: None,
        version: None,
        public_stderr: None,
        egress: None,
        secrets: None,
    }
    .to_value()
}

fn setup(config: SchedulerConfig) -> Setup {
    setup_with(config, FakeSandbox::echo(Tier::Wasm))
}

fn setup_with(config: SchedulerConfig, fake: FakeSandbox) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.redb")).unwrap();
    let registry = Arc::new(Registry::new(journal, 100));
    let node = Arc::new(FakeNode::new());
    let hash = hex::encode(sha2::Sha256::digest(CODE.as_bytes()));
    node.set("/apps/app/sre/functions/echo", spec("wasm", &hash));
    node.set(
        "/apps/app/sre/functions/bad",
        spec("wasm", &"00".repeat(32)),
    );
    node.set("/apps/app/sre/functions/py", spec("python3", &hash));
    node.set("/apps/app/sre/functions/cobol", spec("cobol", &hash));
    // The request tx of `call()` stands on the node.
    node.set_tx_state(Hash([3; 32]), TxState::Executed);
    let gate = Arc::new(FinalityGate::new(10));
    let sched = Arc::new(Scheduler::new(
        SchedulerParts {
            node: node.clone(),
            exec: Arc::new(fake.clone()),
            runtimes: RuntimeCatalog::shipped().unwrap(),
            profiles: ProfileCatalog::shipped().unwrap(),
            registry: registry.clone(),
            gate: gate.clone(),
            health: Arc::new(Health::default()),
            worker: Address([1; 20]),
        },
        config,
    ));
    let (calls, rx) = mpsc::channel(16);
    let (atx, answers) = mpsc::channel(16);
    let t = TaskTracker::new();
    tokio::spawn(sched.run(
        rx,
        atx,
        CancellationToken::new(),
        CancellationToken::new(),
        t,
    ));
    Setup {
        _dir: dir,
        node,
        fake,
        calls,
        answers,
        registry,
        gate,
    }
}

fn call(function: &str, id: &str, request: serde_json::Value) -> Call {
    Call {
        key: format!("app/{function}/{id}"),
        app: "app".into(),
        function: function.into(),
        call_id: id.into(),
        request_tx: Hash([3; 32]),
        caller: Address([7; 20]),
        request,
        origin: Origin::Event,
        seen_at: Instant::now(),
    }
}

async fn one(s: &mut Setup, c: Call) -> Answer {
    s.registry.admit(&c.key, &c.request_tx).unwrap();
    s.calls.send(c).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), s.answers.recv())
        .await
        .unwrap()
        .unwrap()
}

fn entry(runtimes: &[&str]) -> serde_json::Value {
    let r: serde_json::Map<_, _> = runtimes
        .iter()
        .map(|r| (r.to_string(), json!(true)))
        .collect();
    json!({"runtimes": r, "version": "t", "capacity": 1})
}

/// The response value the poster would write for `a` at `path`.
fn response_of(a: &Answer, path: &str) -> serde_json::Value {
    crate::receipt::build_response(
        &crate::receipt::CallFacts::of(a, Address([1; 20])),
        &a.result,
        path,
        crate::receipt::NODE_TX_BYTES_LIMIT,
    )
}

mod answers;
mod blobs;
mod code_ref;
mod runs;
mod unservable;
