//! Address rules for connections the worker makes on a client's behalf (a request's
//! `input_ref.url`): addresses a public worker must not reach for a stranger — loopback, private
//! networks, link-local, cloud metadata, unique-local, multicast, unspecified, and the other
//! special-purpose ranges — are refused unless the operator allows them (`operator_allow`, a
//! list of networks that wins over the refusals).
//!
//! Callers resolve names themselves, check every resolved address, and connect to the checked
//! address, so a name cannot resolve differently between check and connect.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The rules: refuse the restricted classes except where the operator allows.
#[derive(Debug, Clone, Default)]
pub struct AddressRules {
    operator_allow: Vec<IpNet>,
}

/// An address the rules refuse, and the class it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address.
    pub ip: IpAddr,
    /// Its restricted class ("loopback", "private (RFC 1918)", ...).
    pub class: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "address {} is {} and not allowed by the operator",
            self.ip, self.class
        )
    }
}

impl std::error::Error for Refusal {}

impl AddressRules {
    /// Rules refusing every restricted class except the networks in `operator_allow`.
    pub fn new(operator_allow: Vec<IpNet>) -> AddressRules {
        AddressRules { operator_allow }
    }

    /// Whether `ip` may be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        // An IPv4-mapped IPv6 address reaches the IPv4 host: judge that.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.operator_allow.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match restricted(ip) {
            Some(class) => Err(Refusal { ip, class }),
            None => Ok(()),
        }
    }
}

fn restricted(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => restricted_v4(a),
        IpAddr::V6(a) => restricted_v6(a),
    }
}

fn restricted_v4(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    Some(match o {
        [169, 254, 169, 254] => "cloud metadata (169.254.169.254)",
        _ if a.is_unspecified() => "unspecified",
        _ if a.is_loopback() => "loopback",
        _ if a.is_private() => "private (RFC 1918)",
        _ if a.is_link_local() => "link-local",
        _ if a.is_multicast() => "multicast",
        _ if a.is_broadcast() => "broadcast",
        [0, ..] => "\"this network\" (0.0.0.0/8)",
        [100, b, ..] if (64..128).contains(&b) => "shared address space (RFC 6598)",
        [192, 0, 0, _] => "IETF protocol assignments (192.0.0.0/24)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking (198.18.0.0/15)",
        [b, ..] if b >= 240 => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn restricted_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    Some(match s {
        _ if a.is_unspecified() => "unspecified",
        _ if a.is_loopback() => "loopback",
        _ if a.is_multicast() => "multicast",
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => "cloud metadata (fd00:ec2::254)",
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [x, ..] if x & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x64, 0xff9b, ..] => "NAT64 (64:ff9b::/96)",
        // 6to4 and Teredo embed IPv4 addresses that could be private.
        [0x2002, ..] => "6to4 (2002::/16)",
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (::/96)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(rules: &AddressRules, ip: &str) -> Option<&'static str> {
        rules.check(ip.parse().unwrap()).err().map(|r| r.class)
    }

    #[test]
    fn default_refuses_every_restricted_class_and_names_it() {
        let r = AddressRules::default();
        for (ip, class) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private (RFC 1918)"),
            ("172.16.0.1", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("169.254.169.254", "cloud metadata (169.254.169.254)"),
            ("169.254.1.1", "link-local"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd12::1", "unique-local (fc00::/7)"),
            ("fe80::1", "link-local (fe80::/10)"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "cloud metadata (169.254.169.254)"),
            ("100.64.0.1", "shared address space (RFC 6598)"),
        ] {
            assert_eq!(refused(&r, ip), Some(class), "{ip}");
        }
        let e = r.check("10.0.0.1".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("private (RFC 1918)"), "{e}");
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert_eq!(refused(&r, ip), None, "{ip}");
        }
    }

    #[test]
    fn the_operator_list_wins() {
        let r = AddressRules::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert_eq!(refused(&r, "127.0.0.1"), None);
        assert_eq!(refused(&r, "127.0.0.2"), Some("loopback"));
        assert_eq!(refused(&r, "::ffff:127.0.0.1"), None);
    }
}
