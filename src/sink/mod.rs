//! Record sinks: where records go besides (or instead of) the NDJSON file. One today, Kafka
//! (librdkafka, which every Kafka-compatible service speaks to), for fleets whose sensors feed
//! one pipeline (ClickHouse, OpenSearch, anything that reads Kafka).

pub mod kafka;
pub mod key;
pub mod spool;
pub mod stream;

pub use kafka::{KafkaConfig, KafkaSink, SinkCounters, SinkCounts};
pub use stream::RecordStream;
