//! The protocol oddities of the DTLS record and fragment layers, reported by name through
//! [`crate::tls::handshake::HandshakeSink::anomaly`] and counted in the connection's facts.

/// Protocol oddities of the DTLS record and fragment layers, counted in the connection's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DtlsAnomaly {
    /// A record header could not be read (truncated, longer than the datagram or the maximum,
    /// or not a header at all): the rest of its datagram is skipped.
    BadRecordHeader,
    /// A record carries a connection ID whose length is not known (a DTLS 1.3 server's is
    /// encrypted) and could not be inferred: the rest of its datagram is skipped.
    ConnectionIdLengthUnknown,
    /// A record version that is no DTLS version.
    UnknownRecordVersion,
    /// A handshake fragment header was cut short: the rest of its record is skipped.
    BadHandshakeFragment,
    /// `fragment_offset + fragment_length` beyond the message length.
    FragmentBeyondMessageLength,
    /// A fragment contradicts what is held: another type or length for a `message_seq`, or
    /// other bytes where copies overlap (the first copy wins).
    InconsistentFragment,
    /// A handshake message longer than the cap: skipped.
    HandshakeMessageTooLarge,
    /// A fragment too far ahead of the next message due, or too many messages waiting.
    MessageSeqTooFarAhead,
    /// The per-direction handshake buffer is full: the fragment was dropped.
    HandshakeBufferFull,
    /// A record of an older epoch than its sender already used brought something new (old
    /// epochs are expected only in retransmitted flights).
    EpochWentBackwards,
}

impl DtlsAnomaly {
    /// The snake_case name written in records.
    pub fn name(self) -> &'static str {
        match self {
            DtlsAnomaly::BadRecordHeader => "bad_record_header",
            DtlsAnomaly::ConnectionIdLengthUnknown => "connection_id_length_unknown",
            DtlsAnomaly::UnknownRecordVersion => "unknown_record_version",
            DtlsAnomaly::BadHandshakeFragment => "bad_handshake_fragment",
            DtlsAnomaly::FragmentBeyondMessageLength => "fragment_beyond_message_length",
            DtlsAnomaly::InconsistentFragment => "inconsistent_fragment",
            DtlsAnomaly::HandshakeMessageTooLarge => "handshake_message_too_large",
            DtlsAnomaly::MessageSeqTooFarAhead => "message_seq_too_far_ahead",
            DtlsAnomaly::HandshakeBufferFull => "handshake_buffer_full",
            DtlsAnomaly::EpochWentBackwards => "epoch_went_backwards",
        }
    }
}
