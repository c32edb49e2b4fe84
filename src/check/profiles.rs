//! Built-in profiles: Mozilla's Server Side TLS guidelines, from the machine-readable JSON of
//! mozilla/ssl-config-generator (vendored in `profiles/` with its license and provenance),
//! turned into rules about what servers negotiated and what clients offered. Fields that
//! passive observation cannot judge are left out (see [`NOT_OBSERVABLE`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use thiserror::Error;
use tls_parser::{TlsCipherKx, TlsCipherSuite};

use super::condition::Condition;
use super::names::{cipher_code, group_code, version_code};
use super::policy::{Origin, Rule, Severity};
use super::scope::Scope;

/// Guideline versions vendored, oldest first; the last is the default.
const GUIDELINES: &[(&str, &str)] = &[
    ("5.7", include_str!("profiles/mozilla-5.7.json")),
    ("6.0", include_str!("profiles/mozilla-6.0.json")),
];

/// Guideline fields that observed traffic cannot judge, and why (README, policy reference).
pub const NOT_OBSERVABLE: &[(&str, &str)] = &[
    (
        "server_preferred_order",
        "which suite a server prefers shows only when probing it with chosen offers",
    ),
    (
        "dh_param_size",
        "the finite-field DH group size of a ServerKeyExchange is not in the records",
    ),
    (
        "hsts_min_age",
        "an HTTP header, inside the encrypted application data",
    ),
    (
        "recommended_certificate_lifespan",
        "a recommendation; maximum_certificate_lifespan is checked",
    ),
    ("oldest_clients", "documentation of the configuration"),
];

/// Why a profile name could not be used.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// No such profile.
    #[error("unknown profile '{name}' (profiles: {available})")]
    Unknown {
        /// The name given.
        name: String,
        /// Names that exist.
        available: String,
    },
    /// The vendored guideline file does not read (a build defect, caught by the tests).
    #[error("built-in guideline {version}: {message}")]
    Data {
        /// Guideline version.
        version: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
struct Guidelines {
    configurations: BTreeMap<String, Configuration>,
}

#[derive(Deserialize)]
struct CipherLists {
    #[serde(default)]
    iana: Vec<String>,
}

#[derive(Deserialize)]
struct Configuration {
    certificate_curves: Option<Vec<String>>,
    certificate_signatures: Vec<String>,
    certificate_types: Vec<String>,
    ciphers: CipherLists,
    ciphersuites: Vec<String>,
    maximum_certificate_lifespan: Option<i64>,
    ocsp_staple: bool,
    rsa_key_size: Option<u32>,
    tls_curves: Vec<String>,
    tls_versions: Vec<String>,
}

/// A configuration of a guideline version (`intermediate` of 5.7).
pub struct Profile {
    configuration_name: String,
    version: &'static str,
    configuration: Configuration,
}

/// Every profile name, with its versions: `mozilla-intermediate (5.7, 6.0)`.
pub fn available() -> String {
    let mut names: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (version, text) in GUIDELINES {
        if let Ok(g) = serde_json::from_str::<Guidelines>(text) {
            for name in g.configurations.keys() {
                names
                    .entry(format!("mozilla-{name}"))
                    .or_default()
                    .push(version);
            }
        }
    }
    names
        .iter()
        .map(|(n, v)| format!("{n} ({})", v.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The profile `mozilla-CONFIG` or `mozilla-CONFIG@VERSION` (default: the newest version).
pub fn resolve(name: &str) -> Result<Profile, ProfileError> {
    let unknown = || ProfileError::Unknown {
        name: name.to_string(),
        available: format!("{}; add @VERSION for another version", available()),
    };
    let (base, version) = match name.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    let configuration_name = base.strip_prefix("mozilla-").ok_or_else(unknown)?;
    let &(version, text) = match version {
        Some(v) => GUIDELINES
            .iter()
            .find(|(gv, _)| *gv == v)
            .ok_or_else(unknown)?,
        None => GUIDELINES.last().ok_or_else(unknown)?,
    };
    let mut guidelines: Guidelines =
        serde_json::from_str(text).map_err(|e| ProfileError::Data {
            version: version.to_string(),
            message: e.to_string(),
        })?;
    let configuration = guidelines
        .configurations
        .remove(configuration_name)
        .ok_or_else(unknown)?;
    Ok(Profile {
        configuration_name: configuration_name.to_string(),
        version,
        configuration,
    })
}

fn set(names: &[String], code: impl Fn(&str) -> Option<u16>) -> BTreeSet<u16> {
    names.iter().filter_map(|n| code(n)).collect()
}

impl Profile {
    /// `mozilla-intermediate@5.7`, as outputs name it.
    pub fn full_name(&self) -> String {
        format!("mozilla-{}@{}", self.configuration_name, self.version)
    }

    /// The profile's rules, each scoped to `scope`.
    pub fn rules(&self, scope: &Scope) -> Vec<Rule> {
        let c = &self.configuration;
        let prefix = format!("mozilla-{}", self.configuration_name);
        let origin = Origin::Profile(self.full_name());
        let mut rules = Vec::new();
        let mut add = |aspect: &str, description: String, conditions: Vec<Condition>| {
            rules.push(Rule {
                id: format!("{prefix}/{aspect}"),
                description: Some(description),
                severity: Severity::Error,
                scope: scope.clone(),
                conditions,
                min_connections: 1,
                min_handshakes: 1,
                origin: origin.clone(),
            });
        };
        let versions = set(&c.tls_versions, version_code);
        let mut ciphers = set(&c.ciphers.iana, cipher_code);
        ciphers.extend(set(&c.ciphersuites, cipher_code));
        let groups = set(&c.tls_curves, group_code);
        let name = self.full_name();
        add(
            "versions",
            format!("{name}: tls_versions (negotiated)"),
            vec![Condition::AllowedVersions(versions.clone())],
        );
        add(
            "ciphers",
            format!("{name}: ciphers and ciphersuites (negotiated)"),
            vec![Condition::AllowedCiphers(ciphers.clone())],
        );
        add(
            "groups",
            format!("{name}: tls_curves (key exchange group used)"),
            vec![Condition::AllowedGroups(groups.clone())],
        );
        if let Some(&lowest) = versions.iter().min() {
            add(
                "client-versions",
                format!("{name}: clients offer a version of tls_versions"),
                vec![Condition::OfferedMinVersion(lowest)],
            );
        }
        add(
            "client-ciphers",
            format!("{name}: clients offer a suite of ciphers or ciphersuites"),
            vec![Condition::OfferedOneOfCiphers(ciphers.clone())],
        );
        // Clients need a listed group only when every allowed suite uses one (ECDHE or
        // TLS 1.3); with DHE or RSA key exchange allowed they may offer none.
        let all_need_groups = ciphers.iter().all(|&code| {
            TlsCipherSuite::from_id(code)
                .is_some_and(|s| matches!(s.kx, TlsCipherKx::Ecdhe | TlsCipherKx::Tls13))
        });
        if all_need_groups {
            add(
                "client-groups",
                format!("{name}: clients offer a group of tls_curves"),
                vec![Condition::OfferedOneOfGroups(groups)],
            );
        }
        let key_types = c
            .certificate_types
            .iter()
            .map(|t| {
                if t == "ecdsa" {
                    "ec".to_string()
                } else {
                    t.clone()
                }
            })
            .collect();
        add(
            "certificate-types",
            format!("{name}: certificate_types (leaf key)"),
            vec![Condition::CertificateAllowedKeyTypes(key_types)],
        );
        if let Some(curves) = c.certificate_curves.as_ref().filter(|c| !c.is_empty()) {
            add(
                "certificate-curves",
                format!("{name}: certificate_curves (EC leaf key)"),
                vec![Condition::CertificateAllowedCurves(
                    curves.iter().cloned().collect(),
                )],
            );
        }
        add(
            "certificate-signatures",
            format!("{name}: certificate_signatures (leaf)"),
            vec![Condition::CertificateAllowedSignatureAlgorithms(
                c.certificate_signatures.iter().cloned().collect(),
            )],
        );
        if let Some(bits) = c.rsa_key_size {
            add(
                "certificate-rsa-key-size",
                format!("{name}: rsa_key_size (RSA leaf key)"),
                vec![Condition::CertificateMinRsaBits(bits)],
            );
        }
        if let Some(days) = c.maximum_certificate_lifespan {
            add(
                "certificate-lifespan",
                format!("{name}: maximum_certificate_lifespan (leaf)"),
                vec![Condition::CertificateMaxLifetimeDays(days)],
            );
        }
        if c.ocsp_staple {
            add(
                "ocsp-stapling",
                format!("{name}: ocsp_staple (TLS 1.2 and earlier, when the client asks)"),
                vec![Condition::OcspStapling],
            );
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_of_every_version_maps_completely() {
        for (version, text) in GUIDELINES {
            let g: Guidelines = serde_json::from_str(text).unwrap();
            for (name, c) in &g.configurations {
                let p = resolve(&format!("mozilla-{name}@{version}")).unwrap();
                // Every listed name has a codepoint: nothing of the guideline is dropped.
                assert_eq!(
                    set(&c.tls_versions, version_code).len(),
                    c.tls_versions.len()
                );
                assert_eq!(set(&c.tls_curves, group_code).len(), c.tls_curves.len());
                assert_eq!(
                    set(&c.ciphers.iana, cipher_code).len(),
                    c.ciphers.iana.len()
                );
                assert_eq!(
                    set(&c.ciphersuites, cipher_code).len(),
                    c.ciphersuites.len()
                );
                let rules = p.rules(&Scope::default());
                assert!(
                    rules
                        .iter()
                        .all(|r| r.id.starts_with(&format!("mozilla-{name}/")))
                );
                assert!(rules.len() >= 9, "{name}@{version}: {}", rules.len());
            }
        }
    }

    #[test]
    fn intermediate_allows_tls12_and_13_and_its_ciphers() {
        let p = resolve("mozilla-intermediate@5.7").unwrap();
        assert_eq!(p.full_name(), "mozilla-intermediate@5.7");
        let rules = p.rules(&Scope::default());
        let versions = &rules
            .iter()
            .find(|r| r.id.ends_with("/versions"))
            .unwrap()
            .conditions;
        assert_eq!(
            versions,
            &vec![Condition::AllowedVersions([0x0303, 0x0304].into())]
        );
        let Condition::AllowedCiphers(c) = &rules[1].conditions[0] else {
            panic!("ciphers rule second")
        };
        assert!(c.contains(&0xc02f) && c.contains(&0x1301) && !c.contains(&0x009c));
        assert!(
            !rules.iter().any(|r| r.id.ends_with("/client-groups")),
            "5.7 intermediate allows DHE suites"
        );
        assert_eq!(
            resolve("mozilla-modern").unwrap().version,
            "6.0",
            "newest by default"
        );
    }

    #[test]
    fn unknown_names_list_what_exists() {
        let e = resolve("mozilla-intermediate@4.2")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("mozilla-intermediate (5.7, 6.0)"), "{e}");
        assert!(resolve("nist-strict").is_err());
    }
}
