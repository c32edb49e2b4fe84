//! Evaluates a policy on an observation: for every rule, the connections in its scope are
//! grouped by server (SNI, else ip:port, as the report names servers), each condition is
//! judged, and the findings are gathered into violations with counts and examples.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::condition::Condition;
use super::judge::{
    Finding, Judgement, Reference, applicability, is_aggregate, judge_aggregate, judge_connection,
};
use super::policy::{Origin, Policy, Rule};
use super::verdict::{
    CHECK_SCHEMA_VERSION, CheckResult, Example, Judged, RuleInfo, Status, Verdict, Violation,
};
use crate::observed::time::{format_micros, format_secs};
use crate::observed::{Connection, Observation};

/// Knobs of an evaluation.
#[derive(Clone, Copy, Debug)]
pub struct EvalOptions {
    /// When certificates are judged.
    pub reference: Reference,
    /// Example connections per violation.
    pub examples: usize,
}

/// The stable id of a violation.
pub fn fingerprint(
    rule: &str,
    server: &str,
    condition: &str,
    value: &str,
    client: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    for part in [rule, server, condition, value, client.unwrap_or("")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// What tells violations of one condition apart: offending value, client fingerprint,
/// certificate hash.
type ViolationKey = (String, Option<String>, Option<String>);

/// Findings of one condition gathered by [`ViolationKey`].
#[derive(Default)]
struct Gathered {
    /// Keys in first-seen order.
    order: Vec<ViolationKey>,
    /// The first finding of each key, how many connections showed it, and examples.
    by_key: BTreeMap<ViolationKey, (Finding, u64, Vec<Example>)>,
}

impl Gathered {
    fn add(&mut self, finding: Finding, c: &Connection, examples: usize) {
        let key = (
            finding.value.clone(),
            finding.client.clone(),
            finding.certificate.as_ref().map(|cert| cert.sha256.clone()),
        );
        let example = || example(c, &finding.shown);
        match self.by_key.get_mut(&key) {
            Some((_, count, list)) => {
                *count += 1;
                if list.len() < examples {
                    list.push(example());
                }
            }
            None => {
                let list = if examples > 0 {
                    vec![example()]
                } else {
                    Vec::new()
                };
                self.order.push(key.clone());
                self.by_key.insert(key, (finding, 1, list));
            }
        }
    }
}

fn example(c: &Connection, value: &str) -> Example {
    Example {
        ts: format_micros(c.ts_us),
        client: c.client,
        server: c.server,
        sni: c.sni.as_deref().map(str::to_string),
        ja4: c.ja4().map(str::to_string),
        value: value.to_string(),
    }
}

fn violation(
    rule: &Rule,
    server: &str,
    cond: &Condition,
    finding: Finding,
    count: u64,
    examples: Vec<Example>,
) -> Violation {
    Violation {
        fingerprint: fingerprint(
            &rule.id,
            server,
            cond.key(),
            &finding.value,
            finding.client.as_deref(),
        ),
        condition: cond.key().to_string(),
        value: finding.value,
        detail: finding.detail,
        client: finding.client,
        certificate: finding.certificate,
        connections: count,
        examples,
        new: None,
    }
}

/// One rule on one server's connections (in time order).
fn judge_rule(rule: &Rule, server: &str, conns: &[&Connection], opts: &EvalOptions) -> Verdict {
    let mut judged = Vec::new();
    let mut violations = Vec::new();
    for cond in &rule.conditions {
        if is_aggregate(cond) {
            let a = judge_aggregate(cond, conns, rule.min_connections, rule.min_handshakes);
            judged.push(Judged {
                condition: cond.key().to_string(),
                connections: a.judged,
                note: a.note,
            });
            if let Some((finding, shown)) = a.broken {
                let count = shown.len() as u64;
                let examples = shown
                    .iter()
                    .take(opts.examples)
                    .map(|(i, value)| example(conns[*i], value))
                    .collect();
                violations.push(violation(rule, server, cond, finding, count, examples));
            }
            continue;
        }
        let mut gathered = Gathered::default();
        let mut applicable = 0u64;
        for c in conns {
            match judge_connection(cond, c, &opts.reference) {
                Judgement::NotApplicable => {}
                Judgement::Held => applicable += 1,
                Judgement::Broken(findings) => {
                    applicable += 1;
                    for f in findings {
                        gathered.add(f, c, opts.examples);
                    }
                }
            }
        }
        judged.push(Judged {
            condition: cond.key().to_string(),
            connections: applicable,
            note: (applicable < conns.len() as u64).then(|| applicability(cond).to_string()),
        });
        let mut found: Vec<Violation> = gathered
            .order
            .into_iter()
            .filter_map(|key| gathered.by_key.remove(&key))
            .map(|(finding, count, examples)| {
                violation(rule, server, cond, finding, count, examples)
            })
            .collect();
        // Most connections first; first seen first among equals (the sort is stable).
        found.sort_by_key(|v| std::cmp::Reverse(v.connections));
        violations.extend(found);
    }
    let status = if !violations.is_empty() {
        Status::Fail
    } else if judged.iter().any(|j| j.connections > 0) {
        Status::Pass
    } else {
        Status::NotJudged
    };
    Verdict {
        rule: rule.id.clone(),
        severity: rule.severity,
        server: server.to_string(),
        status,
        connections: conns.len() as u64,
        judged,
        violations,
    }
}

/// How the result names where a rule comes from.
fn origin_text(origin: &Origin) -> String {
    match origin {
        Origin::File {
            path,
            line: Some(line),
        } => format!("{path}:{line}"),
        Origin::File { path, line: None } => path.clone(),
        Origin::Profile(name) => format!("profile {name}"),
    }
}

/// Evaluates `policy` on `observation`.
pub fn evaluate(policy: &Policy, observation: &Observation, opts: &EvalOptions) -> CheckResult {
    let mut connections: Vec<&Connection> = observation.connections().iter().collect();
    connections.sort_by_key(|c| (c.ts_us, c.client, c.server));
    let names: Vec<String> = connections.iter().map(|c| c.server_name()).collect();
    let mut verdicts = Vec::new();
    for rule in &policy.rules {
        let mut by_server: BTreeMap<&str, Vec<&Connection>> = BTreeMap::new();
        for (c, name) in connections.iter().zip(&names) {
            if rule.scope.matches(c, name) {
                by_server.entry(name.as_str()).or_default().push(c);
            }
        }
        for (server, conns) in &by_server {
            verdicts.push(judge_rule(rule, server, conns, opts));
        }
        for literal in rule.scope.literal_server_names() {
            if !by_server.keys().any(|s| s.eq_ignore_ascii_case(literal)) {
                verdicts.push(Verdict {
                    rule: rule.id.clone(),
                    severity: rule.severity,
                    server: literal.to_string(),
                    status: Status::NotSeen,
                    connections: 0,
                    judged: Vec::new(),
                    violations: Vec::new(),
                });
            }
        }
    }
    let rules = policy
        .rules
        .iter()
        .map(|r| RuleInfo {
            id: r.id.clone(),
            description: r.description.clone(),
            severity: r.severity,
            conditions: r.conditions.iter().map(Condition::describe).collect(),
            origin: origin_text(&r.origin),
        })
        .collect();
    let mut result = CheckResult {
        kind: "check".into(),
        schema_version: CHECK_SCHEMA_VERSION,
        tool: format!("tlsight {}", env!("CARGO_PKG_VERSION")),
        policy: policy.sources.clone(),
        rules,
        reference_time: opts.reference.fixed_us.map(format_secs),
        inputs: observation.inputs.clone(),
        connections: connections.len() as u64,
        baseline: None,
        summary: Default::default(),
        verdicts,
    };
    result.summarise();
    result
}
