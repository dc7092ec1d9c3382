//! Allow-listed egress for function calls, enforced outside the guest.
//!
//! A function declares where it may connect ([`EgressPolicy`]: `HOST:PORT` entries, `*.domain`
//! wildcards, per-call caps that its profile bounds); the worker's operator has the final say
//! ([`OperatorEgress`]: `egress = "deny"`, their own allow/deny lists, and the
//! [`AddressRules`](crate::netrules::AddressRules) that refuse loopback, private, link-local,
//! multicast and metadata addresses after resolution unless the operator opens them).
//!
//! One [`EgressCall`] exists per call that has egress. The sandbox tier gives it a listening
//! socket that is the **only** endpoint reachable from the guest (on the process tier, a socket
//! opened inside the sandbox's own empty network namespace), and [`EgressCall::serve`] runs an
//! HTTP proxy on it: `CONNECT host:port` for TLS (bytes relayed, never decrypted) and
//! absolute-form plain-HTTP requests (forwarded with an `Idempotency-Key: <app>/<fn>/<call_id>`
//! header). The proxy resolves names itself and connects to the address it checked, so a name
//! that resolves (or rebinds) to 127.0.0.1 is refused; it counts connections and bytes against
//! the caps, and records every attempt ([`ConnectionRecord`]) for the receipt's
//! [`EgressSummary`].
//!
//! Files: `policy.rs` (types and parsing), `spec.rs` (the on-chain form), `proxy.rs` (the
//! proxy), `forward.rs` (plain-HTTP exchanges, keep-alive), `relay.rs` (its data phase: `splice(2)` on Linux), `record.rs` (records and the
//! summary), `attach.rs` (the proxy for a guest in the worker's own process: WASM components'
//! `wasi:http`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod attach;
mod forward;
mod policy;
mod proxy;
mod record;
mod relay;
mod spec;

pub use attach::{Attached, Connector};
pub use policy::{
    Bounds, Caps, Destination, EgressFile, EgressLists, EgressPolicy, HostPattern, OperatorEgress,
    PolicyError,
};
pub use proxy::ServeGuard;
pub use record::{ConnectionRecord, EgressSummary};
pub use spec::EgressSpec;

/// The standard proxy variables the guest gets besides its `SRE_*` names.
pub const PROXY_VARS: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];

/// The guest's environment for a call with egress: the proxy at `127.0.0.1:port` under every
/// name common HTTP clients read, `SRE_EGRESS=1`, and the idempotency key for TLS requests.
pub fn guest_env(port: u16, idempotency_key: &str) -> Vec<(String, String)> {
    let url = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = PROXY_VARS
        .into_iter()
        .map(|k| (k.to_owned(), url.clone()))
        .collect();
    env.push(("SRE_EGRESS".into(), "1".into()));
    env.push(("SRE_EGRESS_PROXY".into(), url));
    env.push(("SRE_IDEMPOTENCY_KEY".into(), idempotency_key.to_owned()));
    env
}

/// One call's egress: its policy, the operator's rules, the caps in force, and what happened.
#[derive(Debug)]
pub struct EgressCall {
    policy: EgressPolicy,
    operator: Arc<OperatorEgress>,
    bounds: Bounds,
    idempotency_key: String,
    /// How long one upstream connect (resolution included) may take.
    connect_timeout: Duration,
    /// Relay with `splice(2)` where it exists. Off: measured here it moved no more bytes than
    /// the copy path and cost more CPU (README, egress bench); tests cover both paths.
    zero_copy: bool,
    attempts: AtomicU32,
    /// Connections being served right now (they end with the call at the latest).
    open: AtomicU32,
    bytes_out: Mutex<u64>,
    bytes_in: Mutex<u64>,
    records: Mutex<Vec<ConnectionRecord>>,
}

impl EgressCall {
    /// The egress of one call of `<app>/<fn>` with id `call_id`.
    pub fn new(
        policy: EgressPolicy,
        operator: Arc<OperatorEgress>,
        profile_bound: Bounds,
        idempotency_key: String,
    ) -> Arc<EgressCall> {
        let bounds = policy.caps.within(profile_bound);
        Arc::new(EgressCall {
            policy,
            operator,
            bounds,
            idempotency_key,
            connect_timeout: Duration::from_secs(5),
            zero_copy: false,
            attempts: AtomicU32::new(0),
            open: AtomicU32::new(0),
            bytes_out: Mutex::new(0),
            bytes_in: Mutex::new(0),
            records: Mutex::new(Vec::new()),
        })
    }

    /// The key the proxy adds to plain-HTTP requests (`<app>/<fn>/<call_id>`).
    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }

    /// The caps in force.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The environment the guest gets when the proxy listens on `127.0.0.1:port` in its netns.
    pub fn guest_env(&self, port: u16) -> Vec<(String, String)> {
        guest_env(port, &self.idempotency_key)
    }

    /// Connections the proxy is serving now. Zero once the call is over: a connection never
    /// outlives its call, even when both ends stay silent.
    pub fn open_connections(&self) -> u32 {
        self.open.load(Ordering::Relaxed)
    }

    /// Every attempt so far, in order.
    pub fn records(&self) -> Vec<ConnectionRecord> {
        self.records.lock().expect("not poisoned").clone()
    }

    /// The summary for the receipt.
    pub fn summary(&self) -> EgressSummary {
        EgressSummary::of(&self.records())
    }

    fn record(&self, r: ConnectionRecord) {
        tracing::debug!(host = %r.host, port = r.port, allowed = r.allowed, "egress");
        self.records.lock().expect("not poisoned").push(r);
    }

    fn counter(&self, outbound: bool) -> (&Mutex<u64>, u64) {
        if outbound {
            (&self.bytes_out, self.bounds.bytes_out)
        } else {
            (&self.bytes_in, self.bounds.bytes_in)
        }
    }

    /// Runs `read` with the number of bytes the call's cap still leaves in one direction (at
    /// most `want`) and counts what it read. The count stays locked only for that one
    /// non-blocking call, so the connections of a call together stop exactly at the cap and
    /// none holds a share of it while it waits. `None`: the cap is used up.
    fn within_cap(
        &self,
        outbound: bool,
        want: usize,
        read: impl FnOnce(usize) -> std::io::Result<usize>,
    ) -> Option<std::io::Result<usize>> {
        let (counter, cap) = self.counter(outbound);
        let mut used = counter.lock().expect("not poisoned");
        let left = usize::try_from(cap.saturating_sub(*used)).unwrap_or(usize::MAX);
        if left == 0 {
            return None;
        }
        let r = read(left.min(want));
        if let Ok(n) = r {
            *used += n as u64;
        }
        Some(r)
    }
}

/// A [`NetworkPolicy::Proxy`](crate::NetworkPolicy) payload: shared by the worker (who
/// reads the summary afterwards) and the tier (who serves it). Equal only to itself.
#[derive(Debug, Clone)]
pub struct EgressHandle(pub Arc<EgressCall>);

impl PartialEq for EgressHandle {
    fn eq(&self, other: &EgressHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for EgressHandle {}

impl std::ops::Deref for EgressHandle {
    type Target = Arc<EgressCall>;
    fn deref(&self) -> &Arc<EgressCall> {
        &self.0
    }
}
