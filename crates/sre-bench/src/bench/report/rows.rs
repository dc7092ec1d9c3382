//! The one table of the report's rows ([`ROWS`]): what each row shows, which figure, its peer and
//! the target it is held to ([`Check`]).

/// One condition a row's figure must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// p50 at most this many microseconds.
    P50AtMostUs(f64),
    /// Rate at least this (in the row's unit).
    RateAtLeast(f64),
    /// p50 / the peer's p50 at most this.
    RatioAtMost(f64),
    /// p50 / the peer's p50 strictly below this.
    RatioBelow(f64),
    /// Memory at most this many MB.
    MbAtMost(f64),
}

/// A row of the report as the code defines it: what is shown, which figure it shows, its peer and
/// its target. Figures are keyed by name (`group.what`) so two rows can share one (the python3
/// pool row is compared with bare python3 and with bwrap).
#[derive(Debug, Clone, Copy)]
pub struct RowSpec {
    /// The row's name in the table.
    pub measurement: &'static str,
    /// Key of the figure the row shows.
    pub figure: &'static str,
    /// The bench group that measures it (its failure is the row's "not measured" reason).
    pub group: &'static str,
    /// Unit of the rate column.
    pub rate_unit: &'static str,
    /// Key of the peer figure the ratio is taken against.
    pub peer: Option<&'static str>,
    /// The target as DESIGN.md and the issues state it; empty when the row has none.
    pub target: &'static str,
    /// The same target, as checks; all must pass.
    pub checks: &'static [Check],
}

const fn row(
    measurement: &'static str,
    figure: &'static str,
    group: &'static str,
    rate_unit: &'static str,
) -> RowSpec {
    RowSpec {
        measurement,
        figure,
        group,
        rate_unit,
        peer: None,
        target: "",
        checks: &[],
    }
}

const fn held(
    r: RowSpec,
    peer: Option<&'static str>,
    target: &'static str,
    checks: &'static [Check],
) -> RowSpec {
    RowSpec {
        peer,
        target,
        checks,
        ..r
    }
}

/// Every row of the report, its peer and its target (DESIGN.md "Performance targets", issues #5,
/// #6, #7). Peers appear as rows of their own so their numbers are in the table too.
pub const ROWS: &[RowSpec] = &[
    held(
        row(
            "WASM tier: echo.wat, full invocation, 1 thread (peer: the same echo as a static binary through the process tier)",
            "wasm.echo",
            "wasm",
            "calls/s",
        ),
        Some("process.native_echo"),
        "p50 ≤ 10 µs",
        &[Check::P50AtMostUs(10.0)],
    ),
    held(
        row(
            "WASM tier: echo.wat, 2 threads (8 tasks)",
            "wasm.echo_2t",
            "wasm",
            "calls/s",
        ),
        None,
        "≥ 150,000 calls/s",
        &[Check::RateAtLeast(150_000.0)],
    ),
    row(
        "process tier: echo static binary, pool",
        "process.native_echo",
        "process",
        "calls/s",
    ),
    held(
        row(
            "process tier: static `true` binary, pool",
            "process.native_true",
            "process",
            "calls/s",
        ),
        Some("bare.native_true"),
        "p50 ≤ 2 ms",
        &[Check::P50AtMostUs(2_000.0)],
    ),
    row(
        "bare fork+exec of the same `true` binary",
        "bare.native_true",
        "process",
        "calls/s",
    ),
    held(
        row(
            "process tier: python3 hello, pool (vs bare python3)",
            "process.python3",
            "process",
            "calls/s",
        ),
        Some("bare.python3"),
        "≤ 1.2 × bare",
        &[Check::RatioAtMost(1.2)],
    ),
    held(
        row(
            "process tier: python3 hello, pool (vs bwrap)",
            "process.python3",
            "process",
            "calls/s",
        ),
        Some("bwrap.python3"),
        "faster than bwrap (< 1)",
        &[Check::RatioBelow(1.0)],
    ),
    row(
        "bare: python3 -I -B hello.py",
        "bare.python3",
        "process",
        "calls/s",
    ),
    row(
        "bwrap --unshare-all: python3 hello.py",
        "bwrap.python3",
        "process",
        "calls/s",
    ),
    held(
        row(
            "container tier: python3 hello, pooled stem cell",
            "container.pool",
            "container",
            "calls/s",
        ),
        Some("docker.run"),
        "p50 ≤ 40 ms; ≥ 8 × faster than docker run (≤ 0.125)",
        &[Check::P50AtMostUs(40_000.0), Check::RatioAtMost(0.125)],
    ),
    held(
        row(
            "container tier: python3 hello, cold (empty pool)",
            "container.cold",
            "container",
            "calls/s",
        ),
        Some("docker.run"),
        "no slower than docker run (≤ 1)",
        &[Check::RatioAtMost(1.0)],
    ),
    row(
        "docker run --rm -i: same image and script",
        "docker.run",
        "container",
        "calls/s",
    ),
    held(
        row(
            "end to end, built-in chain: wasm echo one at a time (request accepted → response accepted)",
            "e2e.one",
            "e2e",
            "calls/s",
        ),
        None,
        "p50 ≤ 10 ms",
        &[Check::P50AtMostUs(10_000.0)],
    ),
    held(
        row(
            "end to end, built-in chain: wasm echo, 128 in flight (sustained)",
            "e2e.sustained",
            "e2e",
            "calls/s",
        ),
        None,
        "≥ 1,000 calls/s",
        &[Check::RateAtLeast(1_000.0)],
    ),
    held(
        row(
            "follower: full block verification, one core (per signature)",
            "ledger.follower",
            "ledger",
            "sigs/s",
        ),
        None,
        "≥ 10,000 sigs/s",
        &[Check::RateAtLeast(10_000.0)],
    ),
    held(
        row(
            "built-in chain: signed txs accepted (64 concurrent senders)",
            "devnet.accepted",
            "devnet",
            "tx/s",
        ),
        None,
        "≥ 5,000 tx/s",
        &[Check::RateAtLeast(5_000.0)],
    ),
    held(
        row(
            "built-in chain: send → VALUE_CHANGED event",
            "devnet.event",
            "devnet",
            "events/s",
        ),
        None,
        "p50 ≤ 2 ms",
        &[Check::P50AtMostUs(2_000.0)],
    ),
    held(
        row("worker RSS, idle", "worker.rss_idle", "e2e", ""),
        None,
        "≤ 60 MB",
        &[Check::MbAtMost(60.0)],
    ),
    held(
        row(
            "worker RSS growth catching up with queued calls (10,000; --quick: 2,000)",
            "worker.rss_queued",
            "e2e",
            "",
        ),
        None,
        "≤ +30 MB (10,000 queued)",
        &[Check::MbAtMost(30.0)],
    ),
];
