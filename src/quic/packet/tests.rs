use super::*;
use crate::quic::keys::InitialKeys;

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/quic/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn only_packet(datagram: &[u8]) -> Packet<'_> {
    let all: Vec<_> = packets(datagram).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].expect("parses")
}

fn long(packet: Packet<'_>) -> LongPacket<'_> {
    match packet {
        Packet::Long(p) => p,
        other => panic!("not a long packet: {other:?}"),
    }
}

/// RFC 9001 A.2 / RFC 9369 A.2: the client Initial opens with the client keys to packet
/// number 2 and the 1162-byte payload of the CRYPTO frame and PADDING.
#[test]
fn rfc_client_initial() {
    let crypto = fixture("rfc9001_client_initial_crypto.bin");
    for (version, file) in [
        (QuicVersion::V1, "rfc9001_client_initial.bin"),
        (QuicVersion::V2, "rfc9369_client_initial.bin"),
    ] {
        let datagram = fixture(file);
        let p = long(only_packet(&datagram));
        assert_eq!(p.ty, PacketType::Initial);
        assert_eq!(p.version, version);
        assert_eq!(p.dcid, DCID);
        assert_eq!(p.scid, b"");
        assert_eq!(p.token, b"");
        assert_eq!(p.pn_offset, 18);
        assert_eq!(p.bytes.len(), 1200);
        let keys =
            InitialKeys::derive(version.params().expect("readable"), p.dcid).expect("derive");
        let mut scratch = Vec::new();
        let opened = unprotect(p.bytes, p.pn_offset, &keys.client, None, &mut scratch)
            .expect("client keys open the client Initial");
        assert_eq!(opened.packet_number, 2);
        assert_eq!(opened.reserved_bits, 0);
        assert_eq!(opened.payload.len(), 1162);
        assert_eq!(&opened.payload[..crypto.len()], &crypto[..]);
        assert!(opened.payload[crypto.len()..].iter().all(|&b| b == 0));
        // The server's keys do not open it.
        let mut scratch = Vec::new();
        assert_eq!(
            unprotect(p.bytes, p.pn_offset, &keys.server, None, &mut scratch),
            Err(OpenError::Authentication)
        );
    }
}

/// RFC 9001 A.3 / RFC 9369 A.3: the server Initial (2-byte packet number 1) opens with the
/// server keys derived from the client's DCID.
#[test]
fn rfc_server_initial() {
    let payload = fixture("rfc9001_server_initial_payload.bin");
    for (version, file) in [
        (QuicVersion::V1, "rfc9001_server_initial.bin"),
        (QuicVersion::V2, "rfc9369_server_initial.bin"),
    ] {
        let datagram = fixture(file);
        let p = long(only_packet(&datagram));
        assert_eq!(p.ty, PacketType::Initial);
        assert_eq!(p.dcid, b"");
        assert_eq!(p.scid, [0xf0, 0x67, 0xa5, 0x50, 0x2a, 0x42, 0x62, 0xb5]);
        let keys = InitialKeys::derive(version.params().expect("readable"), &DCID).expect("derive");
        let mut scratch = Vec::new();
        let opened = unprotect(p.bytes, p.pn_offset, &keys.server, None, &mut scratch)
            .expect("server keys open the server Initial");
        assert_eq!(opened.packet_number, 1);
        assert_eq!(opened.payload, &payload[..]);
    }
}

/// RFC 9001 A.4 / RFC 9369 A.4: a Retry with the token "token" and a new SCID.
#[test]
fn rfc_retry() {
    for file in ["rfc9001_retry.bin", "rfc9369_retry.bin"] {
        let datagram = fixture(file);
        let Packet::Retry(retry) = only_packet(&datagram) else {
            panic!("{file}: not a Retry");
        };
        assert_eq!(retry.token, b"token");
        assert_eq!(retry.scid, [0xf0, 0x67, 0xa5, 0x50, 0x2a, 0x42, 0x62, 0xb5]);
        assert_eq!(retry.bytes.len(), 36);
    }
}

/// RFC 9001 A.5 / RFC 9369 A.5: the 21-byte short-header packet, with an empty DCID, opens
/// to a PING frame with packet number 654360564 (3 bytes encoded).
#[test]
fn rfc_chacha20_short_header() {
    let secret = hex::decode("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b")
        .expect("hex");
    for (version, file) in [
        (QuicVersion::V1, "rfc9001_chacha20_short.bin"),
        (QuicVersion::V2, "rfc9369_chacha20_short.bin"),
    ] {
        let datagram = fixture(file);
        let Packet::Short { bytes } = only_packet(&datagram) else {
            panic!("not a short header");
        };
        let labels = version.params().expect("readable").labels;
        let keys = PacketKeys::from_secret(
            crate::quic::protection::Suite::ChaCha20Poly1305,
            &labels,
            &secret,
        )
        .expect("derive");
        let mut scratch = Vec::new();
        let opened = unprotect(bytes, 1, &keys, Some(654_360_563), &mut scratch).expect("opens");
        assert_eq!(opened.packet_number, 654_360_564);
        assert_eq!(opened.payload, [0x01]);
    }
}

/// RFC 9000 A.3's example, and the edges of the window.
#[test]
fn packet_number_decoding() {
    assert_eq!(
        decode_packet_number(Some(0xa82f_30ea), 0x9b32, 16),
        0xa82f_9b32
    );
    assert_eq!(decode_packet_number(None, 0, 8), 0);
    assert_eq!(decode_packet_number(None, 2, 32), 2);
    assert_eq!(decode_packet_number(Some(255), 0, 8), 256);
    assert_eq!(decode_packet_number(Some(300), 0xff, 8), 255);
}

/// Initial, Handshake and 1-RTT coalesced, then zero padding: three packets.
#[test]
fn coalesced_packets_and_padding() {
    let mut datagram = Vec::new();
    // Initial: type 0, DCID 1 byte, SCID 0, token 0, length 20.
    datagram.extend_from_slice(&[0xc0, 0, 0, 0, 1, 1, 0xaa, 0, 0, 20]);
    datagram.extend_from_slice(&[0x11; 20]);
    // Handshake: type 2, length 18.
    datagram.extend_from_slice(&[0xe0, 0, 0, 0, 1, 1, 0xaa, 0, 18]);
    datagram.extend_from_slice(&[0x22; 18]);
    let short_at = datagram.len();
    datagram.extend_from_slice(&[0x40, 0xaa, 0x33, 0x33]);
    let all: Vec<_> = packets(&datagram).map(|p| p.expect("parses")).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].ty(), PacketType::Initial);
    assert_eq!(all[0].len(), 30);
    assert_eq!(all[1].ty(), PacketType::Handshake);
    assert_eq!(all[1].len(), 27);
    assert_eq!(
        all[2],
        Packet::Short {
            bytes: &datagram[short_at..]
        }
    );

    let mut padded = datagram[..short_at].to_vec();
    padded.extend_from_slice(&[0; 100]);
    assert_eq!(packets(&padded).count(), 2);
}

/// Random bytes after the last packet (Chrome pads Initial datagrams so), a short header or a
/// long header with another DCID: padding, not packets (RFC 9000 §12.2).
#[test]
fn bytes_without_the_first_dcid_are_padding() {
    let mut initial = vec![0xc0, 0, 0, 0, 1, 1, 0xaa, 0, 0, 20];
    initial.extend_from_slice(&[0x11; 20]);
    for tail in [
        &[0x5b, 0x17, 0xc4, 0x09][..],
        &[0x13, 0x77],
        &[0x40, 0xbb, 0x33, 0x33],
        &[0xe0, 0, 0, 0, 1, 1, 0xbb, 0, 1, 0x22],
        &[0xe0, 0, 0, 0, 2, 1, 0xaa, 0, 1, 0x22],
    ] {
        let mut d = initial.clone();
        d.extend_from_slice(tail);
        let all: Vec<_> = packets(&d).collect();
        assert_eq!(all.len(), 1, "{tail:x?}");
        assert!(all[0].is_ok());
    }
    // A Version Negotiation or short-header first packet ends the walk.
    let mut vn = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    vn.extend_from_slice(&initial);
    assert_eq!(packets(&vn).count(), 1);
}

#[test]
fn bad_headers() {
    // Length beyond the datagram.
    let mut d = vec![0xc0, 0, 0, 0, 1, 0, 0, 0, 0x40, 0xff];
    d.extend_from_slice(&[0; 30]);
    assert_eq!(packets(&d).next(), Some(Err(PacketError::Truncated)));
    // 21-byte DCID in v1.
    let mut d = vec![0xc0, 0, 0, 0, 1, 21];
    d.extend_from_slice(&[0; 40]);
    assert_eq!(
        packets(&d).next(),
        Some(Err(PacketError::Malformed(
            "connection ID longer than 20 bytes"
        )))
    );
    // Version Negotiation with a version list of 3 bytes.
    assert!(matches!(
        packets(&[0x80, 0, 0, 0, 0, 0, 0, 1, 2, 3]).next(),
        Some(Err(PacketError::Malformed(_)))
    ));
    // Cut inside the header.
    assert_eq!(
        packets(&[0xc0, 0, 0]).next(),
        Some(Err(PacketError::Truncated))
    );
    // A short header without the fixed bit is still a short header (RFC 9287 greasing).
    assert_eq!(
        packets(&[0x00, 1, 2]).next(),
        Some(Ok(Packet::Short {
            bytes: &[0x00, 1, 2]
        }))
    );
    // An error ends the walk.
    assert_eq!(packets(&[0xc0, 0, 0]).count(), 1);
}

#[test]
fn version_negotiation_lists_versions() {
    let d = [
        0x80, 0, 0, 0, 0, 1, 0xaa, 2, 0xbb, 0xcc, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf,
    ];
    let Packet::VersionNegotiation(vn) = only_packet(&d) else {
        panic!("not VN");
    };
    assert_eq!(vn.dcid, [0xaa]);
    assert_eq!(vn.scid, [0xbb, 0xcc]);
    assert_eq!(
        vn.versions().collect::<Vec<_>>(),
        [QuicVersion::V1, QuicVersion::V2]
    );
}

#[test]
fn unreadable_versions_are_kept_whole() {
    // Q050 long header; the DNS query of Zeek's vector-max-size-crash (version 0x10010000).
    for version in [[b'Q', b'0', b'5', b'0'], [0x10, 0x01, 0x00, 0x00]] {
        let mut d = vec![0xc3];
        d.extend_from_slice(&version);
        d.extend_from_slice(&[8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 9, 9, 9]);
        let p = only_packet(&d);
        assert_eq!(
            p,
            Packet::Unreadable {
                version: QuicVersion(u32::from_be_bytes(version)),
                bytes: &d
            }
        );
    }
    // Legacy gQUIC public header: flags 0x09, CID, "Q043".
    let mut d = vec![0x09, 1, 2, 3, 4, 5, 6, 7, 8];
    d.extend_from_slice(b"Q043");
    d.extend_from_slice(&[0; 20]);
    assert!(matches!(
        only_packet(&d),
        Packet::Unreadable {
            version: QuicVersion(0x5130_3433),
            ..
        }
    ));
}

#[test]
fn connection_ids() {
    let id = ConnectionId::new(&[0xde, 0xad]).expect("short");
    assert_eq!(id.as_bytes(), [0xde, 0xad]);
    assert_eq!(id.to_hex(), "dead");
    assert_eq!(ConnectionId::new(&[0; 21]), None);
    assert_eq!(ConnectionId::new(&[]).map(|c| c.as_bytes().len()), Some(0));
}

#[test]
fn too_short_to_unprotect() {
    let keys =
        InitialKeys::derive(QuicVersion::V1.params().expect("readable"), &DCID).expect("derive");
    let mut scratch = Vec::new();
    assert_eq!(
        unprotect(&[0xc0; 30], 18, &keys.client, None, &mut scratch),
        Err(OpenError::TooShort)
    );
}

/// `protect` rebuilds the RFC's protected client and server Initials from their plaintext.
#[test]
fn protect_reproduces_the_rfc_packets() {
    let mut client_payload = fixture("rfc9001_client_initial_crypto.bin");
    client_payload.resize(1162, 0);
    let server_payload = fixture("rfc9001_server_initial_payload.bin");
    let cases = [
        (
            QuicVersion::V1,
            "c300000001088394c8f03e5157080000449e00000002",
            "c1000000010008f067a5502a4262b50040750001",
            "rfc9001_client_initial.bin",
            "rfc9001_server_initial.bin",
        ),
        (
            QuicVersion::V2,
            "d36b3343cf088394c8f03e5157080000449e00000002",
            "d16b3343cf0008f067a5502a4262b50040750001",
            "rfc9369_client_initial.bin",
            "rfc9369_server_initial.bin",
        ),
    ];
    for (version, client_header, server_header, client_file, server_file) in cases {
        let keys = InitialKeys::derive(version.params().expect("readable"), &DCID).expect("derive");
        let client = protect(
            &hex::decode(client_header).expect("hex"),
            2,
            &client_payload,
            &keys.client,
        );
        assert_eq!(client, fixture(client_file), "{version:?} client");
        let server = protect(
            &hex::decode(server_header).expect("hex"),
            1,
            &server_payload,
            &keys.server,
        );
        assert_eq!(server, fixture(server_file), "{version:?} server");
    }
}
