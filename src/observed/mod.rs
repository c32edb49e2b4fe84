//! What tlsight observed, read back from its public outputs: the NDJSON connection records and
//! the `--json` report, as documented in the README. `check` and `diff` judge and compare these
//! typed views, never the pipeline's internal structs, so they keep working while the internals
//! change and they accept outputs written earlier (or by another machine) as well as captures
//! analysed in-process.

mod input;
mod record;
mod report;
mod sink;
pub mod time;

pub use input::{InputKind, LoadError, Observation, detect_kind, load, load_records};
pub use record::{Certificate, Connection, Endpoint, Offer};
pub use report::{
    NamedCount, ReportCertificate, ReportClient, ReportInput, ReportLatency, ReportResumption,
    ReportServer, ReportView,
};
pub use sink::RecordSink;
