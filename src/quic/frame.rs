//! The frames of QUIC packets (RFC 9000 §12.4, §19).
//!
//! Initial and Handshake packets ([`frames`]) may carry PADDING, PING, ACK, CRYPTO and
//! CONNECTION_CLOSE only. Any other frame there is a protocol violation; its layout is not read
//! (an unknown type has none to read), so the walk stops at it and reports it by name.
//!
//! 1-RTT packets, opened with key-log secrets ([`application_frames`]), may carry every frame
//! type: the walk reads HANDSHAKE_DONE, NEW_TOKEN (its length), CRYPTO and CONNECTION_CLOSE,
//! and steps over the others by their layout without reading their contents (a STREAM frame's
//! data is skipped, never looked at). An unknown type stops the walk.

use nom::IResult;
use nom::bytes::complete::take;

use super::varint::{length_prefixed, varint};

/// An ACK frame's contents (its ranges counted, not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// Largest packet number acknowledged.
    pub largest: u64,
    /// ACK delay (in units of 2^ack_delay_exponent microseconds).
    pub delay: u64,
    /// Additional ACK ranges after the first.
    pub ranges: u64,
    /// ECN counts (ECT(0), ECT(1), ECN-CE) of an ACK of type 0x03.
    pub ecn: Option<[u64; 3]>,
}

/// A CONNECTION_CLOSE frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionClose<'a> {
    /// Type 0x1d: an application error (not allowed in Initial packets, where peers send
    /// 0x1c with APPLICATION_ERROR instead).
    pub application: bool,
    /// The error code (transport error codes for 0x1c; CRYPTO_ERROR is 0x0100 + TLS alert).
    pub error_code: u64,
    /// The frame type that caused the error (0x1c only; 0 when unknown).
    pub frame_type: Option<u64>,
    /// The reason phrase, as sent (UTF-8 by the RFC, not checked).
    pub reason: &'a [u8],
}

impl ConnectionClose<'_> {
    /// The TLS alert of a CRYPTO_ERROR (transport error 0x0100–0x01ff, RFC 9001 §4.8).
    pub fn tls_alert(&self) -> Option<u8> {
        if self.application {
            return None;
        }
        match self.error_code {
            0x0100..=0x01ff => u8::try_from(self.error_code - 0x0100).ok(),
            _ => None,
        }
    }
}

/// One frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A run of PADDING frames (one byte each).
    Padding {
        /// How many.
        len: usize,
    },
    /// PING.
    Ping,
    /// ACK (types 0x02 and 0x03).
    Ack(Ack),
    /// CRYPTO: handshake bytes at an offset of the packet number space's crypto stream.
    Crypto {
        /// Stream offset of the first byte.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// CONNECTION_CLOSE (types 0x1c and 0x1d).
    ConnectionClose(ConnectionClose<'a>),
    /// HANDSHAKE_DONE (1-RTT, from the server): the handshake is confirmed.
    HandshakeDone,
    /// NEW_TOKEN (1-RTT, from the server): a token for a future connection's Initial.
    NewToken {
        /// The token's length.
        token_len: usize,
    },
    /// A 1-RTT frame stepped over without reading its contents (STREAM, MAX_DATA, ...).
    Skipped {
        /// The frame type.
        frame_type: u64,
    },
    /// A frame type Initial and Handshake packets may not carry, or (1-RTT) one whose layout
    /// is unknown; the walk stops here.
    NotAllowed {
        /// The frame type.
        frame_type: u64,
    },
}

/// Why the frames of a payload could not be read to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame runs past the end of the payload.
    #[error("QUIC frame truncated")]
    Truncated,
    /// A CRYPTO frame's offset plus length is beyond 2^62 - 1 (RFC 9000 §19.6).
    #[error("CRYPTO frame beyond the largest stream offset")]
    OffsetTooLarge,
}

/// The frames of a decrypted payload, in order; stops after an error or a frame not allowed.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
    /// 1-RTT rules: every frame type is allowed.
    application: bool,
}

/// Walks the frames of an Initial or Handshake packet's `payload`.
pub fn frames(payload: &[u8]) -> Frames<'_> {
    Frames {
        rest: payload,
        application: false,
    }
}

/// Walks the frames of a 1-RTT packet's `payload`.
pub fn application_frames(payload: &[u8]) -> Frames<'_> {
    Frames {
        rest: payload,
        application: true,
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_frame(self.rest, self.application) {
            Ok((rest, frame)) => {
                self.rest = if matches!(frame, Frame::NotAllowed { .. }) {
                    &[]
                } else {
                    rest
                };
                Some(Ok(frame))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn parse_frame(input: &[u8], application: bool) -> Result<(&[u8], Frame<'_>), FrameError> {
    let (rest, frame_type) = varint(input).map_err(|_| FrameError::Truncated)?;
    let parsed: IResult<&[u8], Frame<'_>> = match frame_type {
        0x00 => {
            let zeros = rest.iter().take_while(|&&b| b == 0).count();
            let len = input.len() - rest.len() + zeros;
            Ok((
                rest.get(zeros..).unwrap_or_default(),
                Frame::Padding { len },
            ))
        }
        0x01 => Ok((rest, Frame::Ping)),
        0x02 | 0x03 => ack(rest, frame_type == 0x03),
        0x06 => crypto(rest),
        0x1c | 0x1d => connection_close(rest, frame_type == 0x1d),
        _ if application => application_frame(frame_type, rest),
        _ => Ok((rest, Frame::NotAllowed { frame_type })),
    };
    let (rest, frame) = parsed.map_err(|_| FrameError::Truncated)?;
    if let Frame::Crypto { offset, data } = frame
        && offset.saturating_add(data.len() as u64) > super::varint::MAX
    {
        return Err(FrameError::OffsetTooLarge);
    }
    Ok((rest, frame))
}

/// A frame only 1-RTT packets carry: HANDSHAKE_DONE and NEW_TOKEN read, the others stepped
/// over by their layout (RFC 9000 §19, RFC 9221's DATAGRAM).
fn application_frame(frame_type: u64, input: &[u8]) -> IResult<&[u8], Frame<'_>> {
    let skipped = Frame::Skipped { frame_type };
    let varints = |mut rest, n: usize| {
        for _ in 0..n {
            (rest, _) = varint(rest)?;
        }
        Ok((rest, skipped))
    };
    match frame_type {
        0x1e => Ok((input, Frame::HandshakeDone)),
        0x07 => {
            let (rest, token) = length_prefixed(input)?;
            Ok((
                rest,
                Frame::NewToken {
                    token_len: token.len(),
                },
            ))
        }
        // RESET_STREAM; STOP_SENDING, MAX_STREAM_DATA, STREAM_DATA_BLOCKED; MAX_DATA,
        // MAX_STREAMS, DATA_BLOCKED, STREAMS_BLOCKED, RETIRE_CONNECTION_ID.
        0x04 => varints(input, 3),
        0x05 | 0x11 | 0x15 => varints(input, 2),
        0x10 | 0x12 | 0x13 | 0x14 | 0x16 | 0x17 | 0x19 => varints(input, 1),
        // STREAM: stream ID, offset (OFF bit), data with a length (LEN bit) or to the end.
        0x08..=0x0f => {
            let (mut rest, _) = varint(input)?;
            if frame_type & 0x04 != 0 {
                (rest, _) = varint(rest)?;
            }
            if frame_type & 0x02 != 0 {
                (rest, _) = length_prefixed(rest)?;
                Ok((rest, skipped))
            } else {
                Ok((&[][..], skipped))
            }
        }
        // NEW_CONNECTION_ID: sequence, retire-prior-to, the ID, a 16-byte reset token.
        0x18 => {
            let (rest, _) = varint(input)?;
            let (rest, _) = varint(rest)?;
            let (rest, _) = crate::wire::vec8(rest)?;
            let (rest, _) = take(16usize)(rest)?;
            Ok((rest, skipped))
        }
        // PATH_CHALLENGE, PATH_RESPONSE: 8 bytes of data.
        0x1a | 0x1b => Ok((take(8usize)(input)?.0, skipped)),
        // IMMEDIATE_ACK and ACK_FREQUENCY (the ACK frequency extension, which quinn uses).
        0x1f => Ok((input, skipped)),
        0xaf => varints(input, 4),
        // DATAGRAM without and with a length.
        0x30 => Ok((&[][..], skipped)),
        0x31 => Ok((length_prefixed(input)?.0, skipped)),
        _ => Ok((input, Frame::NotAllowed { frame_type })),
    }
}

fn crypto(input: &[u8]) -> IResult<&[u8], Frame<'_>> {
    let (rest, offset) = varint(input)?;
    let (rest, data) = length_prefixed(rest)?;
    Ok((rest, Frame::Crypto { offset, data }))
}

fn ack(input: &[u8], with_ecn: bool) -> IResult<&[u8], Frame<'_>> {
    let (mut rest, largest) = varint(input)?;
    let delay;
    (rest, delay) = varint(rest)?;
    let ranges;
    (rest, ranges) = varint(rest)?;
    (rest, _) = varint(rest)?; // first ACK range
    for _ in 0..ranges {
        (rest, _) = varint(rest)?; // gap
        (rest, _) = varint(rest)?; // range length
    }
    let ecn = if with_ecn {
        let mut counts = [0u64; 3];
        for count in &mut counts {
            (rest, *count) = varint(rest)?;
        }
        Some(counts)
    } else {
        None
    };
    let ack = Ack {
        largest,
        delay,
        ranges,
        ecn,
    };
    Ok((rest, Frame::Ack(ack)))
}

fn connection_close(input: &[u8], application: bool) -> IResult<&[u8], Frame<'_>> {
    let (rest, error_code) = varint(input)?;
    let (rest, frame_type) = if application {
        (rest, None)
    } else {
        let (rest, t) = varint(rest)?;
        (rest, Some(t))
    };
    let (rest, reason_len) = varint(rest)?;
    let (rest, reason) = take(usize::try_from(reason_len).unwrap_or(usize::MAX))(rest)?;
    let close = ConnectionClose {
        application,
        error_code,
        frame_type,
        reason,
    };
    Ok((rest, Frame::ConnectionClose(close)))
}

/// The RFC 9000 name of a frame type, for anomalies (`stream`, `new_token`, ...).
pub fn frame_name(frame_type: u64) -> &'static str {
    match frame_type {
        0x00 => "padding",
        0x01 => "ping",
        0x02 | 0x03 => "ack",
        0x04 => "reset_stream",
        0x05 => "stop_sending",
        0x06 => "crypto",
        0x07 => "new_token",
        0x08..=0x0f => "stream",
        0x10 => "max_data",
        0x11 => "max_stream_data",
        0x12 | 0x13 => "max_streams",
        0x14 => "data_blocked",
        0x15 => "stream_data_blocked",
        0x16 | 0x17 => "streams_blocked",
        0x18 => "new_connection_id",
        0x19 => "retire_connection_id",
        0x1a => "path_challenge",
        0x1b => "path_response",
        0x1c | 0x1d => "connection_close",
        0x1e => "handshake_done",
        0x1f => "immediate_ack",
        0x30 | 0x31 => "datagram",
        0xaf => "ack_frequency",
        _ => "unknown",
    }
}

/// The anomaly reported for a frame type an Initial packet may not carry.
pub fn not_allowed_in_initial(frame_type: u64) -> &'static str {
    match frame_name(frame_type) {
        "reset_stream" => "quic_initial_frame_reset_stream",
        "stop_sending" => "quic_initial_frame_stop_sending",
        "new_token" => "quic_initial_frame_new_token",
        "stream" => "quic_initial_frame_stream",
        "max_data" => "quic_initial_frame_max_data",
        "max_stream_data" => "quic_initial_frame_max_stream_data",
        "max_streams" => "quic_initial_frame_max_streams",
        "data_blocked" => "quic_initial_frame_data_blocked",
        "stream_data_blocked" => "quic_initial_frame_stream_data_blocked",
        "streams_blocked" => "quic_initial_frame_streams_blocked",
        "new_connection_id" => "quic_initial_frame_new_connection_id",
        "retire_connection_id" => "quic_initial_frame_retire_connection_id",
        "path_challenge" => "quic_initial_frame_path_challenge",
        "path_response" => "quic_initial_frame_path_response",
        "connection_close" => "quic_initial_frame_application_close",
        "handshake_done" => "quic_initial_frame_handshake_done",
        "datagram" => "quic_initial_frame_datagram",
        "immediate_ack" => "quic_initial_frame_immediate_ack",
        "ack_frequency" => "quic_initial_frame_ack_frequency",
        _ => "quic_initial_frame_unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(payload: &[u8]) -> Vec<Result<Frame<'_>, FrameError>> {
        frames(payload).collect()
    }

    /// RFC 9001 A.3's server payload: an ACK of packet 0, then the ServerHello in a CRYPTO frame.
    #[test]
    fn rfc_server_payload() {
        let payload =
            include_bytes!("../../tests/fixtures/quic/rfc9001_server_initial_payload.bin");
        let got = all(payload);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Ok(Frame::Ack(Ack {
                largest: 0,
                delay: 0,
                ranges: 0,
                ecn: None
            }))
        );
        let Ok(Frame::Crypto { offset, data }) = got[1] else {
            panic!("not CRYPTO: {:?}", got[1]);
        };
        assert_eq!(offset, 0);
        assert_eq!(data.len(), 90);
        assert_eq!(data[0], 2, "ServerHello");
    }

    #[test]
    fn padding_runs_ping_and_ack_with_ecn() {
        let payload = [0x01, 0, 0, 0, 0x03, 5, 1, 1, 0, 2, 3, 7, 8, 9];
        assert_eq!(
            all(&payload),
            [
                Ok(Frame::Ping),
                Ok(Frame::Padding { len: 3 }),
                Ok(Frame::Ack(Ack {
                    largest: 5,
                    delay: 1,
                    ranges: 1,
                    ecn: Some([7, 8, 9])
                })),
            ]
        );
    }

    #[test]
    fn connection_close_with_crypto_error() {
        // 0x1c, error 0x0178 (no_application_protocol), frame type 0x06, reason "alpn".
        let payload = [0x1c, 0x41, 0x78, 0x06, 4, b'a', b'l', b'p', b'n'];
        let got = all(&payload);
        let Ok(Frame::ConnectionClose(close)) = got[0] else {
            panic!("{got:?}");
        };
        assert_eq!(close.error_code, 0x178);
        assert_eq!(close.frame_type, Some(6));
        assert_eq!(close.reason, b"alpn");
        assert_eq!(close.tls_alert(), Some(120));
        let app = [0x1d, 0x41, 0x78, 0];
        let Ok(Frame::ConnectionClose(close)) = all(&app)[0] else {
            panic!("application close");
        };
        assert!(close.application);
        assert_eq!(close.frame_type, None);
        assert_eq!(close.tls_alert(), None);
    }

    #[test]
    fn not_allowed_frames_stop_the_walk() {
        let payload = [0x01, 0x08, 0, 0, 0x01];
        assert_eq!(
            all(&payload),
            [Ok(Frame::Ping), Ok(Frame::NotAllowed { frame_type: 8 })]
        );
        assert_eq!(not_allowed_in_initial(8), "quic_initial_frame_stream");
        assert_eq!(
            not_allowed_in_initial(0x1d),
            "quic_initial_frame_application_close"
        );
        assert_eq!(not_allowed_in_initial(0x4242), "quic_initial_frame_unknown");
    }

    /// 1-RTT frames: HANDSHAKE_DONE and NEW_TOKEN read, the others stepped over by their
    /// layout (a STREAM frame without a length runs to the end), an unknown type stops.
    #[test]
    fn application_frames_are_read_or_stepped_over() {
        let mut payload = vec![0x1e, 0x07, 3, 1, 2, 3];
        // STREAM with OFF and LEN: id 4, offset 9, 2 bytes; MAX_DATA; NEW_CONNECTION_ID with a
        // 2-byte ID and its reset token; PATH_CHALLENGE; IMMEDIATE_ACK; ACK_FREQUENCY.
        payload.extend([0x0e, 4, 9, 2, b'h', b'i', 0x10, 0x40, 0x10]);
        payload.extend([0x18, 1, 0, 2, 0xaa, 0xbb]);
        payload.extend([0x55; 16]);
        payload.extend([0x1a, 1, 2, 3, 4, 5, 6, 7, 8, 0x1f, 0x40, 0xaf, 1, 2, 3, 4]);
        // CONNECTION_CLOSE 0x1d, then a STREAM frame without a length: the rest is its data.
        payload.extend([0x1d, 0, 0, 0x08, 0, 0x1e, 0x1e]);
        let got: Vec<_> = application_frames(&payload).collect();
        let skipped = |frame_type| Ok(Frame::Skipped { frame_type });
        assert_eq!(
            got,
            [
                Ok(Frame::HandshakeDone),
                Ok(Frame::NewToken { token_len: 3 }),
                skipped(0x0e),
                skipped(0x10),
                skipped(0x18),
                skipped(0x1a),
                skipped(0x1f),
                skipped(0xaf),
                Ok(Frame::ConnectionClose(ConnectionClose {
                    application: true,
                    error_code: 0,
                    frame_type: None,
                    reason: b"",
                })),
                skipped(0x08),
            ]
        );
        // Initial rules stop at HANDSHAKE_DONE; an unknown 1-RTT type stops the walk too.
        assert_eq!(
            all(&[0x1e, 0x01]),
            [Ok(Frame::NotAllowed { frame_type: 0x1e })]
        );
        let unknown: Vec<_> = application_frames(&[0x01, 0x21, 0x01]).collect();
        assert_eq!(
            unknown,
            [Ok(Frame::Ping), Ok(Frame::NotAllowed { frame_type: 0x21 })]
        );
        let truncated: Vec<_> = application_frames(&[0x18, 1, 0, 2, 0xaa]).collect();
        assert_eq!(truncated, [Err(FrameError::Truncated)]);
    }

    #[test]
    fn truncated_and_oversized_frames() {
        assert_eq!(all(&[0x06, 0, 5, 1, 2]), [Err(FrameError::Truncated)]);
        assert_eq!(all(&[0x02, 1]), [Err(FrameError::Truncated)]);
        assert_eq!(all(&[0x1c, 1, 0, 9, b'x']), [Err(FrameError::Truncated)]);
        // An ACK claiming 2^62 ranges ends at the payload's end, not after 2^62 loops.
        let mut huge = vec![
            0x02, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
        ];
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(all(&huge), [Err(FrameError::Truncated)]);
        let offset_max = [0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0];
        assert_eq!(all(&offset_max), [Err(FrameError::OffsetTooLarge)]);
    }
}
