//! QUIC's part of the facts: the driver's [`QuicFacts`], why the flow left the table, its
//! timings, when a handshake counts as confirmed, and the evidence of one that did not
//! complete (a transport CONNECTION_CLOSE, Version Negotiation, silence, a suspected stateless
//! reset, a close hidden in Handshake packets, lost CRYPTO bytes).
//!
//! A CONNECTION_CLOSE with a CRYPTO_ERROR is not handled here: the driver reports it as the
//! TLS alert it carries, so the shared diagnosis (`diagnosis`) judges it as it judges alerts
//! over TCP.

use super::diagnosis::{client_hello_wait_ms, failed, no_response};
use super::{ConnectionFacts, Failure, FailureCause, Outcome, Timing};
use crate::flow::{Direction, Timestamp};
use crate::quic::QuicFacts;
use crate::quic::connection::CloseFacts;
use crate::stream::CloseReason;

/// QUIC's facts about a connection.
#[derive(Clone, Debug)]
pub struct QuicTransport {
    /// What the driver read and counted.
    pub quic: QuicFacts,
    /// Why the flow left the table.
    pub close: CloseReason,
    /// First datagram of the flow.
    pub first_ts: Timestamp,
    /// Last datagram of the flow.
    pub last_ts: Timestamp,
}

/// A transport error code's name (RFC 9000 §20.1), `None` for codes without one.
pub fn transport_error_name(code: u64) -> Option<&'static str> {
    Some(match code {
        0x00 => "NO_ERROR",
        0x01 => "INTERNAL_ERROR",
        0x02 => "CONNECTION_REFUSED",
        0x03 => "FLOW_CONTROL_ERROR",
        0x04 => "STREAM_LIMIT_ERROR",
        0x05 => "STREAM_STATE_ERROR",
        0x06 => "FINAL_SIZE_ERROR",
        0x07 => "FRAME_ENCODING_ERROR",
        0x08 => "TRANSPORT_PARAMETER_ERROR",
        0x09 => "CONNECTION_ID_LIMIT_ERROR",
        0x0a => "PROTOCOL_VIOLATION",
        0x0b => "INVALID_TOKEN",
        0x0c => "APPLICATION_ERROR",
        0x0d => "CRYPTO_BUFFER_EXCEEDED",
        0x0e => "KEY_UPDATE_ERROR",
        0x0f => "AEAD_LIMIT_REACHED",
        0x10 => "NO_VIABLE_PATH",
        0x11 => "VERSION_NEGOTIATION_ERROR",
        0x0100..=0x01ff => "CRYPTO_ERROR",
        _ => return None,
    })
}

/// CONNECTION_REFUSED (RFC 9000 §20.1): the server refuses to accept a new connection.
const CONNECTION_REFUSED: u64 = 0x02;

impl QuicTransport {
    /// The sender of the client's Initial, when known.
    pub(super) fn client(&self) -> Option<Direction> {
        self.quic.client
    }

    /// QUIC's own phase: the client's first datagram → the server's first reply.
    pub(super) fn time(&self, f_client: Direction, timing: &mut Timing) {
        let first = &self.quic.times.first_datagram;
        if let (Some(c), Some(s)) = (first[f_client.index()], first[f_client.reverse().index()]) {
            timing.server_first_reply_us = s.elapsed_since(c);
        }
    }

    /// Whether a handshake whose client sent its Finished flight (its first Handshake
    /// packet) is confirmed: with key logs, the server's HANDSHAKE_DONE was read (RFC 9001
    /// §4.1.2); otherwise no CONNECTION_CLOSE was read and the client went on to send 1-RTT
    /// packets. A client that rejects the server's flight closes inside a Handshake packet
    /// (encrypted) and sends no 1-RTT packet.
    pub(super) fn handshake_confirmed(&self, client: Direction) -> bool {
        let q = &self.quic;
        q.decrypted
            .as_ref()
            .is_some_and(|d| d.handshake_done.is_some())
            || q.client_went_on(client)
    }

    /// Outcome and cause from QUIC's evidence, for a handshake that no alert ended; `after`
    /// names the last handshake message.
    pub(super) fn diagnose(
        &self,
        f: &ConnectionFacts,
        server_spoke: bool,
        after: &str,
    ) -> (Outcome, Option<Failure>) {
        let q = &self.quic;
        let (client, server) = (f.client_dir, f.client_dir.reverse());
        if let Some(close) = &q.connection_close {
            return close_cause(close, client, after);
        }
        if let Some(vn) = &q.version_negotiation
            && f.server_hello.is_none()
        {
            let offered: Vec<String> = vn.offered.iter().map(|v| v.name().into_owned()).collect();
            let version = q
                .version
                .map_or_else(|| "?".into(), |v| v.name().into_owned());
            return failed(
                FailureCause::VersionMismatch,
                format!(
                    "The server answered the client's {version} Initial with Version Negotiation offering {}, and no handshake in a shared version followed.",
                    if offered.is_empty() {
                        "no version".to_string()
                    } else {
                        offered.join(", ")
                    }
                ),
                false,
            );
        }
        if q.stateless_reset == Some(server) {
            return failed(
                FailureCause::ServerReset,
                format!(
                    "The server answered with what looks like a stateless reset after {after} (a short-header packet before any handshake)."
                ),
                true,
            );
        }
        let server_datagrams = q.packets[server.index()].datagrams;
        if !server_spoke && server_datagrams == 0 {
            let client_initials = q.packets[client.index()].initial;
            // A capture that ends right after one Initial has not shown silence yet.
            if self.close == CloseReason::CaptureEnd && client_initials < 2 {
                return (Outcome::Incomplete, None);
            }
            return no_response(format!(
                "The server never answered: the client sent {client_initials} Initial packets over {} ms.",
                client_hello_wait_ms(f, self.last_ts)
            ));
        }
        if q.crypto_gaps.iter().any(|&g| g > 0) {
            return failed(
                FailureCause::CaptureGap,
                format!(
                    "CRYPTO bytes of the Initial packets are missing ({} gaps), so the handshake could not be followed past {after}.",
                    q.crypto_gaps.iter().sum::<u64>()
                ),
                true,
            );
        }
        let client_packets = &q.packets[client.index()];
        if f.server_hello.is_some() && client_packets.handshake > 0 && client_packets.one_rtt == 0 {
            return failed(
                FailureCause::ClientRejectedCertificate,
                "The client answered the server's handshake flight only with Handshake packets \
                 and never sent 1-RTT data: most likely it closed the connection inside an \
                 encrypted Handshake packet, rejecting the server certificate (QUIC hides both)."
                    .to_string(),
                true,
            );
        }
        (Outcome::Incomplete, None)
    }
}

/// The cause of a CONNECTION_CLOSE read in an Initial packet that carried no TLS alert.
fn close_cause(close: &CloseFacts, client: Direction, after: &str) -> (Outcome, Option<Failure>) {
    let who = if close.from == client {
        "client"
    } else {
        "server"
    };
    let code = if close.application {
        format!("application error 0x{:x}", close.error_code)
    } else {
        transport_error_name(close.error_code).map_or_else(
            || format!("transport error 0x{:x}", close.error_code),
            str::to_string,
        )
    };
    let reason = if close.reason.is_empty() {
        String::new()
    } else {
        format!(" (reason: {:?})", close.reason)
    };
    let cause = if !close.application && close.error_code == CONNECTION_REFUSED {
        FailureCause::ConnectionRefused
    } else {
        FailureCause::TransportError
    };
    failed(
        cause,
        format!("The {who} closed the connection with {code} after {after}{reason}."),
        false,
    )
}
