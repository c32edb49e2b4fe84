//! How connection records are written: in which schema (tlsight's own, or Elastic Common
//! Schema names) and with which sensor name. Chosen once per run and handed to every worker.

use std::sync::Arc;

use crate::facts::ConnectionFacts;

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
}

impl RecordFormat {
    /// Appends the record of one connection (with its newline) to `out`.
    pub fn write(&self, f: &ConnectionFacts, out: &mut Vec<u8>) {
        match self.schema {
            Schema::Native => super::write_connection(f, self.sensor.as_deref(), out),
            Schema::Ecs => super::ecs::write_connection(f, self, out),
        }
    }
}
