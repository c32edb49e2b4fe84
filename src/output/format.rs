//! How connection records are written: in which schema (tlsight's own, or Elastic Common
//! Schema names) and with which sensor name. Chosen once per run and handed to every worker.

use std::sync::Arc;

use crate::facts::{ConnectionFacts, TcpFacts, WithoutTls};
use crate::flow::Endpoint;

/// The names connection records use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schema {
    /// tlsight's own record (the README's output contract).
    #[default]
    Native,
    /// Elastic Common Schema names (`--schema ecs`), tlsight's own facts under `tlsight.*`.
    Ecs,
}

/// The schema and the sensor name of a run's connection records.
#[derive(Clone, Debug, Default)]
pub struct RecordFormat {
    /// Which names the records use.
    pub schema: Schema,
    /// The sensor written into every record (`--sensor`); none: the field is left out, so
    /// that offline output does not depend on the machine it ran on.
    pub sensor: Option<Arc<str>>,
    /// The Community ID seed (`--community-id-seed`; 0 unless a deployment agreed on
    /// another, as Zeek's and Suricata's settings of the same name).
    pub community_id_seed: u16,
    /// The inputs as given on the command line: a record names the one its connection
    /// started in (by its index).
    pub inputs: Arc<[String]>,
    /// `--ja4-plus`: fill `ja4s` (FoxIO License; JA4 itself is BSD and always written).
    pub ja4_plus: bool,
}

impl RecordFormat {
    /// Appends the record of one connection (with its newline) to `out`; `input` is the
    /// index of the input it started in.
    pub fn write(&self, f: &ConnectionFacts, input: u16, out: &mut Vec<u8>) {
        match self.schema {
            Schema::Native => super::write_connection(f, input, self, out),
            Schema::Ecs => super::ecs::write_connection(f, self, out),
        }
    }

    /// Appends the record of a TCP connection that failed before TLS (`--tcp-failures`;
    /// `client` sent the SYN) with its newline; `input` as for [`Self::write`].
    pub fn write_tcp_failure(
        &self,
        cause: WithoutTls,
        ends: (Endpoint, Endpoint),
        tcp: &TcpFacts,
        input: u16,
        out: &mut Vec<u8>,
    ) {
        match self.schema {
            Schema::Native => super::record::write_tcp_failure(cause, ends, tcp, input, self, out),
            Schema::Ecs => super::ecs::write_tcp_failure(cause, ends, &tcp.meta, self, out),
        }
    }
}
