//! DTLS's part of the facts: the driver's [`DtlsFacts`], why the flow left the table, and the
//! transport's evidence for a handshake that no alert ended.
//!
//! Hook for DTLS's own diagnosis (cookie exchange never completed, retransmission storms):
//! [`DtlsTransport::diagnose`] is where it goes; today it tells silence from a capture that
//! ended mid-handshake, as TCP and QUIC do.

use super::diagnosis::client_hello_wait_ms;
use super::{ConnectionFacts, Failure, FailureCause, Outcome};
use crate::dtls::DtlsFacts;
use crate::flow::Timestamp;
use crate::stream::CloseReason;

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
    /// Outcome and cause from DTLS's evidence, for a handshake that no alert ended.
    pub(super) fn diagnose(
        &self,
        f: &ConnectionFacts,
        server_spoke: bool,
    ) -> (Outcome, Option<Failure>) {
        let server_records = self.dtls.records[f.client_dir.reverse().index()];
        // A capture that ends after one unanswered flight has not shown silence yet; a
        // retransmitted one has.
        let client_retried = self.dtls.retransmissions.flights[f.client_dir.index()] > 0;
        if !server_spoke
            && server_records == 0
            && (client_retried || self.close != CloseReason::CaptureEnd)
        {
            return (
                Outcome::NoResponse,
                Some(Failure {
                    cause: FailureCause::NoResponse,
                    explanation: format!(
                        "The server never answered the ClientHello ({} retransmitted flights over {} ms).",
                        self.dtls.retransmissions.total(),
                        client_hello_wait_ms(f, self.last_ts)
                    ),
                    inferred: false,
                }),
            );
        }
        (Outcome::Incomplete, None)
    }
}
