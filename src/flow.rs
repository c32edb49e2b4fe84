//! Flow identity: the canonical key of a connection (its transport and endpoints), which way a
//! packet travels on it, the symmetric hash that sends both directions to one worker, and packet
//! timestamps.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

pub mod community_id;
pub mod connection_id;
pub mod id_text;

/// Capture time of a packet in nanoseconds since the Unix epoch.
///
/// Nanoseconds so that nanosecond-precision captures keep their precision; microsecond files
/// are scaled on read.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Later than any capture time: the end of the capture, for ordering.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Earlier than any capture time, for ordering.
    pub const MIN: Timestamp = Timestamp(i64::MIN);

    /// Builds a timestamp from seconds and a sub-second part in nanoseconds.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Whole microseconds since the epoch (rounded down), the unit of every reported duration.
    pub fn as_micros(self) -> i64 {
        self.0.div_euclid(1_000)
    }

    /// Microseconds from `earlier` to `self`; negative when the capture's clock went backwards.
    pub fn micros_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).div_euclid(1_000)
    }

    /// Microseconds from `earlier` to `self`, or `None` when the clock went backwards in
    /// between: a duration across a backward step of the capture's clock means nothing, and a
    /// negative one would poison percentiles.
    pub fn elapsed_since(self, earlier: Timestamp) -> Option<i64> {
        (self >= earlier).then(|| self.micros_since(earlier))
    }
}

/// The transport protocol a flow runs over. Part of the flow's identity, so that a TCP and a
/// UDP flow between the same endpoints never share state.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// TCP: TLS records in a reassembled byte stream.
    Tcp,
    /// UDP: QUIC packets or DTLS records in datagrams.
    Udp,
}

/// One end of a connection.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Endpoint {
    /// IPv4 or IPv6 address.
    pub ip: IpAddr,
    /// TCP or UDP port.
    pub port: u16,
}

impl Endpoint {
    /// The endpoint of `ip` (a literal) and `port`, for tests.
    #[cfg(test)]
    pub(crate) fn test(ip: &str, port: u16) -> Self {
        Endpoint {
            ip: ip.parse().expect("test address"),
            port,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// Which way a packet travels, relative to the canonical order of its [`FlowKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From `FlowKey::lo` to `FlowKey::hi`.
    LoToHi,
    /// From `FlowKey::hi` to `FlowKey::lo`.
    HiToLo,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Direction::LoToHi => Direction::HiToLo,
            Direction::HiToLo => Direction::LoToHi,
        }
    }

    /// 0 or 1, for per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::LoToHi => 0,
            Direction::HiToLo => 1,
        }
    }
}

/// A connection's identity: its transport and its endpoints in canonical (sorted) order, so
/// that both directions of a connection map to the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    /// TCP or UDP.
    pub transport: Transport,
    /// The smaller endpoint.
    pub lo: Endpoint,
    /// The larger endpoint.
    pub hi: Endpoint,
}

/// Hashed as two words for an IPv4 key (both addresses in one, ports and transport in the
/// other) and five for IPv6, instead of the derived field-by-field hashing (an enum tag, the
/// address bytes and the port of each endpoint: nine steps): a worker hashes every segment's
/// key a few times (its prefetch stages and its own look-up).
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ports =
            u64::from(self.lo.port) << 16 | u64::from(self.hi.port) | (self.transport as u64) << 32;
        match (&self.lo.ip, &self.hi.ip) {
            (IpAddr::V4(lo), IpAddr::V4(hi)) => {
                state.write_u64(u64::from(u32::from(*lo)) << 32 | u64::from(u32::from(*hi)));
                state.write_u64(ports);
            }
            (lo, hi) => {
                let wide = |ip: &IpAddr| match ip {
                    IpAddr::V4(ip) => u128::from(ip.to_ipv6_mapped()),
                    IpAddr::V6(ip) => u128::from(*ip),
                };
                state.write_u128(wide(lo));
                state.write_u128(wide(hi));
                // Tells a mixed key from the all-IPv4 one with the same words.
                state.write_u64(ports | 1 << 40);
            }
        }
    }
}

impl FlowKey {
    /// The key of the `transport` connection a packet from `src` to `dst` belongs to, and the
    /// packet's direction on it. Inlined: returned through memory, the key was read back with
    /// other widths than it was written with (a store-forwarding stall on every packet).
    #[inline]
    pub fn from_endpoints(
        transport: Transport,
        src: Endpoint,
        dst: Endpoint,
    ) -> (FlowKey, Direction) {
        if src <= dst {
            let key = FlowKey {
                transport,
                lo: src,
                hi: dst,
            };
            (key, Direction::LoToHi)
        } else {
            let key = FlowKey {
                transport,
                lo: dst,
                hi: src,
            };
            (key, Direction::HiToLo)
        }
    }

    /// The sender of packets travelling in `dir`.
    pub fn source(&self, dir: Direction) -> Endpoint {
        match dir {
            Direction::LoToHi => self.lo,
            Direction::HiToLo => self.hi,
        }
    }

    /// The receiver of packets travelling in `dir`.
    pub fn destination(&self, dir: Direction) -> Endpoint {
        self.source(dir.reverse())
    }

    /// A hash of the key that does not depend on direction (the key is canonical), used to pick
    /// the worker that owns the connection. A multiply-rotate step per address word and port,
    /// then the splitmix64 finaliser so that every key bit reaches the low bits `shard` uses:
    /// cheap on the reader thread (which hashes every packet), stable across runs and
    /// platforms, so offline results never depend on a random hasher seed. A UDP flow mixes in
    /// its protocol number, so it need not land on the worker of the TCP flow on its ports.
    pub fn shard_hash(&self) -> u64 {
        let mut h: u64 = 0;
        let mut eat = |word: u64| {
            h = (h ^ word)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        };
        for ep in [self.lo, self.hi] {
            match ep.ip {
                IpAddr::V4(ip) => eat(u64::from(u32::from(ip))),
                IpAddr::V6(ip) => {
                    let v = u128::from(ip);
                    eat(v as u64);
                    eat((v >> 64) as u64);
                }
            }
            eat(u64::from(ep.port));
        }
        if self.transport == Transport::Udp {
            eat(17);
        }
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }

    /// The worker (0..`workers`) that owns this connection: the hash scaled to the worker
    /// count by a multiply-high (the reader does it for every packet, and a 64-bit division by
    /// a count only known at run time costs tens of cycles; the finaliser makes the high bits
    /// as good as the low ones).
    pub fn shard(&self, workers: usize) -> usize {
        let scaled = u128::from(self.shard_hash()) * workers.max(1) as u128;
        (scaled >> 64) as usize
    }
}

/// The fields of a TCP header that reassembly uses, as decoded and as segments carry them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHeader {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when the ACK flag is set).
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
}

/// The TCP header flags tlsight looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: the sender has no more data.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronise sequence numbers (connection opening).
    pub const SYN: u8 = 0x02;
    /// RST: abort the connection.
    pub const RST: u8 = 0x04;
    /// PSH: push buffered data.
    pub const PSH: u8 = 0x08;
    /// ACK: the acknowledgment field is valid.
    pub const ACK: u8 = 0x10;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// SYN set.
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// ACK set.
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    /// FIN set.
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// RST set.
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ep(ip: IpAddr, port: u16) -> Endpoint {
        Endpoint { ip, port }
    }

    #[test]
    fn both_directions_share_key_and_shard() {
        let a = ep(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
        let b = ep(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443);
        let (k1, d1) = FlowKey::from_endpoints(Transport::Tcp, a, b);
        let (k2, d2) = FlowKey::from_endpoints(Transport::Tcp, b, a);
        assert_eq!(k1, k2);
        assert_eq!(d1, d2.reverse());
        assert_eq!(k1.shard(4), k2.shard(4));
        assert_eq!(k1.source(d1), a);
        assert_eq!(k1.destination(d1), b);
    }

    #[test]
    fn keys_that_differ_in_any_field_hash_apart() {
        use std::hash::BuildHasher;
        let hash = |k: &FlowKey| rustc_hash::FxBuildHasher.hash_one(k);
        let v4 = |a: u32, port| ep(IpAddr::V4(Ipv4Addr::from(a)), port);
        let v6 = |a: u128, port| ep(IpAddr::V6(Ipv6Addr::from(a)), port);
        let key = |transport, lo, hi| FlowKey { transport, lo, hi };
        let keys = [
            key(Transport::Tcp, v4(1, 443), v4(2, 80)),
            key(Transport::Udp, v4(1, 443), v4(2, 80)),
            key(Transport::Tcp, v4(1, 80), v4(2, 443)),
            key(Transport::Tcp, v4(2, 443), v4(1, 80)),
            key(Transport::Tcp, v4(1, 443), v4(3, 80)),
            key(Transport::Tcp, v6(1, 443), v6(2, 80)),
            key(Transport::Tcp, v6(1 << 64, 443), v6(2, 80)),
            key(Transport::Tcp, v6(1, 443), v4(2, 80)),
        ];
        let mut hashes: Vec<u64> = keys.iter().map(hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), keys.len());
        // Equal keys, however made, hash the same.
        let a = v4(0x0a00_0001, 40000);
        let b = v4(0xc633_6401, 443);
        let (k1, _) = FlowKey::from_endpoints(Transport::Tcp, a, b);
        let (k2, _) = FlowKey::from_endpoints(Transport::Tcp, b, a);
        assert_eq!(hash(&k1), hash(&k2));
    }

    #[test]
    fn shards_spread_over_workers() {
        let server = ep(IpAddr::V6(Ipv6Addr::LOCALHOST), 443);
        let mut seen = [0usize; 4];
        for port in 1000..2000 {
            let (k, _) = FlowKey::from_endpoints(
                Transport::Tcp,
                ep(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
                server,
            );
            seen[k.shard(4)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 150), "uneven shards: {seen:?}");
        // IPv4 clients of one server, over two and three workers.
        let server = ep(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 443);
        for workers in [2, 3] {
            let mut seen = [0usize; 3];
            for host in 0..1000u32 {
                let client = ep(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + host)), 50000);
                let (k, _) = FlowKey::from_endpoints(Transport::Tcp, client, server);
                seen[k.shard(workers)] += 1;
            }
            let fair = 1000 / workers;
            assert!(
                seen.iter().take(workers).all(|&n| n > fair * 8 / 10),
                "uneven shards over {workers}: {seen:?}"
            );
        }
    }

    #[test]
    fn timestamps_convert_to_micros() {
        let t = Timestamp::from_parts(1, 500_999);
        assert_eq!(t.as_micros(), 1_000_500);
        assert_eq!(t.micros_since(Timestamp::from_parts(1, 0)), 500);
        assert_eq!(t.elapsed_since(Timestamp::from_parts(1, 0)), Some(500));
        assert_eq!(Timestamp::from_parts(0, 0).elapsed_since(t), None);
    }
}
