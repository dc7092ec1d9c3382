//! What the proxy saw: one record per connection attempt (or request, on a kept connection),
//! the receipt's summary of them, and [`Conn`], which makes a record whatever way a
//! connection ends.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::EgressCall;

/// Most distinct destinations named in a summary (the receipt goes on chain; the rest are
/// counted, not named).
const MAX_NAMED: usize = 16;

/// One connection attempt through the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// `CONNECT` (TLS tunnel) or the plain-HTTP method forwarded.
    pub method: String,
    /// The host the guest asked for, as written.
    pub host: String,
    /// The port asked for.
    pub port: u16,
    /// The address the proxy connected to (none when refused before connecting).
    pub addr: Option<SocketAddr>,
    /// Bytes from the guest to the destination.
    pub bytes_out: u64,
    /// Bytes from the destination to the guest.
    pub bytes_in: u64,
    /// How long the connection lasted, in ms.
    pub duration_ms: u64,
    /// Whether it was allowed (it may still have been cut by a cap: see `why`).
    pub allowed: bool,
    /// Why it was refused or cut, when it was.
    pub why: Option<String>,
}

/// The receipt's egress summary. AIN values hold no arrays, so destinations are one
/// space-separated string each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressSummary {
    /// Connections that were allowed.
    pub connections: u32,
    /// Attempts refused (not on the list, restricted address, cap reached, ...).
    pub refused: u32,
    /// Bytes the guest sent, all connections together.
    pub bytes_out: u64,
    /// Bytes the guest received.
    pub bytes_in: u64,
    /// Distinct `host:port` reached, sorted (at most 16 named).
    pub hosts: String,
    /// Distinct `host:port` refused, sorted (at most 16 named).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub refused_hosts: String,
}

impl EgressSummary {
    /// Summarizes `records`.
    pub fn of(records: &[ConnectionRecord]) -> EgressSummary {
        let mut s = EgressSummary::default();
        let mut hosts = BTreeSet::new();
        let mut refused = BTreeSet::new();
        for r in records {
            let dest = if r.host.contains(':') && !r.host.starts_with('[') {
                format!("[{}]:{}", r.host, r.port)
            } else {
                format!("{}:{}", r.host, r.port)
            };
            if r.allowed {
                s.connections += 1;
                hosts.insert(dest);
            } else {
                s.refused += 1;
                refused.insert(dest);
            }
            s.bytes_out += r.bytes_out;
            s.bytes_in += r.bytes_in;
        }
        s.hosts = join_capped(hosts);
        s.refused_hosts = join_capped(refused);
        s
    }

    /// One line for people: `2 connections (api.x:443), 1.2 KB out, 5 KB in, 1 refused (y:80)`.
    pub fn line(&self) -> String {
        let mut l = format!(
            "{} connection{}",
            self.connections,
            if self.connections == 1 { "" } else { "s" }
        );
        if !self.hosts.is_empty() {
            l += &format!(" ({})", self.hosts);
        }
        l += &format!(", {} B out, {} B in", self.bytes_out, self.bytes_in);
        if self.refused > 0 {
            l += &format!(", {} refused ({})", self.refused, self.refused_hosts);
        }
        l
    }
}

fn join_capped(set: BTreeSet<String>) -> String {
    let n = set.len();
    let mut out: Vec<String> = set.into_iter().take(MAX_NAMED).collect();
    if n > MAX_NAMED {
        out.push(format!("+{}", n - MAX_NAMED));
    }
    out.join(" ")
}

/// One client connection while it is served: counted as open, and recorded when it ends,
/// also when it is cut short because the call ended (its task is dropped then).
pub(super) struct Conn<'a> {
    call: &'a EgressCall,
    started: Instant,
    /// The record, once the request head named a destination.
    pub(super) rec: Option<ConnectionRecord>,
    /// Bytes delivered to the destination.
    pub(super) out: AtomicU64,
    /// Bytes delivered to the guest.
    pub(super) inb: AtomicU64,
}

impl<'a> Conn<'a> {
    pub(super) fn new(call: &'a EgressCall) -> Conn<'a> {
        call.open.fetch_add(1, Ordering::Relaxed);
        Conn {
            call,
            started: Instant::now(),
            rec: None,
            out: AtomicU64::new(0),
            inb: AtomicU64::new(0),
        }
    }

    /// Ends without a record (the request was malformed: no destination was named).
    pub(super) fn forget(mut self) {
        self.rec = None;
    }

    /// Records the connection, cut for `why` when given.
    pub(super) fn finish(mut self, why: Option<String>) {
        self.close(why);
    }

    fn close(&mut self, why: Option<String>) {
        if let Some(mut rec) = self.rec.take() {
            rec.bytes_out = self.out.load(Ordering::Relaxed);
            rec.bytes_in = self.inb.load(Ordering::Relaxed);
            rec.duration_ms = self.started.elapsed().as_millis() as u64;
            if why.is_some() {
                rec.why = why;
            }
            self.call.record(rec);
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        // Still holding its record here means the task was dropped mid-way: the call is over.
        self.close(Some("cut: the call ended".into()));
        self.call.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(host: &str, port: u16, allowed: bool, out: u64, inb: u64) -> ConnectionRecord {
        ConnectionRecord {
            method: "CONNECT".into(),
            host: host.into(),
            port,
            addr: None,
            bytes_out: out,
            bytes_in: inb,
            duration_ms: 1,
            allowed,
            why: None,
        }
    }

    #[test]
    fn summary_counts_and_names_destinations_once() {
        let s = EgressSummary::of(&[
            rec("b.example", 443, true, 10, 100),
            rec("a.example", 80, true, 5, 50),
            rec("b.example", 443, true, 1, 1),
            rec("evil.example", 443, false, 0, 0),
            rec("::1", 80, false, 0, 0),
        ]);
        assert_eq!(s.connections, 3);
        assert_eq!(s.refused, 2);
        assert_eq!((s.bytes_out, s.bytes_in), (16, 151));
        assert_eq!(s.hosts, "a.example:80 b.example:443");
        assert_eq!(s.refused_hosts, "[::1]:80 evil.example:443");
        assert!(s.line().contains("2 refused"), "{}", s.line());
    }

    #[test]
    fn many_destinations_are_counted_not_all_named() {
        let recs: Vec<_> = (0..20)
            .map(|i| rec(&format!("h{i:02}.x"), 1, true, 0, 0))
            .collect();
        let s = EgressSummary::of(&recs);
        assert_eq!(s.hosts.split(' ').count(), 17);
        assert!(s.hosts.ends_with("+4"));
    }
}
