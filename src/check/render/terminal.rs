//! The readable report: a table of verdicts (one line per rule and server), then every
//! violation with its evidence, then the outcome in one line.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::super::policy::Severity;
use super::super::verdict::{CheckResult, Status};
use super::{example_line, finding, plural, rule_of};

/// Writes the report.
pub fn write(result: &CheckResult, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "tlsight check: {} rule{} over {} connection{} (policy: {})",
        result.rules.len(),
        plural(result.rules.len() as u64),
        result.connections,
        plural(result.connections),
        result.policy.join(", ")
    );
    match &result.reference_time {
        Some(t) => {
            let _ = writeln!(s, "certificates judged at {t}");
        }
        None => {
            let _ = writeln!(s, "certificates judged at each connection's capture time");
        }
    }
    for input in &result.inputs {
        if let Some(e) = &input.error {
            let _ = writeln!(s, "warning: {e}; checked over what was read");
        }
    }
    if result.connections == 0 {
        let _ = writeln!(
            s,
            "warning: no TLS connection in the input: nothing was judged"
        );
    }
    if let Some(b) = &result.baseline {
        let _ = writeln!(s, "baseline: {b} (only new violations fail)");
    }
    s.push('\n');
    let rows: Vec<[String; 5]> = result
        .verdicts
        .iter()
        .map(|v| {
            let details = match v.status {
                Status::Fail => v
                    .violations
                    .iter()
                    .map(|x| {
                        let mark = match x.new {
                            Some(false) => " [known]",
                            _ => "",
                        };
                        format!("{} ({}){mark}", x.value, x.connections)
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                Status::NotJudged => v
                    .judged
                    .iter()
                    .filter_map(|j| j.note.as_deref())
                    .next()
                    .unwrap_or("nothing to judge")
                    .to_string(),
                Status::NotSeen => "no connection to this server in the input".into(),
                Status::Pass => String::new(),
            };
            let status = match (v.status, v.severity) {
                (Status::Fail, Severity::Warning) => "warn".to_string(),
                (status, _) => status.word().to_string(),
            };
            [
                v.rule.clone(),
                v.server.clone(),
                status,
                v.connections.to_string(),
                details,
            ]
        })
        .collect();
    let headers = ["RULE", "SERVER", "STATUS", "CONNS", "DETAILS"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        format!(
            "{:w0$}  {:w1$}  {:w2$}  {:>w3$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
        .trim_end()
        .to_string()
    };
    let _ = writeln!(s, "{}", line(headers));
    for row in &rows {
        let _ = writeln!(s, "{}", line(row.each_ref().map(String::as_str)));
    }
    let failed: Vec<_> = result
        .verdicts
        .iter()
        .filter(|v| !v.violations.is_empty())
        .collect();
    if !failed.is_empty() {
        s.push_str("\nViolations:\n");
    }
    for verdict in failed {
        let wants = rule_of(result, verdict)
            .map(|r| r.conditions.join("; "))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {} on {} (wants: {wants})",
            verdict.rule, verdict.server
        );
        for v in &verdict.violations {
            let known = if v.new == Some(false) {
                " [in baseline]"
            } else {
                ""
            };
            let _ = writeln!(s, "    {}{known}", finding(v));
            for e in &v.examples {
                let _ = writeln!(s, "      e.g. {}", example_line(e));
            }
        }
    }
    let sum = &result.summary;
    let outcome = if result.fails() { "FAIL" } else { "PASS" };
    let _ = writeln!(
        s,
        "\n{outcome}: {} failing violation{}{}{}; {} verdicts: {} pass, {} fail, {} not judged, {} not seen",
        sum.failing_violations,
        plural(sum.failing_violations),
        if sum.known_violations > 0 {
            format!(", {} known from the baseline", sum.known_violations)
        } else {
            String::new()
        },
        if sum.warnings > 0 {
            format!(", {} warning{}", sum.warnings, plural(sum.warnings))
        } else {
            String::new()
        },
        sum.verdicts,
        sum.passed,
        sum.failed,
        sum.not_judged,
        sum.not_seen
    );
    out.write_all(s.as_bytes())
}
