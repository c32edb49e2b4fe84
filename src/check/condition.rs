//! The conditions a rule can state, each about one thing observed traffic shows. Their names
//! are the policy file's keys and appear in every verdict, so a violation always says which
//! condition it broke.

use std::collections::BTreeSet;

use super::glob::Glob;
use super::names::{signature_scheme_name, version_label};
use crate::tls::names::{cipher_name, group_name};

/// A latency percentile a rule can bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Percentile {
    /// Median.
    P50,
    /// 90th.
    P90,
    /// 95th.
    P95,
    /// 99th.
    P99,
    /// Largest sample.
    Max,
}

impl Percentile {
    /// The quantile (1.0 for the maximum).
    pub fn quantile(self) -> f64 {
        match self {
            Percentile::P50 => 0.50,
            Percentile::P90 => 0.90,
            Percentile::P95 => 0.95,
            Percentile::P99 => 0.99,
            Percentile::Max => 1.0,
        }
    }

    /// `p95`, as the policy and the report write it.
    pub fn name(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
            Percentile::Max => "max",
        }
    }
}

/// Where a post-quantum group is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostQuantum {
    /// The client must offer one.
    Offered,
    /// The handshake must use one.
    Negotiated,
}

/// One condition of a rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The negotiated version is at least this.
    MinVersion(u16),
    /// The negotiated version is one of these.
    AllowedVersions(BTreeSet<u16>),
    /// The negotiated version is none of these.
    ForbiddenVersions(BTreeSet<u16>),
    /// The negotiated cipher suite is one of these.
    AllowedCiphers(BTreeSet<u16>),
    /// The negotiated cipher suite is none of these.
    ForbiddenCiphers(BTreeSet<u16>),
    /// The key-exchange group used is one of these.
    AllowedGroups(BTreeSet<u16>),
    /// The key-exchange group used is none of these.
    ForbiddenGroups(BTreeSet<u16>),
    /// The negotiated suite has forward secrecy.
    ForwardSecrecy,
    /// The negotiated suite is an AEAD.
    Aead,
    /// A post-quantum group is offered or used.
    PostQuantum(PostQuantum),
    /// The server staples an OCSP response when the client asks for one.
    OcspStapling,
    /// The highest version the client offers is at least this.
    OfferedMinVersion(u16),
    /// The client offers none of these versions.
    OfferedForbiddenVersions(BTreeSet<u16>),
    /// The client offers none of these suites.
    OfferedForbiddenCiphers(BTreeSet<u16>),
    /// The client offers at least one of these suites.
    OfferedOneOfCiphers(BTreeSet<u16>),
    /// The client offers none of these groups.
    OfferedForbiddenGroups(BTreeSet<u16>),
    /// The client offers at least one of these groups.
    OfferedOneOfGroups(BTreeSet<u16>),
    /// The client offers none of these signature schemes.
    OfferedForbiddenSignatureSchemes(BTreeSet<u16>),
    /// The client offers only these signature schemes.
    OfferedAllowedSignatureSchemes(BTreeSet<u16>),
    /// No client with one of these fingerprints (JA4 or JA3 globs).
    ForbiddenClientFingerprints(Vec<Glob>),
    /// At most this fraction of the connections fail (or get no response).
    MaxFailureRate(f64),
    /// No connection fails for one of these causes.
    ForbiddenFailureCauses(BTreeSet<String>),
    /// No certificate of the chain has one of these findings.
    ForbiddenCertificateFindings(BTreeSet<String>),
    /// Every certificate of the chain is valid at least this many more days.
    CertificateMinDaysLeft(i64),
    /// The leaf is valid at most this many days in all.
    CertificateMaxLifetimeDays(i64),
    /// An RSA leaf key has at least this many bits.
    CertificateMinRsaBits(u32),
    /// An EC leaf key has at least this many bits.
    CertificateMinEcBits(u32),
    /// The leaf key is of one of these types (`rsa`, `ec`, `ed25519`, …).
    CertificateAllowedKeyTypes(BTreeSet<String>),
    /// An EC leaf key is on one of these curves.
    CertificateAllowedCurves(BTreeSet<String>),
    /// The leaf is signed with one of these algorithms.
    CertificateAllowedSignatureAlgorithms(BTreeSet<String>),
    /// The handshake-time percentile (ClientHello → done) is at most this many milliseconds.
    MaxHandshakeMs(Percentile, f64),
    /// At least this fraction of resumption attempts succeed.
    MinResumptionRate(f64),
    /// Clients do not renegotiate.
    ForbidClientRenegotiation,
    /// At most this many renegotiations per connection.
    MaxRenegotiations(u64),
    /// Both sides support RFC 5746 secure renegotiation.
    SecureRenegotiation,
}

fn list(codes: &BTreeSet<u16>, name: impl Fn(u16) -> String) -> String {
    codes
        .iter()
        .map(|&c| name(c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn words(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn cipher(code: u16) -> String {
    cipher_name(code).into_owned()
}

fn group(code: u16) -> String {
    group_name(code).into_owned()
}

impl Condition {
    /// The policy key that states it.
    pub fn key(&self) -> &'static str {
        match self {
            Condition::MinVersion(_) => "min_version",
            Condition::AllowedVersions(_) => "allowed_versions",
            Condition::ForbiddenVersions(_) => "forbidden_versions",
            Condition::AllowedCiphers(_) => "allowed_ciphers",
            Condition::ForbiddenCiphers(_) => "forbidden_ciphers",
            Condition::AllowedGroups(_) => "allowed_groups",
            Condition::ForbiddenGroups(_) => "forbidden_groups",
            Condition::ForwardSecrecy => "forward_secrecy",
            Condition::Aead => "aead",
            Condition::PostQuantum(_) => "post_quantum",
            Condition::OcspStapling => "ocsp_stapling",
            Condition::OfferedMinVersion(_) => "offered_min_version",
            Condition::OfferedForbiddenVersions(_) => "offered_forbidden_versions",
            Condition::OfferedForbiddenCiphers(_) => "offered_forbidden_ciphers",
            Condition::OfferedOneOfCiphers(_) => "offered_one_of_ciphers",
            Condition::OfferedForbiddenGroups(_) => "offered_forbidden_groups",
            Condition::OfferedOneOfGroups(_) => "offered_one_of_groups",
            Condition::OfferedForbiddenSignatureSchemes(_) => "offered_forbidden_signature_schemes",
            Condition::OfferedAllowedSignatureSchemes(_) => "offered_allowed_signature_schemes",
            Condition::ForbiddenClientFingerprints(_) => "forbidden_client_fingerprints",
            Condition::MaxFailureRate(_) => "max_failure_rate",
            Condition::ForbiddenFailureCauses(_) => "forbidden_failure_causes",
            Condition::ForbiddenCertificateFindings(_) => "forbidden_certificate_findings",
            Condition::CertificateMinDaysLeft(_) => "certificate_min_days_left",
            Condition::CertificateMaxLifetimeDays(_) => "certificate_max_lifetime_days",
            Condition::CertificateMinRsaBits(_) => "certificate_min_rsa_bits",
            Condition::CertificateMinEcBits(_) => "certificate_min_ec_bits",
            Condition::CertificateAllowedKeyTypes(_) => "certificate_allowed_key_types",
            Condition::CertificateAllowedCurves(_) => "certificate_allowed_curves",
            Condition::CertificateAllowedSignatureAlgorithms(_) => {
                "certificate_allowed_signature_algorithms"
            }
            Condition::MaxHandshakeMs(..) => "max_handshake_ms",
            Condition::MinResumptionRate(_) => "min_resumption_rate",
            Condition::ForbidClientRenegotiation => "forbid_client_renegotiation",
            Condition::MaxRenegotiations(_) => "max_renegotiations",
            Condition::SecureRenegotiation => "secure_renegotiation",
        }
    }

    /// One sentence saying what must hold.
    pub fn describe(&self) -> String {
        match self {
            Condition::MinVersion(v) => {
                format!("negotiated version at least {}", version_label(*v))
            }
            Condition::AllowedVersions(v) => {
                format!("negotiated version one of {}", list(v, version_label))
            }
            Condition::ForbiddenVersions(v) => {
                format!("negotiated version none of {}", list(v, version_label))
            }
            Condition::AllowedCiphers(c) => {
                format!("negotiated cipher suite one of {}", list(c, cipher))
            }
            Condition::ForbiddenCiphers(c) => {
                format!("negotiated cipher suite none of {}", list(c, cipher))
            }
            Condition::AllowedGroups(g) => format!("key exchange group one of {}", list(g, group)),
            Condition::ForbiddenGroups(g) => {
                format!("key exchange group none of {}", list(g, group))
            }
            Condition::ForwardSecrecy => "negotiated cipher suite is forward secret".into(),
            Condition::Aead => "negotiated cipher suite is an AEAD".into(),
            Condition::PostQuantum(PostQuantum::Offered) => {
                "client offers a post-quantum key exchange group".into()
            }
            Condition::PostQuantum(PostQuantum::Negotiated) => {
                "handshake uses a post-quantum key exchange group".into()
            }
            Condition::OcspStapling => {
                "server staples an OCSP response when the client asks for one".into()
            }
            Condition::OfferedMinVersion(v) => {
                format!("client offers {} or later", version_label(*v))
            }
            Condition::OfferedForbiddenVersions(v) => {
                format!("client offers none of {}", list(v, version_label))
            }
            Condition::OfferedForbiddenCiphers(c) => {
                format!("client offers none of {}", list(c, cipher))
            }
            Condition::OfferedOneOfCiphers(c) => {
                format!("client offers at least one of {}", list(c, cipher))
            }
            Condition::OfferedForbiddenGroups(g) => {
                format!("client offers none of {}", list(g, group))
            }
            Condition::OfferedOneOfGroups(g) => {
                format!("client offers at least one of {}", list(g, group))
            }
            Condition::OfferedForbiddenSignatureSchemes(s) => {
                format!("client offers none of {}", list(s, signature_scheme_name))
            }
            Condition::OfferedAllowedSignatureSchemes(s) => {
                format!("client offers only {}", list(s, signature_scheme_name))
            }
            Condition::ForbiddenClientFingerprints(g) => format!(
                "no client fingerprint matches {}",
                g.iter().map(Glob::as_str).collect::<Vec<_>>().join(", ")
            ),
            Condition::MaxFailureRate(r) => {
                format!("at most {} of connections fail", percent(*r))
            }
            Condition::ForbiddenFailureCauses(c) => format!("no failure caused by {}", words(c)),
            Condition::ForbiddenCertificateFindings(f) => {
                format!("no certificate with finding {}", words(f))
            }
            Condition::CertificateMinDaysLeft(d) => {
                format!("every certificate valid at least {d} more days")
            }
            Condition::CertificateMaxLifetimeDays(d) => {
                format!("leaf certificate lifetime at most {d} days")
            }
            Condition::CertificateMinRsaBits(b) => format!("RSA leaf key at least {b} bits"),
            Condition::CertificateMinEcBits(b) => format!("EC leaf key at least {b} bits"),
            Condition::CertificateAllowedKeyTypes(t) => {
                format!("leaf key type one of {}", words(t))
            }
            Condition::CertificateAllowedCurves(c) => {
                format!("EC leaf key curve one of {}", words(c))
            }
            Condition::CertificateAllowedSignatureAlgorithms(s) => {
                format!("leaf signed with one of {}", words(s))
            }
            Condition::MaxHandshakeMs(p, ms) => {
                format!(
                    "{} handshake time (ClientHello to done) at most {ms} ms",
                    p.name()
                )
            }
            Condition::MinResumptionRate(r) => {
                format!("at least {} of resumption attempts succeed", percent(*r))
            }
            Condition::ForbidClientRenegotiation => "no client-initiated renegotiation".into(),
            Condition::MaxRenegotiations(n) => format!("at most {n} renegotiations per connection"),
            Condition::SecureRenegotiation => {
                "RFC 5746 secure renegotiation supported by both sides".into()
            }
        }
    }
}

/// `5%`, `0.5%`, `33.3%`.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}%", p.round())
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_in_words() {
        assert_eq!(
            Condition::MinVersion(0x0303).describe(),
            "negotiated version at least TLSv1.2"
        );
        assert_eq!(
            Condition::AllowedCiphers([0x1301, 0xc02f].into()).describe(),
            "negotiated cipher suite one of TLS_AES_128_GCM_SHA256, \
             TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(
            Condition::MaxFailureRate(0.05).describe(),
            "at most 5% of connections fail"
        );
        assert_eq!(percent(1.0 / 3.0), "33.3%");
        assert_eq!(
            Condition::MaxHandshakeMs(Percentile::P95, 200.0).key(),
            "max_handshake_ms"
        );
    }
}
