//! Frames built by hand (and a few by etherparse, as an independent oracle) for every link type,
//! tag, tunnel and fragmentation case, plus the real captures of the shared corpus.

use super::*;

const PAYLOAD: &[u8] = b"\x16\x03\x01\x00\x05hello";
const IN4: ([u8; 4], [u8; 4]) = ([10, 0, 0, 1], [10, 0, 0, 2]);
const OUT4: ([u8; 4], [u8; 4]) = ([192, 0, 2, 1], [192, 0, 2, 2]);
const IN6: ([u8; 16], [u8; 16]) = (v6(1), v6(2));
const OUT6: ([u8; 16], [u8; 16]) = (v6(0x101), v6(0x102));

const fn v6(last: u16) -> [u8; 16] {
    let [hi, lo] = last.to_be_bytes();
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, hi, lo]
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_parts(secs, 0)
}

/// A TCP header with `options` bytes of NOP options, then `payload`.
fn tcp_with_options(options: usize, payload: &[u8]) -> Vec<u8> {
    let doff = u8::try_from(5 + options / 4).unwrap();
    let mut v = vec![0x9c, 0x40, 0x01, 0xbb]; // 40000 -> 443
    v.extend([1, 2, 3, 4, 5, 6, 7, 8]); // seq, ack
    v.extend([doff << 4, 0x18, 0x12, 0x34, 0, 0, 0, 0]); // PSH|ACK, window 0x1234
    v.extend(std::iter::repeat_n(1u8, options));
    v.extend_from_slice(payload);
    v
}

fn tcp() -> Vec<u8> {
    tcp_with_options(4, PAYLOAD)
}

fn ipv4_full(
    addrs: ([u8; 4], [u8; 4]),
    proto: u8,
    id: u16,
    frag: u16,
    options: usize,
    payload: &[u8],
) -> Vec<u8> {
    let header_len = 20 + options;
    let total = u16::try_from(header_len + payload.len()).unwrap();
    let mut v = vec![0x40 | u8::try_from(header_len / 4).unwrap(), 0];
    v.extend(total.to_be_bytes());
    v.extend(id.to_be_bytes());
    v.extend(frag.to_be_bytes());
    v.extend([64, proto, 0, 0]);
    v.extend(addrs.0);
    v.extend(addrs.1);
    v.extend(std::iter::repeat_n(1u8, options)); // NOP options
    v.extend_from_slice(payload);
    v
}

fn ipv4_from(addrs: ([u8; 4], [u8; 4]), proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_full(addrs, proto, 7, 0x4000, 0, payload)
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_from(IN4, proto, payload)
}

fn ipv6_from(addrs: ([u8; 16], [u8; 16]), next: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend(u16::try_from(payload.len()).unwrap().to_be_bytes());
    v.extend([next, 64]);
    v.extend(addrs.0);
    v.extend(addrs.1);
    v.extend_from_slice(payload);
    v
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_from(IN6, next, payload)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    v.extend(ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// An Ethernet frame carrying `tags` (TPIDs, outermost first) then `ethertype`.
fn eth_tagged(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut inner = cat(&[&ethertype.to_be_bytes(), payload]);
    for (i, &tpid) in tags.iter().enumerate().rev() {
        let tci = 100 + i as u16;
        inner = cat(&[&tpid.to_be_bytes(), &tci.to_be_bytes(), &inner]);
    }
    cat(&[&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], &inner])
}

fn pppoe(protocol: &[u8], payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(protocol.len() + payload.len()).unwrap();
    cat(&[
        &[0x11, 0, 0x12, 0x34],
        &len.to_be_bytes(),
        protocol,
        payload,
    ])
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).unwrap();
    cat(&[
        &[0xc0, 0x00],
        &dport.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        payload,
    ])
}

fn geneve(protocol: u16, options: usize, payload: &[u8]) -> Vec<u8> {
    let opt_words = u8::try_from(options / 4).unwrap();
    cat(&[
        &[opt_words, 0],
        &protocol.to_be_bytes(),
        &[0, 0, 42, 0],
        &vec![0xee; options],
        payload,
    ])
}

fn vxlan(payload: &[u8]) -> Vec<u8> {
    cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], payload])
}

fn gre(flags: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let optional = (flags & 0xb000).count_ones() as usize;
    cat(&[
        &flags.to_be_bytes(),
        &protocol.to_be_bytes(),
        &vec![0xdd; 4 * optional],
        payload,
    ])
}

/// A GTP-U message (version 1, protocol type GTP) of `msg_type`; with `extensions` (each the
/// content of one extension header, padded to a 4-byte multiple with its length and next-type
/// bytes), the E flag and the 4 optional bytes are set.
fn gtp_u(msg_type: u8, extensions: &[&[u8]], payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if !extensions.is_empty() {
        // Sequence number, N-PDU number, then the first extension header's type.
        body.extend([0x12, 0x34, 0, 0x85]);
        for (i, content) in extensions.iter().enumerate() {
            let len = content.len() + 2;
            assert_eq!(len % 4, 0);
            body.push(u8::try_from(len / 4).unwrap());
            body.extend_from_slice(content);
            body.push(if i + 1 < extensions.len() { 0x85 } else { 0 });
        }
    }
    body.extend_from_slice(payload);
    let flags = if extensions.is_empty() { 0x30 } else { 0x34 };
    let len = u16::try_from(body.len()).unwrap();
    cat(&[
        &[flags, msg_type],
        &len.to_be_bytes(),
        &[0, 0, 0, 42],
        &body,
    ])
}

/// An ERSPAN type II header (version 1, session 42) before `payload`.
fn erspan_ii(payload: &[u8]) -> Vec<u8> {
    cat(&[&[0x10, 0x07, 0x00, 0x2a, 0, 0, 0, 5], payload])
}

/// An ERSPAN type III header (version 2) of frame type `ft`, with the 8-byte platform
/// subheader when `platform`.
fn erspan_iii(ft: u16, platform: bool, payload: &[u8]) -> Vec<u8> {
    let word = (ft << 10) | u16::from(platform);
    let sub: &[u8] = if platform { &[0xaa; 8] } else { &[] };
    cat(&[
        &[0x20, 0x07, 0x00, 0x2a, 1, 2, 3, 4, 0, 0],
        &word.to_be_bytes(),
        sub,
        payload,
    ])
}

/// Asserts `d` is the standard test segment between `src` and `dst`.
fn assert_segment(d: Result<Decoded<'_>, DecodeError>, src: [u8; 4], dst: [u8; 4]) {
    assert_segment_ip(d, Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into());
}

fn assert_segment6(d: Result<Decoded<'_>, DecodeError>, src: [u8; 16], dst: [u8; 16]) {
    assert_segment_ip(d, Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into());
}

fn assert_segment_ip(d: Result<Decoded<'_>, DecodeError>, src: IpAddr, dst: IpAddr) {
    let Ok(Decoded::Tcp(s)) = d else {
        panic!("expected a TCP segment, got {d:?}");
    };
    assert_eq!(
        s.src,
        Endpoint {
            ip: src,
            port: 40000
        }
    );
    assert_eq!(s.dst, Endpoint { ip: dst, port: 443 });
    assert_eq!(s.header.seq, 0x0102_0304);
    assert_eq!(s.header.ack, 0x0506_0708);
    assert_eq!(s.header.flags, TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
    assert_eq!(s.payload, PAYLOAD);
}

/// Decodes with a fresh decoder, a temporary that lives until the end of the statement
/// using the result.
macro_rules! decode {
    ($link:expr, $frame:expr) => {
        Decoder::new().decode($link, $frame, ts(1))
    };
}

fn kind(r: Result<Decoded<'_>, DecodeError>) -> &'static str {
    match r {
        Ok(d) => panic!("expected an error, got {d:?}"),
        Err(e) => e.kind(),
    }
}

fn is_other(r: Result<Decoded<'_>, DecodeError>) -> bool {
    matches!(r, Ok(Decoded::Other))
}

#[test]
fn ethernet_ipv4_and_ipv6() {
    assert_segment(
        decode!(LinkType::ETHERNET, &eth(0x0800, &ipv4(6, &tcp()))),
        IN4.0,
        IN4.1,
    );
    assert_segment6(
        decode!(LinkType::ETHERNET, &eth(0x86dd, &ipv6(6, &tcp()))),
        IN6.0,
        IN6.1,
    );
}

#[test]
fn ethernet_padding_and_trailers_are_ignored() {
    let frame = cat(&[&eth(0x0800, &ipv4(6, &tcp())), &[0xaa; 18]]);
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    let frame = cat(&[&eth(0x86dd, &ipv6(6, &tcp())), &[0xaa; 4]]);
    assert_segment6(decode!(LinkType::ETHERNET, &frame), IN6.0, IN6.1);
    // A PPPoE length shorter than the frame also cuts the trailer off.
    let frame = cat(&[&eth(0x8864, &pppoe(&[0, 0x21], &ipv4(6, &tcp()))), &[0; 9]]);
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
}

#[test]
fn vlan_tags_of_any_depth() {
    let ip = ipv4(6, &tcp());
    for tags in [
        &[0x8100][..],
        &[0x88a8, 0x8100],
        &[0x9100, 0x8100],
        &[0x88a8, 0x88a8, 0x8100, 0x8100, 0x9200],
    ] {
        let frame = eth_tagged(tags, 0x0800, &ip);
        assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    }
    let frame = eth_tagged(&[0x88a8, 0x8100], 0x86dd, &ipv6(6, &tcp()));
    assert_segment6(decode!(LinkType::ETHERNET, &frame), IN6.0, IN6.1);
}

#[test]
fn pppoe_session_ipv4_and_ipv6() {
    let frame = eth(0x8864, &pppoe(&[0, 0x21], &ipv4(6, &tcp())));
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    let frame = eth_tagged(
        &[0x88a8, 0x8100],
        0x8864,
        &pppoe(&[0, 0x57], &ipv6(6, &tcp())),
    );
    assert_segment6(decode!(LinkType::ETHERNET, &frame), IN6.0, IN6.1);
    // Protocol-field compression (one-byte 0x21).
    let frame = eth(0x8864, &pppoe(&[0x21], &ipv4(6, &tcp())));
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    // An IP length overstated by padding (seen in real captures) yields to the PPPoE length.
    let segment = tcp();
    let mut padded = ipv4(6, &cat(&[&segment, &[0; 6]]));
    let frame = eth(0x8864, &pppoe(&[0, 0x21], &padded[..padded.len() - 6]));
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    padded.truncate(padded.len() - 7);
    let frame = eth(0x8864, &pppoe(&[0, 0x21], &padded));
    let mut d = Decoder::new();
    let Ok(Decoded::Tcp(s)) = d.decode(LinkType::ETHERNET, &frame, ts(1)) else {
        panic!("no segment");
    };
    assert_eq!(s.payload, &PAYLOAD[..PAYLOAD.len() - 1]);
    // LCP is not IP.
    let frame = eth(0x8864, &pppoe(&[0xc0, 0x21], &[1, 1, 0, 4]));
    assert!(is_other(decode!(LinkType::ETHERNET, &frame)));
    let mut bad = eth(0x8864, &pppoe(&[0, 0x21], &ipv4(6, &tcp())));
    bad[14] = 0x21;
    assert_eq!(kind(decode!(LinkType::ETHERNET, &bad)), "malformed_pppoe");
}

#[test]
fn mpls_label_stack() {
    let labels = [0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]; // two labels, BoS on 2nd
    let frame = eth(0x8847, &cat(&[&labels, &ipv4(6, &tcp())]));
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    let frame = eth(0x8847, &cat(&[&labels, &ipv6(6, &tcp())]));
    assert_segment6(decode!(LinkType::ETHERNET, &frame), IN6.0, IN6.1);
    // A pseudowire control word (first nibble 0) is not IP.
    let frame = eth(
        0x8847,
        &cat(&[&labels, &[0; 4], &eth(0x0800, &ipv4(6, &tcp()))]),
    );
    assert!(is_other(decode!(LinkType::ETHERNET, &frame)));
    assert_eq!(
        kind(decode!(LinkType::ETHERNET, &eth(0x8847, &labels[..4]))),
        "truncated_mpls"
    );
}

#[test]
fn linux_cooked_captures() {
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll.extend(0x0800u16.to_be_bytes());
    let frame = cat(&[&sll, &ipv4(6, &tcp())]);
    assert_segment(decode!(LinkType::LINUX_SLL, &frame), IN4.0, IN4.1);

    let mut sll2 = 0x86ddu16.to_be_bytes().to_vec();
    sll2.extend([0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    let frame = cat(&[&sll2, &ipv6(6, &tcp())]);
    assert_segment6(decode!(LinkType::LINUX_SLL2, &frame), IN6.0, IN6.1);

    assert_eq!(
        kind(decode!(LinkType::LINUX_SLL, &sll[..15])),
        "truncated_sll"
    );
    assert_eq!(
        kind(decode!(LinkType::LINUX_SLL2, &sll2[..19])),
        "truncated_sll2"
    );
}

#[test]
fn raw_ip_link_types() {
    let v4 = ipv4(6, &tcp());
    let v6 = ipv6(6, &tcp());
    for link in [LinkType::RAW, LinkType::RAW_BSD, LinkType::RAW_OPENBSD] {
        assert_segment(decode!(link, &v4), IN4.0, IN4.1);
        assert_segment6(decode!(link, &v6), IN6.0, IN6.1);
        assert_eq!(kind(decode!(link, &[0x50; 40])), "malformed_ip");
        assert_eq!(kind(decode!(link, &[])), "truncated_ip");
    }
    assert_segment(decode!(LinkType::IPV4, &v4), IN4.0, IN4.1);
    assert_segment6(decode!(LinkType::IPV6, &v6), IN6.0, IN6.1);
    assert_eq!(kind(decode!(LinkType::IPV4, &v6)), "malformed_ipv4");
    assert_eq!(
        kind(decode!(LinkType::IPV6, &cat(&[&v4, &[0; 20]]))),
        "malformed_ipv6"
    );
}

#[test]
fn loopback_families_in_either_byte_order() {
    let v4 = ipv4(6, &tcp());
    let v6 = ipv6(6, &tcp());
    for family in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
        assert_segment(decode!(LinkType::NULL, &cat(&[&family, &v4])), IN4.0, IN4.1);
    }
    for af in [10u32, 23, 24, 28, 30] {
        for family in [af.to_le_bytes(), af.to_be_bytes()] {
            let frame = cat(&[&family, &v6]);
            assert_segment6(decode!(LinkType::NULL, &frame), IN6.0, IN6.1);
        }
        let frame = cat(&[&af.to_be_bytes(), &v6]);
        assert_segment6(decode!(LinkType::LOOP, &frame), IN6.0, IN6.1);
    }
    assert_segment(
        decode!(LinkType::LOOP, &cat(&[&[0, 0, 0, 2], &v4])),
        IN4.0,
        IN4.1,
    );
    assert!(is_other(decode!(
        LinkType::NULL,
        &cat(&[&[7, 0, 0, 0], &v4])
    )));
    assert_eq!(kind(decode!(LinkType::NULL, &[2, 0])), "truncated_loopback");
}

#[test]
fn unsupported_link_type() {
    assert_eq!(
        decode!(LinkType(105), &[0; 64]).unwrap_err(),
        DecodeError::UnsupportedLinkType(105)
    );
    assert_eq!(kind(decode!(LinkType(105), &[])), "unsupported_link_type");
    assert!(!LinkType(105).is_supported());
    assert!(LinkType::LINUX_SLL2.is_supported());
}

#[test]
fn ipv4_options_and_tcp_options_are_skipped() {
    let frame = ipv4_full(IN4, 6, 1, 0, 12, &tcp_with_options(20, PAYLOAD));
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    let frame = ipv4(6, &tcp_with_options(0, PAYLOAD));
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
}

#[test]
fn segmentation_offload_zero_lengths_use_the_captured_length() {
    let mut frame = ipv4(6, &tcp());
    frame[2..4].copy_from_slice(&[0, 0]);
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    let mut frame = ipv6(6, &tcp());
    frame[4..6].copy_from_slice(&[0, 0]);
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
}

#[test]
fn ipv6_extension_headers() {
    let hop = [60, 0, 1, 4, 0, 0, 0, 0]; // -> destination options, 8 bytes
    let dst_opts = [43, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // -> routing, 16 bytes
    let routing = [51, 0, 0, 0, 0, 0, 0, 0]; // -> AH, 8 bytes
    let ah = [
        6, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    ]; // 24 bytes
    let chain = cat(&[&hop, &dst_opts, &routing, &ah, &tcp()]);
    assert_segment6(decode!(LinkType::RAW, &ipv6(0, &chain)), IN6.0, IN6.1);
    // AH in IPv4 too.
    assert_segment(
        decode!(LinkType::RAW, &ipv4(51, &cat(&[&ah, &tcp()]))),
        IN4.0,
        IN4.1,
    );
    // An atomic fragment (offset 0, no more fragments) is a whole datagram.
    let atomic = [6, 0, 0, 0, 0, 0, 0, 9];
    let frame = ipv6(44, &cat(&[&atomic, &tcp()]));
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
    // ESP and no-next-header stop the walk.
    assert!(is_other(decode!(LinkType::RAW, &ipv6(50, &[0; 32]))));
    assert!(is_other(decode!(
        LinkType::RAW,
        &ipv6(0, &cat(&[&[59, 0], &[0; 6]]))
    )));
    // An extension header longer than the packet.
    let frame = ipv6(60, &[6, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "truncated_ip_ext");
}

#[test]
fn packets_neither_tcp_nor_udp() {
    assert!(is_other(decode!(
        LinkType::ETHERNET,
        &eth(0x0806, &[0; 28])
    )));
    assert!(is_other(decode!(
        LinkType::ETHERNET,
        &eth(0x0040, &[0; 64])
    )));
    assert!(is_other(decode!(LinkType::RAW, &ipv4(1, &[8, 0, 0, 0]))));
    assert!(is_other(decode!(LinkType::RAW, &ipv6(58, &[128, 0, 0, 0]))));
    // VXLAN port without the valid-VNI flag, GRE version 1 (PPTP) and GRE with routing.
    let frame = ipv4(17, &udp(4789, &[0; 8]));
    assert!(is_other(decode!(LinkType::RAW, &frame)));
    assert!(is_other(decode!(
        LinkType::RAW,
        &ipv4(47, &gre(0x0001, 0x880b, &[0; 16]))
    )));
    assert!(is_other(decode!(
        LinkType::RAW,
        &ipv4(47, &gre(0x4000, 0x0800, &[0; 16]))
    )));
}

#[test]
fn udp_datagrams_are_handed_on_with_their_ports() {
    let payload = [7u8; 12];
    let mut d = Decoder::new();
    let frame = ipv4(17, &udp(443, &payload));
    let Ok(Decoded::Udp(u)) = d.decode(LinkType::RAW, &frame, ts(1)) else {
        panic!("no datagram");
    };
    assert_eq!(u.src.ip, IpAddr::from(IN4.0));
    assert_eq!(
        (u.src.port, u.dst.ip, u.dst.port),
        (0xc000, IpAddr::from(IN4.1), 443)
    );
    assert_eq!((u.payload, u.truncated), (&payload[..], false));
    // Cut by the snap length: the IP packet is incomplete, as for TCP.
    let cut = &frame[..frame.len() - 4];
    assert_eq!(kind(decode!(LinkType::RAW, cut)), "truncated_ipv4");
    // A UDP length beyond the IP payload: what there is, marked as cut short.
    let mut long = udp(443, &payload);
    long[5] += 4;
    let frame = ipv4(17, &long);
    let Ok(Decoded::Udp(u)) = d.decode(LinkType::RAW, &frame, ts(1)) else {
        panic!("no datagram");
    };
    assert_eq!((u.payload, u.truncated), (&payload[..], true));
    // Trailing bytes beyond the UDP length are not payload.
    let mut padded = udp(443, &payload);
    padded.extend_from_slice(&[0; 6]);
    let frame = ipv4(17, &padded);
    let Ok(Decoded::Udp(u)) = d.decode(LinkType::RAW, &frame, ts(1)) else {
        panic!("no datagram");
    };
    assert_eq!(u.payload, &payload[..]);
    // A length below the header's own is no datagram.
    let mut short = udp(443, &payload);
    short[5] = 4;
    assert!(is_other(decode!(LinkType::RAW, &ipv4(17, &short))));
}

#[test]
fn geneve_tunnels() {
    let inner = eth(0x0800, &ipv4(6, &tcp()));
    for options in [0, 8] {
        let frame = eth(
            0x0800,
            &ipv4_from(OUT4, 17, &udp(6081, &geneve(0x6558, options, &inner))),
        );
        assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    }
    let frame = ipv4_from(OUT4, 17, &udp(6081, &geneve(0x86dd, 4, &ipv6(6, &tcp()))));
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
    let mut bad = geneve(0x6558, 0, &inner);
    bad[0] |= 0x40;
    let frame = ipv4_from(OUT4, 17, &udp(6081, &bad));
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "malformed_geneve");
}

#[test]
fn vxlan_tunnel() {
    let inner = eth_tagged(&[0x8100], 0x86dd, &ipv6(6, &tcp()));
    let frame = eth(0x86dd, &ipv6_from(OUT6, 17, &udp(4789, &vxlan(&inner))));
    assert_segment6(decode!(LinkType::ETHERNET, &frame), IN6.0, IN6.1);
}

/// Issue #20: GTP-U (3GPP mobile core, UDP port 2152) is decapsulated: G-PDUs with and without
/// the optional fields and extension headers (a PDU session container, then a 4-byte one),
/// carrying IPv4 or IPv6; messages that carry no user traffic are not analysed. tshark 4
/// decodes the first two frames (in Ethernet) to the same inner addresses and ports.
#[test]
fn gtp_u_tunnels() {
    let frame = eth(
        0x0800,
        &ipv4_from(OUT4, 17, &udp(2152, &gtp_u(255, &[], &ipv4(6, &tcp())))),
    );
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    let pdu_session: &[u8] = &[0x10, 0x09];
    let long: &[u8] = &[1, 2, 3, 4, 5, 6];
    let message = gtp_u(255, &[pdu_session, long], &ipv6(6, &tcp()));
    let frame = ipv6_from(OUT6, 17, &udp(2152, &message));
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
    // Only the S flag: the optional bytes are there, no extension header follows.
    let mut message = gtp_u(255, &[], &ipv4(6, &tcp()));
    message[0] |= 0x02;
    message.splice(8..8, [0, 1, 0, 0x85]);
    message[3] += 4;
    let frame = ipv4_from(OUT4, 17, &udp(2152, &message));
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    // Echo request, end marker, GTP' and version 2 carry no user traffic.
    for (flags, msg_type) in [(0x32, 1), (0x30, 254), (0x20, 255), (0x50, 255)] {
        let mut message = gtp_u(msg_type, &[], &ipv4(6, &tcp()));
        message[0] = flags;
        let frame = ipv4_from(OUT4, 17, &udp(2152, &message));
        assert!(
            is_other(decode!(LinkType::RAW, &frame)),
            "{flags:#x} {msg_type}"
        );
    }
    let mut bad = gtp_u(255, &[pdu_session], &ipv4(6, &tcp()));
    bad[12] = 0;
    let frame = ipv4_from(OUT4, 17, &udp(2152, &bad));
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "malformed_gtp");
    let frame = ipv4_from(OUT4, 17, &udp(2152, &gtp_u(255, &[pdu_session], &[])[..13]));
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "truncated_gtp");
}

/// Issue #20: ERSPAN over GRE: type I (no header, GRE without sequence number), type II
/// (8-byte header after GRE's sequence number) and type III (12-byte header, optional
/// platform subheader, Ethernet or IP frames). tshark 4 decodes the Ethernet ones (in
/// Ethernet) to the same inner addresses and ports.
#[test]
fn erspan_tunnels() {
    let inner = eth(0x0800, &ipv4(6, &tcp()));
    let frame = eth(0x0800, &ipv4_from(OUT4, 47, &gre(0, 0x88be, &inner)));
    assert_segment(decode!(LinkType::ETHERNET, &frame), IN4.0, IN4.1);
    let frame = ipv4_from(OUT4, 47, &gre(0x1000, 0x88be, &erspan_ii(&inner)));
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    for platform in [false, true] {
        let frame = ipv4_from(
            OUT4,
            47,
            &gre(0x1000, 0x22eb, &erspan_iii(0, platform, &inner)),
        );
        assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    }
    let frame = ipv6_from(
        OUT6,
        47,
        &gre(0x1000, 0x22eb, &erspan_iii(2, false, &ipv6(6, &tcp()))),
    );
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
    let frame = ipv4_from(
        OUT4,
        47,
        &gre(0x1000, 0x22eb, &erspan_iii(5, false, &inner)),
    );
    assert!(is_other(decode!(LinkType::RAW, &frame)));
    let mut bad = erspan_ii(&inner);
    bad[0] = 0x20;
    let frame = ipv4_from(OUT4, 47, &gre(0x1000, 0x88be, &bad));
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "malformed_erspan");
    let frame = ipv4_from(
        OUT4,
        47,
        &gre(0x1000, 0x22eb, &erspan_iii(0, true, &[])[..15]),
    );
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "truncated_erspan");
}

#[test]
fn ip_in_ip_tunnels() {
    let frame = ipv4_from(OUT4, 4, &ipv4(6, &tcp()));
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    let frame = ipv4_from(OUT4, 41, &ipv6(6, &tcp()));
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
    let frame = ipv6_from(OUT6, 4, &ipv4(6, &tcp()));
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
}

#[test]
fn gre_tunnels() {
    let frame = ipv4_from(OUT4, 47, &gre(0, 0x0800, &ipv4(6, &tcp())));
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    // Checksum, key and sequence number, carrying Ethernet with IPv6.
    let inner = eth(0x86dd, &ipv6(6, &tcp()));
    let frame = ipv6_from(OUT6, 47, &gre(0xb000, 0x6558, &inner));
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
    let frame = ipv4_from(OUT4, 47, &gre(0x2000, 0x86dd, &ipv6(6, &tcp())));
    assert_segment6(decode!(LinkType::RAW, &frame), IN6.0, IN6.1);
    let frame = ipv4_from(OUT4, 47, &gre(0xb000, 0x0800, &[])[..10]);
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "truncated_gre");
}

#[test]
fn nesting_depth_is_bounded() {
    let mut frame = ipv4(6, &tcp());
    for _ in 1..MAX_LAYERS {
        frame = ipv4_from(OUT4, 4, &frame);
    }
    assert_segment(decode!(LinkType::RAW, &frame), IN4.0, IN4.1);
    let frame = ipv4_from(OUT4, 4, &frame);
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "malformed_tunnel");
    // Ethernet in GRE in IPv4 in Ethernet ... through one generic path.
    let mut frame = eth(0x0800, &ipv4(6, &tcp()));
    for _ in 0..10 {
        frame = eth(0x0800, &ipv4_from(OUT4, 47, &gre(0, 0x6558, &frame)));
    }
    assert_eq!(
        kind(decode!(LinkType::ETHERNET, &frame)),
        "malformed_tunnel"
    );
}

#[test]
fn truncation_is_reported_for_the_cut_layer() {
    let cases: Vec<(LinkType, Vec<u8>, &str)> = vec![
        (
            LinkType::ETHERNET,
            eth(0x0800, &[])[..10].to_vec(),
            "truncated_ethernet",
        ),
        (LinkType::ETHERNET, eth(0x8100, &[0, 1]), "truncated_vlan"),
        (
            LinkType::ETHERNET,
            eth(0x8864, &[0x11, 0, 0, 1]),
            "truncated_pppoe",
        ),
        (
            LinkType::ETHERNET,
            eth(0x8864, &pppoe(&[0], &[])),
            "truncated_pppoe",
        ),
        (
            LinkType::ETHERNET,
            eth(0x0800, &ipv4(6, &tcp())[..19]),
            "truncated_ipv4",
        ),
        (
            LinkType::ETHERNET,
            eth(0x86dd, &ipv6(6, &tcp())[..39]),
            "truncated_ipv6",
        ),
        // The IP header says more bytes than were captured (snap length).
        (
            LinkType::RAW,
            ipv4(6, &tcp())[..50].to_vec(),
            "truncated_ipv4",
        ),
        (
            LinkType::RAW,
            ipv6(6, &tcp())[..70].to_vec(),
            "truncated_ipv6",
        ),
        // Consistent IP, but the TCP header does not fit.
        (LinkType::RAW, ipv4(6, &tcp()[..19]), "truncated_tcp"),
        (
            LinkType::RAW,
            ipv4(6, &tcp_with_options(8, &[])[..24]),
            "truncated_tcp",
        ),
        (LinkType::RAW, ipv6(44, &[6, 0, 0, 8]), "truncated_ip_ext"),
        (
            LinkType::RAW,
            ipv4(17, &udp(4789, &[])[..6]),
            "truncated_udp",
        ),
        (
            LinkType::RAW,
            ipv4(17, &udp(4789, &[8, 0, 0])),
            "truncated_vxlan",
        ),
        (
            LinkType::RAW,
            ipv4(17, &udp(6081, &[0, 0, 0x65, 0x58])),
            "truncated_geneve",
        ),
        (
            LinkType::RAW,
            ipv4(17, &udp(6081, &geneve(0x6558, 8, &[])[..12])),
            "truncated_geneve",
        ),
        (LinkType::RAW, ipv4(47, &[0, 0]), "truncated_gre"),
    ];
    for (link, frame, want) in cases {
        assert_eq!(kind(decode!(link, &frame)), want, "frame {frame:02x?}");
    }
}

#[test]
fn every_prefix_of_a_frame_is_an_error_not_a_panic() {
    let inner = eth(0x0800, &ipv4(6, &tcp()));
    let frames = [
        (
            LinkType::ETHERNET,
            eth_tagged(
                &[0x88a8, 0x8100],
                0x8864,
                &pppoe(&[0, 0x21], &ipv4(6, &tcp())),
            ),
        ),
        (
            LinkType::ETHERNET,
            eth(
                0x0800,
                &ipv4_from(OUT4, 17, &udp(6081, &geneve(0x6558, 8, &inner))),
            ),
        ),
        (
            LinkType::ETHERNET,
            eth(0x86dd, &ipv6_from(OUT6, 17, &udp(4789, &vxlan(&inner)))),
        ),
        (
            LinkType::RAW,
            ipv6_from(OUT6, 47, &gre(0xb000, 0x6558, &inner)),
        ),
        (
            LinkType::RAW,
            ipv6(0, &cat(&[&[6, 0, 1, 4, 0, 0, 0, 0], &tcp()])),
        ),
        (LinkType::NULL, cat(&[&[2, 0, 0, 0], &ipv4(6, &tcp())])),
    ];
    for (link, frame) in frames {
        assert!(matches!(decode!(link, &frame), Ok(Decoded::Tcp(_))));
        for cut in 0..frame.len() {
            match decode!(link, &frame[..cut]) {
                Err(DecodeError::Truncated { .. }) => {}
                other => panic!("prefix {cut} of {frame:02x?} gave {other:?}"),
            }
        }
    }
}

#[test]
fn malformed_headers() {
    let mut frame = ipv4(6, &tcp());
    frame[0] = 0x44;
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "malformed_ipv4");
    let mut frame = ipv4(6, &tcp());
    frame[2..4].copy_from_slice(&12u16.to_be_bytes());
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "malformed_ipv4");
    let mut seg = tcp();
    seg[12] = 0x40;
    let err = decode!(LinkType::RAW, &ipv4(6, &seg)).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Malformed {
            layer: layer::TCP,
            what: "data offset below 5 words"
        }
    );
    assert_eq!(err.kind(), "malformed_tcp");
    let frame = ipv4(17, &cat(&[&udp(4789, &[])[..4], &[0, 3, 0, 0]]));
    assert_eq!(kind(decode!(LinkType::RAW, &frame)), "malformed_udp");
}

#[test]
fn error_kinds_are_closed() {
    let e = DecodeError::Truncated { layer: "made-up" };
    assert_eq!(e.kind(), "truncated_other");
    let e = DecodeError::Malformed {
        layer: layer::GRE,
        what: "x",
    };
    assert_eq!(e.kind(), "malformed_gre");
}

/// Fragments of `datagram` (an IPv4 payload of protocol `proto`), 8-byte aligned pieces of at
/// most `size` bytes, as raw IPv4 packets.
fn ipv4_fragments(
    addrs: ([u8; 4], [u8; 4]),
    proto: u8,
    id: u16,
    datagram: &[u8],
    size: usize,
) -> Vec<Vec<u8>> {
    let n = datagram.len().div_ceil(size);
    datagram
        .chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            let offset = u16::try_from(i * size / 8).unwrap();
            let more = if i + 1 < n { 0x2000 } else { 0 };
            ipv4_full(addrs, proto, id, more | offset, 0, piece)
        })
        .collect()
}

fn ipv6_fragments(next: u8, id: u32, datagram: &[u8], size: usize) -> Vec<Vec<u8>> {
    let n = datagram.len().div_ceil(size);
    datagram
        .chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            let offset = u16::try_from(i * size).unwrap() | u16::from(i + 1 < n);
            let header = cat(&[&[next, 0], &offset.to_be_bytes(), &id.to_be_bytes()]);
            ipv6(44, &cat(&[&header, piece]))
        })
        .collect()
}

/// A TCP segment large enough to need several fragments, and its payload.
fn big_segment() -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..200u8).collect();
    (tcp_with_options(4, &payload), payload)
}

/// Feeds `frames` in `order` and returns the payload of the segment the last one completes.
fn reassemble(d: &mut Decoder, link: LinkType, frames: &[Vec<u8>], order: &[usize]) -> Vec<u8> {
    let (last, init) = order.split_last().unwrap();
    for &i in init {
        assert!(matches!(
            d.decode(link, &frames[i], ts(1)),
            Ok(Decoded::FragmentHeld)
        ));
    }
    match d.decode(link, &frames[*last], ts(1)) {
        Ok(Decoded::Tcp(s)) => {
            assert_eq!(s.dst.port, 443);
            s.payload.to_vec()
        }
        other => panic!("expected the reassembled segment, got {other:?}"),
    }
}

#[test]
fn ipv4_fragments_in_and_out_of_order() {
    let (segment, payload) = big_segment();
    let frames = ipv4_fragments(IN4, 6, 77, &segment, 64);
    assert_eq!(frames.len(), 4);
    let mut d = Decoder::new();
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
        assert_eq!(reassemble(&mut d, LinkType::RAW, &frames, &order), payload);
    }
    assert_eq!(d.stats().datagrams_reassembled, 3);
    assert_eq!(d.fragments_in_progress(), 0);
}

#[test]
fn ipv6_fragments_use_the_first_fragments_next_header() {
    let (segment, payload) = big_segment();
    // Destination options inside the fragmentable part.
    let datagram = cat(&[&[6, 0, 1, 4, 0, 0, 0, 0], &segment]);
    let mut frames = ipv6_fragments(60, 0xdead_beef, &datagram, 96);
    // A later fragment claiming another Next Header does not matter (RFC 8200).
    frames[2][40] = 17;
    let mut d = Decoder::new();
    assert_eq!(
        reassemble(&mut d, LinkType::RAW, &frames, &[1, 2, 0]),
        payload
    );
}

#[test]
fn overlapping_fragments_keep_the_first_copy() {
    let (segment, payload) = big_segment();
    let mut frames = ipv4_fragments(IN4, 6, 5, &segment, 64);
    // A rogue copy of bytes 64..128 with other content, sent after the genuine one.
    let mut rogue = ipv4_fragments(IN4, 6, 5, &segment, 64)[1].clone();
    let len = rogue.len();
    rogue[20..len].fill(0xff);
    frames.push(rogue);
    let mut d = Decoder::new();
    assert_eq!(
        reassemble(&mut d, LinkType::RAW, &frames, &[1, 4, 0, 3, 2]),
        payload
    );
    assert_eq!(d.stats().overlapping_fragments, 1);
}

#[test]
fn expired_fragments_are_counted_not_reassembled() {
    let (segment, _) = big_segment();
    let frames = ipv4_fragments(IN4, 6, 9, &segment, 128);
    let mut d = Decoder::new();
    assert!(matches!(
        d.decode(LinkType::RAW, &frames[0], ts(10)),
        Ok(Decoded::FragmentHeld)
    ));
    assert!(matches!(
        d.decode(LinkType::RAW, &frames[1], ts(41)),
        Ok(Decoded::FragmentHeld)
    ));
    assert_eq!(d.stats().datagrams_expired, 1);
    assert_eq!(d.fragments_in_progress(), 1);
    d.expire(ts(i64::MAX / 2_000_000_000));
    assert_eq!(d.stats().datagrams_expired, 2);
    assert_eq!(d.fragments_in_progress(), 0);
}

#[test]
fn fragment_caps_are_enforced_and_counted() {
    let (segment, payload) = big_segment();
    let cfg = DefragConfig {
        max_datagrams: 1,
        max_datagram_bytes: 150,
        ..DefragConfig::default()
    };
    let mut d = Decoder::with_config(cfg);
    let a = ipv4_fragments(IN4, 6, 1, &segment, 64);
    let b = ipv4_fragments(IN4, 6, 2, &segment[..100], 64);
    assert!(matches!(
        d.decode(LinkType::RAW, &a[0], ts(1)),
        Ok(Decoded::FragmentHeld)
    ));
    assert!(matches!(
        d.decode(LinkType::RAW, &b[0], ts(1)),
        Ok(Decoded::FragmentHeld)
    ));
    assert_eq!(d.stats().datagrams_evicted, 1);
    // Datagram 1 would exceed 150 bytes.
    assert!(matches!(
        d.decode(LinkType::RAW, &a[3], ts(1)),
        Ok(Decoded::FragmentHeld)
    ));
    assert_eq!(d.stats().datagrams_oversized, 1);
    // Datagram 2 fits and completes (a truncated TCP payload is still a segment).
    match d.decode(LinkType::RAW, &b[1], ts(1)) {
        Ok(Decoded::Tcp(s)) => assert_eq!(s.payload, &payload[..76]),
        other => panic!("expected a segment, got {other:?}"),
    }
}

#[test]
fn fragmented_tunnel_with_fragmented_inner_datagram() {
    let (segment, payload) = big_segment();
    // Inner datagram in two fragments; each travels in GRE inside an outer datagram that is
    // itself fragmented in two.
    let inner = ipv4_fragments(IN4, 6, 3, &segment, 128);
    let outer: Vec<Vec<u8>> = inner
        .iter()
        .enumerate()
        .flat_map(|(i, f)| ipv4_fragments(OUT4, 47, 100 + i as u16, &gre(0, 0x0800, f), 80))
        .map(|p| eth(0x0800, &p))
        .collect();
    assert_eq!(outer.len(), 4);
    let mut d = Decoder::new();
    assert!(matches!(
        d.decode(LinkType::ETHERNET, &outer[0], ts(1)),
        Ok(Decoded::FragmentHeld)
    ));
    // Completing outer datagram 1 yields inner fragment 1: held.
    assert!(matches!(
        d.decode(LinkType::ETHERNET, &outer[1], ts(1)),
        Ok(Decoded::FragmentHeld)
    ));
    assert_eq!(
        reassemble(&mut d, LinkType::ETHERNET, &outer, &[3, 2]),
        payload
    );
    assert_eq!(d.stats().datagrams_reassembled, 3);
}

#[test]
fn etherparse_built_frames_agree() {
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice, VlanId};
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .double_vlan(VlanId::try_new(10).unwrap(), VlanId::try_new(20).unwrap())
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64)
        .tcp(51000, 443, 12345, 4000)
        .syn()
        .ack(999);
    let mut frame = Vec::new();
    builder.write(&mut frame, PAYLOAD).unwrap();
    let theirs = SlicedPacket::from_ethernet(&frame).unwrap();
    let Some(TransportSlice::Tcp(t)) = theirs.transport else {
        panic!("etherparse saw no TCP");
    };
    let mut d = Decoder::new();
    let Ok(Decoded::Tcp(ours)) = d.decode(LinkType::ETHERNET, &frame, ts(1)) else {
        panic!("no segment");
    };
    assert_eq!(ours.src.port, t.source_port());
    assert_eq!(ours.dst.port, t.destination_port());
    assert_eq!(ours.header.seq, t.sequence_number());
    assert_eq!(ours.header.ack, t.acknowledgment_number());
    assert!(ours.header.flags.syn() && ours.header.flags.ack());
    assert_eq!(ours.payload, t.payload());
    assert_eq!(ours.src.ip, IpAddr::from([172, 16, 0, 1]));
}

/// Frames of a classic (microsecond or nanosecond, either byte order) pcap file.
fn pcap_frames(file: &[u8]) -> (LinkType, Vec<(Timestamp, &[u8])>) {
    let (header, mut rest) = file.split_at(24);
    let magic = u32::from_le_bytes(header[..4].try_into().unwrap());
    let (swap, nanos) = match magic {
        0xa1b2_c3d4 => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        _ => panic!("not a classic pcap file"),
    };
    let word = |b: &[u8]| {
        let w = u32::from_le_bytes(b[..4].try_into().unwrap());
        if swap { w.swap_bytes() } else { w }
    };
    let link = LinkType(word(&header[20..]) as i32 & 0x0fff_ffff);
    let mut frames = Vec::new();
    while rest.len() >= 16 {
        let (secs, frac, caplen) = (word(rest), word(&rest[4..]), word(&rest[8..]) as usize);
        let frac = if nanos { frac } else { frac * 1000 };
        frames.push((
            Timestamp::from_parts(i64::from(secs), i64::from(frac)),
            &rest[16..16 + caplen],
        ));
        rest = &rest[16 + caplen..];
    }
    (link, frames)
}

#[test]
fn real_captures_decode_without_errors() {
    let dir = std::path::Path::new("/work/shared/captures/real");
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("no capture corpus at {}; skipped", dir.display());
        return;
    };
    let mut tcp_by_file = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pcap") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let (link, frames) = pcap_frames(&bytes);
        let mut d = Decoder::new();
        let mut tcp = 0;
        for (i, (ts, frame)) in frames.into_iter().enumerate() {
            match d.decode(link, frame, ts) {
                Ok(Decoded::Tcp(_)) => tcp += 1,
                Ok(_) => {}
                Err(e) => errors.push(format!("{} frame {}: {e}", path.display(), i + 1)),
            }
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        tcp_by_file.insert(name, tcp);
    }
    assert!(errors.is_empty(), "{errors:#?}");
    for name in [
        "zeek__pppoe-over-qinq.pcap",
        "zeek__tunnels_geneve-47101.pcap",
        "zeek__irc-starttls.pcap",
        "sv__tls-store-02__tls-client-auth.pcap",
        "sv__bug-5758__input.pcap",
    ] {
        let n = tcp_by_file.get(name).copied().unwrap_or(0);
        assert!(n > 0, "{name}: no TCP segment decoded");
    }
}

/// Decode cost per frame; run with
/// `cargo test --release --lib decode::tests::decode_speed -- --ignored --nocapture`.
#[test]
#[ignore = "timing, meaningful only in release builds"]
fn decode_speed() {
    let frames = [
        (LinkType::ETHERNET, eth(0x0800, &ipv4(6, &tcp()))),
        (
            LinkType::ETHERNET,
            eth_tagged(&[0x8100], 0x86dd, &ipv6(6, &tcp())),
        ),
        (
            LinkType::ETHERNET,
            eth(
                0x0800,
                &ipv4_from(OUT4, 17, &udp(4789, &vxlan(&eth(0x0800, &ipv4(6, &tcp()))))),
            ),
        ),
    ];
    let mut d = Decoder::new();
    for (link, frame) in &frames {
        let rounds = 2_000_000u32;
        let start = std::time::Instant::now();
        let mut bytes = 0usize;
        for _ in 0..rounds {
            if let Ok(Decoded::Tcp(s)) = d.decode(*link, std::hint::black_box(frame), ts(1)) {
                bytes += s.payload.len();
            }
        }
        let per = start.elapsed() / rounds;
        assert_eq!(bytes, PAYLOAD.len() * rounds as usize);
        eprintln!("{} bytes: {per:?} per frame", frame.len());
    }
}

proptest::proptest! {
    /// Corrupted frames of every shape decode to something or to an error, never a panic,
    /// and the defragmenter stays within its caps.
    #[test]
    fn corrupted_frames_never_panic(
        which in 0usize..6,
        flips in proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 1..8),
        cut in 0usize..220,
    ) {
        let inner = eth(0x0800, &ipv4(6, &tcp()));
        let frames = [
            (LinkType::ETHERNET, eth_tagged(&[0x88a8, 0x8100], 0x8864, &pppoe(&[0, 0x21], &ipv4(6, &tcp())))),
            (LinkType::ETHERNET, eth(0x0800, &ipv4_from(OUT4, 17, &udp(6081, &geneve(0x6558, 8, &inner))))),
            (LinkType::RAW, ipv6_from(OUT6, 47, &gre(0xb000, 0x6558, &inner))),
            (LinkType::RAW, ipv6(0, &cat(&[&[44, 0, 1, 4, 0, 0, 0, 0], &[6, 0, 0, 1, 0, 0, 0, 9], &tcp()]))),
            (LinkType::LINUX_SLL2, cat(&[&[0x08, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0], &ipv4_full(IN4, 6, 3, 0x2000, 0, &tcp())])),
            (LinkType::NULL, cat(&[&[30, 0, 0, 0], &ipv6_from(OUT6, 41, &ipv6(6, &tcp()))])),
        ];
        let (link, mut frame) = frames[which].clone();
        for (at, byte) in flips {
            let len = frame.len();
            frame[at % len] = byte;
        }
        frame.truncate(cut.max(1));
        let mut d = Decoder::with_config(DefragConfig { max_datagrams: 2, ..DefragConfig::default() });
        for t in 0..3 {
            if let Ok(Decoded::Tcp(s)) = d.decode(link, &frame, ts(t)) {
                proptest::prop_assert!(s.payload.len() <= frame.len());
            }
        }
        proptest::prop_assert!(d.fragments_in_progress() <= 2);
    }
}

proptest::proptest! {
    /// The in-line decoder of Ethernet/IPv4/TCP frames answers exactly as the general one on
    /// the frames it takes (corrupted ones included: options, lengths, fragments, data
    /// offsets), and leaves the others to it.
    #[test]
    fn the_inline_decoder_agrees_with_the_general_one(
        options in 0usize..3,
        flips in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 0..6),
        cut in 1usize..120,
    ) {
        let mut frame = eth(0x0800, &ipv4(6, &tcp_with_options(options, b"hello")));
        for (at, byte) in flips {
            let len = frame.len();
            frame[at % len] = byte;
        }
        frame.truncate(cut);
        let mut general = Decoder::new();
        let want = format!("{:?}", general.decode_any(LinkType::ETHERNET, &frame, ts(0)));
        if let Some(inline) = super::ethernet_ipv4_tcp(&frame) {
            proptest::prop_assert_eq!(format!("{inline:?}"), want.clone());
        }
        let mut decoder = Decoder::new();
        proptest::prop_assert_eq!(format!("{:?}", decoder.decode(LinkType::ETHERNET, &frame, ts(0))), want);
    }
}
