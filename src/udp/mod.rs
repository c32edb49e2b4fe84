//! UDP's flows: the datagrams of one worker's UDP 5-tuples, kept in the shared
//! [`crate::stream::FlowTable`] (idle expiry, eviction, close times) when they speak TLS.
//!
//! A flow starts only at a datagram that starts QUIC (an Initial of a readable version, a
//! Version Negotiation packet, a Google or reserved-version long header) or a DTLS handshake (a
//! ClientHello fragment in an epoch-0 record), judged by content on any port
//! ([`UdpFlow::start`]). Any other datagram of an untracked 5-tuple is counted
//! ([`UdpStats::not_tls`]) and forgotten, so a flood of random UDP costs no memory, and STUN
//! checks before a WebRTC DTLS handshake are skipped until the ClientHello comes (the DTLS
//! driver counts the STUN and media datagrams that follow it). Once tracked, every datagram of
//! the 5-tuple goes to the flow's driver ([`flow::UdpDriver`]).
//!
//! Budget: the table shares the TCP table's `--max-flows` and idle timeout (one budget per
//! transport per worker); evictions are counted.

pub mod flow;

pub use flow::{Taken, UdpDriver, UdpFlow, UdpTransportFacts};

use crate::flow::{Direction, FlowKey, Timestamp};
use crate::quic::{QuicConfig, QuicContext};
use crate::stream::table::Remaining;
use crate::stream::{CloseReason, FlowTable, TableLimits, TableStats};
use crate::tls::TlsContext;
use crate::tls::joiner::JoinBudget;

/// One UDP datagram as the flow table sees it. `P` is its payload: the bytes, or where a
/// batch on its way to a worker keeps them.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<P> {
    /// The flow.
    pub key: FlowKey,
    /// Which way it travels.
    pub dir: Direction,
    /// The UDP payload.
    pub payload: P,
    /// Capture time.
    pub ts: Timestamp,
    /// The capture clock (see [`crate::tcp::Segment::clock`]).
    pub clock: Timestamp,
}

impl<P> Datagram<P> {
    /// The same datagram with its payload in another form.
    pub fn with_payload<Q>(&self, payload: Q) -> Datagram<Q> {
        Datagram {
            key: self.key,
            dir: self.dir,
            payload,
            ts: self.ts,
            clock: self.clock,
        }
    }
}

/// A UDP flow that left the table.
#[derive(Debug)]
pub struct UdpConnection {
    /// The flow's key.
    pub key: FlowKey,
    /// Its driver and handshake.
    pub flow: UdpFlow,
    /// Capture-clock time it ended (see [`crate::tcp::Connection::closed_at`]).
    pub closed_at: Timestamp,
}

/// Counters of one worker's UDP flows.
#[derive(Clone, Debug, Default)]
pub struct UdpStats {
    /// Flows evicted, most at once.
    pub table: TableStats,
    /// Flows started (QUIC or DTLS).
    pub flows: u64,
    /// Datagrams of untracked 5-tuples that started neither QUIC nor DTLS: counted, not kept.
    pub not_tls: u64,
}

/// The UDP flows of one worker.
#[derive(Debug)]
pub struct UdpTable {
    flows: FlowTable<UdpFlow>,
    quic: QuicConfig,
    quic_ctx: QuicContext,
    /// The worker's budget for bytes waiting to be joined into handshake messages (shared
    /// with TCP's partial messages), if any.
    budget: Option<JoinBudget>,
    stats: UdpStats,
}

impl UdpTable {
    /// An empty table.
    pub fn new(limits: TableLimits) -> Self {
        UdpTable {
            flows: FlowTable::new(limits),
            quic: QuicConfig::default(),
            quic_ctx: QuicContext::default(),
            budget: None,
            stats: UdpStats::default(),
        }
    }

    /// The same table, the bytes its flows hold while joining handshake messages (DTLS
    /// fragments) also charged to `budget`: `--max-buffer-mib` bounds them across flows, as
    /// it does TCP's.
    pub fn with_budget(mut self, budget: Option<JoinBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Feeds one datagram, read from input `input`; flows that end (idle, evicted, replaced by
    /// a new handshake on their 5-tuple) are handed to `closed` with `tls`, the worker's
    /// certificate cache.
    pub fn process(
        &mut self,
        d: &Datagram<&[u8]>,
        input: u16,
        tls: &mut TlsContext,
        closed: &mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    ) {
        if self.flows.current(&d.key, d.clock).is_none() {
            self.flows
                .close_if_idle(&d.key, d.clock, &mut handing_over(closed, tls));
        }
        if let Some(entry) = self.flows.current(&d.key, d.clock) {
            entry.touch(d.clock);
            let taken = entry
                .flow
                .on_datagram(tls, &mut self.quic_ctx, d.dir, d.payload, d.ts);
            if taken == Taken::Yes {
                return;
            }
            let mut hand_over = handing_over(closed, tls);
            self.flows
                .close(d.key, CloseReason::PortReused, d.clock, &mut hand_over);
        }
        let keys = tls.keys.as_ref();
        let budget = self.budget.as_ref();
        let Some(flow) = UdpFlow::start(d.payload, self.quic, keys, budget, d.ts, input) else {
            self.stats.not_tls += 1;
            return;
        };
        self.stats.flows += 1;
        let entry = self
            .flows
            .insert(d.key, flow, d.clock, &mut handing_over(closed, tls));
        entry
            .flow
            .on_datagram(tls, &mut self.quic_ctx, d.dir, d.payload, d.ts);
    }

    /// Closes every flow idle at capture clock `now`.
    pub fn expire_idle(
        &mut self,
        now: Timestamp,
        tls: &mut TlsContext,
        closed: &mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    ) {
        self.flows.expire_idle(now, &mut handing_over(closed, tls));
    }

    /// Closes every remaining flow (end of capture).
    pub fn drain(
        &mut self,
        tls: &mut TlsContext,
        closed: &mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    ) {
        let mut remaining = self.take_remaining();
        while remaining.close_next(tls, closed) {}
    }

    /// Removes every remaining flow (end of capture), to be closed one at a time by first
    /// datagram time, the order their records are written in.
    pub fn take_remaining(&mut self) -> RemainingFlows {
        RemainingFlows(self.flows.take_remaining(|flow| flow.first_ts))
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The table's counters.
    pub fn stats(&self) -> UdpStats {
        UdpStats {
            table: self.flows.stats().clone(),
            ..self.stats.clone()
        }
    }
}

/// UDP flows still open at the end of the capture, by first datagram time then key
/// ([`UdpTable::take_remaining`]).
pub struct RemainingFlows(Remaining<UdpFlow>);

impl RemainingFlows {
    /// The first datagram time of the next flow, if any is left.
    pub fn next_first_ts(&self) -> Option<Timestamp> {
        self.0.next_first_ts()
    }

    /// Closes the next flow (close time [`Timestamp::MAX`]) and hands it to `closed` with
    /// `tls`; false when none is left.
    pub fn close_next(
        &mut self,
        tls: &mut TlsContext,
        closed: &mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    ) -> bool {
        let Some((key, flow)) = self.0.next() else {
            return false;
        };
        handing_over(closed, tls)(key, flow, CloseReason::CaptureEnd, Timestamp::MAX);
        true
    }
}

/// The flow table's close callback made from a [`UdpTable`] caller's, which gets the
/// worker's [`TlsContext`] back to finish the flow's handshake with.
fn handing_over<'a>(
    closed: &'a mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    tls: &'a mut TlsContext,
) -> impl FnMut(FlowKey, UdpFlow, CloseReason, Timestamp) + 'a {
    move |key, flow, reason, closed_at| {
        closed(
            UdpConnection {
                key,
                flow,
                closed_at,
            },
            reason,
            tls,
        );
    }
}

#[cfg(test)]
mod tests;
