//! The result of a check: one verdict per rule and server, each violation with its evidence
//! (how many connections, a few example connections with the offending value). These types
//! are the `--json` output (`"type": "check"`); the other renderers read them too.

use serde::{Deserialize, Serialize};

use super::policy::Severity;
use crate::observed::{Endpoint, ReportInput};

/// Version of the check result's JSON; bumped when a field is renamed or removed.
pub const CHECK_SCHEMA_VERSION: u32 = 1;

/// How a rule fared on a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every condition held on every connection where it could be judged.
    Pass,
    /// At least one condition was violated.
    Fail,
    /// Connections were in scope, but none let any condition be judged (e.g. certificates
    /// are encrypted in TLS 1.3, or fewer handshakes than the rule's minimum).
    NotJudged,
    /// The rule names this server, but no connection to it was seen.
    NotSeen,
}

impl Status {
    /// The word the terminal and JUnit use.
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::NotJudged => "not judged",
            Status::NotSeen => "not seen",
        }
    }
}

/// A certificate named by a violation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRef {
    /// SHA-256 of the DER.
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// End of validity.
    pub not_after: Option<String>,
}

/// One connection shown as evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// First packet (RFC 3339).
    pub ts: String,
    /// Client endpoint.
    pub client: Endpoint,
    /// Server endpoint.
    pub server: Endpoint,
    /// SNI.
    pub sni: Option<String>,
    /// Client's JA4.
    pub ja4: Option<String>,
    /// The offending value on this connection.
    pub value: String,
}

/// One way a rule was broken on a server: a condition, the offending value, and the
/// connections that showed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The condition's policy key.
    pub condition: String,
    /// The offending value, stable across captures (`TLSv1.0`, `expires within 30 days`):
    /// with the rule, server and client it makes the fingerprint.
    pub value: String,
    /// Measured details that change from capture to capture (`12 days left`, `p95 312 ms`).
    pub detail: Option<String>,
    /// The client fingerprint (JA4), for conditions about what clients offer.
    pub client: Option<String>,
    /// The certificate, for certificate conditions.
    pub certificate: Option<CertificateRef>,
    /// Connections showing it.
    pub connections: u64,
    /// Up to `--examples` of them, earliest first.
    pub examples: Vec<Example>,
    /// Stable id of this violation (rule, server, condition, value, client), for baselines
    /// and SARIF.
    pub fingerprint: String,
    /// With `--baseline`: whether the baseline lacked it (only new violations fail).
    pub new: Option<bool>,
}

/// One rule on one server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Rule id.
    pub rule: String,
    /// Rule severity.
    pub severity: Severity,
    /// Server (SNI, else ip:port).
    pub server: String,
    /// Outcome.
    pub status: Status,
    /// Connections in the rule's scope to this server.
    pub connections: u64,
    /// Conditions judged, with how many connections each could be judged on.
    pub judged: Vec<Judged>,
    /// Violations, most connections first.
    pub violations: Vec<Violation>,
}

/// How often one condition could be judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judged {
    /// The condition's policy key.
    pub condition: String,
    /// Connections it was judged on (for rates and percentiles: the sample size).
    pub connections: u64,
    /// Why it was judged on fewer than all, when it was.
    pub note: Option<String>,
}

/// A rule as the result describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Id.
    pub id: String,
    /// Description.
    pub description: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Its conditions in words.
    pub conditions: Vec<String>,
    /// `file:line` or the profile it comes from.
    pub origin: String,
}

/// Counts over the verdicts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// Verdicts.
    pub verdicts: u64,
    /// By status.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Not judged.
    pub not_judged: u64,
    /// Not seen.
    pub not_seen: u64,
    /// Violations of error-severity rules that make the check fail (with a baseline: the new
    /// ones only).
    pub failing_violations: u64,
    /// Violations the baseline already had.
    pub known_violations: u64,
    /// Violations of warning-severity rules.
    pub warnings: u64,
}

/// The whole result (`--json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckResult {
    /// Always `"check"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`CHECK_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Tool and version.
    pub tool: String,
    /// Files and profiles the policy was made from (profiles with their guideline version).
    pub policy: Vec<String>,
    /// The rules.
    pub rules: Vec<RuleInfo>,
    /// Certificates judged at this time (RFC 3339), or null: at each connection's time.
    pub reference_time: Option<String>,
    /// Inputs and how far each was read.
    pub inputs: Vec<ReportInput>,
    /// Connections read.
    pub connections: u64,
    /// The baseline file, when given.
    pub baseline: Option<String>,
    /// Counts.
    pub summary: CheckSummary,
    /// One per rule and server, in rule order then server name.
    pub verdicts: Vec<Verdict>,
}

impl CheckResult {
    /// Whether the check fails: an error-severity violation that is not in the baseline.
    pub fn fails(&self) -> bool {
        self.summary.failing_violations > 0
    }

    /// Recounts [`CheckResult::summary`] from the verdicts.
    pub fn summarise(&mut self) {
        let mut s = CheckSummary::default();
        for v in &self.verdicts {
            s.verdicts += 1;
            match v.status {
                Status::Pass => s.passed += 1,
                Status::Fail => s.failed += 1,
                Status::NotJudged => s.not_judged += 1,
                Status::NotSeen => s.not_seen += 1,
            }
            for violation in &v.violations {
                match (v.severity, violation.new) {
                    (Severity::Warning, _) => s.warnings += 1,
                    (Severity::Error, Some(false)) => s.known_violations += 1,
                    (Severity::Error, _) => s.failing_violations += 1,
                }
            }
        }
        self.summary = s;
    }
}
