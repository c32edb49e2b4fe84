//! `tlsight check`: judges observed handshakes against a policy (a TOML file, built-in
//! profiles, or both) and reports verdicts with evidence, per rule and server, for people
//! (terminal) and CI systems (JSON, JUnit XML, SARIF). It reads tlsight's public outputs
//! (see `observed`), so captures, NDJSON records written earlier, and QUIC or DTLS connections
//! once they appear in the records are all judged the same way.

pub mod baseline;
mod condition;
mod evaluate;
mod glob;
mod judge;
pub mod names;
mod policy;
pub mod profiles;
pub mod render;
mod scope;
pub mod verdict;

pub use condition::{Condition, Percentile, PostQuantum, percent};
pub use evaluate::{EvalOptions, evaluate, fingerprint};
pub use judge::Reference;
pub use policy::{Origin, Policy, PolicyError, Rule, Severity};
pub use verdict::{CheckResult, Status, Verdict, Violation};
