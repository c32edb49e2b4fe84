//! Output formats: the NDJSON connection record (`record`), the JSON report (`report`), the
//! terminal summary (`summary`), the HTML report ([`html`]) and the live window and alert
//! records ([`window`]). The
//! serialization types here are kept apart from the internal types so that the output contract
//! (field names in `DESIGN.md` and the README) only changes on purpose.

mod ecs;
mod failed;
pub mod format;
pub mod html;
mod json;
mod record;
mod report;
mod summary;
mod table;
mod time;
mod timeline;
mod transport;
pub mod window;

pub use record::{close_name, write_connection};
pub use report::{FlowCounts, InputFile, InputStats, Report, write_report};
pub use summary::{SummaryOptions, write_summary};
pub use table::thousands;
pub use time::{parse_rfc3339, parse_utc, rfc3339_micros, rfc3339_secs};

/// Version of the output contract; bumped when a field is renamed or removed.
pub const SCHEMA_VERSION: u32 = 1;
