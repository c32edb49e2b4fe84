//! Certificate findings, judged for each connection at capture time (never by the wall clock):
//! validity, the SNI against the leaf (RFC 6125), the chain's order and completeness, weak keys
//! and signatures.

use std::sync::Arc;

use smallvec::SmallVec;

use super::{ChainCert, FactsConfig};
use crate::flow::Timestamp;
use crate::tls::Certificate;

/// What is wrong with a certificate, judged at capture time. Declared in the order of their
/// names, so that sorted lists of findings read alphabetically.
/// Read back by name from a report's merge state (written by name in `output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// The chain has a gap: a certificate's issuer is not sent (the root aside).
    ChainIncomplete,
    /// The chain is sent in the wrong order.
    ChainOutOfOrder,
    /// Validity has ended.
    Expired,
    /// Validity ends within the warning period (`--cert-warn-days`).
    ExpiringSoon,
    /// Validity has not begun.
    NotYetValid,
    /// Subject equals issuer.
    SelfSigned,
    /// The leaf does not cover the SNI (RFC 6125).
    SniMismatch,
    /// The DER did not parse.
    Unparsable,
    /// The leaf's validity is longer than 398 days.
    ValidityTooLong,
    /// RSA or DSA below 2048 bits, EC below 256.
    WeakKey,
    /// Signed with SHA-1 or MD5 (MD2).
    WeakSignature,
}

impl Finding {
    /// Every finding, in declaration (= name) order.
    pub const ALL: [Finding; 11] = [
        Finding::ChainIncomplete,
        Finding::ChainOutOfOrder,
        Finding::Expired,
        Finding::ExpiringSoon,
        Finding::NotYetValid,
        Finding::SelfSigned,
        Finding::SniMismatch,
        Finding::Unparsable,
        Finding::ValidityTooLong,
        Finding::WeakKey,
        Finding::WeakSignature,
    ];

    /// snake_case name used in every output.
    pub fn name(self) -> &'static str {
        match self {
            Finding::ChainIncomplete => "chain_incomplete",
            Finding::ChainOutOfOrder => "chain_out_of_order",
            Finding::Expired => "expired",
            Finding::ExpiringSoon => "expiring_soon",
            Finding::NotYetValid => "not_yet_valid",
            Finding::SelfSigned => "self_signed",
            Finding::SniMismatch => "sni_mismatch",
            Finding::Unparsable => "unparsable",
            Finding::ValidityTooLong => "validity_too_long",
            Finding::WeakKey => "weak_key",
            Finding::WeakSignature => "weak_signature",
        }
    }

    /// Whether the finding depends on the connection (the name asked for, the chain sent with
    /// it) rather than on the certificate itself.
    pub fn is_per_connection(self) -> bool {
        matches!(
            self,
            Finding::SniMismatch | Finding::ChainIncomplete | Finding::ChainOutOfOrder
        )
    }

    /// Whether the finding is about the end of validity (expired, or soon).
    pub fn is_expiry(self) -> bool {
        matches!(self, Finding::Expired | Finding::ExpiringSoon)
    }
}

const DAY_SECS: i64 = 86_400;

/// Judges each certificate of a chain at capture time `at`; `sni` is checked against the leaf.
pub(super) fn judge_chain(
    chain: Vec<Arc<Certificate>>,
    sni: Option<&str>,
    at: Timestamp,
    cfg: &FactsConfig,
) -> Vec<ChainCert> {
    let now = at.0.div_euclid(1_000_000_000);
    let n = chain.len();
    let mut out: Vec<ChainCert> = Vec::with_capacity(n);
    for (i, cert) in chain.iter().enumerate() {
        let mut findings = SmallVec::new();
        if cert.parse_error.is_some() {
            findings.push(Finding::Unparsable);
            out.push(ChainCert {
                cert: Arc::clone(cert),
                findings,
            });
            continue;
        }
        let leaf = i == 0;
        if now > cert.not_after {
            findings.push(Finding::Expired);
        } else if now < cert.not_before {
            findings.push(Finding::NotYetValid);
        } else if cert.not_after - now < cfg.cert_warn_days * DAY_SECS {
            findings.push(Finding::ExpiringSoon);
        }
        if leaf {
            if let Some(name) = sni
                && !name_matches(cert, name)
            {
                findings.push(Finding::SniMismatch);
            }
            if cert.self_signed {
                findings.push(Finding::SelfSigned);
            }
            if cert.not_after - cert.not_before > 398 * DAY_SECS {
                findings.push(Finding::ValidityTooLong);
            }
        }
        // Each certificate should be issued by the next one; the root may be left out.
        match chain.get(i + 1) {
            Some(next) if next.subject != cert.issuer => {
                if chain.iter().any(|c| c.subject == cert.issuer) {
                    findings.push(Finding::ChainOutOfOrder);
                } else {
                    findings.push(Finding::ChainIncomplete);
                }
            }
            None if leaf && !cert.self_signed => findings.push(Finding::ChainIncomplete),
            _ => {}
        }
        let weak_key = match (cert.key_type.as_str(), cert.key_bits) {
            ("rsa" | "dsa", Some(bits)) => bits < 2048,
            ("ec", Some(bits)) => bits < 256,
            _ => false,
        };
        if weak_key {
            findings.push(Finding::WeakKey);
        }
        let sig = cert.signature_algorithm.to_ascii_lowercase();
        if !cert.self_signed && (sig.contains("sha1") || sig.contains("md5") || sig.contains("md2"))
        {
            findings.push(Finding::WeakSignature);
        }
        out.push(ChainCert {
            cert: Arc::clone(cert),
            findings,
        });
    }
    out
}

/// RFC 6125 name matching: SAN DNS names (else the subject CN), case-insensitive, a wildcard
/// only as the whole left-most label and matching exactly one label.
pub fn name_matches(cert: &Certificate, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if name.parse::<std::net::IpAddr>().is_ok() {
        return cert.san_ip.iter().any(|ip| ip == name);
    }
    let patterns: &[String] = if cert.san_dns.is_empty() {
        &cert.subject_cn
    } else {
        &cert.san_dns
    };
    patterns.iter().any(|p| dns_pattern_matches(p, name))
}

fn dns_pattern_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    if let Some(rest) = pattern.strip_prefix("*.") {
        // The wildcard stands for exactly one non-empty label; the rest must have two labels
        // at least so that `*.com` matches nothing.
        if !rest.contains('.') {
            return false;
        }
        return match name.split_once('.') {
            Some((label, tail)) => !label.is_empty() && tail.eq_ignore_ascii_case(rest),
            None => false,
        };
    }
    pattern.eq_ignore_ascii_case(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_declared_in_name_order() {
        let names: Vec<&str> = Finding::ALL.iter().map(|f| f.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(Finding::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn certificate_findings_at_capture_time() {
        let day = DAY_SECS;
        let leaf = Arc::new(Certificate {
            subject: "CN=leaf".into(),
            issuer: "CN=ca".into(),
            san_dns: vec!["other.test".into()],
            not_before: 0,
            not_after: 100 * day,
            key_type: "rsa".into(),
            key_bits: Some(1024),
            signature_algorithm: "sha1WithRSAEncryption".into(),
            ..Default::default()
        });
        let judged = judge_chain(
            vec![leaf],
            Some("www.example.test"),
            Timestamp::from_parts(80 * day, 0),
            &FactsConfig::default(),
        );
        assert_eq!(
            judged[0].findings[..],
            [
                Finding::ExpiringSoon,
                Finding::SniMismatch,
                Finding::ChainIncomplete,
                Finding::WeakKey,
                Finding::WeakSignature
            ]
        );
    }
}
