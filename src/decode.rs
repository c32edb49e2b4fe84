//! Stateless link/IP/TCP/UDP header decoding, plus IP defragmentation (the only state), so that
//! every TCP segment and UDP datagram reaches the flow layer with its ports, whatever the link
//! type or tunnel.
//!
//! Parsing is hand-rolled over byte slices: it runs for every packet of multi-gigabyte captures,
//! needs only the few fields tlsight uses, and never allocates (except to hold IP fragments).
//! It keeps its own three slice reads (`split`, `skip`, `take`) instead of the shared reading
//! layer ([`crate::wire`], nom) for speed: with them written on `wire` (`array`, nom's
//! `take`), decoding took 17 % more instructions (`Cx::ethertype` inclusive, 18.09 → 21.10 M on
//! `handshakes-10k`, callgrind, `--workers 1`; the reader's `Reader::frame` 65.2 → 68.3 M),
//! +0.6 % of the whole run, for no change in what is read (benches/README.md, "nom or a
//! cursor").
//! Lengths are always taken from the innermost header that states them (IP total length, UDP
//! length, PPPoE length), so Ethernet padding and trailers never leak into TCP payloads.

mod defrag;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use defrag::{DecodeStats, DefragConfig};
use defrag::{Defrag, FragKey, Fragment, Insert};

use crate::flow::{Endpoint, TcpFlags, TcpHeader, Timestamp};

/// A libpcap link-layer type (`DLT_*`/`LINKTYPE_*` number) as found in the capture header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

impl LinkType {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (with 802.1Q/802.1ad tags, PPPoE, MPLS inside).
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP (`DLT_PPP`, RFC 1661): address and control bytes (RFC 1662 framing) when not
    /// compressed away, then the protocol (QUIC interop-runner captures use it).
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP as `DLT_RAW` on most BSDs and macOS write it.
    pub const RAW_BSD: LinkType = LinkType(12);
    /// Raw IP as `DLT_RAW` on OpenBSD writes it.
    pub const RAW_OPENBSD: LinkType = LinkType(14);
    /// Raw IP (`LINKTYPE_RAW`): the version nibble tells IPv4 from IPv6.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture (`any` interface), version 1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4 only.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6 only.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux "cooked" capture, version 2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Whether [`Decoder::decode`] understands this link type, so that a capture of another
    /// type can be refused up front instead of failing on every frame.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            LinkType::NULL
                | LinkType::ETHERNET
                | LinkType::PPP
                | LinkType::RAW_BSD
                | LinkType::RAW_OPENBSD
                | LinkType::RAW
                | LinkType::LOOP
                | LinkType::LINUX_SLL
                | LinkType::IPV4
                | LinkType::IPV6
                | LinkType::LINUX_SLL2
        )
    }
}

/// One TCP segment with the headers tlsight needs; the payload borrows the frame (or the
/// decoder's defragmentation buffer).
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// Sequence and acknowledgment numbers, flags.
    pub header: TcpHeader,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// One UDP datagram (not a tunnel's: those are decapsulated); the payload borrows the frame
/// (or the decoder's defragmentation buffer).
#[derive(Clone, Copy, Debug)]
pub struct UdpDatagram<'a> {
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// UDP payload, as far as it was captured.
    pub payload: &'a [u8],
    /// The capture cut the datagram short (snap length): `payload` is incomplete.
    pub truncated: bool,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
    /// A well-formed packet that is neither TCP nor UDP (ICMP, ARP, ESP, ...): counted, not
    /// analysed.
    Other,
    /// An IP fragment taken by the defragmenter: kept until its datagram is complete, or
    /// dropped by one of its caps (counted in [`DecodeStats`]).
    FragmentHeld,
}

/// Why a frame could not be decoded; counted per kind in the report, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame ended before a header did.
    #[error("frame too short for its {layer} header")]
    Truncated {
        /// The layer whose header was cut.
        layer: &'static str,
    },
    /// A header field had an impossible value.
    #[error("malformed {layer} header: {what}")]
    Malformed {
        /// The layer of the bad header.
        layer: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// The capture's link type is not one tlsight decodes.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(i32),
}

/// Declares the layer names used in errors and, from the same list, their counter keys.
macro_rules! layers {
    ($($id:ident = $name:literal,)*) => {
        /// Names of the layers in [`DecodeError`]s, one constant each so that the set of
        /// counter keys is closed and known.
        pub mod layer {
            $(
                #[doc = concat!("The `", $name, "` layer.")]
                pub const $id: &str = $name;
            )*
        }

        fn truncated_kind(layer: &str) -> &'static str {
            match layer {
                $($name => concat!("truncated_", $name),)*
                _ => "truncated_other",
            }
        }

        fn malformed_kind(layer: &str) -> &'static str {
            match layer {
                $($name => concat!("malformed_", $name),)*
                _ => "malformed_other",
            }
        }
    };
}

layers! {
    ETHERNET = "ethernet",
    VLAN = "vlan",
    PPPOE = "pppoe",
    PPP = "ppp",
    MPLS = "mpls",
    SLL = "sll",
    SLL2 = "sll2",
    LOOPBACK = "loopback",
    IP = "ip",
    IPV4 = "ipv4",
    IPV6 = "ipv6",
    IP_EXT = "ip_ext",
    FRAGMENT = "ip_fragment",
    UDP = "udp",
    GENEVE = "geneve",
    VXLAN = "vxlan",
    GRE = "gre",
    GTP = "gtp",
    ERSPAN = "erspan",
    TCP = "tcp",
    TUNNEL = "tunnel",
}

impl DecodeError {
    /// A short snake_case key (`truncated_ipv4`, `malformed_tcp`, `unsupported_link_type`) under
    /// which the caller counts this error: static, so counting never allocates.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Truncated { layer } => truncated_kind(layer),
            DecodeError::Malformed { layer, .. } => malformed_kind(layer),
            DecodeError::UnsupportedLinkType(_) => "unsupported_link_type",
        }
    }
}

/// Most Ethernet and IP headers one frame may stack (outer ones included), so that hostile
/// nesting of tunnels cannot recurse without bound. A GRE-over-IPv4 Ethernet tunnel uses 4.
pub const MAX_LAYERS: u8 = 12;

/// Datagrams reassembled within one frame (a fragmented tunnel inside a fragmented tunnel…):
/// each needs its own buffer alive while the frame is decoded.
const REASSEMBLY_SLOTS: usize = 4;

/// Decodes frames; holds the IP defragmentation state.
#[derive(Debug, Default)]
pub struct Decoder {
    defrag: Defrag,
    /// Buffers of the datagrams completed by the current frame, which its segment may borrow.
    reassembled: [Vec<u8>; REASSEMBLY_SLOTS],
}

impl Decoder {
    /// A decoder with empty defragmentation state.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// A decoder whose defragmenter uses the limits `cfg` instead of the defaults.
    pub fn with_config(cfg: DefragConfig) -> Self {
        Decoder {
            defrag: Defrag::new(cfg),
            reassembled: Default::default(),
        }
    }

    /// Defragmentation counters so far.
    pub fn stats(&self) -> DecodeStats {
        self.defrag.stats
    }

    /// IP datagrams waiting for more fragments.
    pub fn fragments_in_progress(&self) -> usize {
        self.defrag.in_progress()
    }

    /// Drops (and counts as expired) the incomplete datagrams whose timeout passed at capture
    /// time `now`; call at the end of a capture with a far-future time to count leftovers.
    pub fn expire(&mut self, now: Timestamp) {
        self.defrag.expire(now);
    }

    /// Decodes one frame of link type `link` captured at `ts`.
    #[inline(always)]
    pub fn decode<'a>(
        &'a mut self,
        link: LinkType,
        frame: &'a [u8],
        ts: Timestamp,
    ) -> Result<Decoded<'a>, DecodeError> {
        if link == LinkType::ETHERNET
            && let Some(decoded) = ethernet_ipv4_tcp(frame)
        {
            return decoded;
        }
        self.decode_any(link, frame, ts)
    }

    /// [`Self::decode`] of any frame, out of line.
    #[inline(never)]
    fn decode_any<'a>(
        &'a mut self,
        link: LinkType,
        frame: &'a [u8],
        ts: Timestamp,
    ) -> Result<Decoded<'a>, DecodeError> {
        let mut cx = Cx {
            defrag: &mut self.defrag,
            slots: &mut self.reassembled,
            ts,
            layers: 0,
        };
        cx.link(link, frame)
    }
}

/// Where the bytes handed to an IP header end, which decides what an IP length beyond them
/// means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// At the end of the captured frame (or of an enclosing payload): the capture was cut.
    Capture,
    /// At a length field of a framing layer (PPPoE). Real access concentrators get it right
    /// where senders pad the IP packet and overstate its length (Wireshark agrees), so the
    /// packet is clipped to it.
    Framed,
}

impl End {
    /// The first `len` bytes of `data`, an IP packet whose header states that length.
    fn take<'d>(
        self,
        data: &'d [u8],
        len: usize,
        layer: &'static str,
    ) -> Result<&'d [u8], DecodeError> {
        match self {
            End::Capture => take(data, len, layer),
            End::Framed => Ok(data.get(..len).unwrap_or(data)),
        }
    }
}

/// `Ok(Decoded::Other)`, the answer for everything tlsight does not analyse.
const OTHER: Result<Decoded<'static>, DecodeError> = Ok(Decoded::Other);

/// The state of decoding one frame.
struct Cx<'a, 'd> {
    defrag: &'d mut Defrag,
    /// Reassembly buffers not yet used by this frame.
    slots: &'a mut [Vec<u8>],
    ts: Timestamp,
    /// Ethernet and IP headers entered so far.
    layers: u8,
}

/// Splits a fixed-size header off `data`.
fn split<'d, const N: usize>(
    data: &'d [u8],
    layer: &'static str,
) -> Result<(&'d [u8; N], &'d [u8]), DecodeError> {
    data.split_first_chunk::<N>()
        .ok_or(DecodeError::Truncated { layer })
}

/// `data` without its first `n` bytes.
fn skip<'d>(data: &'d [u8], n: usize, layer: &'static str) -> Result<&'d [u8], DecodeError> {
    data.get(n..).ok_or(DecodeError::Truncated { layer })
}

/// The first `n` bytes of `data` (a length field's worth).
fn take<'d>(data: &'d [u8], n: usize, layer: &'static str) -> Result<&'d [u8], DecodeError> {
    data.get(..n).ok_or(DecodeError::Truncated { layer })
}

fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

fn malformed(layer: &'static str, what: &'static str) -> DecodeError {
    DecodeError::Malformed { layer, what }
}

/// Address families seen in loopback headers: AF_INET everywhere; AF_INET6 is 10 on Linux,
/// 23 on Windows, 24 on NetBSD/OpenBSD, 28 on FreeBSD/DragonFly, 30 on macOS.
const AF_INET: u32 = 2;
const AF_INET6: [u32; 5] = [10, 23, 24, 28, 30];

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_TEB: u16 = 0x6558;
/// GRE protocol types of ERSPAN: types I and II (told apart by GRE's sequence number flag),
/// and type III.
const GRE_ERSPAN: u16 = 0x88be;
const GRE_ERSPAN_III: u16 = 0x22eb;

/// UDP destination ports of the tunnels that are decapsulated.
const PORT_VXLAN: u16 = 4789;
const PORT_GENEVE: u16 = 6081;
const PORT_GTP_U: u16 = 2152;

impl<'a> Cx<'a, '_> {
    fn link(&mut self, link: LinkType, frame: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        match link {
            LinkType::ETHERNET => self.ethernet(frame),
            LinkType::LINUX_SLL => {
                let (h, rest) = split::<16>(frame, layer::SLL)?;
                self.ethertype(be16(h[14], h[15]), rest)
            }
            LinkType::LINUX_SLL2 => {
                let (h, rest) = split::<20>(frame, layer::SLL2)?;
                self.ethertype(be16(h[0], h[1]), rest)
            }
            LinkType::PPP => {
                // Address 0xff and control 0x03, unless address/control compression dropped them.
                let frame = match frame {
                    [0xff, 0x03, rest @ ..] => rest,
                    _ => frame,
                };
                self.ppp(frame, End::Capture, layer::PPP)
            }
            LinkType::RAW | LinkType::RAW_BSD | LinkType::RAW_OPENBSD => self.raw_ip(frame),
            LinkType::IPV4 => self.ipv4(frame, End::Capture),
            LinkType::IPV6 => self.ipv6(frame, End::Capture),
            LinkType::NULL => {
                let (h, rest) = split::<4>(frame, layer::LOOPBACK)?;
                // Host byte order of an unknown host: families are small, so the zero half
                // tells which end is which.
                let family = if h[0] == 0 && h[1] == 0 {
                    u32::from_be_bytes(*h)
                } else {
                    u32::from_le_bytes(*h)
                };
                self.family(family, rest)
            }
            LinkType::LOOP => {
                let (h, rest) = split::<4>(frame, layer::LOOPBACK)?;
                self.family(u32::from_be_bytes(*h), rest)
            }
            LinkType(other) => Err(DecodeError::UnsupportedLinkType(other)),
        }
    }

    fn family(&mut self, family: u32, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        if family == AF_INET {
            self.ipv4(data, End::Capture)
        } else if AF_INET6.contains(&family) {
            self.ipv6(data, End::Capture)
        } else {
            OTHER
        }
    }

    /// Counts one more Ethernet or IP header, refusing hostile nesting.
    fn enter(&mut self) -> Result<(), DecodeError> {
        self.layers += 1;
        if self.layers > MAX_LAYERS {
            return Err(malformed(layer::TUNNEL, "encapsulation nested too deep"));
        }
        Ok(())
    }

    fn raw_ip(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let first = data
            .first()
            .ok_or(DecodeError::Truncated { layer: layer::IP })?;
        match first >> 4 {
            4 => self.ipv4(data, End::Capture),
            6 => self.ipv6(data, End::Capture),
            _ => Err(malformed(layer::IP, "version is neither 4 nor 6")),
        }
    }

    fn ethernet(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        self.enter()?;
        let (h, rest) = split::<14>(data, layer::ETHERNET)?;
        self.ethertype(be16(h[12], h[13]), rest)
    }

    /// Decodes `data`, a payload of the given EtherType (also used by SLL, GRE and Geneve).
    fn ethertype(&mut self, ethertype: u16, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (mut ethertype, mut data) = (ethertype, data);
        loop {
            match ethertype {
                ETHERTYPE_IPV4 => return self.ipv4(data, End::Capture),
                ETHERTYPE_IPV6 => return self.ipv6(data, End::Capture),
                // 802.1Q, 802.1ad, and the pre-standard QinQ types: a 4-byte tag each.
                0x8100 | 0x88a8 | 0x9100 | 0x9200 | 0x9300 => {
                    let (h, rest) = split::<4>(data, layer::VLAN)?;
                    ethertype = be16(h[2], h[3]);
                    data = rest;
                }
                0x8864 => return self.pppoe(data),
                0x8847 | 0x8848 => return self.mpls(data),
                ETHERTYPE_TEB => return self.ethernet(data),
                _ => return OTHER,
            }
        }
    }

    /// PPPoE session stage: 6-byte header, then a PPP frame without address and control.
    fn pppoe(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (h, rest) = split::<6>(data, layer::PPPOE)?;
        if h[0] != 0x11 {
            return Err(malformed(layer::PPPOE, "version/type is not 1/1"));
        }
        if h[1] != 0 {
            return Err(malformed(layer::PPPOE, "session frame with nonzero code"));
        }
        let ppp = take(rest, usize::from(be16(h[4], h[5])), layer::PPPOE)?;
        self.ppp(ppp, End::Framed, layer::PPPOE)
    }

    /// A PPP frame from its protocol field on (PPPoE's, or the PPP link type's after address
    /// and control); `end` says whether the IP packet ends with the frame (`layer` names the
    /// framing in errors).
    fn ppp(
        &mut self,
        ppp: &'a [u8],
        end: End,
        layer: &'static str,
    ) -> Result<Decoded<'a>, DecodeError> {
        // The protocol field may be compressed to one byte (odd values only).
        let (protocol, payload) = match ppp {
            [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
            [hi, lo, rest @ ..] => (be16(*hi, *lo), rest),
            _ => return Err(DecodeError::Truncated { layer }),
        };
        match protocol {
            0x0021 => self.ipv4(payload, end),
            0x0057 => self.ipv6(payload, end),
            _ => OTHER,
        }
    }

    /// MPLS label stack; the payload after the bottom label is told by its IP version nibble
    /// (the only way: MPLS does not say what it carries).
    fn mpls(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let mut data = data;
        loop {
            let (h, rest) = split::<4>(data, layer::MPLS)?;
            data = rest;
            if h[2] & 1 == 1 {
                break;
            }
        }
        let first = data
            .first()
            .ok_or(DecodeError::Truncated { layer: layer::MPLS })?;
        match first >> 4 {
            4 => self.ipv4(data, End::Capture),
            6 => self.ipv6(data, End::Capture),
            _ => OTHER,
        }
    }

    fn ipv4(&mut self, data: &'a [u8], end: End) -> Result<Decoded<'a>, DecodeError> {
        self.enter()?;
        let ip = Ipv4Packet::parse(data, end)?;
        let (src, dst) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
        if ip.more_fragments || ip.fragment_offset != 0 {
            let key = FragKey {
                src,
                dst,
                id: u32::from(ip.id),
                proto: ip.proto,
            };
            let frag = Fragment {
                offset: ip.fragment_offset,
                more: ip.more_fragments,
                next: ip.proto,
                data: ip.payload,
            };
            return self.fragment(key, frag);
        }
        self.ip_payload(ip.proto, src, dst, ip.payload)
    }

    fn ipv6(&mut self, data: &'a [u8], end: End) -> Result<Decoded<'a>, DecodeError> {
        self.enter()?;
        let (h, rest) = split::<40>(data, layer::IPV6)?;
        if h[0] >> 4 != 6 {
            return Err(malformed(layer::IPV6, "version is not 6"));
        }
        let payload = match usize::from(be16(h[4], h[5])) {
            // A jumbogram or a segmentation-offloaded packet: the captured length is all.
            0 => rest,
            len => end.take(rest, len, layer::IPV6)?,
        };
        let mut src = [0u8; 16];
        src.copy_from_slice(&h[8..24]);
        let mut dst = [0u8; 16];
        dst.copy_from_slice(&h[24..40]);
        let (src, dst) = (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into());
        self.ip_payload(h[6], src, dst, payload)
    }

    /// Decodes an IP payload of protocol `proto`, walking IPv6 extension headers (and AH,
    /// which IPv4 has too) until the transport header.
    fn ip_payload(
        &mut self,
        proto: u8,
        src: IpAddr,
        dst: IpAddr,
        data: &'a [u8],
    ) -> Result<Decoded<'a>, DecodeError> {
        let (mut proto, mut data) = (proto, data);
        loop {
            match proto {
                6 => return tcp(src, dst, data),
                17 => return self.udp(src, dst, data),
                4 => return self.ipv4(data, End::Capture),
                41 => return self.ipv6(data, End::Capture),
                47 => return self.gre(data),
                // Hop-by-hop, routing, destination options, mobility, HIP, shim6: the
                // length counts 8-byte units beyond the first.
                0 | 43 | 60 | 135 | 139 | 140 => {
                    let (h, _) = split::<2>(data, layer::IP_EXT)?;
                    proto = h[0];
                    data = skip(data, (usize::from(h[1]) + 1) * 8, layer::IP_EXT)?;
                }
                // Authentication header: the length counts 4-byte units beyond the second.
                51 => {
                    let (h, _) = split::<2>(data, layer::IP_EXT)?;
                    proto = h[0];
                    data = skip(data, (usize::from(h[1]) + 2) * 4, layer::IP_EXT)?;
                }
                44 => {
                    let (h, rest) = split::<8>(data, layer::IP_EXT)?;
                    let offset = u32::from(be16(h[2], h[3]) & 0xfff8);
                    let more = h[3] & 1 == 1;
                    if offset == 0 && !more {
                        // An atomic fragment: the whole datagram.
                        proto = h[0];
                        data = rest;
                        continue;
                    }
                    let key = FragKey {
                        src,
                        dst,
                        id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                        proto: 0,
                    };
                    let frag = Fragment {
                        offset,
                        more,
                        next: h[0],
                        data: rest,
                    };
                    return self.fragment(key, frag);
                }
                // ESP (encrypted), no next header, and every other transport.
                _ => return OTHER,
            }
        }
    }

    /// Hands a fragment to the defragmenter and, when it completes its datagram, decodes the
    /// datagram from a reassembly buffer the result may borrow.
    fn fragment(&mut self, key: FragKey, frag: Fragment<'a>) -> Result<Decoded<'a>, DecodeError> {
        match self.defrag.insert(key, frag, self.ts)? {
            Insert::Held => Ok(Decoded::FragmentHeld),
            Insert::Complete { next, datagram } => {
                let (slot, rest) =
                    std::mem::take(&mut self.slots)
                        .split_first_mut()
                        .ok_or(malformed(
                            layer::FRAGMENT,
                            "fragmented datagrams nested too deep",
                        ))?;
                self.slots = rest;
                *slot = datagram;
                self.ip_payload(next, key.src, key.dst, slot)
            }
        }
    }

    /// UDP: the tunnel ports (VXLAN, Geneve, GTP-U) are decapsulated; any other datagram is
    /// handed on.
    fn udp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        data: &'a [u8],
    ) -> Result<Decoded<'a>, DecodeError> {
        let (h, _) = split::<8>(data, layer::UDP)?;
        let dst_port = be16(h[2], h[3]);
        let tunnel = matches!(dst_port, PORT_VXLAN | PORT_GENEVE | PORT_GTP_U);
        let len = usize::from(be16(h[4], h[5]));
        if !tunnel {
            // Length 0 is an IPv6 jumbogram's (RFC 2675): the datagram runs to the end.
            let end = if len == 0 { data.len() } else { len };
            if end < 8 {
                return OTHER;
            }
            let captured = data.get(..end).unwrap_or(data);
            return Ok(Decoded::Udp(UdpDatagram {
                src: Endpoint {
                    ip: src,
                    port: be16(h[0], h[1]),
                },
                dst: Endpoint {
                    ip: dst,
                    port: dst_port,
                },
                payload: captured.get(8..).unwrap_or_default(),
                truncated: captured.len() < end,
            }));
        }
        let datagram = match len {
            0 => data,
            len if len < 8 => return Err(malformed(layer::UDP, "length below 8 bytes")),
            len => take(data, len, layer::UDP)?,
        };
        let payload = skip(datagram, 8, layer::UDP)?;
        match dst_port {
            PORT_VXLAN => self.vxlan(payload),
            PORT_GENEVE => self.geneve(payload),
            _ => self.gtp_u(payload),
        }
    }

    /// GTP-U (3GPP TS 29.281), version 1: an 8-byte header; a 4-byte one more when any of
    /// the E, S and PN flags is set, and with E a chain of extension headers (each a length
    /// in 4-byte units, content, and the type of the next; type 0 ends the chain). Only
    /// G-PDUs (message type 255) carry user traffic, an IP packet; echo, error indication and
    /// end marker messages, GTP' (protocol type 0) and other versions carry none.
    fn gtp_u(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (h, _) = split::<8>(data, layer::GTP)?;
        let flags = h[0];
        if flags >> 5 != 1 || flags & 0x10 == 0 || h[1] != 255 {
            return OTHER;
        }
        // The length counts what follows the first 8 bytes; a capture cut short is left to
        // the inner IP header to report.
        let end = 8 + usize::from(be16(h[2], h[3]));
        let message = data.get(..end).unwrap_or(data);
        let mut rest = skip(message, 8, layer::GTP)?;
        if flags & 0x07 != 0 {
            let (optional, after) = split::<4>(rest, layer::GTP)?;
            rest = after;
            let mut next = if flags & 0x04 != 0 { optional[3] } else { 0 };
            while next != 0 {
                let (&units, _) = rest
                    .split_first()
                    .ok_or(DecodeError::Truncated { layer: layer::GTP })?;
                if units == 0 {
                    return Err(malformed(layer::GTP, "extension header of length 0"));
                }
                let ext = take(rest, usize::from(units) * 4, layer::GTP)?;
                next = ext.last().copied().unwrap_or_default();
                rest = skip(rest, ext.len(), layer::GTP)?;
            }
        }
        match rest.first().map(|b| b >> 4) {
            Some(4) => self.ipv4(rest, End::Capture),
            Some(6) => self.ipv6(rest, End::Capture),
            // An Ethernet or unstructured PDU session, or an empty G-PDU.
            _ => OTHER,
        }
    }

    /// VXLAN (RFC 7348): 8-byte header, then an Ethernet frame.
    fn vxlan(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (h, rest) = split::<8>(data, layer::VXLAN)?;
        if h[0] & 0x08 == 0 {
            // Without the valid-VNI flag this is not VXLAN (or carries nothing).
            return OTHER;
        }
        self.ethernet(rest)
    }

    /// Geneve (RFC 8926): 8-byte header plus options, then an EtherType payload.
    fn geneve(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (h, _) = split::<8>(data, layer::GENEVE)?;
        if h[0] >> 6 != 0 {
            return Err(malformed(layer::GENEVE, "unknown version"));
        }
        let rest = skip(data, 8 + usize::from(h[0] & 0x3f) * 4, layer::GENEVE)?;
        self.ethertype(be16(h[2], h[3]), rest)
    }

    /// GRE (RFC 2784/2890): version 0 with optional checksum, key and sequence number.
    fn gre(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (h, _) = split::<4>(data, layer::GRE)?;
        let flags = be16(h[0], h[1]);
        // Version 1 is PPTP's enhanced GRE and the routing bit is RFC 1701 source routing:
        // neither carries traffic tlsight expects.
        if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
            return OTHER;
        }
        // Checksum (with its reserved word), key and sequence number: 4 bytes each.
        let optional = (flags & 0xb000).count_ones() as usize;
        let rest = skip(data, 4 + 4 * optional, layer::GRE)?;
        match be16(h[2], h[3]) {
            // ERSPAN type I has no header of its own (and GRE no sequence number).
            GRE_ERSPAN if flags & 0x1000 == 0 => self.ethernet(rest),
            GRE_ERSPAN => self.erspan(rest),
            GRE_ERSPAN_III => self.erspan_iii(rest),
            protocol => self.ethertype(protocol, rest),
        }
    }

    /// ERSPAN type II (draft-foschiano-erspan): an 8-byte header of version 1, then the
    /// mirrored Ethernet frame.
    fn erspan(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (h, rest) = split::<8>(data, layer::ERSPAN)?;
        if h[0] >> 4 != 1 {
            return Err(malformed(layer::ERSPAN, "type II header without version 1"));
        }
        self.ethernet(rest)
    }

    /// ERSPAN type III: a 12-byte header of version 2, an 8-byte platform-specific
    /// subheader when its O flag is set, then the mirrored frame, Ethernet or (frame type 2)
    /// an IP packet.
    fn erspan_iii(&mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let (h, rest) = split::<12>(data, layer::ERSPAN)?;
        if h[0] >> 4 != 2 {
            return Err(malformed(
                layer::ERSPAN,
                "type III header without version 2",
            ));
        }
        let word = be16(h[10], h[11]);
        let rest = if word & 1 != 0 {
            skip(rest, 8, layer::ERSPAN)?
        } else {
            rest
        };
        match (word >> 10) & 0x1f {
            0 => self.ethernet(rest),
            2 => self.raw_ip(rest),
            _ => OTHER,
        }
    }
}

/// An IPv4 header's fields and the packet's payload.
struct Ipv4Packet<'d> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    id: u16,
    more_fragments: bool,
    /// In bytes.
    fragment_offset: u32,
    payload: &'d [u8],
}

impl<'d> Ipv4Packet<'d> {
    /// Reads the header at the start of `data`; `end` says what a total length beyond `data`
    /// means.
    #[inline(always)]
    fn parse(data: &'d [u8], end: End) -> Result<Self, DecodeError> {
        let (h, _) = split::<20>(data, layer::IPV4)?;
        if h[0] >> 4 != 4 {
            return Err(malformed(layer::IPV4, "version is not 4"));
        }
        let header_len = usize::from(h[0] & 0x0f) * 4;
        if header_len < 20 {
            return Err(malformed(layer::IPV4, "header length below 20 bytes"));
        }
        let packet = match usize::from(be16(h[2], h[3])) {
            // Segmentation offload: the kernel hands the capture a packet whose length it
            // has not filled in yet; the captured length is all there is.
            0 => data,
            total if total < header_len => {
                return Err(malformed(layer::IPV4, "total length below header length"));
            }
            total => end.take(data, total, layer::IPV4)?,
        };
        let frag = be16(h[6], h[7]);
        Ok(Ipv4Packet {
            src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
            proto: h[9],
            id: be16(h[4], h[5]),
            more_fragments: frag & 0x2000 != 0,
            fragment_offset: u32::from(frag & 0x1fff) * 8,
            payload: skip(packet, header_len, layer::IPV4)?,
        })
    }
}

/// The common frame, Ethernet, IPv4 (not a fragment) and TCP, decoded in line in the reader's
/// loop; `None` for anything else, malformed ones included, which the general decoder takes
/// (and names the fault of). Its answers are the general decoder's: the same header parsers.
#[inline(always)]
fn ethernet_ipv4_tcp(frame: &[u8]) -> Option<Result<Decoded<'_>, DecodeError>> {
    let (h, rest) = frame.split_first_chunk::<14>()?;
    if be16(h[12], h[13]) != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = Ipv4Packet::parse(rest, End::Capture).ok()?;
    if ip.more_fragments || ip.fragment_offset != 0 || ip.proto != 6 {
        return None;
    }
    Some(tcp(IpAddr::V4(ip.src), IpAddr::V4(ip.dst), ip.payload))
}

#[inline(always)]
fn tcp<'a>(src: IpAddr, dst: IpAddr, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
    let (h, _) = split::<20>(data, layer::TCP)?;
    let header_len = usize::from(h[12] >> 4) * 4;
    if header_len < 20 {
        return Err(malformed(layer::TCP, "data offset below 5 words"));
    }
    let payload = skip(data, header_len, layer::TCP)?;
    Ok(Decoded::Tcp(TcpSegment {
        src: Endpoint {
            ip: src,
            port: be16(h[0], h[1]),
        },
        dst: Endpoint {
            ip: dst,
            port: be16(h[2], h[3]),
        },
        header: TcpHeader {
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            flags: TcpFlags(h[13]),
        },
        payload,
    }))
}
