//! What a diff reports: changes of a named kind about a server, a client, a certificate or
//! all traffic. The kinds are the words `--fail-on` takes.

use serde::Serialize;

/// The kind of a change; `--fail-on` names them (`new-failure-cause,version-downgrade`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// A server appears that the base did not have.
    NewServer,
    /// A server of the base is gone.
    ServerGone,
    /// A failure cause appears for a server.
    NewFailureCause,
    /// A failure cause of the base is gone.
    FailureCauseGone,
    /// A server's failure rate rose by at least `--rate-change`.
    FailureRateIncrease,
    /// A server's failure rate fell by at least `--rate-change`.
    FailureRateDecrease,
    /// A lower version is negotiated than the base's lowest, or the base's highest is gone.
    VersionDowngrade,
    /// A higher version is negotiated than the base's highest.
    VersionUpgrade,
    /// The negotiated versions changed otherwise.
    VersionChange,
    /// The negotiated cipher suites changed.
    CipherChange,
    /// The key-exchange groups used changed.
    GroupChange,
    /// The highest versions clients offer changed.
    OfferedVersionChange,
    /// A handshake-time percentile rose beyond `--latency-change`.
    LatencyRegression,
    /// A handshake-time percentile fell beyond `--latency-change`.
    LatencyImprovement,
    /// The resumption hit rate fell by at least `--rate-change`.
    ResumptionRateDrop,
    /// The resumption hit rate rose by at least `--rate-change`.
    ResumptionRateRise,
    /// A client fingerprint appears.
    NewClient,
    /// A client fingerprint of the base is gone.
    ClientGone,
    /// A client's share of unsuccessful connections rose by at least `--rate-change`.
    ClientFailureIncrease,
    /// A certificate appears (by identity: server, position, subject, issuer).
    CertificateNew,
    /// A certificate of the base is gone.
    CertificateGone,
    /// A certificate's key, signature algorithm or lifetime changed.
    CertificateChanged,
    /// A certificate has a finding it did not have.
    CertificateFindingNew,
    /// A certificate lost a finding.
    CertificateFindingGone,
}

impl ChangeKind {
    /// Every kind, in the order output lists them.
    pub const ALL: [ChangeKind; 24] = [
        ChangeKind::NewServer,
        ChangeKind::ServerGone,
        ChangeKind::NewFailureCause,
        ChangeKind::FailureCauseGone,
        ChangeKind::FailureRateIncrease,
        ChangeKind::FailureRateDecrease,
        ChangeKind::VersionDowngrade,
        ChangeKind::VersionUpgrade,
        ChangeKind::VersionChange,
        ChangeKind::CipherChange,
        ChangeKind::GroupChange,
        ChangeKind::OfferedVersionChange,
        ChangeKind::LatencyRegression,
        ChangeKind::LatencyImprovement,
        ChangeKind::ResumptionRateDrop,
        ChangeKind::ResumptionRateRise,
        ChangeKind::NewClient,
        ChangeKind::ClientGone,
        ChangeKind::ClientFailureIncrease,
        ChangeKind::CertificateNew,
        ChangeKind::CertificateGone,
        ChangeKind::CertificateChanged,
        ChangeKind::CertificateFindingNew,
        ChangeKind::CertificateFindingGone,
    ];

    /// The kinds that make things worse: what `--fail-on regressions` means.
    pub const REGRESSIONS: [ChangeKind; 9] = [
        ChangeKind::ServerGone,
        ChangeKind::NewFailureCause,
        ChangeKind::FailureRateIncrease,
        ChangeKind::VersionDowngrade,
        ChangeKind::LatencyRegression,
        ChangeKind::ResumptionRateDrop,
        ChangeKind::ClientFailureIncrease,
        ChangeKind::CertificateFindingNew,
        ChangeKind::ClientGone,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::NewServer => "new-server",
            ChangeKind::ServerGone => "server-gone",
            ChangeKind::NewFailureCause => "new-failure-cause",
            ChangeKind::FailureCauseGone => "failure-cause-gone",
            ChangeKind::FailureRateIncrease => "failure-rate-increase",
            ChangeKind::FailureRateDecrease => "failure-rate-decrease",
            ChangeKind::VersionDowngrade => "version-downgrade",
            ChangeKind::VersionUpgrade => "version-upgrade",
            ChangeKind::VersionChange => "version-change",
            ChangeKind::CipherChange => "cipher-change",
            ChangeKind::GroupChange => "group-change",
            ChangeKind::OfferedVersionChange => "offered-version-change",
            ChangeKind::LatencyRegression => "latency-regression",
            ChangeKind::LatencyImprovement => "latency-improvement",
            ChangeKind::ResumptionRateDrop => "resumption-rate-drop",
            ChangeKind::ResumptionRateRise => "resumption-rate-rise",
            ChangeKind::NewClient => "new-client",
            ChangeKind::ClientGone => "client-gone",
            ChangeKind::ClientFailureIncrease => "client-failure-increase",
            ChangeKind::CertificateNew => "certificate-new",
            ChangeKind::CertificateGone => "certificate-gone",
            ChangeKind::CertificateChanged => "certificate-changed",
            ChangeKind::CertificateFindingNew => "certificate-finding-new",
            ChangeKind::CertificateFindingGone => "certificate-finding-gone",
        }
    }

    /// Parses a `--fail-on` list: kind names, `regressions`, or `any`.
    pub fn parse_list(text: &str) -> Result<Vec<ChangeKind>, String> {
        let mut out = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "any" => out.extend(ChangeKind::ALL),
                "regressions" => out.extend(ChangeKind::REGRESSIONS),
                _ => out.push(
                    ChangeKind::ALL
                        .into_iter()
                        .find(|k| k.name() == word)
                        .ok_or_else(|| {
                            format!(
                                "unknown change kind '{word}' (any, regressions, {})",
                                ChangeKind::ALL.map(ChangeKind::name).join(", ")
                            )
                        })?,
                ),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// What a change is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Subject {
    /// A server (SNI, else ip:port).
    Server {
        /// Its name.
        name: String,
    },
    /// A client fingerprint.
    Client {
        /// JA4.
        ja4: String,
    },
    /// A certificate by identity.
    Certificate {
        /// Server it was presented for.
        server: String,
        /// `leaf` or `chain`.
        role: String,
        /// Subject.
        subject: String,
        /// Issuer.
        issuer: String,
    },
    /// All traffic (used where one side has only a report, which lacks per-server censuses).
    All,
}

impl Subject {
    /// How the terminal heads it.
    pub fn title(&self) -> String {
        match self {
            Subject::Server { name } => format!("server {name}"),
            Subject::Client { ja4 } => format!("client {ja4}"),
            Subject::Certificate {
                server,
                role,
                subject,
                ..
            } => format!("certificate {subject} ({role} of {server})"),
            Subject::All => "all servers".into(),
        }
    }
}

/// One change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// Its kind.
    pub kind: ChangeKind,
    /// What it is about.
    pub subject: Subject,
    /// The field compared (`versions_negotiated`, `failure_causes`, `latency_us`, …).
    pub field: String,
    /// The base's value, in words.
    pub base: String,
    /// The current value, in words.
    pub current: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_lists() {
        assert_eq!(
            ChangeKind::parse_list("new-failure-cause, version-downgrade").unwrap(),
            vec![ChangeKind::NewFailureCause, ChangeKind::VersionDowngrade]
        );
        assert_eq!(
            ChangeKind::parse_list("any").unwrap().len(),
            ChangeKind::ALL.len()
        );
        assert!(
            ChangeKind::parse_list("regressions")
                .unwrap()
                .contains(&ChangeKind::LatencyRegression)
        );
        let e = ChangeKind::parse_list("latency").unwrap_err();
        assert!(e.contains("unknown change kind 'latency'"), "{e}");
        for k in ChangeKind::ALL {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                k.name(),
                "serde and name agree"
            );
        }
    }
}
