//! A test-only UDP datagram extractor: the capture and decode stages do not yield UDP
//! datagrams yet (a later step of the redesign adds them), so the QUIC tests read pcaps with
//! libpcap and `etherparse` here. Link types of the bundled QUIC captures: Ethernet, PPP
//! (the QUIC interop runner's), raw IP and BSD loopback.

use std::net::IpAddr;
use std::path::Path;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use tlsight::flow::{Endpoint, Timestamp};

/// One UDP datagram of a capture.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// 1-based number of its frame in the capture (tshark's `frame.number`).
    pub frame: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// UDP payload.
    pub payload: Vec<u8>,
}

/// The UDP datagrams of `path`, in capture order (frames that are not UDP are skipped).
pub fn datagrams(path: &Path) -> Vec<Datagram> {
    let mut capture = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let link = capture.get_datalink().0;
    let mut out = Vec::new();
    let mut frame = 0;
    while let Ok(packet) = capture.next_packet() {
        frame += 1;
        let ts = Timestamp::from_parts(packet.header.ts.tv_sec, packet.header.ts.tv_usec);
        let sliced = match link {
            1 => SlicedPacket::from_ethernet(packet.data),
            9 => match ppp_payload(packet.data) {
                Some(ip) => SlicedPacket::from_ip(ip),
                None => continue,
            },
            0 => match packet.data.get(4..) {
                Some(ip) => SlicedPacket::from_ip(ip),
                None => continue,
            },
            12 | 101 => SlicedPacket::from_ip(packet.data),
            other => panic!("{}: link type {other} not handled", path.display()),
        };
        let Ok(sliced) = sliced else { continue };
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Udp(udp)) = &sliced.transport else {
            continue;
        };
        out.push(Datagram {
            frame,
            ts,
            src: Endpoint {
                ip: src_ip,
                port: udp.source_port(),
            },
            dst: Endpoint {
                ip: dst_ip,
                port: udp.destination_port(),
            },
            payload: udp.payload().to_vec(),
        });
    }
    out
}

/// The IP packet inside a PPP frame (with or without the 0xff 0x03 address and control
/// bytes), when it carries IPv4 (0x0021) or IPv6 (0x0057).
fn ppp_payload(frame: &[u8]) -> Option<&[u8]> {
    let frame = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    match frame.get(..2)? {
        [0x00, 0x21] | [0x00, 0x57] => frame.get(2..),
        _ => None,
    }
}
