//! Renderers of a check result: a readable terminal report, and machine-readable outputs
//! for CI systems (the result's own JSON, JUnit XML, SARIF 2.1.0).

pub mod junit;
pub mod sarif;
pub mod terminal;
mod xml;

use std::io::{self, Write};

use super::verdict::CheckResult;

/// Writes the result as pretty JSON (`"type": "check"`), the form `--baseline` reads back.
pub fn json(result: &CheckResult, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, result).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

use super::verdict::{Example, RuleInfo, Verdict, Violation};

/// The rule a verdict is about.
fn rule_of<'a>(result: &'a CheckResult, verdict: &Verdict) -> Option<&'a RuleInfo> {
    result.rules.iter().find(|r| r.id == verdict.rule)
}

/// `s` when `n` is not 1.
fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A violation without its rule and server (the terminal heads it with both).
fn finding(v: &Violation) -> String {
    let mut s = format!("{}: {}", v.condition, v.value);
    if let Some(detail) = &v.detail {
        s.push_str(&format!(" ({detail})"));
    }
    if let Some(client) = &v.client {
        s.push_str(&format!(", client {client}"));
    }
    if let Some(cert) = &v.certificate {
        s.push_str(&format!(
            ", certificate {} sha256 {}",
            cert.subject, cert.sha256
        ));
    }
    s.push_str(&format!(
        ", {} connection{}",
        v.connections,
        plural(v.connections)
    ));
    s
}

/// One sentence naming a violation: rule, server, offending value, how many connections.
fn sentence(verdict: &Verdict, v: &Violation) -> String {
    format!("{} on {}: {}", verdict.rule, verdict.server, finding(v))
}

/// An example connection on one line.
fn example_line(e: &Example) -> String {
    let mut s = format!("{} {} -> {}", e.ts, e.client, e.server);
    if let Some(sni) = &e.sni {
        s.push_str(&format!(" sni={sni}"));
    }
    if let Some(ja4) = &e.ja4 {
        s.push_str(&format!(" ja4={ja4}"));
    }
    s.push_str(&format!(": {}", e.value));
    s
}
