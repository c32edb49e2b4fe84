//! Scoping an analysis to some servers, names or clients (`--server`, `--sni`, `--client`):
//! connections outside the scope are left out of every output, as if they had not been
//! captured (they are counted, as `out_of_scope`). Address patterns are CIDRs or addresses
//! with an optional port, as users write them for tcpdump's `net` and `port`; names are globs.

use std::net::IpAddr;

use ipnet::IpNet;
use wildmatch::WildMatch;

use super::ConnectionFacts;
use crate::flow::Endpoint;

/// Why a pattern could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{pattern}' is not {expected}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What was expected, with examples.
    pub expected: &'static str,
}

/// Addresses and ports: `10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`, `10.0.0.1:443`,
/// `[2001:db8::1]:443`, `10.0.0.0/8:443` or `:443` (any address on that port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPattern {
    /// The network (a single address is a /32 or /128); none: any address.
    pub net: Option<IpNet>,
    /// The port; none: any port.
    pub port: Option<u16>,
}

const ADDRESS_EXAMPLES: &str =
    "an address, network or port (10.0.0.1, 10.0.0.0/8, 10.0.0.1:443, [2001:db8::1]:443, :443)";

impl AddressPattern {
    /// Reads a pattern; see the type's documentation for the forms.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = || PatternError {
            pattern: text.to_string(),
            expected: ADDRESS_EXAMPLES,
        };
        let net = |t: &str| -> Result<IpNet, PatternError> {
            if let Ok(n) = t.parse::<IpNet>() {
                return Ok(n.trunc());
            }
            t.parse::<IpAddr>().map(IpNet::from).map_err(|_| err())
        };
        let port = |t: &str| t.parse::<u16>().map_err(|_| err());
        let t = text.trim();
        if let Some(p) = t.strip_prefix(':').filter(|p| !p.contains(':')) {
            return Ok(AddressPattern {
                net: None,
                port: Some(port(p)?),
            });
        }
        if let Some(rest) = t.strip_prefix('[') {
            // [v6] or [v6/len] with an optional :port.
            let (inside, after) = rest.split_once(']').ok_or_else(err)?;
            let port = match after {
                "" => None,
                p => Some(port(p.strip_prefix(':').ok_or_else(err)?)?),
            };
            return Ok(AddressPattern {
                net: Some(net(inside)?),
                port,
            });
        }
        // An IPv6 address has several colons; one colon separates an IPv4 pattern's port.
        match t.matches(':').count() {
            1 => {
                let (addr, p) = t.split_once(':').ok_or_else(err)?;
                Ok(AddressPattern {
                    net: Some(net(addr)?),
                    port: Some(port(p)?),
                })
            }
            _ => Ok(AddressPattern {
                net: Some(net(t)?),
                port: None,
            }),
        }
    }

    /// Whether `e` matches.
    pub fn matches(&self, e: &Endpoint) -> bool {
        self.port.is_none_or(|p| p == e.port) && self.net.is_none_or(|n| n.contains(&e.ip))
    }
}

/// What an analysis is limited to. Patterns of one kind are alternatives; kinds combine (a
/// connection must match a `--server`, an `--sni` and a `--client` pattern, for each kind
/// given).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `--server`: the server's address and port.
    pub servers: Vec<AddressPattern>,
    /// `--sni`: globs (`*`, `?`; case does not matter) on the ClientHello's server name.
    pub snis: Vec<String>,
    /// `--client`: the client's address and port.
    pub clients: Vec<AddressPattern>,
    /// The `snis` compiled.
    sni_globs: Vec<WildMatch>,
}

impl Scope {
    /// A scope of these patterns.
    pub fn new(
        servers: Vec<AddressPattern>,
        snis: Vec<String>,
        clients: Vec<AddressPattern>,
    ) -> Self {
        let sni_globs = snis
            .iter()
            .map(|g| WildMatch::new_case_insensitive(g))
            .collect();
        Scope {
            servers,
            snis,
            clients,
            sni_globs,
        }
    }

    /// Whether nothing is scoped out.
    pub fn is_everything(&self) -> bool {
        self.servers.is_empty() && self.snis.is_empty() && self.clients.is_empty()
    }

    /// Whether a connection between `client` and `server` with server name `sni` is in scope.
    pub fn admits(&self, client: &Endpoint, server: &Endpoint, sni: Option<&str>) -> bool {
        let any = |patterns: &[AddressPattern], e: &Endpoint| {
            patterns.is_empty() || patterns.iter().any(|p| p.matches(e))
        };
        any(&self.servers, server)
            && any(&self.clients, client)
            && (self.sni_globs.is_empty()
                || sni.is_some_and(|n| self.sni_globs.iter().any(|g| g.matches(n))))
    }

    /// Whether a TLS connection is in scope.
    pub fn admits_facts(&self, f: &ConnectionFacts) -> bool {
        self.admits(&f.client, &f.server, f.sni())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::flow::Endpoint;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint::test(ip, port)
    }

    #[test]
    fn address_patterns_read_as_users_write_them() {
        let p = |t| AddressPattern::parse(t).expect(t);
        assert!(p("10.0.0.1").matches(&ep("10.0.0.1", 1)));
        assert!(!p("10.0.0.1").matches(&ep("10.0.0.2", 1)));
        assert!(p("10.0.0.0/8").matches(&ep("10.200.0.2", 1)));
        assert!(
            p("10.1.2.3/8").matches(&ep("10.200.0.2", 1)),
            "host bits ignored"
        );
        assert!(p("10.0.0.1:443").matches(&ep("10.0.0.1", 443)));
        assert!(!p("10.0.0.1:443").matches(&ep("10.0.0.1", 8443)));
        assert!(p(":443").matches(&ep("2001:db8::1", 443)));
        assert!(p("2001:db8::/32").matches(&ep("2001:db8::1", 443)));
        assert!(p("2001:db8::1").matches(&ep("2001:db8::1", 443)));
        assert!(p("::1").matches(&ep("::1", 443)));
        assert!(!p("::1").matches(&ep("::2", 443)));
        assert!(p("[2001:db8::1]:443").matches(&ep("2001:db8::1", 443)));
        assert!(!p("[2001:db8::1]:443").matches(&ep("2001:db8::1", 80)));
        assert!(p("[2001:db8::/32]:443").matches(&ep("2001:db8::5", 443)));
        assert!(!p("10.0.0.0/8").matches(&ep("::ffff:10.0.0.1", 1)));
        for bad in [
            "example.com",
            "10.0.0.1:https",
            "10.0.0.0/33",
            "[::1",
            ":",
            "1.2.3.4:99999",
        ] {
            let err = AddressPattern::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("is not an address"), "{err}");
        }
    }

    #[test]
    fn kinds_combine_and_patterns_of_a_kind_are_alternatives() {
        let a = |t| AddressPattern::parse(t).expect(t);
        let scope = Scope::new(
            vec![a("10.0.0.0/8"), a(":8443")],
            vec!["*.Example.com".into()],
            vec![],
        );
        let (c, s) = (ep("192.168.1.1", 50000), ep("10.0.0.1", 443));
        assert!(scope.admits(&c, &s, Some("www.example.COM")));
        assert!(
            !scope.admits(&c, &s, Some("example.com")),
            "*. needs a label"
        );
        assert!(
            !scope.admits(&c, &s, None),
            "no SNI cannot match an --sni glob"
        );
        assert!(scope.admits(&c, &ep("1.1.1.1", 8443), Some("a.example.com")));
        assert!(!scope.admits(&c, &ep("1.1.1.1", 443), Some("a.example.com")));
        assert!(Scope::default().is_everything());
        assert!(Scope::default().admits(&c, &s, None));
    }
}
