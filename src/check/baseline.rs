//! Baselines: a previous check's violations, so that a team can adopt a policy on an estate
//! that already breaks it and fail only on what is new. Violations are matched by their
//! fingerprint (rule, server, condition, offending value, client fingerprint), which leaves out
//! everything a re-recorded capture changes: times, ports, counts, measured values,
//! certificate serials and hashes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use thiserror::Error;

use super::evaluate::{EvalOptions, evaluate};
use super::policy::Policy;
use super::verdict::CheckResult;
use crate::observed::{self, InputKind, LoadError};
use crate::pipeline::Config;

/// Why a baseline could not be used.
#[derive(Debug, Error)]
pub enum BaselineError {
    /// The baseline's inputs could not be read.
    #[error("baseline: {0}")]
    Load(LoadError),
    /// A check result that does not parse.
    #[error("baseline {path}: not a valid tlsight check result: {reason}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        reason: serde_json::Error,
    },
    /// A kind of file that cannot serve as a baseline.
    #[error(
        "baseline {path} is {}: give the --json output of an earlier `tlsight check`, or the \
         capture or NDJSON records it was run on", .kind.describe()
    )]
    WrongKind {
        /// The file.
        path: String,
        /// Its kind.
        kind: InputKind,
    },
}

impl From<LoadError> for BaselineError {
    fn from(e: LoadError) -> Self {
        BaselineError::Load(e)
    }
}

/// The baseline's check result: read from a check's `--json` output, or made by checking the
/// baseline's capture or records against the same policy.
pub fn load(
    path: &Path,
    policy: &Policy,
    cfg: &Config,
    opts: &EvalOptions,
) -> Result<CheckResult, BaselineError> {
    let shown = path.display().to_string();
    match observed::detect_kind(path)? {
        InputKind::CheckResult => {
            let file = File::open(path).map_err(|reason| LoadError::Io {
                path: path.to_path_buf(),
                reason,
            })?;
            serde_json::from_reader(BufReader::new(file)).map_err(|reason| BaselineError::Json {
                path: shown,
                reason,
            })
        }
        InputKind::Capture | InputKind::Records => {
            let observation = observed::load(&[path.to_path_buf()], cfg)?;
            Ok(evaluate(policy, &observation, opts))
        }
        kind @ InputKind::Report => Err(BaselineError::WrongKind { path: shown, kind }),
    }
}

/// Marks each violation of `result` new or known against `baseline`, and recounts.
pub fn apply(result: &mut CheckResult, baseline: &CheckResult, path: &str) {
    let known: BTreeSet<&str> = baseline
        .verdicts
        .iter()
        .flat_map(|v| &v.violations)
        .map(|v| v.fingerprint.as_str())
        .collect();
    for violation in result.verdicts.iter_mut().flat_map(|v| &mut v.violations) {
        violation.new = Some(!known.contains(violation.fingerprint.as_str()));
    }
    result.baseline = Some(path.to_string());
    result.summarise();
}
