//! A worker: owns the flow table of its shard, runs each connection's TLS observer on the
//! reassembled streams, and turns closed connections into facts, aggregates and records.

use std::cell::{Cell, RefCell};

use super::batch::Batch;
use super::records::{Progress, RecordBatch, RecordMessage};
use super::{Config, Mode, RecordChannels};

use crate::aggregate::Aggregates;
use crate::aggregate::failures::FailedConnections;
use crate::facts::{self, DtlsTransport, QuicTransport, TcpFacts, TransportFacts, WithoutTls};
use crate::flow::{Direction, FlowKey, Timestamp};
use crate::output::FlowCounts;
use crate::prefetch;
use crate::tcp::{CloseReason, Connection, StreamConsumer, TcpTable};
use crate::tls::joiner::{JoinBudget, MAX_HANDSHAKE_MESSAGE};
use crate::tls::{RecordConfig, RecordLayer, TlsContext};
use crate::udp::{UdpConnection, UdpTable, UdpTransportFacts};
use crate::watch::Sightings;
use crossbeam_channel::{Receiver, Sender};
use std::rc::Rc;

/// How many segments ahead a worker asks for a connection's state to be loaded into cache
/// (see [`TcpTable::prefetch`]); the payload's first bytes are asked for half as far ahead.
pub(super) const PREFETCH_SEGMENTS: usize = 8;

/// For a FIN or RST (a segment that may close its connection), how many segments ahead the
/// worker starts loading what closing it reads, one pointer further per segment (see
/// [`StreamConsumer::prefetch_close`]): a segment's work is long enough for a memory load.
const PREFETCH_CLOSE_STEPS: usize = 3;

/// Connections closed at the end of the capture between two record messages: each message then
/// holds about a megabyte or a few of records (a record is one to a few KiB).
const END_OF_CAPTURE_BATCH: usize = 1024;

/// One worker's share of one live window.
pub(super) struct WindowPart {
    pub(super) window: u64,
    pub(super) aggregates: Aggregates,
    pub(super) sightings: Sightings,
}

/// What one worker produced besides its records.
#[derive(Default)]
pub(super) struct WorkerOutput {
    pub(super) aggregates: Aggregates,
    /// Live mode only: what the current window saw beyond its aggregates.
    pub(super) sightings: Sightings,
    pub(super) flows: FlowCounts,
}

/// Runs one connection's TLS observer on its reassembled streams.
pub(super) struct ConnectionObserver {
    /// Made when the first stream bytes (or gap) arrive. Inline: a connection reaches the
    /// full flow table with its first byte (the half-open table holds it until then), so
    /// nearly every tracked connection has one, and the one prefetch of the table entry then
    /// brings it in too (boxed, it took a second look-up and a dependent load per segment).
    pub(super) tls: Option<RecordLayer>,
    pub(super) ctx: Rc<RefCell<TlsContext>>,
    /// The input (command-line file) of the segment that started the connection.
    pub(super) input: u16,
    /// The worker's record-layer limits (handshake messages within the buffer budgets).
    pub(super) config: Rc<RecordConfig>,
}

impl StreamConsumer for ConnectionObserver {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        let mut ctx = self.ctx.borrow_mut();
        observer(&mut self.tls, &self.config, &ctx).on_data(&mut ctx, dir, bytes, ts);
    }

    fn prefetch_close(&self, step: usize) {
        if let Some(tls) = &self.tls {
            tls.prefetch_transcript(step);
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        observer(&mut self.tls, &self.config, &self.ctx.borrow()).on_gap(dir, len, ts);
    }
}

/// The observer of a connection, made on first use (decrypting when the analysis has key logs).
pub(super) fn observer<'a>(
    tls: &'a mut Option<RecordLayer>,
    config: &RecordConfig,
    ctx: &TlsContext,
) -> &'a mut RecordLayer {
    tls.get_or_insert_with(|| {
        let mut layer = RecordLayer::with_config(config.clone());
        if let Some(keys) = &ctx.keys {
            layer.decrypt_with(keys.clone());
        }
        layer
    })
}

/// A worker: owns the flow table of its shard, and sends its records to the writer after
/// every batch.
pub(super) fn run_worker(
    worker: usize,
    rx: Receiver<Batch>,
    recycle: Sender<Batch>,
    channels: RecordChannels,
    cfg: Config,
    mode: Mode,
) -> WorkerOutput {
    let windows = mode == Mode::Live;
    let mut table: TcpTable<ConnectionObserver> = TcpTable::new(cfg.limits);
    let ctx = Rc::new(RefCell::new(TlsContext {
        keys: cfg.keys.clone(),
        ..TlsContext::default()
    }));
    let mut out = WorkerOutput {
        aggregates: fresh_aggregates(&cfg),
        ..WorkerOutput::default()
    };
    let fresh_records = |previous: &RecordBatch| {
        RecordBatch::reusing(channels.spare.try_recv().unwrap_or_default(), previous)
    };
    let mut records = RecordBatch::default();
    // The input of the segment being processed: a connection it starts started there.
    let input = Cell::new(0);
    let config = Rc::new(record_config(&cfg));
    let mut udp = UdpTable::new(cfg.limits.table())
        .with_budget(config.join_budget.clone())
        .with_max_unanswered(cfg.limits.max_unanswered);
    let mut new_consumer = |_: &FlowKey| ConnectionObserver {
        tls: None,
        ctx: Rc::clone(&ctx),
        input: input.get(),
        config: Rc::clone(&config),
    };
    let send = |records: &mut RecordBatch, progress, windows: Vec<WindowPart>| {
        if cfg.want_records || !windows.is_empty() {
            let msg = RecordMessage {
                worker,
                progress,
                records: std::mem::replace(records, fresh_records(records)),
                windows,
            };
            // The writer reads until every worker has hung up: a failed send cannot happen.
            let _ = channels.messages.send(msg);
        }
    };
    let mut window = 0;
    // TLS connections already counted in the progress (live windows start afresh: none).
    let mut published = 0;
    for mut batch in rx {
        // Windows end between batches: what came before belongs to the earlier ones.
        let mut parts = Vec::new();
        while windows && window < batch.window {
            parts.push(take_window(window, &mut out, &cfg));
            window += 1;
        }
        let mut closed = |conn: Connection<ConnectionObserver>, reason: CloseReason| {
            finish_connection(conn, reason, &cfg, windows, &mut out, &mut records);
        };
        for (i, d) in batch.segments.iter().enumerate() {
            if let Some(ahead) = batch.segments.get(i + PREFETCH_SEGMENTS) {
                table.prefetch(&ahead.key);
            }
            if let Some(ahead) = batch.segments.get(i + PREFETCH_SEGMENTS / 2) {
                prefetch::line(batch.payload_of(ahead).as_ptr());
            }
            for step in 0..PREFETCH_CLOSE_STEPS {
                let Some(ahead) = batch.segments.get(i + PREFETCH_CLOSE_STEPS - step) else {
                    continue;
                };
                let flags = ahead.header.flags;
                if flags.fin() || flags.rst() {
                    table.prefetch_close(&ahead.key, ahead.dir, flags.rst(), step);
                }
            }
            let seg = d.with_payload(batch.payload_of(d));
            input.set(d.payload.input);
            table.process(&seg, &mut new_consumer, &mut closed);
        }
        table.expire_idle(batch.clock, &mut new_consumer, &mut closed);
        let tls = &mut *ctx.borrow_mut();
        let mut udp_closed = |conn: UdpConnection, reason: CloseReason, tls: &mut TlsContext| {
            finish_udp_connection(conn, reason, tls, &cfg, windows, &mut out, &mut records);
        };
        for d in &batch.datagrams {
            udp.process(
                &d.with_payload(batch.datagram_payload(d)),
                d.payload.input,
                tls,
                &mut udp_closed,
            );
        }
        udp.expire_idle(batch.clock, tls, &mut udp_closed);
        let progress = batch.clock;
        if let Some(p) = &cfg.progress {
            p.connections_done(out.aggregates.all.connections.saturating_sub(published));
            published = out.aggregates.all.connections;
        }
        batch.clear();
        let _ = recycle.send(batch);
        send(&mut records, Progress::closing_from(progress), parts);
    }
    // End of capture: the half-open connections close first (their records, if any, wait in
    // the writer), then every other one by first packet time, TCP's and UDP's merged, their
    // records sent every `END_OF_CAPTURE_BATCH` connections so that the writer can write them
    // as the workers go: holding them all would cost a record per open connection.
    let mut tcp_left = table.take_remaining(&mut new_consumer, &mut |conn, reason| {
        finish_connection(conn, reason, &cfg, windows, &mut out, &mut records);
    });
    let mut udp_left = udp.take_remaining();
    let mut closed_since_sent = 0;
    loop {
        let udp_first = match (tcp_left.next_first_ts(), udp_left.next_first_ts()) {
            (None, None) => break,
            (Some(tcp), Some(udp)) => udp < tcp,
            (tcp, _) => tcp.is_none(),
        };
        if udp_first {
            udp_left.close_next(&mut ctx.borrow_mut(), &mut |conn, reason, tls| {
                finish_udp_connection(conn, reason, tls, &cfg, windows, &mut out, &mut records);
            });
        } else {
            tcp_left.close_next(&mut |conn, reason| {
                finish_connection(conn, reason, &cfg, windows, &mut out, &mut records);
            });
        }
        closed_since_sent += 1;
        if closed_since_sent == END_OF_CAPTURE_BATCH {
            closed_since_sent = 0;
            let next = tcp_left.next_first_ts().into_iter();
            if let Some(next) = next.chain(udp_left.next_first_ts()).min() {
                send(&mut records, Progress::at_end_from(next), Vec::new());
            }
        }
    }
    let last = if windows {
        vec![take_window(window, &mut out, &cfg)]
    } else {
        Vec::new()
    };
    send(&mut records, Progress::FINISHED, last);
    let stats = table.stats();
    out.flows.flows_evicted = stats.table.flows_evicted;
    out.flows.half_open_evicted = stats.half_open.flows_evicted;
    out.flows.flow_buffer_cap_hits = stats.flow_buffer_cap_hits;
    out.flows.total_buffer_cap_hits = stats.total_buffer_cap_hits;
    let stats = udp.stats();
    out.flows.udp_flows = stats.flows;
    out.flows.udp_flows_evicted = stats.table.flows_evicted;
    out.flows.udp_unanswered_evicted = stats.unanswered_evicted;
    out.flows.udp_not_tls = stats.not_tls;
    out.flows.udp_recorded_at_confirmation = stats.recorded_at_confirmation;
    out.flows.udp_datagrams_after_record = stats.datagrams_after_record;
    out
}

/// Empty aggregates with the configured limits.
fn fresh_aggregates(cfg: &Config) -> Aggregates {
    Aggregates {
        failed: FailedConnections::with_limit(cfg.failed_per_cause),
        ..Aggregates::default()
    }
}

/// A worker's record-layer limits: a handshake message may be as long as a connection's
/// buffer budget (`max_flow_buffer`, at most the protocol's 2^24 - 1 bytes), and the partial
/// messages of all its connections together hold at most its share of the global budget.
fn record_config(cfg: &Config) -> RecordConfig {
    RecordConfig {
        max_handshake_message: cfg.limits.max_flow_buffer.min(MAX_HANDSHAKE_MESSAGE),
        join_budget: Some(JoinBudget::new(cfg.limits.max_total_buffer)),
        ..RecordConfig::default()
    }
}

/// Hands over what the worker aggregated in `window`, starting afresh.
pub(super) fn take_window(window: u64, out: &mut WorkerOutput, cfg: &Config) -> WindowPart {
    WindowPart {
        window,
        aggregates: std::mem::replace(&mut out.aggregates, fresh_aggregates(cfg)),
        sightings: std::mem::take(&mut out.sightings),
    }
}

/// Turns a closed connection into facts and aggregates, and (if wanted) an NDJSON record
/// in `records`, with its place in the output order.
pub(super) fn finish_connection(
    conn: Connection<ConnectionObserver>,
    reason: CloseReason,
    cfg: &Config,
    windows: bool,
    out: &mut WorkerOutput,
    records: &mut RecordBatch,
) {
    out.flows.tcp_connections += 1;
    let Some(tls) = conn.consumer.tls.filter(|tls| tls.is_tls()) else {
        out.flows.tcp_connections_without_tls += 1;
        let (server, kind) = WithoutTls::classify(&conn.key, &conn.meta);
        let client = if server == conn.key.lo {
            conn.key.hi
        } else {
            conn.key.lo
        };
        // Without a server name, `--sni` leaves every such connection out.
        if !cfg.scope.is_everything() && !cfg.scope.admits(&client, &server, None) {
            return;
        }
        out.aggregates.add_without_tls(server, kind);
        if cfg.tcp_failure_records && cfg.want_records && kind.is_failure() {
            let key = (
                conn.closed_at,
                conn.meta.first_ts,
                client,
                server,
                conn.key.transport,
            );
            let input = conn.consumer.input;
            let tcp = TcpFacts {
                meta: conn.meta,
                close: reason,
            };
            records.push_pre_tls(key, |bytes| {
                let format = &cfg.record_format;
                format.write_tcp_failure(kind, (client, server), &tcp, input, bytes);
            });
        }
        return;
    };
    let transcript = tls.finish();
    let transport = TransportFacts::Tcp(TcpFacts {
        meta: conn.meta,
        close: reason,
    });
    let input = conn.consumer.input;
    record_facts(
        &conn.key,
        conn.closed_at,
        input,
        transport,
        transcript,
        cfg,
        windows,
        out,
        records,
    );
}

/// Turns a closed UDP flow (QUIC or DTLS) into facts, aggregates and a record, as
/// [`finish_connection`] does a TCP connection.
fn finish_udp_connection(
    conn: UdpConnection,
    reason: CloseReason,
    tls: &mut TlsContext,
    cfg: &Config,
    windows: bool,
    out: &mut WorkerOutput,
    records: &mut RecordBatch,
) {
    let (first_ts, last_ts, input) = (conn.first_ts, conn.last_ts, conn.input);
    let (driver_facts, transcript) = conn.open.finish(tls);
    let Some(transcript) = transcript else {
        out.flows.udp_flows_without_tls += 1;
        return;
    };
    let transport = match driver_facts {
        UdpTransportFacts::Quic(quic) => TransportFacts::Quic(Box::new(QuicTransport {
            quic: *quic,
            close: reason,
            first_ts,
            last_ts,
        })),
        UdpTransportFacts::Dtls(dtls) => TransportFacts::Dtls(Box::new(DtlsTransport {
            dtls: *dtls,
            close: reason,
            first_ts,
            last_ts,
        })),
    };
    record_facts(
        &conn.key,
        conn.closed_at,
        input,
        transport,
        transcript,
        cfg,
        windows,
        out,
        records,
    );
}

/// Builds a closed connection's facts from its transport's and its transcript, adds them to
/// the aggregates (and the live window's sightings) and, if wanted, writes its record (naming
/// `input`, the index of the input file it started in); out of `--server`/`--sni`/`--client`,
/// it is only counted.
#[allow(clippy::too_many_arguments)]
fn record_facts(
    key: &FlowKey,
    closed_at: Timestamp,
    input: u16,
    transport: TransportFacts,
    transcript: crate::tls::Transcript,
    cfg: &Config,
    windows: bool,
    out: &mut WorkerOutput,
    records: &mut RecordBatch,
) {
    let f = facts::build(key, transport, transcript, &cfg.facts);
    if !cfg.scope.is_everything() && !cfg.scope.admits_facts(&f) {
        out.flows.out_of_scope += 1;
        return;
    }
    out.aggregates.add(&f);
    if windows {
        out.sightings.add(&f);
    }
    if cfg.want_records {
        let (first_ts, client, server, transport) = f.sort_key();
        let key = (closed_at, first_ts, client, server, transport);
        records.push(key, |bytes| cfg.record_format.write(&f, input, bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, FlowKey, TcpFlags, TcpHeader, Timestamp, Transport};
    use crate::tcp::{Connection, Limits, Segment, TcpTable};
    use crate::tls::TlsContext;
    use std::cell::RefCell;
    use std::net::{IpAddr, Ipv4Addr};
    use std::rc::Rc;

    #[test]
    fn half_open_connections_get_no_tls_observer() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (client, server) = (Endpoint { ip, port: 40000 }, Endpoint { ip, port: 443 });
        let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, client, server);
        let ctx = Rc::new(RefCell::new(TlsContext::default()));
        let mut table: TcpTable<ConnectionObserver> = TcpTable::new(Limits::default());
        let config = Rc::new(RecordConfig::default());
        let mut new_consumer = |_: &FlowKey| ConnectionObserver {
            tls: None,
            ctx: Rc::clone(&ctx),
            input: 0,
            config: Rc::clone(&config),
        };
        let segment = |flags: u8, seq: u32, payload: &'static [u8]| Segment {
            key,
            dir,
            header: TcpHeader {
                seq,
                ack: 0,
                flags: TcpFlags(flags),
            },
            payload,
            ts: Timestamp(1),
            clock: Timestamp(1),
        };
        let mut observed = Vec::new();
        let mut closed =
            |c: Connection<ConnectionObserver>, _| observed.push(c.consumer.tls.is_some());
        table.process(
            &segment(TcpFlags::SYN, 1, b""),
            &mut new_consumer,
            &mut closed,
        );
        table.drain(&mut new_consumer, &mut closed);
        table.process(
            &segment(TcpFlags::SYN, 1, b""),
            &mut new_consumer,
            &mut closed,
        );
        table.process(
            &segment(0, 2, b"\x16\x03\x01"),
            &mut new_consumer,
            &mut closed,
        );
        table.drain(&mut new_consumer, &mut closed);
        assert_eq!(observed, [false, true]);
    }
}
