//! The transport facts of one DTLS connection: what a record's `dtls` object will carry (issue
//! 14: version, cookie exchange, retransmitted flights, connection IDs, the other datagrams of
//! the flow). Directions are the flow's; the handshake layer knows which side is the client.

use super::demux::DatagramKind;
use crate::flow::{Direction, Timestamp};

/// Retransmitted flights listed one by one; beyond, they are only counted.
pub const MAX_LISTED_RETRANSMISSIONS: usize = 16;

/// Record-layer versions remembered.
const MAX_RECORD_VERSIONS: usize = 4;

/// Facts of one DTLS connection's transport.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DtlsFacts {
    /// The negotiated DTLS version: the ServerHello's supported_versions (DTLS 1.3), else its
    /// `server_version`; `None` without a ServerHello.
    pub version: Option<u16>,
    /// Record-layer versions seen, first seen first (at most four).
    pub record_versions: Vec<u16>,
    /// The round the server asked for before the handshake proper, if any.
    pub cookie_exchange: Option<CookieExchange>,
    /// Flights sent again.
    pub retransmissions: Retransmissions,
    /// Connection IDs (RFC 9146 / RFC 9147).
    pub connection_ids: ConnectionIds,
    /// Datagrams of the flow by what they carry (STUN and SRTP share WebRTC's 5-tuple).
    pub datagrams: DatagramCounts,
    /// DTLS records per direction.
    pub records: [u64; 2],
    /// Records seen again with the same epoch and sequence number: the network or the capture
    /// duplicated a datagram (an endpoint retransmits with new sequence numbers).
    pub duplicated_records: u64,
}

impl DtlsFacts {
    /// Bytes its lists hold on the heap (record versions, listed flights, connection IDs).
    pub fn heap_bytes(&self) -> usize {
        let ids = &self.connection_ids;
        self.record_versions.capacity() * size_of::<u16>()
            + self.retransmissions.listed.capacity() * size_of::<RetransmittedFlight>()
            + ids.client.as_ref().map_or(0, Vec::capacity)
            + ids.server.as_ref().map_or(0, Vec::capacity)
    }

    /// Notes a record-layer version.
    pub(crate) fn saw_record_version(&mut self, version: u16) {
        if !self.record_versions.contains(&version)
            && self.record_versions.len() < MAX_RECORD_VERSIONS
        {
            self.record_versions.push(version);
        }
    }
}

/// Which message asked the client to start again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieRequest {
    /// A HelloVerifyRequest (DTLS 1.0 and 1.2, RFC 6347 §4.2.1).
    HelloVerifyRequest,
    /// A DTLS 1.3 HelloRetryRequest (RFC 9147 §5.1).
    HelloRetryRequest {
        /// It carries a cookie (address validation); without one the server only wants
        /// another key share.
        cookie: bool,
    },
}

/// The extra round before the handshake proper: ClientHello, the server's request, the
/// ClientHello again. All three belong to one connection; its cost is the time from the first
/// ClientHello to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieExchange {
    /// What the server sent.
    pub request: CookieRequest,
    /// Its version: the HelloVerifyRequest's `server_version`, the HelloRetryRequest's
    /// selected version.
    pub version: u16,
    /// Length of a HelloVerifyRequest's cookie (a HelloRetryRequest's sits in an extension
    /// whose length is not kept).
    pub cookie_len: Option<u8>,
    /// When the first ClientHello was first sent.
    pub first_client_hello: Timestamp,
    /// When the request arrived.
    pub requested: Timestamp,
    /// When the ClientHello answering it was first sent; `None` when the client never did
    /// (the cookie exchange did not complete).
    pub second_client_hello: Option<Timestamp>,
}

impl CookieExchange {
    /// Microseconds the round cost: first ClientHello to the second (`None` when the second
    /// never came or the clock stepped back).
    pub fn cost_us(&self) -> Option<i64> {
        self.second_client_hello?
            .elapsed_since(self.first_client_hello)
    }
}

/// Flights sent again by an endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retransmissions {
    /// Retransmitted flights per direction.
    pub flights: [u32; 2],
    /// Fragments (and ChangeCipherSpecs) that repeated what was already seen, per direction.
    pub fragments: [u64; 2],
    /// The first [`MAX_LISTED_RETRANSMISSIONS`] retransmitted flights, in order.
    pub listed: Vec<RetransmittedFlight>,
}

impl Retransmissions {
    /// Counts a retransmitted flight and lists it while there is room.
    pub(crate) fn add(&mut self, flight: RetransmittedFlight) {
        self.flights[flight.from.index()] += 1;
        if self.listed.len() < MAX_LISTED_RETRANSMISSIONS {
            self.listed.push(flight);
        }
    }

    /// All retransmitted flights.
    pub fn total(&self) -> u32 {
        self.flights[0] + self.flights[1]
    }
}

/// One flight sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmittedFlight {
    /// Its sender.
    pub from: Direction,
    /// When its first repeated fragment arrived.
    pub ts: Timestamp,
    /// The `message_seq` of its first repeated message; `None` when a ChangeCipherSpec came
    /// first.
    pub message_seq: Option<u16>,
    /// Microseconds since that message was first sent: the sender's retransmission timer
    /// (`None` for a ChangeCipherSpec, or when the clock stepped back).
    pub after_us: Option<i64>,
}

/// Connection IDs the hellos negotiated (each side names the one it wants on the records it
/// receives).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionIds {
    /// The client's, from its ClientHello.
    pub client: Option<Vec<u8>>,
    /// The server's, from a DTLS 1.2 ServerHello (DTLS 1.3 sends it encrypted).
    pub server: Option<Vec<u8>>,
    /// Records that carried a connection ID.
    pub records: u64,
}

/// Datagrams of a flow by kind (RFC 7983 / RFC 9443 first-byte demultiplexing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatagramCounts {
    /// DTLS.
    pub dtls: u64,
    /// STUN (ICE connectivity checks).
    pub stun: u64,
    /// ZRTP.
    pub zrtp: u64,
    /// TURN ChannelData.
    pub turn_channel: u64,
    /// QUIC.
    pub quic: u64,
    /// RTP (SRTP media).
    pub rtp: u64,
    /// RTCP (SRTCP).
    pub rtcp: u64,
    /// Anything else.
    pub unknown: u64,
}

impl DatagramCounts {
    /// Counts one datagram.
    pub fn add(&mut self, kind: DatagramKind) {
        let n = match kind {
            DatagramKind::Dtls => &mut self.dtls,
            DatagramKind::Stun => &mut self.stun,
            DatagramKind::Zrtp => &mut self.zrtp,
            DatagramKind::TurnChannel => &mut self.turn_channel,
            DatagramKind::Quic => &mut self.quic,
            DatagramKind::Rtp => &mut self.rtp,
            DatagramKind::Rtcp => &mut self.rtcp,
            DatagramKind::Unknown => &mut self.unknown,
        };
        *n += 1;
    }
}
