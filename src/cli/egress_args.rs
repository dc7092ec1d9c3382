//! `--allow-net` and the egress caps, shared by `deploy` and `invoke`.

use crate::egress::{Caps, EgressPolicy};

/// A function's egress on the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AllowNetArgs {
    /// Let calls connect to HOST:PORT through the worker's egress proxy (repeatable;
    /// `*.example.com:443` covers the names below example.com; no bare `*`). Addresses that
    /// resolve to loopback, private, link-local or metadata ranges stay refused unless the
    /// worker's operator allows them.
    #[arg(long = "allow-net", value_name = "HOST:PORT")]
    pub allow_net: Vec<String>,
    /// Most connections per call (bounded by the profile's `egress_connections`, default 16).
    #[arg(long, value_name = "N", requires = "allow_net")]
    pub egress_connections: Option<u32>,
    /// Most bytes a call may send (bounded by the profile's `egress_bytes_out`).
    #[arg(long, value_name = "BYTES", requires = "allow_net")]
    pub egress_bytes_out: Option<u64>,
    /// Most bytes a call may receive (bounded by the profile's `egress_bytes_in`).
    #[arg(long, value_name = "BYTES", requires = "allow_net")]
    pub egress_bytes_in: Option<u64>,
}

impl AllowNetArgs {
    /// The policy these flags describe (empty when no `--allow-net`).
    pub fn policy(&self) -> anyhow::Result<EgressPolicy> {
        Ok(EgressPolicy::parse(
            &self.allow_net,
            Caps {
                connections: self.egress_connections,
                bytes_out: self.egress_bytes_out,
                bytes_in: self.egress_bytes_in,
            },
        )?)
    }
}
