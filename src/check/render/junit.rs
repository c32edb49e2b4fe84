//! JUnit XML for GitLab, Jenkins and other CI systems: one test suite per rule, one test case
//! per rule and server. A violation of an error-severity rule that is not in the baseline is a
//! `<failure>`; not judged and not seen are `<skipped>`; warnings and violations the baseline
//! already had pass, with the details in `<system-out>` (they do not fail the check either).
//! Validated against the Jenkins xUnit plugin's `junit-10.xsd` in the tests.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::super::policy::Severity;
use super::super::verdict::{CheckResult, Status, Verdict};
use super::xml::escape;
use super::{example_line, sentence};

/// Whether a verdict's violations fail the check (error severity, new or no baseline).
fn failing(verdict: &Verdict) -> bool {
    verdict.severity == Severity::Error && verdict.violations.iter().any(|v| v.new != Some(false))
}

/// Writes the JUnit XML document.
pub fn write(result: &CheckResult, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let skipped = |v: &Verdict| matches!(v.status, Status::NotJudged | Status::NotSeen);
    let total_failures = result.verdicts.iter().filter(|v| failing(v)).count();
    let _ = writeln!(
        s,
        "<testsuites name=\"tlsight check\" tests=\"{}\" failures=\"{total_failures}\" errors=\"0\" time=\"0\">",
        result.verdicts.len()
    );
    for rule in &result.rules {
        let verdicts: Vec<&Verdict> = result
            .verdicts
            .iter()
            .filter(|v| v.rule == rule.id)
            .collect();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"0\">",
            escape(&rule.id),
            verdicts.len(),
            verdicts.iter().filter(|v| failing(v)).count(),
            verdicts.iter().filter(|v| skipped(v)).count()
        );
        let _ = writeln!(s, "    <properties>");
        let mut property = |name: &str, value: &str| {
            let _ = writeln!(
                s,
                "      <property name=\"{}\" value=\"{}\"/>",
                escape(name),
                escape(value)
            );
        };
        if let Some(d) = &rule.description {
            property("description", d);
        }
        property("origin", &rule.origin);
        property(
            "severity",
            if rule.severity == Severity::Error {
                "error"
            } else {
                "warning"
            },
        );
        for c in &rule.conditions {
            property("condition", c);
        }
        let _ = writeln!(s, "    </properties>");
        for v in verdicts {
            let _ = write!(
                s,
                "    <testcase classname=\"tlsight.check.{}\" name=\"{}\" time=\"0\"",
                escape(&rule.id),
                escape(&v.server)
            );
            let mut body = String::new();
            let mut evidence = String::new();
            for violation in &v.violations {
                let _ = writeln!(evidence, "{}", sentence(v, violation));
                for e in &violation.examples {
                    let _ = writeln!(evidence, "  e.g. {}", example_line(e));
                }
            }
            match v.status {
                Status::Fail if failing(v) => {
                    let first = &v.violations[0];
                    let _ = writeln!(
                        body,
                        "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                        escape(&first.condition),
                        escape(&sentence(v, first)),
                        escape(&evidence)
                    );
                }
                Status::Fail => {
                    let why = if v.severity == Severity::Warning {
                        "warning (does not fail the check)"
                    } else {
                        "violations already in the baseline"
                    };
                    let _ = writeln!(
                        body,
                        "      <system-out>{}</system-out>",
                        escape(&format!("{why}:\n{evidence}"))
                    );
                }
                Status::NotJudged => {
                    let note = v
                        .judged
                        .iter()
                        .filter_map(|j| j.note.as_deref())
                        .next()
                        .unwrap_or("nothing to judge");
                    let _ = writeln!(
                        body,
                        "      <skipped message=\"{}\"/>",
                        escape(&format!("not judged: {note}"))
                    );
                }
                Status::NotSeen => {
                    let _ = writeln!(
                        body,
                        "      <skipped message=\"not seen: no connection to this server in the input\"/>"
                    );
                }
                Status::Pass => {}
            }
            if body.is_empty() {
                s.push_str("/>\n");
            } else {
                s.push_str(">\n");
                s.push_str(&body);
                s.push_str("    </testcase>\n");
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    out.write_all(s.as_bytes())
}
