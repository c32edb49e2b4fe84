//! TCP's part of the facts: the connection's segments as the reassembly saw them, why it left
//! the flow table, its timings, and the evidence of a handshake that did not complete (resets,
//! closes, silence, capture gaps).

use super::diagnosis::{client_hello_wait_ms, failed, no_response};
use super::{ConnectionFacts, Failure, FailureCause, Outcome, Timing};
use crate::flow::{Endpoint, FlowKey};
use crate::tcp::{CloseReason, TcpMeta};

/// How a TCP connection on which no TLS was found went: what users of a mirror port want
/// counted per server (scans, SYN floods, refused and unreachable services) without a record
/// per connection. The first three are failures before TLS ("why do handshakes to X fail?"
/// very often means one of them), written as records with `--tcp-failures`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WithoutTls {
    /// `tcp_no_answer`: the SYN got neither a SYN-ACK nor a reset from the server (Zeek's
    /// `S0`): the server is down, filtered or unreachable.
    NoAnswer,
    /// `tcp_refused`: the server answered the SYN with a reset (Zeek's `REJ`): nothing listens
    /// on the port, or a firewall rejects.
    Refused,
    /// `closed_before_hello`: the server answered the SYN, then the connection ended (closed,
    /// went idle, or the capture ended) before either side sent a byte.
    ClosedBeforeHello,
    /// `not_tls`: payload bytes that are not TLS (or that could not be recognised as TLS).
    NotTls,
    /// `no_syn`: neither a SYN nor a payload byte seen (the connection began before the
    /// capture and was quiet in it, or only a stray reset or ACK was seen): no failure.
    NoSyn,
}

impl WithoutTls {
    /// Every kind, in report order.
    pub const ALL: [WithoutTls; 5] = [
        WithoutTls::NoAnswer,
        WithoutTls::Refused,
        WithoutTls::ClosedBeforeHello,
        WithoutTls::NotTls,
        WithoutTls::NoSyn,
    ];

    /// The failures before TLS, in the order the summary shows them.
    pub const FAILURES: [WithoutTls; 3] = [
        WithoutTls::Refused,
        WithoutTls::NoAnswer,
        WithoutTls::ClosedBeforeHello,
    ];

    /// The connection's server (the SYN's destination; without a SYN, the endpoint with the
    /// lower port) and how it went.
    pub fn classify(key: &FlowKey, meta: &TcpMeta) -> (Endpoint, WithoutTls) {
        let server = match meta.syn {
            Some((dir, _)) => key.destination(dir),
            None if key.hi.port < key.lo.port => key.hi,
            None => key.lo,
        };
        let kind = if meta.payload_bytes.iter().any(|&n| n > 0) {
            WithoutTls::NotTls
        } else {
            match meta.syn {
                Some((syn_dir, _)) if meta.syn_ack.is_none() => {
                    if meta.rst.is_some_and(|(dir, _)| dir != syn_dir) {
                        WithoutTls::Refused
                    } else {
                        WithoutTls::NoAnswer
                    }
                }
                Some(_) => WithoutTls::ClosedBeforeHello,
                None => WithoutTls::NoSyn,
            }
        };
        (server, kind)
    }

    /// Position in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the connection failed before TLS could start (see [`Self::FAILURES`]).
    pub fn is_failure(self) -> bool {
        Self::FAILURES.contains(&self)
    }

    /// The name in every output (the report's fields, the `cause` of `tcp_failure` records).
    pub fn name(self) -> &'static str {
        match self {
            WithoutTls::NoAnswer => "tcp_no_answer",
            WithoutTls::Refused => "tcp_refused",
            WithoutTls::ClosedBeforeHello => "closed_before_hello",
            WithoutTls::NotTls => "not_tls",
            WithoutTls::NoSyn => "no_syn",
        }
    }

    /// One readable sentence, for records and the summary.
    pub fn explanation(self) -> &'static str {
        match self {
            WithoutTls::NoAnswer => {
                "The SYN was never answered: the server is down, filtered or unreachable."
            }
            WithoutTls::Refused => {
                "The server answered the SYN with a reset: nothing accepts connections on that port."
            }
            WithoutTls::ClosedBeforeHello => {
                "The TCP handshake completed, then the connection ended before any byte was sent."
            }
            WithoutTls::NotTls => "Bytes were sent, but not TLS.",
            WithoutTls::NoSyn => "Neither the connection's start nor a byte of it was captured.",
        }
    }
}

/// Ports TLS commonly runs on (IANA's TLS services and common practice: HTTPS, SMTPS, NNTPS,
/// LDAPS, DNS over TLS, FTPS, telnets, IMAPS, IRCS, POP3S, Docker, LDAP GC, SIPS, XMPP,
/// WinRM, Kubernetes): where `--tcp-failures` writes failures before TLS unless `--tls-ports`
/// says otherwise, besides the ports TLS was seen on.
pub const WELL_KNOWN_TLS_PORTS: [u16; 20] = [
    443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 2376, 3269, 5061, 5223, 5986, 6443,
    8443, 9443, 10250,
];

/// TCP's facts about a connection.
#[derive(Clone, Debug)]
pub struct TcpFacts {
    /// What the reassembly counted and saw (SYN, FIN, RST, gaps).
    pub meta: TcpMeta,
    /// Why the connection left the flow table.
    pub close: CloseReason,
}

impl TcpFacts {
    /// The TCP phases of `timing`: SYN → SYN-ACK and SYN → handshake ACK.
    pub(super) fn time(&self, timing: &mut Timing) {
        let meta = &self.meta;
        if let Some((_, syn_ts)) = meta.syn {
            timing.tcp_syn_to_syn_ack_us = meta.syn_ack.and_then(|t| t.elapsed_since(syn_ts));
            timing.tcp_handshake_us = meta.handshake_ack.and_then(|t| t.elapsed_since(syn_ts));
        }
    }

    /// Outcome and cause from TCP's evidence, for a handshake that no alert ended; `after`
    /// names the last handshake message.
    pub(super) fn diagnose(
        &self,
        f: &ConnectionFacts,
        server_spoke: bool,
        after: &str,
    ) -> (Outcome, Option<Failure>) {
        let meta = &self.meta;
        let server_dir = f.client_dir.reverse();
        if let Some((dir, _)) = meta.rst {
            return if dir == server_dir {
                failed(
                    FailureCause::ServerReset,
                    format!("The server reset the connection after {after}."),
                    false,
                )
            } else if !server_spoke && meta.payload_bytes[server_dir.index()] == 0 {
                no_response(
                    "The server never answered the ClientHello; the client reset the connection."
                        .to_string(),
                )
            } else {
                failed(
                    FailureCause::ClientAbort,
                    format!("The client reset the connection after {after}."),
                    false,
                )
            };
        }
        if !server_spoke {
            let server_bytes = meta.payload_bytes[server_dir.index()];
            if server_bytes > 0 && meta.gaps[server_dir.index()] == 0 {
                return failed(
                    FailureCause::ServerNotTls,
                    format!(
                        "The server answered the ClientHello with {server_bytes} bytes that are not TLS."
                    ),
                    false,
                );
            }
            // The server closing first is its answer; closing after the client gave up is not.
            let client_fin = meta.fin[f.client_dir.index()];
            if let Some(server_fin) = meta.fin[server_dir.index()]
                && client_fin.is_none_or(|c| server_fin < c)
            {
                return failed(
                    FailureCause::ServerClosed,
                    "The server closed the connection without answering the ClientHello."
                        .to_string(),
                    false,
                );
            }
            if self.close == CloseReason::CaptureEnd {
                return (Outcome::Incomplete, None);
            }
            return no_response(match client_fin {
                Some(fin) => format!(
                    "The server never answered the ClientHello; the client gave up after {} ms.",
                    client_hello_wait_ms(f, fin)
                ),
                None => "The server never answered the ClientHello.".to_string(),
            });
        }
        if meta.gaps.iter().any(|&g| g > 0) {
            return failed(
                FailureCause::CaptureGap,
                format!(
                    "Captured bytes are missing ({} bytes in {} gaps), so the handshake could not be followed past {after}.",
                    meta.gap_bytes.iter().sum::<u64>(),
                    meta.gaps.iter().sum::<u64>()
                ),
                true,
            );
        }
        if meta.fin[f.client_dir.index()].is_some() {
            return failed(
                FailureCause::ClientAbort,
                format!("The client closed the connection after {after} without an alert."),
                false,
            );
        }
        if meta.fin[server_dir.index()].is_some() {
            return failed(
                FailureCause::ServerClosed,
                format!("The server closed the connection after {after} without an alert."),
                false,
            );
        }
        (Outcome::Incomplete, None)
    }
}
