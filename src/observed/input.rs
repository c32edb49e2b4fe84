//! Where an observation comes from: capture files analysed in-process (the records stream
//! into a [`RecordSink`], the report is written and read back), NDJSON records written
//! earlier by `tlsight analyze --ndjson`, or a `--json` report. The kind of a file is told by
//! its content, not its name.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::record::Connection;
use super::report::{ReportInput, ReportView};
use super::sink::RecordSink;
use crate::output;
use crate::pipeline::{self, Config};

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A pcap or pcapng capture (or standard input, `-`).
    Capture,
    /// NDJSON connection records (`tlsight analyze --ndjson`).
    Records,
    /// A `tlsight analyze --json` report.
    Report,
    /// A `tlsight check --json` result.
    CheckResult,
}

impl InputKind {
    /// How messages name the kind.
    pub fn describe(self) -> &'static str {
        match self {
            InputKind::Capture => "a capture",
            InputKind::Records => "NDJSON connection records",
            InputKind::Report => "a tlsight --json report",
            InputKind::CheckResult => "a tlsight check result",
        }
    }
}

/// Why an input could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: io::Error,
    },
    /// The content is none of the kinds tlsight reads.
    #[error("{path}: not a capture (pcap/pcapng), NDJSON records or a tlsight JSON report")]
    Unrecognised {
        /// The file.
        path: PathBuf,
    },
    /// Inputs of different kinds were given together.
    #[error("{first} is {} but {other} is {}: give inputs of one kind", .first_kind.describe(), .other_kind.describe())]
    Mixed {
        /// The first input.
        first: PathBuf,
        /// Its kind.
        first_kind: InputKind,
        /// An input of another kind.
        other: PathBuf,
        /// Its kind.
        other_kind: InputKind,
    },
    /// A record line could not be read.
    #[error("{path}: {reason}")]
    Records {
        /// The file.
        path: PathBuf,
        /// Which line and why.
        reason: io::Error,
    },
    /// A JSON document could not be read as what it claims to be.
    #[error("{path}: not a valid {what}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What it was taken for.
        what: &'static str,
        /// Why.
        reason: serde_json::Error,
    },
    /// The in-process analysis failed writing its records.
    #[error("analysing the captures: {0}")]
    Analysis(io::Error),
    /// This command cannot use this kind of input.
    #[error("{path} is {}; {hint}", .kind.describe())]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// Its kind.
        kind: InputKind,
        /// What to give instead.
        hint: &'static str,
    },
}

/// What was observed in one set of inputs.
#[derive(Debug, Default)]
pub struct Observation {
    /// The inputs and how far each was read (`error` set when reading stopped early).
    pub inputs: Vec<ReportInput>,
    /// Connection records; `None` when only a report was given.
    pub connections: Option<Vec<Connection>>,
    /// The report, when one was given or written.
    pub report: Option<ReportView>,
    /// The kind of the inputs.
    pub kind: Option<InputKind>,
}

impl Observation {
    /// Whether any input could not be read to its end.
    pub fn input_damaged(&self) -> bool {
        self.inputs.iter().any(|i| i.error.is_some())
    }

    /// The connections (empty when only a report was given).
    pub fn connections(&self) -> &[Connection] {
        self.connections.as_deref().unwrap_or_default()
    }
}

/// Tells what `path` holds from its first bytes (`-` is standard input, taken as a capture).
pub fn detect_kind(path: &Path) -> Result<InputKind, LoadError> {
    if path.as_os_str() == "-" {
        return Ok(InputKind::Capture);
    }
    let io_err = |reason| LoadError::Io {
        path: path.to_path_buf(),
        reason,
    };
    let mut head = Vec::with_capacity(4096);
    File::open(path)
        .map_err(io_err)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    const PCAP_MAGICS: [[u8; 4]; 5] = [
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    if head.len() >= 4 && PCAP_MAGICS.iter().any(|m| head[..4] == *m) {
        return Ok(InputKind::Capture);
    }
    let text = String::from_utf8_lossy(&head);
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Err(LoadError::Unrecognised {
            path: path.to_path_buf(),
        });
    }
    // The first line of NDJSON is a whole object; a report or check result is one
    // (pretty-printed) document whose "type" comes first.
    let first_line = trimmed.lines().next().unwrap_or_default();
    let kind = match serde_json::from_str::<serde_json::Value>(first_line) {
        Ok(value) => value
            .get("type")
            .and_then(|t| t.as_str())
            .map(str::to_string),
        Err(_) => type_field(trimmed),
    };
    match kind.as_deref() {
        Some("connection" | "window" | "alert") => Ok(InputKind::Records),
        Some("report") => Ok(InputKind::Report),
        Some("check") => Ok(InputKind::CheckResult),
        _ => Err(LoadError::Unrecognised {
            path: path.to_path_buf(),
        }),
    }
}

/// The value of the first `"type"` field in a JSON text's head (writers put it first).
fn type_field(text: &str) -> Option<String> {
    let at = text.find("\"type\"")?;
    let rest = text[at + 6..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// Loads one set of inputs: captures (analysed together, in order, with `cfg`), NDJSON
/// record files (concatenated), or one report.
pub fn load(paths: &[PathBuf], cfg: &Config) -> Result<Observation, LoadError> {
    let mut kinds = Vec::with_capacity(paths.len());
    for path in paths {
        kinds.push(detect_kind(path)?);
    }
    let Some(&first_kind) = kinds.first() else {
        return Ok(Observation::default());
    };
    if let Some(i) = kinds.iter().position(|&k| k != first_kind) {
        return Err(LoadError::Mixed {
            first: paths[0].clone(),
            first_kind,
            other: paths[i].clone(),
            other_kind: kinds[i],
        });
    }
    match first_kind {
        InputKind::Capture => analyse_captures(paths, cfg),
        InputKind::Records => load_records(paths),
        InputKind::Report if paths.len() == 1 => load_report(&paths[0]),
        InputKind::Report | InputKind::CheckResult => Err(LoadError::WrongKind {
            path: paths[0].clone(),
            kind: first_kind,
            hint: "give one report, or captures, or NDJSON records",
        }),
    }
}

/// Runs the offline pipeline on `paths`, keeping the records it writes and its report.
fn analyse_captures(paths: &[PathBuf], cfg: &Config) -> Result<Observation, LoadError> {
    let cfg = Config {
        want_records: true,
        ..cfg.clone()
    };
    let mut sink = RecordSink::default();
    let analysis = pipeline::analyze_files(paths, &cfg, &mut sink).map_err(LoadError::Analysis)?;
    let connections = sink.finish().map_err(LoadError::Analysis)?;
    let mut json = Vec::new();
    output::write_report(&analysis.report, &mut json).map_err(LoadError::Analysis)?;
    let report: ReportView = serde_json::from_slice(&json).map_err(|reason| LoadError::Json {
        path: PathBuf::from("(in-process report)"),
        what: "report",
        reason,
    })?;
    Ok(Observation {
        inputs: report.inputs.clone(),
        connections: Some(connections),
        report: Some(report),
        kind: Some(InputKind::Capture),
    })
}

/// Reads NDJSON record files (other record types, such as live windows, are skipped).
pub fn load_records(paths: &[PathBuf]) -> Result<Observation, LoadError> {
    let mut connections = Vec::new();
    let mut inputs = Vec::new();
    for path in paths {
        let file = File::open(path).map_err(|reason| LoadError::Io {
            path: path.clone(),
            reason,
        })?;
        let mut sink = RecordSink::default();
        io::copy(&mut BufReader::with_capacity(1 << 16, file), &mut sink)
            .and_then(|_| sink.finish())
            .map(|mut read| connections.append(&mut read))
            .map_err(|reason| LoadError::Records {
                path: path.clone(),
                reason,
            })?;
        inputs.push(ReportInput {
            path: path.display().to_string(),
            packets: 0,
            error: None,
        });
    }
    Ok(Observation {
        inputs,
        connections: Some(connections),
        report: None,
        kind: Some(InputKind::Records),
    })
}

/// Reads a `--json` report.
fn load_report(path: &Path) -> Result<Observation, LoadError> {
    let file = File::open(path).map_err(|reason| LoadError::Io {
        path: path.to_path_buf(),
        reason,
    })?;
    let report: ReportView =
        serde_json::from_reader(BufReader::new(file)).map_err(|reason| LoadError::Json {
            path: path.to_path_buf(),
            what: "report",
            reason,
        })?;
    Ok(Observation {
        inputs: report.inputs.clone(),
        connections: None,
        report: Some(report),
        kind: Some(InputKind::Report),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures")
            .join(name)
    }

    #[test]
    fn kinds_are_told_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("r.txt");
        std::fs::write(&records, "{\"type\":\"connection\",\"ts\":\"x\"}\n").unwrap();
        let report = dir.path().join("r.json");
        std::fs::write(
            &report,
            "{\n  \"type\": \"report\",\n  \"schema_version\": 1\n}",
        )
        .unwrap();
        let check = dir.path().join("c.json");
        std::fs::write(&check, "{\"type\":\"check\"}").unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "hello").unwrap();
        assert_eq!(
            detect_kind(&capture("tls12-ecdhe-rsa.pcap")).unwrap(),
            InputKind::Capture
        );
        assert_eq!(
            detect_kind(&capture("tls12-ecdhe-rsa.pcapng")).unwrap(),
            InputKind::Capture
        );
        assert_eq!(detect_kind(&records).unwrap(), InputKind::Records);
        assert_eq!(detect_kind(&report).unwrap(), InputKind::Report);
        assert_eq!(detect_kind(&check).unwrap(), InputKind::CheckResult);
        assert!(matches!(
            detect_kind(&junk),
            Err(LoadError::Unrecognised { .. })
        ));
        let mixed = load(
            &[capture("tls12-ecdhe-rsa.pcap"), records],
            &Config::default(),
        );
        assert!(matches!(mixed, Err(LoadError::Mixed { .. })));
    }

    #[test]
    fn a_capture_and_its_written_records_give_the_same_connections() {
        let cap = capture("tls12-resumption-ticket.pcap");
        let analysed = load(std::slice::from_ref(&cap), &Config::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ndjson = dir.path().join("records.ndjson");
        let mut out = File::create(&ndjson).unwrap();
        pipeline::analyze_files(&[cap], &Config::default(), &mut out).unwrap();
        drop(out);
        let read = load(&[ndjson], &Config::default()).unwrap();
        assert_eq!(read.kind, Some(InputKind::Records));
        let key = |o: &Observation| -> Vec<_> {
            o.connections()
                .iter()
                .map(|c| {
                    (
                        c.ts_us,
                        c.client,
                        c.version,
                        c.resumed,
                        c.certificates.len(),
                    )
                })
                .collect()
        };
        assert_eq!(key(&analysed), key(&read));
        assert_eq!(analysed.connections().len(), 2);
        assert!(analysed.report.as_ref().unwrap().servers.len() == 1);
    }
}
