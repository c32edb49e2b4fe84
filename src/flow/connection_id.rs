//! A connection's identifier in tlsight's records: the same connection gets the same
//! identifier in every run and on every sensor that saw its first packet, two connections on
//! the same endpoints at different times get different ones (the Community ID names the
//! endpoints only), and it is cheap to compute. Zeek's `uid` is random per run; this one is
//! reproducible, so golden outputs and reports from several sensors can refer to it.

use std::net::IpAddr;

use super::id_text::IdText;
use super::{Endpoint, Timestamp, Transport};

/// A connection id's text: `"C"` and 16 hex digits.
pub type ConnectionId = IdText<17>;

/// FNV-1a (64-bit) offset basis and prime: a simple, published hash that needs no key, so
/// anyone can recompute an identifier from a record's fields.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// `"C"` and 16 hex digits: FNV-1a 64 over the first packet's time (nanoseconds since the
/// epoch, 8 bytes big-endian), the transport (6 for TCP, 17 for UDP), then the client's and
/// the server's address (4 or 16 bytes) and port (2 bytes, big-endian).
pub fn connection_id(
    first: Timestamp,
    transport: Transport,
    client: Endpoint,
    server: Endpoint,
) -> ConnectionId {
    let mut h = FNV_OFFSET;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    };
    eat(&first.0.to_be_bytes());
    eat(&[match transport {
        Transport::Tcp => 6,
        Transport::Udp => 17,
    }]);
    for e in [client, server] {
        match e.ip {
            IpAddr::V4(ip) => eat(&ip.octets()),
            IpAddr::V6(ip) => eat(&ip.octets()),
        }
        eat(&e.port.to_be_bytes());
    }
    // Hex digits by hand: `write!` with `{:016x}` cost ~300 instructions a record.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [b'C'; 17];
    for (i, digit) in id[1..].iter_mut().enumerate() {
        *digit = HEX[(h >> ((15 - i) * 4)) as usize & 0xf];
    }
    IdText::new(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::flow::Endpoint;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint::test(ip, port)
    }

    #[test]
    fn fnv_1a_as_published() {
        // The FNV-1a 64 test vector for "a" (draft-eastlake-fnv): 0xaf63dc4c8601ec8c.
        let mut h = FNV_OFFSET;
        h = (h ^ u64::from(b'a')).wrapping_mul(FNV_PRIME);
        assert_eq!(h, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn same_connection_same_id_and_any_difference_changes_it() {
        let (c, s) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let id = connection_id(Timestamp(1_700_000_000_000_000_000), Transport::Tcp, c, s);
        assert_eq!(id.len(), 17);
        assert!(id.starts_with('C'));
        assert_eq!(
            id,
            connection_id(Timestamp(1_700_000_000_000_000_000), Transport::Tcp, c, s)
        );
        let others = [
            connection_id(Timestamp(1_700_000_000_000_000_001), Transport::Tcp, c, s),
            connection_id(Timestamp(1_700_000_000_000_000_000), Transport::Udp, c, s),
            connection_id(Timestamp(1_700_000_000_000_000_000), Transport::Tcp, s, c),
            connection_id(
                Timestamp(1_700_000_000_000_000_000),
                Transport::Tcp,
                ep("::ffff:10.0.0.1", 40000),
                s,
            ),
        ];
        for other in others {
            assert_ne!(id, other);
        }
    }
}
