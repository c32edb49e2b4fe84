//! The Kafka sink: every record (connection, window, alert) becomes one message whose value
//! is the record's JSON line, byte for byte, keyed by [`super::key::record_key`] so that one
//! connection's (server's, sensor's) records stay in one partition, in order.
//!
//! Nothing is lost silently. librdkafka's own queue is the in-memory buffer (bounded by
//! `queue.buffering.max.kbytes`/`.messages`; messages in it wait for the broker as long as it
//! takes, `message.timeout.ms=0`); when it is full, records go to the on-disk spool
//! (`--kafka-spool`, bounded) and are sent from there, first in first out, once the queue has
//! room; beyond both bounds a record is dropped and counted. Delivery reports are checked:
//! a record counts as delivered only once the broker acknowledged it, and every failure is
//! counted. At the end, [`KafkaSink::finish`] waits up to a timeout for what is still in flight
//! and accounts for the rest: put back in the spool for the next run, or counted as not
//! confirmed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::PurgeConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use serde::Serialize;

use super::key::record_key;
use super::spool::Spool;

/// What the Kafka sink is told on the command line.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic every record goes to.
    pub topic: String,
    /// librdkafka settings (`--kafka-option key=value`: TLS, SASL, compression, batching),
    /// applied after tlsight's defaults so they override them.
    pub options: Vec<(String, String)>,
    /// The spool directory (`--kafka-spool`), if any.
    pub spool: Option<PathBuf>,
    /// Most bytes the spool holds.
    pub spool_max_bytes: u64,
    /// Longest wait for outstanding deliveries at the end.
    pub finish_timeout: Duration,
}

/// tlsight's defaults for librdkafka, each overridable with `--kafka-option`: wait for the
/// broker without a deadline (the bounds are the queue's and the spool's, not time's), keep
/// the in-memory queue to 64 MiB, and write each partition's records once and in order even
/// across retries (idempotence).
const DEFAULTS: [(&str, &str); 5] = [
    ("message.timeout.ms", "0"),
    ("queue.buffering.max.kbytes", "65536"),
    ("queue.buffering.max.messages", "100000"),
    ("enable.idempotence", "true"),
    ("linger.ms", "20"),
];

/// Records counted by the sink since it started; shared with the window and metrics writers.
#[derive(Debug, Default)]
pub struct SinkCounters {
    produced: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    spooled: AtomicU64,
    dropped: AtomicU64,
    unconfirmed: AtomicU64,
    spool_pending: AtomicU64,
}

/// A snapshot of [`SinkCounters`], as window records, metrics and the summary show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SinkCounts {
    /// Records handed to librdkafka.
    pub produced: u64,
    /// Records the broker acknowledged.
    pub delivered: u64,
    /// Records the broker or librdkafka refused for good (e.g. too large, not authorised).
    pub failed: u64,
    /// Records written to the spool because the in-memory queue was full.
    pub spooled: u64,
    /// Records dropped because the queue and the spool were both full (or there is no spool).
    pub dropped: u64,
    /// Records still unacknowledged when the run ended (and not kept in a spool).
    pub unconfirmed: u64,
    /// Records waiting in the spool now.
    pub spool_pending: u64,
}

impl SinkCounters {
    /// The counts now.
    pub fn snapshot(&self) -> SinkCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SinkCounts {
            produced: get(&self.produced),
            delivered: get(&self.delivered),
            failed: get(&self.failed),
            spooled: get(&self.spooled),
            dropped: get(&self.dropped),
            unconfirmed: get(&self.unconfirmed),
            spool_pending: get(&self.spool_pending),
        }
    }
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Why the sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// librdkafka refused the configuration.
    #[error("Kafka producer for {brokers}: {source}")]
    Producer {
        /// The brokers asked for.
        brokers: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The spool directory could not be used.
    #[error("Kafka spool in {dir}")]
    Spool {
        /// The directory.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// librdkafka's callbacks: delivery reports and client errors.
struct Callbacks {
    counters: Arc<SinkCounters>,
    /// Records purged from librdkafka's queue at the end, to go back to the spool.
    purged: Mutex<Vec<Vec<u8>>>,
    /// The last error librdkafka reported (e.g. every broker unreachable), for the summary.
    last_error: Mutex<Option<String>>,
}

impl ClientContext for Callbacks {
    fn error(&self, error: KafkaError, reason: &str) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(format!("{error}: {reason}"));
    }
}

impl ProducerContext for Callbacks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => bump(&self.counters.delivered, 1),
            Err((
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight,
                ),
                message,
            )) => {
                let payload = message.payload().unwrap_or_default().to_vec();
                self.purged
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(payload);
            }
            Err((e, _)) => {
                bump(&self.counters.failed, 1);
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some(format!("delivery failed: {e}"));
            }
        }
    }
}

/// The Kafka sink of one run.
pub struct KafkaSink {
    producer: BaseProducer<Callbacks>,
    topic: String,
    spool: Option<Spool>,
    counters: Arc<SinkCounters>,
    finish_timeout: Duration,
}

/// How a record fared when offered to librdkafka.
enum Offer {
    Queued,
    QueueFull,
    Refused,
}

impl KafkaSink {
    /// Makes the producer (it connects in the background: the broker need not be up yet) and
    /// opens the spool.
    pub fn connect(cfg: &KafkaConfig) -> Result<KafkaSink, SinkError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &cfg.brokers);
        for (k, v) in DEFAULTS {
            config.set(k, v);
        }
        for (k, v) in &cfg.options {
            config.set(k, v);
        }
        let counters = Arc::new(SinkCounters::default());
        let callbacks = Callbacks {
            counters: Arc::clone(&counters),
            purged: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
        };
        let producer =
            config
                .create_with_context(callbacks)
                .map_err(|source| SinkError::Producer {
                    brokers: cfg.brokers.clone(),
                    source,
                })?;
        let spool =
            match &cfg.spool {
                Some(dir) => Some(Spool::open(dir, cfg.spool_max_bytes).map_err(|source| {
                    SinkError::Spool {
                        dir: dir.display().to_string(),
                        source,
                    }
                })?),
                None => None,
            };
        let sink = KafkaSink {
            producer,
            topic: cfg.topic.clone(),
            spool,
            counters,
            finish_timeout: cfg.finish_timeout,
        };
        sink.counters.spool_pending.store(
            sink.spool.as_ref().map_or(0, Spool::pending),
            Ordering::Relaxed,
        );
        Ok(sink)
    }

    /// The counters, for window records and metrics while the run goes on.
    pub fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }

    /// Sends one record (a JSON line without its newline). Never waits for the broker.
    pub fn send(&mut self, record: &[u8]) {
        self.producer.poll(Duration::ZERO);
        self.drain_spool();
        let spooling = self.spool.as_ref().is_some_and(|s| s.pending() > 0);
        // While older records wait in the spool, newer ones queue behind them, so that order
        // is kept.
        if !spooling {
            match self.offer(record) {
                Offer::Queued | Offer::Refused => return,
                Offer::QueueFull => {}
            }
        }
        self.keep(record);
    }

    /// Hands one record to librdkafka.
    fn offer(&self, record: &[u8]) -> Offer {
        let message = BaseRecord::to(&self.topic)
            .key(record_key(record))
            .payload(record);
        match self.producer.send(message) {
            Ok(()) => {
                bump(&self.counters.produced, 1);
                Offer::Queued
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Offer::QueueFull
            }
            Err((e, _)) => {
                bump(&self.counters.failed, 1);
                self.note_error(format!("record refused: {e}"));
                Offer::Refused
            }
        }
    }

    /// Puts a record the queue has no room for in the spool, or drops and counts it.
    fn keep(&mut self, record: &[u8]) {
        let kept = match self.spool.as_mut().map(|s| s.push(record)) {
            Some(Ok(kept)) => kept,
            Some(Err(e)) => {
                self.note_error(format!("writing the spool: {e}"));
                false
            }
            None => false,
        };
        if kept {
            bump(&self.counters.spooled, 1);
        } else {
            bump(&self.counters.dropped, 1);
        }
        self.update_spool_pending();
    }

    /// Moves records from the spool into librdkafka's queue while it has room.
    fn drain_spool(&mut self) {
        let Some(mut spool) = self.spool.take() else {
            return;
        };
        loop {
            let record = match spool.peek() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(e) => {
                    self.note_error(format!("reading the spool: {e}"));
                    break;
                }
            };
            match self.offer(record) {
                Offer::QueueFull => break,
                Offer::Queued | Offer::Refused => {
                    if let Err(e) = spool.pop() {
                        self.note_error(format!("emptying the spool: {e}"));
                        break;
                    }
                }
            }
        }
        self.spool = Some(spool);
        self.update_spool_pending();
    }

    fn update_spool_pending(&self) {
        let pending = self.spool.as_ref().map_or(0, Spool::pending);
        self.counters
            .spool_pending
            .store(pending, Ordering::Relaxed);
    }

    fn note_error(&self, message: String) {
        let callbacks = self.producer.context();
        *callbacks
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(message);
    }

    /// Serves delivery reports (call now and then when no record is sent).
    pub fn poll(&mut self) {
        self.producer.poll(Duration::ZERO);
        self.drain_spool();
    }

    /// Ends the run: sends what the spool holds and waits for every delivery, up to the
    /// timeout; what is still unacknowledged then is taken back from librdkafka and kept in the
    /// spool for the next run (at least once: the broker may have it already), or counted as
    /// not confirmed. Returns the final counts and the last error seen, if any.
    pub fn finish(mut self) -> (SinkCounts, Option<String>) {
        let deadline = Instant::now() + self.finish_timeout;
        while Instant::now() < deadline {
            self.poll();
            let spooled = self.spool.as_ref().map_or(0, Spool::pending);
            if spooled == 0 && self.producer.in_flight_count() == 0 {
                break;
            }
            self.producer.poll(Duration::from_millis(50));
        }
        let _ = self.producer.flush(Duration::ZERO);
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        self.producer.poll(Duration::ZERO);
        let purged = std::mem::take(
            &mut *self
                .producer
                .context()
                .purged
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // Purged records were produced but never confirmed: back to the spool (before the
        // records that never left it, which are newer) or counted.
        match self.spool.take() {
            Some(spool) => self.requeue(spool, purged),
            None => bump(&self.counters.unconfirmed, purged.len() as u64),
        }
        let error = self
            .producer
            .context()
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (self.counters.snapshot(), error)
    }

    /// Writes `purged` back into the spool ahead of what the spool still holds.
    fn requeue(&mut self, mut spool: Spool, purged: Vec<Vec<u8>>) {
        let mut rest = Vec::new();
        while let Ok(Some(record)) = spool.peek() {
            rest.push(record.to_vec());
            if spool.pop().is_err() {
                break;
            }
        }
        for record in purged.iter().chain(&rest) {
            match spool.push(record) {
                Ok(true) => {}
                _ => bump(&self.counters.unconfirmed, 1),
            }
        }
        self.counters
            .spool_pending
            .store(spool.pending(), Ordering::Relaxed);
        if let Err(e) = spool.close() {
            self.note_error(format!("closing the spool: {e}"));
        }
    }
}
