//! Egress policies: the function's allow-list and caps, and the worker operator's final say.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::netrules::{AddressRules, parse_cidr};

/// A malformed egress setting, named precisely (deploy and invoke print it as is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A `HOST:PORT` entry that does not parse.
    #[error("allow-net entry {entry:?}: {why}")]
    Destination {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        why: String,
    },
    /// A CIDR of the operator's lists that does not parse.
    #[error("egress CIDR: {0}")]
    Cidr(String),
    /// A cap outside its range.
    #[error("egress cap {name} = {value}: {why}")]
    Cap {
        /// The cap's name.
        name: &'static str,
        /// The value given.
        value: u64,
        /// The allowed range.
        why: String,
    },
}

/// The host part of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this name (lowercase, no trailing dot).
    Name(String),
    /// Any name strictly below this suffix (`*.example.com` → `example.com`; not the apex).
    Below(String),
    /// This literal IP address.
    Ip(IpAddr),
}

/// One allowed destination: a host pattern and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Which hosts.
    pub host: HostPattern,
    /// Which port (1–65535).
    pub port: u16,
}

impl Destination {
    /// Parses `HOST:PORT`, `*.SUFFIX:PORT`, `IPv4:PORT` or `[IPv6]:PORT`.
    pub fn parse(entry: &str) -> Result<Destination, PolicyError> {
        let bad = |why: &str| PolicyError::Destination {
            entry: entry.to_owned(),
            why: why.to_owned(),
        };
        let s = entry.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest
                .split_once("]:")
                .ok_or_else(|| bad("an IPv6 destination is written [ADDR]:PORT"))?;
            (h, p)
        } else {
            s.rsplit_once(':')
                .ok_or_else(|| bad("expected HOST:PORT (the port is required)"))?
        };
        let port: u32 = port.parse().map_err(|_| bad("the port is not a number"))?;
        if !(1..=65535).contains(&port) {
            return Err(bad("the port must be between 1 and 65535"));
        }
        let port = port as u16;
        if host == "*" || host.is_empty() {
            return Err(bad(
                "a bare `*` (or an empty host) would allow everything; list hosts, or `*.domain`",
            ));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if s.starts_with('[') != ip.is_ipv6() {
                return Err(bad(
                    "an IPv6 address must be in brackets, an IPv4 one must not",
                ));
            }
            return Ok(Destination {
                host: HostPattern::Ip(ip),
                port,
            });
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let (wild, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, host.clone()),
        };
        if name.contains('*') {
            return Err(bad(
                "`*` is allowed only as the whole first label (`*.example.com`)",
            ));
        }
        check_hostname(&name).map_err(|why| bad(&why))?;
        if wild && !name.contains('.') {
            return Err(bad(
                "a wildcard must stay below a registered domain (`*.example.com`, not `*.com`)",
            ));
        }
        Ok(Destination {
            host: if wild {
                HostPattern::Below(name)
            } else {
                HostPattern::Name(name)
            },
            port,
        })
    }

    /// Whether a request for `host:port` matches this entry (`host` as the guest wrote it).
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if port != self.port {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host);
        match &self.host {
            HostPattern::Name(n) => *n == host,
            HostPattern::Below(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            HostPattern::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            HostPattern::Name(n) => write!(f, "{n}:{}", self.port),
            HostPattern::Below(s) => write!(f, "*.{s}:{}", self.port),
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            HostPattern::Ip(ip) => write!(f, "{ip}:{}", self.port),
        }
    }
}

fn check_hostname(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("the host name is longer than 253 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("every label of the host name must be 1 to 63 characters".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(format!(
                "label {label:?} is not a valid host name label (letters, digits, `-`)"
            ));
        }
    }
    Ok(())
}

/// Per-call caps. `None` = the profile's bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Connections (allowed or refused) a call may open through the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    /// Bytes the guest may send, all connections together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    /// Bytes the guest may receive, all connections together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
}

/// Caps with every value set: what the proxy enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// Connections per call.
    pub connections: u32,
    /// Bytes out per call.
    pub bytes_out: u64,
    /// Bytes in per call.
    pub bytes_in: u64,
}

impl Default for Bounds {
    /// The profiles' default bound: 16 connections, 16 MiB out, 64 MiB in.
    fn default() -> Bounds {
        Bounds {
            connections: 16,
            bytes_out: 16 << 20,
            bytes_in: 64 << 20,
        }
    }
}

impl Caps {
    /// The caps a call gets: the function's wishes, never above the profile's `bound`.
    pub fn within(&self, bound: Bounds) -> Bounds {
        Bounds {
            connections: self
                .connections
                .map_or(bound.connections, |c| c.min(bound.connections)),
            bytes_out: self
                .bytes_out
                .map_or(bound.bytes_out, |b| b.min(bound.bytes_out)),
            bytes_in: self
                .bytes_in
                .map_or(bound.bytes_in, |b| b.min(bound.bytes_in)),
        }
    }

    /// Refuses zero caps (a function with no budget should have no allow-list instead).
    pub fn check(&self) -> Result<(), PolicyError> {
        let zero = |name, v: u64| {
            if v == 0 {
                Err(PolicyError::Cap {
                    name,
                    value: 0,
                    why: "must be at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        if let Some(c) = self.connections {
            zero("connections", c.into())?;
        }
        if let Some(b) = self.bytes_out {
            zero("bytes_out", b)?;
        }
        if let Some(b) = self.bytes_in {
            zero("bytes_in", b)?;
        }
        Ok(())
    }
}

/// A function's egress: where it may connect and how much.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Allowed destinations; empty = no network.
    pub allow: Vec<Destination>,
    /// The function's caps.
    pub caps: Caps,
}

impl EgressPolicy {
    /// Parses `--allow-net` entries (each may hold several, comma- or space-separated).
    pub fn parse(entries: &[String], caps: Caps) -> Result<EgressPolicy, PolicyError> {
        let allow = entries
            .iter()
            .flat_map(|e| e.split([',', ' ']))
            .filter(|e| !e.trim().is_empty())
            .map(Destination::parse)
            .collect::<Result<Vec<_>, _>>()?;
        caps.check()?;
        Ok(EgressPolicy { allow, caps })
    }

    /// The allow-list as one string (`a:443 *.b.com:443`): how a spec stores it, since AIN
    /// values hold no arrays.
    pub fn allow_string(&self) -> String {
        self.allow
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The entry that allows `host:port`, if any.
    pub fn allows(&self, host: &str, port: u16) -> Option<&Destination> {
        self.allow.iter().find(|d| d.matches(host, port))
    }
}

/// The worker config's `egress` key: `"deny"`, or a table of the operator's own lists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum EgressFile {
    /// `egress = "deny"` (no function gets network here) or `"allow"` (the defaults).
    Mode(String),
    /// `[egress]` with lists.
    Lists(EgressLists),
}

/// `[egress]` in the worker config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressLists {
    /// Destinations (`HOST:PORT`) functions may reach here; empty = whatever their lists say.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Destinations never reached from here, whatever a function lists.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Restricted addresses (loopback, private, ...) this operator opens (CIDRs).
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    /// Public ranges this operator closes (CIDRs).
    #[serde(default)]
    pub deny_cidrs: Vec<String>,
}

/// The worker operator's egress policy: the final say over every function's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorEgress {
    /// No egress at all on this worker.
    pub deny_all: bool,
    /// If non-empty, only these destinations may be reached (intersected with the function's).
    pub allow: Vec<Destination>,
    /// Never these destinations.
    pub deny: Vec<Destination>,
    /// The address rules applied after resolution.
    pub addresses: AddressRules,
}

impl OperatorEgress {
    /// A worker that offers no egress.
    pub fn deny_all() -> OperatorEgress {
        OperatorEgress {
            deny_all: true,
            ..OperatorEgress::default()
        }
    }

    /// Defaults with these restricted ranges opened (`invoke --operator-allow`).
    pub fn allowing(cidrs: &[String]) -> Result<OperatorEgress, PolicyError> {
        Ok(OperatorEgress {
            addresses: AddressRules::new(cidrs_of(cidrs)?),
            ..OperatorEgress::default()
        })
    }

    /// From the worker config's `egress` key (absent = defaults: egress offered, restricted
    /// addresses refused).
    pub fn from_file(file: Option<&EgressFile>) -> Result<OperatorEgress, PolicyError> {
        match file {
            None => Ok(OperatorEgress::default()),
            Some(EgressFile::Mode(m)) if m == "deny" => Ok(OperatorEgress::deny_all()),
            Some(EgressFile::Mode(m)) if m == "allow" => Ok(OperatorEgress::default()),
            Some(EgressFile::Mode(m)) => Err(PolicyError::Destination {
                entry: m.clone(),
                why: "egress must be \"deny\", \"allow\" or a table ([egress] allow/deny/allow_cidrs/deny_cidrs)".into(),
            }),
            Some(EgressFile::Lists(l)) => Ok(OperatorEgress {
                deny_all: false,
                allow: l.allow.iter().map(|e| Destination::parse(e)).collect::<Result<_, _>>()?,
                deny: l.deny.iter().map(|e| Destination::parse(e)).collect::<Result<_, _>>()?,
                addresses: AddressRules::new(cidrs_of(&l.allow_cidrs)?)
                    .with_deny(cidrs_of(&l.deny_cidrs)?),
            }),
        }
    }

    /// Whether the operator lets any function reach `host:port` (before address checks).
    pub fn permits(&self, host: &str, port: u16) -> Result<(), &'static str> {
        if self.deny_all {
            return Err("this worker offers no egress");
        }
        if self.deny.iter().any(|d| d.matches(host, port)) {
            return Err("denied by the worker's operator");
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|d| d.matches(host, port)) {
            return Err("not on the worker operator's allow-list");
        }
        Ok(())
    }
}

fn cidrs_of(list: &[String]) -> Result<Vec<IpNet>, PolicyError> {
    list.iter()
        .map(|c| parse_cidr(c).map_err(PolicyError::Cidr))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Result<Destination, PolicyError> {
        Destination::parse(s)
    }

    #[test]
    fn destinations_parse_and_print_back() {
        for s in [
            "api.example.com:443",
            "*.example.com:443",
            "127.0.0.1:8080",
            "[::1]:80",
            "x_y.example.org:65535",
        ] {
            assert_eq!(d(s).unwrap().to_string(), s);
        }
        assert_eq!(
            d("API.Example.COM.:1").unwrap().to_string(),
            "api.example.com:1"
        );
    }

    #[test]
    fn bad_destinations_are_named() {
        let cases = [
            ("*:443", "bare `*`"),
            ("*", "HOST:PORT"),
            ("api.example.com", "HOST:PORT"),
            ("api.example.com:0", "between 1 and 65535"),
            ("api.example.com:65536", "between 1 and 65535"),
            ("api.example.com:https", "not a number"),
            ("a.*.example.com:443", "first label"),
            ("*.com:443", "registered domain"),
            ("bad host:443", "label"),
            ("-x.example.com:443", "label"),
            ("::1:80", "brackets"),
            (":443", "bare `*`"),
        ];
        for (s, want) in cases {
            let e = d(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn matching_is_by_name_wildcard_and_port() {
        let w = d("*.example.com:443").unwrap();
        assert!(w.matches("a.example.com", 443));
        assert!(w.matches("A.B.Example.com.", 443));
        assert!(
            !w.matches("example.com", 443),
            "the apex is not below itself"
        );
        assert!(!w.matches("badexample.com", 443));
        assert!(!w.matches("a.example.com", 80));
        let ip = d("[::1]:80").unwrap();
        assert!(ip.matches("[::1]", 80));
        assert!(ip.matches("::1", 80));
        assert!(!ip.matches("localhost", 80));
    }

    #[test]
    fn caps_are_bounded_by_the_profile() {
        let bound = Bounds {
            connections: 4,
            bytes_out: 100,
            bytes_in: 1000,
        };
        let c = Caps {
            connections: Some(10),
            bytes_out: Some(50),
            bytes_in: None,
        };
        assert_eq!(
            c.within(bound),
            Bounds {
                connections: 4,
                bytes_out: 50,
                bytes_in: 1000
            }
        );
        let zero = Caps {
            connections: Some(0),
            ..Caps::default()
        };
        assert!(EgressPolicy::parse(&["a.b:1".into()], zero).is_err());
    }

    #[test]
    fn policy_lists_split_and_join() {
        let p = EgressPolicy::parse(
            &[
                "a.example.com:443, b.example.com:80".into(),
                "127.0.0.1:9".into(),
            ],
            Caps::default(),
        )
        .unwrap();
        assert_eq!(
            p.allow_string(),
            "a.example.com:443 b.example.com:80 127.0.0.1:9"
        );
        assert!(p.allows("b.example.com", 80).is_some());
        assert!(p.allows("b.example.com", 443).is_none());
    }

    #[test]
    fn the_operator_has_the_final_say() {
        let file: toml::Value = toml::from_str("egress = \"deny\"").unwrap();
        let f: EgressFile = file["egress"].clone().try_into().unwrap();
        let op = OperatorEgress::from_file(Some(&f)).unwrap();
        assert!(op.permits("a.example.com", 443).is_err());

        let text = "[egress]\nallow = [\"*.example.com:443\"]\ndeny = [\"evil.example.com:443\"]\nallow_cidrs = [\"127.0.0.1/32\"]\n";
        let file: toml::Value = toml::from_str(text).unwrap();
        let f: EgressFile = file["egress"].clone().try_into().unwrap();
        let op = OperatorEgress::from_file(Some(&f)).unwrap();
        assert!(op.permits("a.example.com", 443).is_ok());
        assert!(op.permits("evil.example.com", 443).is_err());
        assert!(op.permits("other.org", 443).is_err());
        assert!(op.addresses.check("127.0.0.1".parse().unwrap()).is_ok());

        let bad: toml::Value = toml::from_str("egress = \"open\"").unwrap();
        let f: EgressFile = bad["egress"].clone().try_into().unwrap();
        assert!(OperatorEgress::from_file(Some(&f)).is_err());
    }
}
