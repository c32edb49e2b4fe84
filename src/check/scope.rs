//! Which connections a rule speaks about: servers by name (SNI glob, matched against the
//! server's label: the SNI, else ip:port) or by address (`10.0.0.5`, `10.0.0.0/8`, with an
//! optional `:443`, IPv6 in brackets), and clients by address (IP or CIDR) or by
//! fingerprint (a JA4 glob, also compared with the JA3 hash). An empty list matches all.

use std::net::IpAddr;

use super::glob::Glob;
use crate::observed::Connection;

/// An IP network (an address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `10.0.0.0/8`, `10.0.0.5`, `2001:db8::/32`, `::1`.
    pub fn parse(text: &str) -> Option<IpNet> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` is inside (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One entry of a rule's `servers` list.
#[derive(Clone, Debug)]
enum ServerPattern {
    /// A name glob.
    Name(Glob),
    /// An address or network, with a port or any.
    Address { net: IpNet, port: Option<u16> },
}

/// One entry of a rule's `clients` list.
#[derive(Clone, Debug)]
enum ClientPattern {
    /// An address or network.
    Address(IpNet),
    /// A JA4 (or JA3) glob.
    Fingerprint(Glob),
}

/// The connections a rule applies to.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    servers: Vec<ServerPattern>,
    clients: Vec<ClientPattern>,
}

/// Parses `ADDR`, `ADDR:PORT`, `NET/LEN`, `NET/LEN:PORT`, `[V6]:PORT`, `[V6NET/LEN]:PORT`
/// (`*` as the port: any).
fn parse_address(text: &str) -> Option<(IpNet, Option<u16>)> {
    if let Some(net) = IpNet::parse(text) {
        return Some((net, None));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        (host, port)
    } else {
        let (host, port) = text.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    let port = match port {
        "*" => None,
        p => Some(p.parse().ok()?),
    };
    Some((IpNet::parse(host)?, port))
}

impl Scope {
    /// Parses a rule's `servers` and `clients` lists.
    pub fn parse(servers: &[String], clients: &[String]) -> Result<Scope, String> {
        let servers = servers
            .iter()
            .map(|s| {
                if s.trim().is_empty() {
                    return Err("an empty server pattern".to_string());
                }
                Ok(match parse_address(s) {
                    Some((net, port)) => ServerPattern::Address { net, port },
                    None => ServerPattern::Name(Glob::new(s)),
                })
            })
            .collect::<Result<_, _>>()?;
        let clients = clients
            .iter()
            .map(|c| {
                if c.trim().is_empty() {
                    return Err("an empty client pattern".to_string());
                }
                Ok(match IpNet::parse(c) {
                    Some(net) => ClientPattern::Address(net),
                    None => ClientPattern::Fingerprint(Glob::new(c)),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Scope { servers, clients })
    }

    /// Whether the rule speaks about this connection.
    pub fn matches(&self, c: &Connection, server_name: &str) -> bool {
        let server_ok = self.servers.is_empty()
            || self.servers.iter().any(|p| match p {
                ServerPattern::Name(g) => g.matches(server_name),
                ServerPattern::Address { net, port } => {
                    net.contains(c.server.ip) && port.is_none_or(|p| p == c.server.port)
                }
            });
        let client_ok = self.clients.is_empty()
            || self.clients.iter().any(|p| match p {
                ClientPattern::Address(net) => net.contains(c.client.ip),
                ClientPattern::Fingerprint(g) => c.offer.as_deref().is_some_and(|o| {
                    o.ja4.as_deref().is_some_and(|j| g.matches(j))
                        || o.ja3.as_deref().is_some_and(|j| g.matches(j))
                }),
            });
        server_ok && client_ok
    }

    /// Server names the rule names literally (no wildcard): each should be seen.
    pub fn literal_server_names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().filter_map(|p| match p {
            ServerPattern::Name(g) if g.is_literal() => Some(g.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.1.0.9".parse().unwrap()),
            "IPv4-mapped"
        );
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("example.com").is_none());
    }

    #[test]
    fn addresses_with_ports() {
        let p = |s: &str| parse_address(s).map(|(n, port)| (n.prefix, port));
        assert_eq!(p("10.0.0.5:443"), Some((32, Some(443))));
        assert_eq!(p("10.0.0.0/8:*"), Some((8, None)));
        assert_eq!(p("[::1]:8443"), Some((128, Some(8443))));
        assert_eq!(p("::1"), Some((128, None)));
        assert_eq!(p("[2001:db8::/32]:443"), Some((32, Some(443))));
        assert_eq!(p("api.example.com"), None);
        assert_eq!(p("api.example.com:443"), None);
    }
}
