//! Community ID v1 (<https://github.com/corelight/community-id-spec>): a flow hash that Zeek,
//! Suricata, Elastic (`network.community_id`), Arkime and others compute the same way, so one
//! connection can be found across every tool that saw it. Computed here for port-based
//! transports (TCP, UDP, SCTP), the only ones tlsight follows.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

use super::Endpoint;
use super::id_text::IdText;

/// A Community ID's text: `"1:"` and 28 base64 characters.
pub type CommunityId = IdText<30>;

/// IANA protocol number of TCP.
pub const TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const UDP: u8 = 17;

/// The Community ID v1 of the flow between `a` and `b` (either order: both directions get the
/// same ID) over IP protocol `proto`, with the spec's `seed` (0 unless a deployment agreed on
/// another), as `"1:"` followed by the base64 of the SHA-1 hash.
///
/// The hash input is the seed (2 bytes), both addresses, the protocol, a zero byte and both
/// ports (network byte order), with the lower (address, port) first. Endpoints of different
/// address families cannot share a flow; the IPv4 one is then taken as the lower.
pub fn community_id_v1(proto: u8, a: Endpoint, b: Endpoint, seed: u16) -> CommunityId {
    let (lo, hi) = if (a.ip, a.port) <= (b.ip, b.port) {
        (a, b)
    } else {
        (b, a)
    };
    // The hash input gathered on the stack and hashed in one call (at most 40 bytes).
    let mut input = [0u8; 40];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        input[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    put(&seed.to_be_bytes());
    for ip in [lo.ip, hi.ip] {
        match ip {
            IpAddr::V4(v4) => put(&v4.octets()),
            IpAddr::V6(v6) => put(&v6.octets()),
        }
    }
    put(&[proto, 0]);
    put(&lo.port.to_be_bytes());
    put(&hi.port.to_be_bytes());
    let digest = Sha1::digest(&input[..len]);
    // "1:" and the 28 base64 characters of the 20-byte digest.
    let mut id = [0u8; 30];
    id[..2].copy_from_slice(b"1:");
    // 20 bytes always encode to 28 characters: the slice is exactly long enough.
    let _ = STANDARD.encode_slice(digest, &mut id[2..]);
    IdText::new(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::flow::Endpoint;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint::test(ip, port)
    }

    /// The spec's published baseline (`baseline/baseline_deflt.json`, seed 0) for the
    /// port-based protocols, each flow in both directions, and Zeek's own test of its
    /// `community_id_v1` (seed 0).
    #[test]
    fn matches_the_specs_baseline_in_both_directions() {
        let vectors = [
            (
                TCP,
                "128.232.110.120",
                34855,
                "66.35.250.204",
                80,
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            ),
            (
                TCP,
                "2001:470:e5bf:dead:4957:2174:e82c:4887",
                63943,
                "2607:f8b0:400c:c03::1a",
                25,
                "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            ),
            (
                UDP,
                "192.168.1.52",
                54585,
                "8.8.8.8",
                53,
                "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            ),
            (
                132,
                "192.168.170.8",
                7,
                "192.168.170.56",
                7,
                "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
            ),
            (
                TCP,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            ),
            (
                UDP,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            ),
        ];
        for (proto, sip, sport, dip, dport, want) in vectors {
            let (s, d) = (ep(sip, sport), ep(dip, dport));
            assert_eq!(community_id_v1(proto, s, d, 0), want, "{s} -> {d}");
            assert_eq!(community_id_v1(proto, d, s, 0), want, "{d} -> {s}");
        }
    }

    #[test]
    fn the_seed_changes_the_id() {
        let (s, d) = (ep("1.2.3.4", 1122), ep("5.6.7.8", 3344));
        assert_ne!(community_id_v1(TCP, s, d, 1), community_id_v1(TCP, s, d, 0));
    }
}
