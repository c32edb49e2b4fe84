//! DTLS's part of the facts: the driver's [`DtlsFacts`], why the flow left the table, and the
//! transport's evidence for a handshake that no alert ended: a server that never answered, a
//! cookie request the client never answered, flights resent again and again without progress
//! (the alerts DTLS sends in the clear, with their sender, are read by the shared diagnosis
//! first; DTLS 1.3's are inferred by the driver from record sizes).

use super::diagnosis::{client_hello_wait_ms, failed};
use super::{ConnectionFacts, Failure, FailureCause, Outcome};
use crate::dtls::DtlsFacts;
use crate::dtls::facts::CookieRequest;
use crate::flow::Timestamp;
use crate::stream::CloseReason;

/// Retransmitted flights (both ends together) from which a handshake that did not complete is
/// taken to have stalled on loss rather than to have been cut by the end of the capture: the
/// stacks start their timer at about 1 s and double it (RFC 6347 §4.2.4.1), so four resends
/// mean the loss outlasted several rounds of retrying.
pub const STORM_FLIGHTS: u32 = 4;

/// DTLS's facts about a connection.
#[derive(Clone, Debug)]
pub struct DtlsTransport {
    /// What the driver read and counted.
    pub dtls: DtlsFacts,
    /// Why the flow left the table.
    pub close: CloseReason,
    /// First datagram of the flow.
    pub first_ts: Timestamp,
    /// Last datagram of the flow.
    pub last_ts: Timestamp,
}

impl DtlsTransport {
    /// Outcome and cause from DTLS's evidence, for a handshake that no alert ended; `after`
    /// names the last handshake message. In order: silence (the server sent no DTLS record), a
    /// cookie request the client never answered, a retransmission storm; else the capture (or
    /// the flow) ended mid-handshake.
    pub(super) fn diagnose(
        &self,
        f: &ConnectionFacts,
        server_spoke: bool,
        after: &str,
    ) -> (Outcome, Option<Failure>) {
        let client = f.client_dir.index();
        let server = 1 - client;
        let r = &self.dtls.retransmissions;
        // A capture that ends after one unanswered flight has not shown the failure yet; a
        // resent one, or a flow that went idle, has.
        let shown = r.flights[client] > 0 || self.close != CloseReason::CaptureEnd;
        if !server_spoke && self.dtls.records[server] == 0 {
            if !shown {
                return (Outcome::Incomplete, None);
            }
            return (
                Outcome::NoResponse,
                Some(Failure {
                    cause: FailureCause::NoResponse,
                    explanation: format!(
                        "The server never answered the ClientHello, sent {} over {} ms.",
                        times(r.flights[client] + 1),
                        client_hello_wait_ms(f, self.last_ts)
                    ),
                    inferred: false,
                }),
            );
        }
        if let Some(round) = &self.dtls.cookie_exchange
            && round.second_client_hello.is_none()
            && round.request != (CookieRequest::HelloRetryRequest { cookie: false })
            && shown
        {
            let request = match round.request {
                CookieRequest::HelloVerifyRequest => "HelloVerifyRequest",
                CookieRequest::HelloRetryRequest { .. } => "HelloRetryRequest",
            };
            let why = if r.flights[client] > 0 {
                format!(
                    ": it resent its first ClientHello {} instead, so the server's replies do not \
                     reach it",
                    times(r.flights[client])
                )
            } else {
                String::new()
            };
            return failed(
                FailureCause::CookieExchangeIncomplete,
                format!(
                    "The server asked for a cookie ({request}, sent {}) but the client never sent \
                     its ClientHello again with it{why}.",
                    times(r.flights[server] + 1),
                ),
                true,
            );
        }
        if r.total() >= STORM_FLIGHTS {
            return failed(
                FailureCause::RetransmissionStorm,
                format!(
                    "The handshake stalled after {after}: the client resent its flight {} and the \
                     server {} over {} ms without getting further, so datagrams are lost between \
                     them (a path MTU too small for the server's certificate flight, or a \
                     firewall, are the usual causes).",
                    times(r.flights[client]),
                    times(r.flights[server]),
                    client_hello_wait_ms(f, self.last_ts)
                ),
                true,
            );
        }
        (Outcome::Incomplete, None)
    }
}

/// `once`, `twice`, `3 times`.
fn times(n: u32) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    }
}
