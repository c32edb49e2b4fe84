//! Stateless link/IP/TCP header decoding, plus IP defragmentation (the only state), so that every
//! TCP segment reaches the flow layer with its ports, whatever the link type or tunnel.
//!
//! INTERFACE STUB — implementation pending (decode helper).

use crate::flow::{Endpoint, TcpFlags, Timestamp};

/// A libpcap link-layer type (`DLT_*`/`LINKTYPE_*` number) as found in the capture header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

/// One TCP segment with the headers tlsight needs; the payload borrows the frame (or the
/// decoder's defragmentation buffer).
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when the ACK flag is set).
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Receive window (unscaled).
    pub window: u16,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A well-formed packet that is not TCP (UDP, ICMP, ARP, ...): counted, not analysed.
    NotTcp,
    /// An IP fragment kept until its datagram is complete.
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

impl DecodeError {
    /// Short snake_case counter key.
    pub fn kind(&self) -> &'static str {
        todo!("decode helper")
    }
}

/// Decodes frames; holds the IP defragmentation state.
#[derive(Debug, Default)]
pub struct Decoder {}

impl Decoder {
    /// A decoder with empty defragmentation state.
    pub fn new() -> Self {
        Decoder {}
    }

    /// Decodes one frame of link type `link` captured at `ts`.
    pub fn decode<'a>(
        &'a mut self,
        link: LinkType,
        frame: &'a [u8],
        ts: Timestamp,
    ) -> Result<Decoded<'a>, DecodeError> {
        let _ = (link, frame, ts);
        todo!("decode helper")
    }
}
