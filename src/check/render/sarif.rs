//! SARIF 2.1.0 for GitHub code scanning and other SARIF consumers. Rules keep the policy's
//! ids; each violation is one result, located at its rule in the policy file (or, for
//! profile rules, at the first input) and carrying a partial fingerprint that stays the same
//! across re-recorded captures, so code scanning tracks an alert from run to run.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::super::policy::Severity;
use super::super::verdict::CheckResult;
use super::{example_line, sentence};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `path:line` of a rule origin, split; profile rules point at the first input.
fn location(origin: &str, first_input: Option<&str>) -> (String, u64) {
    if let Some(profile) = origin.strip_prefix("profile ") {
        let _ = profile;
        return (first_input.unwrap_or("policy").to_string(), 1);
    }
    match origin.rsplit_once(':') {
        Some((path, line)) if line.parse::<u64>().is_ok() => {
            (path.to_string(), line.parse().unwrap_or(1))
        }
        _ => (origin.to_string(), 1),
    }
}

/// A path as a SARIF URI reference (forward slashes, spaces and percent signs escaped).
fn uri(path: &str) -> String {
    path.replace('\\', "/")
        .replace('%', "%25")
        .replace(' ', "%20")
}

/// The SARIF document.
pub fn document(result: &CheckResult) -> Value {
    let first_input = result.inputs.first().map(|i| i.path.as_str());
    let rules: Vec<Value> = result
        .rules
        .iter()
        .map(|r| {
            let text = r.description.clone().unwrap_or_else(|| r.conditions.join("; "));
            json!({
                "id": r.id,
                "shortDescription": { "text": text },
                "fullDescription": { "text": r.conditions.join("; ") },
                "defaultConfiguration": { "level": level(r.severity) },
                "help": { "text": format!("Defined at {}. Conditions: {}.", r.origin, r.conditions.join("; ")) },
                "properties": { "tags": ["tls", "tlsight"] }
            })
        })
        .collect();
    let mut results = Vec::new();
    for verdict in &result.verdicts {
        let Some(rule_index) = result.rules.iter().position(|r| r.id == verdict.rule) else {
            continue;
        };
        let (path, line) = location(&result.rules[rule_index].origin, first_input);
        for v in &verdict.violations {
            let mut r = json!({
                "ruleId": verdict.rule,
                "ruleIndex": rule_index,
                "level": level(verdict.severity),
                "message": { "text": sentence(verdict, v) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&path) },
                        "region": { "startLine": line }
                    },
                    "logicalLocations": [{ "name": verdict.server, "kind": "resource" }]
                }],
                "partialFingerprints": { "tlsightViolation/v1": v.fingerprint },
                "properties": {
                    "server": verdict.server,
                    "condition": v.condition,
                    "value": v.value,
                    "connections": v.connections,
                    "examples": v.examples.iter().map(example_line).collect::<Vec<_>>()
                }
            });
            if let Some(new) = v.new {
                r["baselineState"] = json!(if new { "new" } else { "unchanged" });
            }
            results.push(r);
        }
    }
    let notifications: Vec<Value> = result
        .inputs
        .iter()
        .filter_map(|i| i.error.as_ref())
        .map(|e| json!({ "level": "warning", "message": { "text": format!("{e}; checked over what was read") } }))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "tlsight",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications
            }],
            "results": results
        }]
    })
}

/// Writes the SARIF document.
pub fn write(result: &CheckResult, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(result)).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
