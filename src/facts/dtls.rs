//! DTLS's part of the facts: the driver's [`DtlsFacts`], why the flow left the table, and the
//! transport's evidence for a handshake that no alert ended: a server that never answered, a
//! cookie request the client never answered, flights resent again and again without progress
//! (the alerts DTLS sends in the clear, with their sender, are read by the shared diagnosis
//! first; DTLS 1.3's are inferred by the driver from record sizes).

use super::diagnosis::{client_hello_wait_ms, failed, no_response};
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
            return no_response(format!(
                "The server never answered the ClientHello, sent {} over {} ms.",
                times(r.flights[client] + 1),
                client_hello_wait_ms(f, self.last_ts)
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::facts::{CookieExchange, RetransmittedFlight};
    use crate::facts::{FactsConfig, TransportFacts, build};
    use crate::flow::{Direction, Endpoint, FlowKey, Transport};
    use crate::tls::{ClientHello, TimedEvent, TlsEvent, Transcript};
    use smallvec::smallvec;
    use std::net::{IpAddr, Ipv4Addr};

    const C: Direction = Direction::LoToHi;
    const S: Direction = Direction::HiToLo;

    fn ms(n: i64) -> Timestamp {
        Timestamp(n * 1_000_000)
    }

    /// The facts of a connection whose client sent one ClientHello at 0 ms and whose flow
    /// ended (`close`) at `last_ms`, with the driver's facts `dtls`.
    fn facts(dtls: DtlsFacts, close: CloseReason, last_ms: i64) -> ConnectionFacts {
        let ep = |last, port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port,
        };
        let key = FlowKey::from_endpoints(Transport::Udp, ep(1, 50000), ep(2, 4433)).0;
        let hello = TlsEvent::ClientHello(Box::new(ClientHello {
            legacy_version: 0xfefd,
            cipher_suites: smallvec![0xc02f],
            ..Default::default()
        }));
        let transcript = Transcript {
            client: Some(C),
            events: vec![TimedEvent {
                ts: ms(0),
                from: C,
                event: hello,
            }],
            ..Default::default()
        };
        let transport = DtlsTransport {
            dtls,
            close,
            first_ts: ms(0),
            last_ts: ms(last_ms),
        };
        build(
            &key,
            TransportFacts::Dtls(Box::new(transport)),
            transcript,
            &FactsConfig::default(),
        )
    }

    /// Driver facts with `records` per side and `flights` retransmitted per side.
    fn driver(records: [u64; 2], flights: [u32; 2]) -> DtlsFacts {
        let mut d = DtlsFacts {
            records,
            ..DtlsFacts::default()
        };
        for (dir, n) in [(C, flights[0]), (S, flights[1])] {
            for i in 0..n {
                d.retransmissions.add(RetransmittedFlight {
                    from: dir,
                    ts: ms(1000 * i64::from(i + 1)),
                    message_seq: Some(0),
                    after_us: Some(1_000_000),
                });
            }
        }
        d
    }

    fn cause(f: &ConnectionFacts) -> (Outcome, Option<FailureCause>) {
        (f.outcome, f.failure.as_ref().map(|x| x.cause))
    }

    #[test]
    fn silence_needs_a_resent_client_hello_or_an_idle_flow() {
        let f = facts(driver([1, 0], [0, 0]), CloseReason::CaptureEnd, 10);
        assert_eq!(cause(&f), (Outcome::Incomplete, None));
        let f = facts(driver([3, 0], [2, 0]), CloseReason::CaptureEnd, 3000);
        assert_eq!(
            cause(&f),
            (Outcome::NoResponse, Some(FailureCause::NoResponse))
        );
        let explanation = f
            .failure
            .as_ref()
            .map(|x| x.explanation.clone())
            .unwrap_or_default();
        assert!(
            explanation.contains("sent 3 times over 3000 ms"),
            "{explanation}"
        );
        let f = facts(driver([1, 0], [0, 0]), CloseReason::IdleTimeout, 60_000);
        assert_eq!(
            cause(&f),
            (Outcome::NoResponse, Some(FailureCause::NoResponse))
        );
    }

    #[test]
    fn a_cookie_request_never_answered() {
        let with_round = |request, resent: u32, close| {
            let mut d = driver(
                [1 + u64::from(resent), 1 + u64::from(resent)],
                [resent, resent],
            );
            d.cookie_exchange = Some(CookieExchange {
                request,
                version: 0xfeff,
                cookie_len: Some(20),
                first_client_hello: ms(0),
                requested: ms(1),
                second_client_hello: None,
            });
            facts(d, close, 7000)
        };
        let hvr = CookieRequest::HelloVerifyRequest;
        let f = with_round(hvr, 3, CloseReason::CaptureEnd);
        assert_eq!(
            cause(&f),
            (
                Outcome::Failed,
                Some(FailureCause::CookieExchangeIncomplete)
            )
        );
        let explanation = f
            .failure
            .as_ref()
            .map(|x| x.explanation.clone())
            .unwrap_or_default();
        assert!(
            explanation.contains("HelloVerifyRequest, sent 4 times")
                && explanation.contains("resent its first ClientHello 3 times"),
            "{explanation}"
        );
        // The capture ended right after the request: nothing shown yet.
        let f = with_round(hvr, 0, CloseReason::CaptureEnd);
        assert_eq!(cause(&f), (Outcome::Incomplete, None));
        let f = with_round(hvr, 0, CloseReason::IdleTimeout);
        assert_eq!(cause(&f).1, Some(FailureCause::CookieExchangeIncomplete));
        // A HelloRetryRequest without a cookie asks for another key share, not for a cookie.
        let hrr = CookieRequest::HelloRetryRequest { cookie: false };
        let f = with_round(hrr, 1, CloseReason::CaptureEnd);
        assert_ne!(cause(&f).1, Some(FailureCause::CookieExchangeIncomplete));
    }

    #[test]
    fn flights_resent_again_and_again_are_a_storm() {
        let f = facts(driver([4, 4], [2, 2]), CloseReason::CaptureEnd, 7000);
        assert_eq!(
            cause(&f),
            (Outcome::Failed, Some(FailureCause::RetransmissionStorm))
        );
        let explanation = f
            .failure
            .as_ref()
            .map(|x| x.explanation.clone())
            .unwrap_or_default();
        assert!(
            explanation.contains("client resent its flight twice and the server twice"),
            "{explanation}"
        );
        let f = facts(driver([3, 3], [2, 1]), CloseReason::CaptureEnd, 7000);
        assert_eq!(
            cause(&f),
            (Outcome::Incomplete, None),
            "below the threshold"
        );
    }
}
