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
//! transport per worker); evictions are counted. A QUIC flow whose handshake is confirmed
//! without key logs has its record written at once and stays in the table as a few dozen
//! bytes until it goes idle ([`UdpFlow::take_settled`]), so QUIC's memory, like TCP's, is
//! that of the handshakes in progress.

pub mod flow;
pub mod unanswered;

pub use flow::{OpenFlow, Taken, UdpDriver, UdpFlow, UdpTransportFacts};

use crate::flow::{Direction, FlowKey, Timestamp};
use crate::quic::{QuicConfig, QuicContext};
use crate::stream::table::Remaining;
use crate::stream::{CloseReason, FlowTable, TableLimits, TableStats};
use crate::tls::TlsContext;
use crate::tls::joiner::JoinBudget;
use unanswered::{Queued, Unanswered};

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

/// A UDP flow whose record is due: it left the table, or its handshake settled.
#[derive(Debug)]
pub struct UdpConnection {
    /// The flow's key.
    pub key: FlowKey,
    /// Its driver and handshake.
    pub open: Box<OpenFlow>,
    /// Capture time of its first and last datagram.
    pub first_ts: Timestamp,
    /// See `first_ts`.
    pub last_ts: Timestamp,
    /// The input (command-line file) of the datagram that started the flow.
    pub input: u16,
    /// Capture-clock time it ended (see [`crate::tcp::Connection::closed_at`]), or settled.
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
    /// Flows closed because more than `--max-unanswered` waited for their other side's first
    /// datagram (the oldest of them).
    pub unanswered_evicted: u64,
    /// QUIC flows whose record was written when their handshake was confirmed, before they
    /// ended ([`UdpFlow::take_settled`]).
    pub recorded_at_confirmation: u64,
    /// Datagrams those flows carried after their record was written: counted, not read.
    pub datagrams_after_record: u64,
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
    /// Flows whose other side has not sent a datagram yet, capped apart.
    unanswered: Unanswered,
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
            unanswered: Unanswered::default(),
            stats: UdpStats::default(),
        }
    }

    /// The same table, holding at most `max` flows whose other side has not answered yet
    /// (0: no cap below the table's own); beyond, the oldest of them is closed as evicted.
    pub fn with_max_unanswered(mut self, max: usize) -> Self {
        self.unanswered = Unanswered::new(max);
        self
    }

    /// The same table, the bytes its flows hold while joining handshake messages (QUIC CRYPTO
    /// bytes beyond a hole and partial messages, DTLS fragments) also charged to `budget`:
    /// `--max-buffer-mib` bounds them across flows, as it does TCP's.
    pub fn with_budget(mut self, budget: Option<JoinBudget>) -> Self {
        self.quic_ctx = QuicContext::with_budget(budget.clone());
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
            let mut hand_over = handing_over(closed, tls, &mut self.unanswered);
            self.flows.close_if_idle(&d.key, d.clock, &mut hand_over);
        }
        if let Some(entry) = self.flows.current(&d.key, d.clock) {
            entry.touch(d.clock);
            let answered = entry.flow.answered();
            let recorded = entry.flow.is_recorded();
            let taken = entry
                .flow
                .on_datagram(tls, &mut self.quic_ctx, d.dir, d.payload, d.ts);
            if !answered && entry.flow.answered() {
                self.unanswered.remove();
            }
            if taken == Taken::Yes {
                if recorded {
                    self.stats.datagrams_after_record += 1;
                } else if let Some(conn) = entry.flow.take_settled(d.key, d.clock) {
                    self.stats.recorded_at_confirmation += 1;
                    closed(conn, CloseReason::HandshakeConfirmed, tls);
                }
                return;
            }
            let mut hand_over = handing_over(closed, tls, &mut self.unanswered);
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
        let entry = {
            let mut hand_over = handing_over(closed, tls, &mut self.unanswered);
            self.flows.insert(d.key, flow, d.clock, &mut hand_over)
        };
        entry
            .flow
            .on_datagram(tls, &mut self.quic_ctx, d.dir, d.payload, d.ts);
        if !entry.flow.answered() {
            let first_ts = entry.flow.first_ts;
            self.unanswered.push(d.key, first_ts);
            self.evict_unanswered(d.clock, tls, closed);
        }
    }

    /// Closes the oldest flows without an answer while more than the cap wait: one idle past
    /// the timeout as [`FlowTable::close_if_idle`] would, the others as evicted.
    fn evict_unanswered(
        &mut self,
        clock: Timestamp,
        tls: &mut TlsContext,
        closed: &mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    ) {
        loop {
            let flows = &self.flows;
            let next = self
                .unanswered
                .over_cap(|key, first_ts| match flows.get(key) {
                    Some(flow) if !flow.answered() && flow.first_ts == first_ts => Queued::Waiting,
                    _ => Queued::Stale,
                });
            let Some(key) = next else {
                return;
            };
            let mut hand_over = handing_over(closed, tls, &mut self.unanswered);
            if self.flows.close_if_idle(&key, clock, &mut hand_over) {
                self.flows
                    .close(key, CloseReason::Evicted, clock, &mut hand_over);
                self.stats.unanswered_evicted += 1;
            }
        }
    }

    /// Closes every flow idle at capture clock `now`.
    pub fn expire_idle(
        &mut self,
        now: Timestamp,
        tls: &mut TlsContext,
        closed: &mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    ) {
        let mut hand_over = handing_over(closed, tls, &mut self.unanswered);
        self.flows.expire_idle(now, &mut hand_over);
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
        self.unanswered.clear();
        RemainingFlows(
            self.flows
                .take_remaining(|flow| (!flow.is_recorded()).then_some(flow.first_ts)),
        )
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
        // The table's count of flows without an answer was cleared when they were taken.
        let mut uncounted = Unanswered::default();
        handing_over(closed, tls, &mut uncounted)(
            key,
            flow,
            CloseReason::CaptureEnd,
            Timestamp::MAX,
        );
        true
    }
}

/// The flow table's close callback made from a [`UdpTable`] caller's, which gets the
/// worker's [`TlsContext`] back to finish the flow's handshake with; a flow without an answer
/// leaves the count of such flows, and one whose record was written early leaves silently.
fn handing_over<'a>(
    closed: &'a mut impl FnMut(UdpConnection, CloseReason, &mut TlsContext),
    tls: &'a mut TlsContext,
    unanswered: &'a mut Unanswered,
) -> impl FnMut(FlowKey, UdpFlow, CloseReason, Timestamp) + 'a {
    move |key, flow, reason, closed_at| {
        if !flow.answered() {
            unanswered.remove();
        }
        if let Some(conn) = flow.into_connection(key, closed_at) {
            closed(conn, reason, tls);
        }
    }
}

#[cfg(test)]
mod tests;
