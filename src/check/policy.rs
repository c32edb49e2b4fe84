//! A policy: rules with ids, scopes and conditions, read from a TOML file (which may extend
//! built-in profiles, drop some of their rules and replace others) or made from a profile
//! alone. Unknown keys are errors, so a misspelt condition never silently checks nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use super::condition::{Condition, Percentile, PostQuantum};
use super::glob::Glob;
use super::names::{cipher_code, group_code, signature_scheme_code, version_code};
use super::profiles::{self, ProfileError};
use super::scope::Scope;

/// How much a violated rule matters.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, and makes `check` exit with the violations code.
    Error,
    /// Reported only.
    Warning,
}

/// Where a rule was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// In a policy file, at a line (of its `[[rule]]` header) when known.
    File {
        /// The file as given.
        path: String,
        /// 1-based line.
        line: Option<usize>,
    },
    /// In a built-in profile (`mozilla-intermediate@6.0`).
    Profile(String),
}

/// One rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable id: names the rule in verdicts, JUnit, SARIF and baselines.
    pub id: String,
    /// What it is for, in words.
    pub description: Option<String>,
    /// How much a violation matters.
    pub severity: Severity,
    /// The connections it speaks about.
    pub scope: Scope,
    /// What must hold.
    pub conditions: Vec<Condition>,
    /// Fewest connections (resumption attempts for `min_resumption_rate`) for a rate to be
    /// judged.
    pub min_connections: u64,
    /// Fewest completed handshakes for a latency percentile to be judged.
    pub min_handshakes: u64,
    /// Where it was written.
    pub origin: Origin,
}

/// A policy ready to evaluate.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Rules in order (profile rules first, then the file's).
    pub rules: Vec<Rule>,
    /// What it was made from: files and profiles with their versions.
    pub sources: Vec<String>,
}

/// Why a policy could not be read.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("policy {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A rule is not valid.
    #[error("policy {path}: rule '{rule}': {message}")]
    Rule {
        /// The file.
        path: String,
        /// Its id.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// A profile name is unknown.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The file is valid but something in it does not fit together.
    #[error("policy {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// `extends`: a profile name, or a table scoping the profile's rules.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawExtends {
    Name(String),
    Scoped(RawScopedProfile),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScopedProfile {
    profile: String,
    #[serde(default)]
    servers: Vec<String>,
    #[serde(default)]
    clients: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    extends: Option<OneOrMany<RawExtends>>,
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandshakeMs {
    p50: Option<f64>,
    p90: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

/// A rule as written: every condition key is optional; at least one must be given.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) id: String,
    pub(super) description: Option<String>,
    pub(super) severity: Option<String>,
    #[serde(default)]
    pub(super) servers: Vec<String>,
    #[serde(default)]
    pub(super) clients: Vec<String>,
    pub(super) min_connections: Option<u64>,
    pub(super) min_handshakes: Option<u64>,
    pub(super) min_version: Option<String>,
    pub(super) allowed_versions: Option<Vec<String>>,
    pub(super) forbidden_versions: Option<Vec<String>>,
    pub(super) allowed_ciphers: Option<Vec<String>>,
    pub(super) forbidden_ciphers: Option<Vec<String>>,
    pub(super) allowed_groups: Option<Vec<String>>,
    pub(super) forbidden_groups: Option<Vec<String>>,
    pub(super) forward_secrecy: Option<bool>,
    pub(super) aead: Option<bool>,
    pub(super) post_quantum: Option<String>,
    pub(super) ocsp_stapling: Option<bool>,
    pub(super) offered_min_version: Option<String>,
    pub(super) offered_forbidden_versions: Option<Vec<String>>,
    pub(super) offered_forbidden_ciphers: Option<Vec<String>>,
    pub(super) offered_one_of_ciphers: Option<Vec<String>>,
    pub(super) offered_forbidden_groups: Option<Vec<String>>,
    pub(super) offered_one_of_groups: Option<Vec<String>>,
    pub(super) offered_forbidden_signature_schemes: Option<Vec<String>>,
    pub(super) offered_allowed_signature_schemes: Option<Vec<String>>,
    pub(super) forbidden_client_fingerprints: Option<Vec<String>>,
    pub(super) max_failure_rate: Option<f64>,
    pub(super) forbidden_failure_causes: Option<Vec<String>>,
    pub(super) forbidden_certificate_findings: Option<Vec<String>>,
    pub(super) certificate_min_days_left: Option<i64>,
    pub(super) certificate_max_lifetime_days: Option<i64>,
    pub(super) certificate_min_rsa_bits: Option<u32>,
    pub(super) certificate_min_ec_bits: Option<u32>,
    pub(super) certificate_allowed_key_types: Option<Vec<String>>,
    pub(super) certificate_allowed_curves: Option<Vec<String>>,
    pub(super) certificate_allowed_signature_algorithms: Option<Vec<String>>,
    max_handshake_ms: Option<RawHandshakeMs>,
    pub(super) min_resumption_rate: Option<f64>,
    pub(super) forbid_client_renegotiation: Option<bool>,
    pub(super) max_renegotiations: Option<u64>,
    pub(super) secure_renegotiation: Option<bool>,
}

/// Failure causes the records use (README), so a misspelt one is an error.
const FAILURE_CAUSES: &[&str] = &[
    "no_shared_cipher",
    "version_mismatch",
    "client_rejected_certificate",
    "server_rejected_client_certificate",
    "unrecognized_name",
    "hello_retry_failed",
    "no_application_protocol",
    "server_reset",
    "client_abort",
    "server_closed",
    "server_not_tls",
    "no_response",
    "capture_gap",
    "connection_refused",
    "cookie_exchange_incomplete",
    "retransmission_storm",
    "transport_error",
    "unknown",
];

/// Certificate findings the records use (README).
const CERTIFICATE_FINDINGS: &[&str] = &[
    "expired",
    "not_yet_valid",
    "expiring_soon",
    "sni_mismatch",
    "self_signed",
    "chain_incomplete",
    "chain_out_of_order",
    "weak_key",
    "weak_signature",
    "validity_too_long",
    "unparsable",
];

fn codes(
    names: &[String],
    what: &str,
    code: impl Fn(&str) -> Option<u16>,
) -> Result<BTreeSet<u16>, String> {
    if names.is_empty() {
        return Err(format!("the list of {what}s is empty"));
    }
    names
        .iter()
        .map(|n| code(n).ok_or_else(|| format!("unknown {what} '{n}'")))
        .collect()
}

fn known_words(names: &[String], what: &str, known: &[&str]) -> Result<BTreeSet<String>, String> {
    if names.is_empty() {
        return Err(format!("the list of {what}s is empty"));
    }
    names
        .iter()
        .map(|n| {
            if known.contains(&n.as_str()) {
                Ok(n.clone())
            } else {
                Err(format!(
                    "unknown {what} '{n}' (one of: {})",
                    known.join(", ")
                ))
            }
        })
        .collect()
}

fn words(names: &[String], what: &str) -> Result<BTreeSet<String>, String> {
    if names.is_empty() {
        return Err(format!("the list of {what}s is empty"));
    }
    Ok(names.iter().cloned().collect())
}

fn fraction(value: f64, key: &str) -> Result<f64, String> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{key} must be between 0 and 1 (a fraction: 0.05 is 5%)"
        ))
    }
}

fn positive(value: f64, key: &str) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("{key} must be a non-negative number"))
    }
}

fn version(name: &str) -> Result<u16, String> {
    version_code(name).ok_or_else(|| format!("unknown version '{name}'"))
}

impl RawRule {
    /// The conditions stated, in a fixed order (the order of the keys in the README).
    fn conditions(&self) -> Result<Vec<Condition>, String> {
        let mut out = Vec::new();
        let require_true = |flag: Option<bool>, key: &str| -> Result<bool, String> {
            match flag {
                Some(true) => Ok(true),
                Some(false) => Err(format!("{key} = false states nothing: leave it out")),
                None => Ok(false),
            }
        };
        if let Some(v) = &self.min_version {
            out.push(Condition::MinVersion(version(v)?));
        }
        if let Some(v) = &self.allowed_versions {
            out.push(Condition::AllowedVersions(codes(
                v,
                "version",
                version_code,
            )?));
        }
        if let Some(v) = &self.forbidden_versions {
            out.push(Condition::ForbiddenVersions(codes(
                v,
                "version",
                version_code,
            )?));
        }
        if let Some(c) = &self.allowed_ciphers {
            out.push(Condition::AllowedCiphers(codes(
                c,
                "cipher suite",
                cipher_code,
            )?));
        }
        if let Some(c) = &self.forbidden_ciphers {
            out.push(Condition::ForbiddenCiphers(codes(
                c,
                "cipher suite",
                cipher_code,
            )?));
        }
        if let Some(g) = &self.allowed_groups {
            out.push(Condition::AllowedGroups(codes(g, "group", group_code)?));
        }
        if let Some(g) = &self.forbidden_groups {
            out.push(Condition::ForbiddenGroups(codes(g, "group", group_code)?));
        }
        if require_true(self.forward_secrecy, "forward_secrecy")? {
            out.push(Condition::ForwardSecrecy);
        }
        if require_true(self.aead, "aead")? {
            out.push(Condition::Aead);
        }
        if let Some(pq) = &self.post_quantum {
            out.push(Condition::PostQuantum(match pq.as_str() {
                "offered" => PostQuantum::Offered,
                "negotiated" => PostQuantum::Negotiated,
                other => {
                    return Err(format!(
                        "post_quantum is \"offered\" or \"negotiated\", not \"{other}\""
                    ));
                }
            }));
        }
        if require_true(self.ocsp_stapling, "ocsp_stapling")? {
            out.push(Condition::OcspStapling);
        }
        if let Some(v) = &self.offered_min_version {
            out.push(Condition::OfferedMinVersion(version(v)?));
        }
        if let Some(v) = &self.offered_forbidden_versions {
            out.push(Condition::OfferedForbiddenVersions(codes(
                v,
                "version",
                version_code,
            )?));
        }
        if let Some(c) = &self.offered_forbidden_ciphers {
            let set = codes(c, "cipher suite", cipher_code)?;
            out.push(Condition::OfferedForbiddenCiphers(set));
        }
        if let Some(c) = &self.offered_one_of_ciphers {
            out.push(Condition::OfferedOneOfCiphers(codes(
                c,
                "cipher suite",
                cipher_code,
            )?));
        }
        if let Some(g) = &self.offered_forbidden_groups {
            out.push(Condition::OfferedForbiddenGroups(codes(
                g, "group", group_code,
            )?));
        }
        if let Some(g) = &self.offered_one_of_groups {
            out.push(Condition::OfferedOneOfGroups(codes(
                g, "group", group_code,
            )?));
        }
        if let Some(s) = &self.offered_forbidden_signature_schemes {
            let set = codes(s, "signature scheme", signature_scheme_code)?;
            out.push(Condition::OfferedForbiddenSignatureSchemes(set));
        }
        if let Some(s) = &self.offered_allowed_signature_schemes {
            let set = codes(s, "signature scheme", signature_scheme_code)?;
            out.push(Condition::OfferedAllowedSignatureSchemes(set));
        }
        if let Some(f) = &self.forbidden_client_fingerprints {
            if f.is_empty() {
                return Err("the list of client fingerprints is empty".into());
            }
            out.push(Condition::ForbiddenClientFingerprints(
                f.iter().map(|g| Glob::new(g)).collect(),
            ));
        }
        if let Some(r) = self.max_failure_rate {
            out.push(Condition::MaxFailureRate(fraction(r, "max_failure_rate")?));
        }
        if let Some(c) = &self.forbidden_failure_causes {
            let set = known_words(c, "failure cause", FAILURE_CAUSES)?;
            out.push(Condition::ForbiddenFailureCauses(set));
        }
        if let Some(f) = &self.forbidden_certificate_findings {
            let set = known_words(f, "certificate finding", CERTIFICATE_FINDINGS)?;
            out.push(Condition::ForbiddenCertificateFindings(set));
        }
        if let Some(d) = self.certificate_min_days_left {
            out.push(Condition::CertificateMinDaysLeft(d));
        }
        if let Some(d) = self.certificate_max_lifetime_days {
            out.push(Condition::CertificateMaxLifetimeDays(d));
        }
        if let Some(b) = self.certificate_min_rsa_bits {
            out.push(Condition::CertificateMinRsaBits(b));
        }
        if let Some(b) = self.certificate_min_ec_bits {
            out.push(Condition::CertificateMinEcBits(b));
        }
        if let Some(t) = &self.certificate_allowed_key_types {
            out.push(Condition::CertificateAllowedKeyTypes(words(t, "key type")?));
        }
        if let Some(c) = &self.certificate_allowed_curves {
            out.push(Condition::CertificateAllowedCurves(words(c, "curve")?));
        }
        if let Some(s) = &self.certificate_allowed_signature_algorithms {
            let set = words(s, "signature algorithm")?;
            out.push(Condition::CertificateAllowedSignatureAlgorithms(set));
        }
        if let Some(h) = &self.max_handshake_ms {
            let bounds = [
                (Percentile::P50, h.p50),
                (Percentile::P90, h.p90),
                (Percentile::P95, h.p95),
                (Percentile::P99, h.p99),
                (Percentile::Max, h.max),
            ];
            let before = out.len();
            for (p, ms) in bounds {
                if let Some(ms) = ms {
                    out.push(Condition::MaxHandshakeMs(
                        p,
                        positive(ms, "max_handshake_ms")?,
                    ));
                }
            }
            if out.len() == before {
                return Err(
                    "max_handshake_ms names no percentile (p50, p90, p95, p99, max)".into(),
                );
            }
        }
        if let Some(r) = self.min_resumption_rate {
            out.push(Condition::MinResumptionRate(fraction(
                r,
                "min_resumption_rate",
            )?));
        }
        if require_true(
            self.forbid_client_renegotiation,
            "forbid_client_renegotiation",
        )? {
            out.push(Condition::ForbidClientRenegotiation);
        }
        if let Some(n) = self.max_renegotiations {
            out.push(Condition::MaxRenegotiations(n));
        }
        if require_true(self.secure_renegotiation, "secure_renegotiation")? {
            out.push(Condition::SecureRenegotiation);
        }
        if out.is_empty() {
            return Err("states no condition".into());
        }
        Ok(out)
    }

    /// The rule this describes.
    pub(super) fn into_rule(self, origin: Origin) -> Result<Rule, String> {
        if self.id.trim().is_empty() || self.id.chars().any(char::is_whitespace) {
            return Err("the id must be a non-empty word (letters, digits, - _ / .)".into());
        }
        let severity = match self.severity.as_deref() {
            None | Some("error") => Severity::Error,
            Some("warning") => Severity::Warning,
            Some(other) => {
                return Err(format!(
                    "severity is \"error\" or \"warning\", not \"{other}\""
                ));
            }
        };
        let conditions = self.conditions()?;
        Ok(Rule {
            scope: Scope::parse(&self.servers, &self.clients)?,
            id: self.id,
            description: self.description,
            severity,
            conditions,
            min_connections: self.min_connections.unwrap_or(1).max(1),
            min_handshakes: self.min_handshakes.unwrap_or(1).max(1),
            origin,
        })
    }
}

/// Lines (1-based) of the `[[rule]]` headers in a policy's text, in order.
fn rule_header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim();
            l.starts_with("[[rule]]") || l.starts_with("[[ rule ]]")
        })
        .map(|(i, _)| i + 1)
        .collect()
}

impl Policy {
    /// A built-in profile alone (`--profile mozilla-intermediate@5.7`).
    pub fn from_profile(name: &str) -> Result<Policy, PolicyError> {
        let profile = profiles::resolve(name)?;
        Ok(Policy {
            sources: vec![profile.full_name()],
            rules: profile.rules(&Scope::default()),
        })
    }

    /// Reads a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|reason| PolicyError::Io {
            path: shown.clone(),
            reason,
        })?;
        Policy::from_toml(&text, &shown)
    }

    /// Reads a policy from its TOML text; `path` names it in messages and origins.
    pub fn from_toml(text: &str, path: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |message: String| PolicyError::Invalid {
            path: path.to_string(),
            message,
        };
        let mut rules: Vec<Rule> = Vec::new();
        let mut sources = Vec::new();
        for extends in raw.extends.map(OneOrMany::into_vec).unwrap_or_default() {
            let (name, servers, clients) = match extends {
                RawExtends::Name(name) => (name, Vec::new(), Vec::new()),
                RawExtends::Scoped(s) => (s.profile, s.servers, s.clients),
            };
            let profile = profiles::resolve(&name)?;
            let scope = Scope::parse(&servers, &clients)
                .map_err(|m| invalid(format!("extends {name}: {m}")))?;
            sources.push(profile.full_name());
            rules.extend(profile.rules(&scope));
        }
        for id in &raw.disable {
            let before = rules.len();
            rules.retain(|r| &r.id != id);
            if rules.len() == before {
                return Err(invalid(format!(
                    "disable names '{id}', which no extended profile has (its rules: {})",
                    rules
                        .iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        sources.push(path.to_string());
        // Header lines name each rule's place only when every rule has one (`[[rule]]`).
        let lines = Some(rule_header_lines(text)).filter(|l| l.len() == raw.rule.len());
        let mut seen = BTreeMap::new();
        for (i, raw_rule) in raw.rule.into_iter().enumerate() {
            let id = raw_rule.id.clone();
            if seen.insert(id.clone(), ()).is_some() {
                return Err(invalid(format!("two rules have the id '{id}'")));
            }
            let origin = Origin::File {
                path: path.to_string(),
                line: lines.as_ref().and_then(|l| l.get(i).copied()),
            };
            let rule = raw_rule
                .into_rule(origin)
                .map_err(|message| PolicyError::Rule {
                    path: path.to_string(),
                    rule: id.clone(),
                    message,
                })?;
            // A rule with a profile rule's id replaces it, in place.
            match rules.iter().position(|r| r.id == id) {
                Some(at) => rules[at] = rule,
                None => rules.push(rule),
            }
        }
        if rules.is_empty() {
            return Err(invalid("no rules: add [[rule]] tables or extends".into()));
        }
        Ok(Policy { rules, sources })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rules_with_their_lines() {
        let text = "# comment\n[[rule]]\nid = \"versions\"\nmin_version = \"TLSv1.2\"\n\n\
                    [[rule]]\nid = \"latency\"\nservers = [\"*.example.com\"]\n\
                    max_handshake_ms = { p95 = 200, p99 = 500 }\nmin_handshakes = 20\n";
        let p = Policy::from_toml(text, "p.toml").unwrap();
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[0].conditions, vec![Condition::MinVersion(0x0303)]);
        assert_eq!(
            p.rules[0].origin,
            Origin::File {
                path: "p.toml".into(),
                line: Some(2)
            }
        );
        assert_eq!(p.rules[1].conditions.len(), 2);
        assert_eq!(p.rules[1].min_handshakes, 20);
        assert_eq!(p.sources, vec!["p.toml"]);
    }

    #[test]
    fn misspelt_keys_and_names_are_errors() {
        let err = |text: &str| Policy::from_toml(text, "p.toml").unwrap_err().to_string();
        let e = err("[[rule]]\nid = \"a\"\nmin_versoin = \"TLSv1.2\"\n");
        assert!(e.contains("unknown field `min_versoin`"), "{e}");
        let e = err("[[rule]]\nid = \"a\"\nallowed_ciphers = [\"AES-NOPE\"]\n");
        assert!(e.contains("unknown cipher suite 'AES-NOPE'"), "{e}");
        let e = err("[[rule]]\nid = \"a\"\nforbidden_failure_causes = [\"timeout\"]\n");
        assert!(e.contains("unknown failure cause 'timeout'"), "{e}");
        let e = err("[[rule]]\nid = \"a\"\n");
        assert!(e.contains("states no condition"), "{e}");
        let e = err("[[rule]]\nid = \"a\"\naead = true\n[[rule]]\nid = \"a\"\naead = true\n");
        assert!(e.contains("two rules have the id 'a'"), "{e}");
        let e = err("[[rule]]\nid = \"a\"\nmax_failure_rate = 5\n");
        assert!(e.contains("between 0 and 1"), "{e}");
        let e = err("extends = \"mozilla-ancient\"\n");
        assert!(e.contains("mozilla-ancient"), "{e}");
    }

    #[test]
    fn extends_disables_and_overrides_profile_rules() {
        let text = "extends = \"mozilla-intermediate@5.7\"\n\
                    disable = [\"mozilla-intermediate/ocsp-stapling\"]\n\
                    [[rule]]\nid = \"mozilla-intermediate/certificate-lifespan\"\n\
                    certificate_max_lifetime_days = 825\n";
        let p = Policy::from_toml(text, "p.toml").unwrap();
        assert_eq!(p.sources, vec!["mozilla-intermediate@5.7", "p.toml"]);
        assert!(
            !p.rules
                .iter()
                .any(|r| r.id == "mozilla-intermediate/ocsp-stapling")
        );
        let lifespan = p
            .rules
            .iter()
            .find(|r| r.id == "mozilla-intermediate/certificate-lifespan")
            .unwrap();
        assert_eq!(
            lifespan.conditions,
            vec![Condition::CertificateMaxLifetimeDays(825)]
        );
        assert!(matches!(lifespan.origin, Origin::File { .. }));
        let e = Policy::from_toml(
            "extends = \"mozilla-modern\"\ndisable = [\"nope\"]\n",
            "p.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("disable names 'nope'"), "{e}");
    }
}
