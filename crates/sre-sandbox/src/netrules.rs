//! Which IP addresses a function's network traffic may reach, decided **after** name resolution.
//!
//! A destination name on a function's allow-list says nothing about where it points: DNS can
//! answer `127.0.0.1`, a LAN address or the cloud metadata service (DNS rebinding). So every
//! resolved address is checked here before anything connects to it. Addresses that reach the
//! worker's own host, its LAN or its cloud control plane — loopback, RFC 1918 and other private
//! ranges, link-local (incl. 169.254.169.254), multicast, unspecified, reserved, documentation,
//! IPv6 unique-local — are refused whatever the function asks, unless the worker's operator lists
//! them ([`AddressRules::new`]; tests allow `127.0.0.1/32` that way). The operator may also deny
//! public ranges of their own ([`AddressRules::with_deny`]).
//!
//! IPv6 addresses that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible,
//! NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they carry, so
//! `::ffff:127.0.0.1` is loopback. Teredo (`2001::/32`) hides its IPv4 address and is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why an address was refused: the address and the class it fell in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {ip} is {class}: refused unless the worker's operator allows it")]
pub struct Refusal {
    /// The refused address.
    pub ip: IpAddr,
    /// The class, e.g. `"loopback"`, `"private (RFC 1918)"`, `"cloud metadata"`, or
    /// `"denied by the operator"`.
    pub class: &'static str,
}

/// The worker's address rules: restricted classes refused unless the operator allowed the
/// address; operator-denied ranges refused always. `Default` refuses every restricted class and
/// denies nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressRules {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

/// IPv4 classes, most specific first (metadata inside link-local).
const V4_CLASSES: &[(&str, &str)] = &[
    ("169.254.169.254/32", "cloud metadata"),
    ("100.100.100.200/32", "cloud metadata"),
    ("0.0.0.0/8", "unspecified (\"this network\")"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
];

/// IPv6 classes, most specific first. Embedded-IPv4 ranges are handled before these.
const V6_CLASSES: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("fc00::/7", "private (IPv6 unique local)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
    ("2001:db8::/32", "documentation"),
    ("2001::/32", "Teredo tunnel"),
    ("100::/64", "discard-only"),
    ("::/96", "IPv4-compatible (deprecated)"),
];

impl AddressRules {
    /// Rules that refuse the restricted classes except inside `operator_allow`.
    pub fn new(operator_allow: Vec<IpNet>) -> AddressRules {
        AddressRules {
            allow: operator_allow,
            deny: Vec::new(),
        }
    }

    /// Also refuses every address inside `deny` (checked before the operator's allow-list).
    pub fn with_deny(mut self, deny: Vec<IpNet>) -> AddressRules {
        self.deny = deny;
        self
    }

    /// The operator's allowed ranges.
    pub fn operator_allow(&self) -> &[IpNet] {
        &self.allow
    }

    /// Whether `ip` may be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return Err(Refusal {
                ip,
                class: "denied by the operator",
            });
        }
        if self.allow.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match restricted_class(ip) {
            Some(class) => Err(Refusal { ip, class }),
            None => Ok(()),
        }
    }
}

/// Parses one CIDR (`10.0.0.0/8`) or a bare address (a /32 or /128).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is not an IP address or CIDR (e.g. 127.0.0.1/32, fd00::/8)"))
}

/// IPv4-mapped IPv6 addresses become the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The restricted class of `ip`, if it is in one.
pub fn restricted_class(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    V4_CLASSES.iter().find_map(|(net, class)| {
        let net: Ipv4Net = net.parse().expect("valid table entry");
        net.contains(&ip).then_some(*class)
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    // NAT64 and 6to4 carry an IPv4 address that decides where the packet really goes.
    let nat64: Ipv6Net = "64:ff9b::/96".parse().expect("valid");
    if nat64.contains(&ip) {
        let o = ip.octets();
        return v4_class(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if seg[0] == 0x2002 {
        let v4 = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        return v4_class(v4);
    }
    V6_CLASSES.iter().find_map(|(net, class)| {
        let net: Ipv6Net = net.parse().expect("valid table entry");
        net.contains(&ip).then_some(*class)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        AddressRules::default()
            .check(s.parse().unwrap())
            .err()
            .map(|r| r.class)
    }

    #[test]
    fn restricted_classes_are_refused_by_default_and_named() {
        let cases = [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("10.1.2.3", "private (RFC 1918)"),
            ("172.16.0.1", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("169.254.169.254", "cloud metadata"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("fd00:ec2::254", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("fc00::1", "private (IPv6 unique local)"),
            ("fdab::1", "private (IPv6 unique local)"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("0.0.0.0", "unspecified (\"this network\")"),
            ("::", "unspecified"),
            ("100.64.0.1", "shared address space (RFC 6598)"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("64:ff9b::a00:1", "private (RFC 1918)"),
            ("2002:7f00:1::", "loopback"),
            ("2001:0:4136:e378::1", "Teredo tunnel"),
            ("::7f00:1", "IPv4-compatible (deprecated)"),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn the_operator_list_opens_exactly_its_ranges() {
        let rules = AddressRules::new(vec![parse_cidr("127.0.0.1").unwrap()]);
        assert!(rules.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(rules.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        let r = rules.check("127.0.0.2".parse().unwrap()).unwrap_err();
        assert_eq!(r.class, "loopback");
        assert!(r.to_string().contains("127.0.0.2 is loopback"), "{r}");
        assert!(rules.check("169.254.169.254".parse().unwrap()).is_err());
    }

    #[test]
    fn operator_denies_win_over_public_and_allowed() {
        let rules = AddressRules::new(vec![parse_cidr("10.0.0.0/8").unwrap()]).with_deny(vec![
            parse_cidr("10.9.0.0/16").unwrap(),
            parse_cidr("1.1.1.1").unwrap(),
        ]);
        assert!(rules.check("10.1.0.1".parse().unwrap()).is_ok());
        assert_eq!(
            rules.check("10.9.0.1".parse().unwrap()).unwrap_err().class,
            "denied by the operator"
        );
        assert!(rules.check("1.1.1.1".parse().unwrap()).is_err());
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("localhost").is_err());
    }
}
