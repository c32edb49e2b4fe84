//! DTLS (RFC 4347, 6347, 9147): TLS handshakes over UDP datagrams, for WebRTC media, VPNs,
//! CoAP/IoT and SIP.
//!
//! A transport driver: [`DtlsConnection`] takes one UDP flow's datagrams and feeds the
//! handshake messages, alerts and protected records to a
//! [`crate::tls::handshake::HandshakeSink`] (the shared handshake layer's API), keeping the transport's own facts in [`DtlsFacts`].
//!
//! Layers, one file each: [`demux`] (which datagrams are DTLS, RFC 7983/9443; when a flow is
//! DTLS), [`record`] (the records of a datagram: DTLS 1.0/1.2 headers, tls12_cid, the DTLS 1.3
//! unified header), [`fragment`] (handshake fragments reassembled by `message_seq` and offset
//! with the shared assembler), [`hello_verify`] (the cookie challenge), [`connection`] (the
//! driver: epochs, retransmissions, the cookie round), [`facts`] and [`anomaly`] (its outputs).
//!
//! `tls-parser` (the design card's parser) is used where it fits: the 13-byte record header
//! ([`tls_parser::parse_dtls_record_header`]). Not elsewhere, because its DTLS parsers stop at
//! what a passive analyzer must read: its record parsers reject application data, connection
//! IDs (content type 25) and the DTLS 1.3 unified header, and reject a whole record when one
//! message type is missing from its list (ServerKeyExchange, Finished, …); its handshake parser
//! parses bodies along with the fragment header; its ClientHello parser rejects session ids
//! longer than 32 bytes and loses GREASE values. So the fragment header, the tls12_cid and
//! unified headers and the HelloVerifyRequest are read here with `nom`, and ClientHello and
//! ServerHello with the crate's one hello parser (`tls::hello`, which reads the DTLS cookie).

pub mod anomaly;
pub mod connection;
pub mod demux;
pub mod facts;
pub mod fragment;
pub mod hello_verify;
pub mod record;
#[cfg(test)]
pub(crate) mod test_wire;

pub use anomaly::DtlsAnomaly;
pub use connection::{DatagramVerdict, DtlsConnection};
pub use facts::DtlsFacts;
