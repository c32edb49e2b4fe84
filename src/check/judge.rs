//! How each condition is judged on observed connections. Most are judged connection by
//! connection, and only where the traffic shows what they speak about (a negotiated suite
//! needs a ServerHello; certificates are visible only where they were sent in the clear;
//! OCSP stapling only where the client asked for it). Rates and percentiles are judged over
//! all of a server's connections in scope.

use crate::aggregate::Latency;
use crate::observed::time::DAY_MICROS;
use crate::observed::{Certificate, Connection, Offer};
use crate::tls::names::{cipher_name, group_is_post_quantum, group_name, version_rank};

use super::condition::{Condition, Percentile, PostQuantum, percent};
use super::names::{
    cipher_is_aead, cipher_is_forward_secret, signature_scheme_name, version_label,
};
use super::verdict::CertificateRef;

/// When certificates are judged.
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    /// A fixed time (`--now`), microseconds since the epoch; `None`: each connection's time.
    pub fixed_us: Option<i64>,
    /// Days before expiry that count as `expiring_soon` when findings are judged again at a
    /// fixed time (`--cert-warn-days`).
    pub warn_days: i64,
}

impl Reference {
    fn at(&self, c: &Connection) -> i64 {
        self.fixed_us.unwrap_or(c.ts_us)
    }
}

/// One offending value found on one connection.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Stable offending value (see `Violation::value`).
    pub value: String,
    /// What varies (days left, a measured time).
    pub detail: Option<String>,
    /// Client fingerprint, for conditions about offers.
    pub client: Option<String>,
    /// The certificate, for certificate conditions.
    pub certificate: Option<CertificateRef>,
    /// The value as this connection showed it (for the example).
    pub shown: String,
}

impl Finding {
    fn new(value: impl Into<String>) -> Finding {
        let value = value.into();
        Finding {
            shown: value.clone(),
            value,
            detail: None,
            client: None,
            certificate: None,
        }
    }

    fn client(mut self, c: &Connection) -> Finding {
        self.client = c.ja4().map(str::to_string);
        self
    }

    fn certificate(mut self, cert: &Certificate) -> Finding {
        self.certificate = Some(CertificateRef {
            sha256: cert.sha256.clone(),
            subject: cert.subject.clone(),
            not_after: cert.not_after.clone(),
        });
        self
    }

    fn detail(mut self, detail: String) -> Finding {
        self.shown = format!("{}: {detail}", self.value);
        self.detail = Some(detail);
        self
    }
}

/// The verdict of one condition on one connection.
pub enum Judgement {
    /// The connection does not show what the condition speaks about.
    NotApplicable,
    /// It held.
    Held,
    /// It was broken, in these ways.
    Broken(Vec<Finding>),
}

fn broken_if(cond: bool, f: impl FnOnce() -> Finding) -> Judgement {
    if cond {
        Judgement::Broken(vec![f()])
    } else {
        Judgement::Held
    }
}

fn all_found(findings: Vec<Finding>) -> Judgement {
    if findings.is_empty() {
        Judgement::Held
    } else {
        Judgement::Broken(findings)
    }
}

/// Whether a condition is judged over all connections (a rate or a percentile).
pub fn is_aggregate(cond: &Condition) -> bool {
    matches!(
        cond,
        Condition::MaxFailureRate(_)
            | Condition::MaxHandshakeMs(..)
            | Condition::MinResumptionRate(_)
    )
}

/// Why a per-connection condition may be judged on fewer connections than are in scope.
pub fn applicability(cond: &Condition) -> &'static str {
    use Condition::*;
    const CLEAR_CERTIFICATES: &str = "needs certificates in the clear: TLS 1.2 and earlier full handshakes (TLS 1.3 encrypts them)";
    match cond {
        MinVersion(_)
        | AllowedVersions(_)
        | ForbiddenVersions(_)
        | AllowedCiphers(_)
        | ForbiddenCiphers(_)
        | ForwardSecrecy
        | Aead
        | ForbidClientRenegotiation
        | MaxRenegotiations(_)
        | PostQuantum(self::PostQuantum::Negotiated) => "needs a ServerHello",
        AllowedGroups(_) | ForbiddenGroups(_) => "needs a key exchange group (ECDHE or TLS 1.3)",
        OcspStapling => {
            "needs a TLS 1.2 or earlier full handshake whose client asked for OCSP \
             (TLS 1.3 encrypts the response)"
        }
        ForbiddenFailureCauses(_) => "judged on every connection",
        SecureRenegotiation => "needs both hellos of TLS 1.2 or earlier",
        ForbiddenCertificateFindings(_) | CertificateMinDaysLeft(_) => CLEAR_CERTIFICATES,
        CertificateMaxLifetimeDays(_)
        | CertificateMinRsaBits(_)
        | CertificateMinEcBits(_)
        | CertificateAllowedKeyTypes(_)
        | CertificateAllowedCurves(_)
        | CertificateAllowedSignatureAlgorithms(_) => {
            "needs a leaf certificate in the clear (TLS 1.2 and earlier full handshakes; TLS 1.3 \
             encrypts it) of the key type concerned"
        }
        _ => "needs a ClientHello",
    }
}

/// Findings of a certificate at the reference time: the record's, with the time-dependent
/// ones (`expired`, `not_yet_valid`, `expiring_soon`) judged again when the time is fixed.
fn findings_at(cert: &Certificate, at: Option<i64>, warn_days: i64) -> Vec<String> {
    let Some(now) = at else {
        return cert.findings.clone();
    };
    let timeless = ["expired", "not_yet_valid", "expiring_soon"];
    let mut out: Vec<String> = cert
        .findings
        .iter()
        .filter(|f| !timeless.contains(&f.as_str()))
        .cloned()
        .collect();
    match (cert.not_before_us(), cert.not_after_us()) {
        (_, Some(after)) if now > after => out.push("expired".into()),
        (Some(before), _) if now < before => out.push("not_yet_valid".into()),
        (_, Some(after)) if after - now < warn_days.saturating_mul(DAY_MICROS) => {
            out.push("expiring_soon".into())
        }
        _ => {}
    }
    out
}

/// Whole days from `at` to the certificate's end of validity (negative once expired).
fn days_left(cert: &Certificate, at: i64) -> Option<i64> {
    Some((cert.not_after_us()? - at).div_euclid(DAY_MICROS))
}

fn offer(c: &Connection) -> Option<&Offer> {
    c.offer.as_deref()
}

/// Judges a per-connection condition on one connection.
pub fn judge_connection(cond: &Condition, c: &Connection, reference: &Reference) -> Judgement {
    use Condition::*;
    let negotiated = |f: &dyn Fn(u16, u16) -> Judgement| match (c.version, c.cipher) {
        (Some(v), Some(s)) => f(v, s),
        _ => Judgement::NotApplicable,
    };
    match cond {
        // Compared by rank, so that DTLS versions (0xfe..) meet a TLS minimum and the reverse.
        MinVersion(min) => negotiated(&|v, _| {
            let min = version_rank(*min).unwrap_or(*min);
            broken_if(version_rank(v).is_none_or(|r| r < min), || {
                Finding::new(version_label(v))
            })
        }),
        AllowedVersions(set) => {
            negotiated(&|v, _| broken_if(!set.contains(&v), || Finding::new(version_label(v))))
        }
        ForbiddenVersions(set) => {
            negotiated(&|v, _| broken_if(set.contains(&v), || Finding::new(version_label(v))))
        }
        AllowedCiphers(set) => {
            negotiated(&|_, s| broken_if(!set.contains(&s), || Finding::new(cipher_name(s))))
        }
        ForbiddenCiphers(set) => {
            negotiated(&|_, s| broken_if(set.contains(&s), || Finding::new(cipher_name(s))))
        }
        ForwardSecrecy => negotiated(&|_, s| {
            broken_if(!cipher_is_forward_secret(s), || {
                Finding::new(cipher_name(s))
            })
        }),
        Aead => negotiated(&|_, s| broken_if(!cipher_is_aead(s), || Finding::new(cipher_name(s)))),
        AllowedGroups(set) | ForbiddenGroups(set) => match c.group {
            None => Judgement::NotApplicable,
            Some(g) => {
                let allowed = matches!(cond, AllowedGroups(_));
                broken_if(set.contains(&g) != allowed, || Finding::new(group_name(g)))
            }
        },
        PostQuantum(self::PostQuantum::Negotiated) => negotiated(&|_, _| {
            let pq = c.group.is_some_and(group_is_post_quantum);
            broken_if(!pq, || {
                Finding::new(c.group.map_or_else(
                    || "no key exchange group".to_string(),
                    |g| group_name(g).into_owned(),
                ))
            })
        }),
        PostQuantum(self::PostQuantum::Offered) => match offer(c) {
            None => Judgement::NotApplicable,
            Some(o) => broken_if(!o.groups.iter().any(|&g| group_is_post_quantum(g)), || {
                Finding::new("no post-quantum group offered").client(c)
            }),
        },
        OcspStapling => {
            let full_tls12 = c
                .version
                .and_then(version_rank)
                .is_some_and(|v| v <= 0x0303)
                && !c.certificates.is_empty();
            match offer(c) {
                Some(o) if full_tls12 && o.requests_ocsp() => {
                    broken_if(!c.ocsp_stapled, || Finding::new("no OCSP response stapled"))
                }
                _ => Judgement::NotApplicable,
            }
        }
        OfferedMinVersion(min) => match offer(c) {
            None => Judgement::NotApplicable,
            Some(o) => {
                let highest = o.highest_version();
                let min = version_rank(*min).unwrap_or(*min);
                let rank = highest.and_then(version_rank);
                broken_if(rank.is_none_or(|h| h < min), || {
                    let v = highest.map_or_else(|| "none".to_string(), version_label);
                    Finding::new(format!("highest offered {v}")).client(c)
                })
            }
        },
        OfferedForbiddenVersions(set) => offered(c, &|o| &o.versions, set, true, &version_label),
        OfferedForbiddenCiphers(set) => offered(c, &|o| &o.cipher_suites, set, true, &|s| {
            cipher_name(s).into_owned()
        }),
        OfferedForbiddenGroups(set) => offered(c, &|o| &o.groups, set, true, &|g| {
            group_name(g).into_owned()
        }),
        OfferedForbiddenSignatureSchemes(set) => {
            offered(c, &|o| &o.sig_algs, set, true, &signature_scheme_name)
        }
        OfferedAllowedSignatureSchemes(set) => {
            offered(c, &|o| &o.sig_algs, set, false, &signature_scheme_name)
        }
        OfferedOneOfCiphers(set) => one_of(c, &|o| &o.cipher_suites, set, "suites"),
        OfferedOneOfGroups(set) => one_of(c, &|o| &o.groups, set, "groups"),
        ForbiddenClientFingerprints(globs) => match offer(c) {
            None => Judgement::NotApplicable,
            Some(o) => {
                let hit = globs.iter().any(|g| {
                    o.ja4.as_deref().is_some_and(|j| g.matches(j))
                        || o.ja3.as_deref().is_some_and(|j| g.matches(j))
                });
                broken_if(hit, || {
                    let id = o.ja4.as_deref().or(o.ja3.as_deref()).unwrap_or("?");
                    Finding::new(format!("fingerprint {id}")).client(c)
                })
            }
        },
        ForbiddenFailureCauses(set) => match &c.failure_cause {
            Some(cause) if set.contains(&**cause) => {
                Judgement::Broken(vec![Finding::new(&**cause)])
            }
            _ => Judgement::Held,
        },
        ForbidClientRenegotiation => negotiated(&|_, _| {
            broken_if(c.client_renegotiations > 0, || {
                Finding::new("client-initiated renegotiation")
                    .detail(format!("{} on this connection", c.client_renegotiations))
            })
        }),
        MaxRenegotiations(max) => negotiated(&|_, _| {
            broken_if(c.renegotiations > *max, || {
                Finding::new(format!("more than {max} renegotiations"))
                    .detail(format!("{} on this connection", c.renegotiations))
            })
        }),
        SecureRenegotiation => match c.secure_renegotiation {
            None => Judgement::NotApplicable,
            Some(secure) => broken_if(!secure, || Finding::new("no RFC 5746 secure renegotiation")),
        },
        ForbiddenCertificateFindings(set) => chain(c, &|cert| {
            findings_at(cert, reference.fixed_us, reference.warn_days)
                .into_iter()
                .filter(|f| set.contains(f))
                .map(|f| {
                    let finding = Finding::new(f).certificate(cert);
                    match &cert.not_after {
                        Some(after) => finding.detail(format!("not after {after}")),
                        None => finding,
                    }
                })
                .collect()
        }),
        CertificateMinDaysLeft(min) => chain(c, &|cert| match days_left(cert, reference.at(c)) {
            Some(left) if left < *min => vec![
                Finding::new(format!("valid fewer than {min} more days"))
                    .certificate(cert)
                    .detail(if left < 0 {
                        format!("expired {} days before", -left)
                    } else {
                        format!("{left} days left")
                    }),
            ],
            _ => Vec::new(),
        }),
        CertificateMaxLifetimeDays(max) => leaf(c, &|cert| {
            let (before, after) = (cert.not_before_us()?, cert.not_after_us()?);
            let lifetime = after - before;
            let days = (lifetime + DAY_MICROS - 1).div_euclid(DAY_MICROS);
            Some(broken_if(lifetime > max.saturating_mul(DAY_MICROS), || {
                Finding::new(format!("lifetime over {max} days"))
                    .certificate(cert)
                    .detail(format!("{days} days"))
            }))
        }),
        CertificateMinRsaBits(min) | CertificateMinEcBits(min) => leaf(c, &|cert| {
            let want = if matches!(cond, CertificateMinRsaBits(_)) {
                "rsa"
            } else {
                "ec"
            };
            let bits = cert.key_bits?;
            (cert.key_type.as_deref()? == want).then(|| {
                broken_if(bits < *min, || {
                    Finding::new(format!("{want} key of {bits} bits")).certificate(cert)
                })
            })
        }),
        CertificateAllowedKeyTypes(set) => leaf(c, &|cert| {
            let t = cert.key_type.as_deref()?;
            Some(broken_if(!set.contains(t), || {
                Finding::new(format!("key type {t}")).certificate(cert)
            }))
        }),
        CertificateAllowedCurves(set) => leaf(c, &|cert| {
            let curve = cert.key_curve.as_deref()?;
            Some(broken_if(!set.contains(curve), || {
                Finding::new(format!("curve {curve}")).certificate(cert)
            }))
        }),
        CertificateAllowedSignatureAlgorithms(set) => leaf(c, &|cert| {
            let alg = cert.signature_algorithm.as_deref()?;
            Some(broken_if(!set.contains(alg), || {
                Finding::new(format!("signed with {alg}")).certificate(cert)
            }))
        }),
        MaxFailureRate(_) | MaxHandshakeMs(..) | MinResumptionRate(_) => Judgement::NotApplicable,
    }
}

/// `forbidden` (any listed value offered breaks) or allowed (any value outside the list
/// breaks), one finding per offending value; GREASE is never judged.
fn offered(
    c: &Connection,
    list: &dyn Fn(&Offer) -> &Vec<u16>,
    set: &std::collections::BTreeSet<u16>,
    forbidden: bool,
    name: &dyn Fn(u16) -> String,
) -> Judgement {
    let Some(o) = offer(c) else {
        return Judgement::NotApplicable;
    };
    let mut bad: Vec<u16> = Offer::without_grease(list(o))
        .filter(|v| set.contains(v) == forbidden)
        .collect();
    bad.sort_unstable();
    bad.dedup();
    all_found(
        bad.into_iter()
            .map(|v| Finding::new(format!("offers {}", name(v))).client(c))
            .collect(),
    )
}

/// At least one listed value offered.
fn one_of(
    c: &Connection,
    list: &dyn Fn(&Offer) -> &Vec<u16>,
    set: &std::collections::BTreeSet<u16>,
    what: &str,
) -> Judgement {
    let Some(o) = offer(c) else {
        return Judgement::NotApplicable;
    };
    let offered: Vec<u16> = Offer::without_grease(list(o)).collect();
    broken_if(!offered.iter().any(|v| set.contains(v)), || {
        let value = if offered.is_empty() {
            format!("offers no {what}")
        } else {
            format!("offers none of the allowed {what}")
        };
        Finding::new(value).client(c)
    })
}

/// Judges every certificate of the chain as sent.
fn chain(c: &Connection, judge: &dyn Fn(&Certificate) -> Vec<Finding>) -> Judgement {
    if c.certificates.is_empty() {
        return Judgement::NotApplicable;
    }
    all_found(c.certificates.iter().flat_map(|cert| judge(cert)).collect())
}

/// Judges the leaf; `None` from `judge` means the leaf does not show what it speaks about.
fn leaf(c: &Connection, judge: &dyn Fn(&Certificate) -> Option<Judgement>) -> Judgement {
    c.certificates
        .first()
        .and_then(|cert| judge(cert))
        .unwrap_or(Judgement::NotApplicable)
}

/// The verdict of a rate or percentile over a server's connections.
pub struct AggregateJudgement {
    /// Connections (or samples) it was judged over; 0 when not judged.
    pub judged: u64,
    /// Why not judged, or on what.
    pub note: Option<String>,
    /// The violation, with the connections to show as examples (most telling first).
    pub broken: Option<(Finding, Vec<(usize, String)>)>,
}

fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// How many of `conns` a rate is over (`counted`), and which of those count against it
/// (`bad`, as indices); why it is not judged when fewer than `min` are counted.
fn population(
    conns: &[&Connection],
    counted: impl Fn(&Connection) -> bool,
    bad: impl Fn(&Connection) -> bool,
    what: &str,
    min: u64,
) -> Result<(u64, Vec<usize>), String> {
    let counted: Vec<usize> = (0..conns.len()).filter(|&i| counted(conns[i])).collect();
    let n = counted.len() as u64;
    if n < min {
        return Err(format!("{n} {what} (fewer than min_connections = {min})"));
    }
    Ok((n, counted.into_iter().filter(|&i| bad(conns[i])).collect()))
}

/// Judges a rate or percentile condition over `conns` (indices in examples refer to it).
pub fn judge_aggregate(
    cond: &Condition,
    conns: &[&Connection],
    min_connections: u64,
    min_handshakes: u64,
) -> AggregateJudgement {
    let not_judged = |note: String| AggregateJudgement {
        judged: 0,
        note: Some(note),
        broken: None,
    };
    match cond {
        Condition::MaxFailureRate(max) => {
            let (n, failed) = match population(
                conns,
                |c| &*c.outcome != "incomplete",
                |c| matches!(&*c.outcome, "failed" | "no_response"),
                "connections that ended",
                min_connections,
            ) {
                Ok(counts) => counts,
                Err(note) => return not_judged(note),
            };
            let rate = failed.len() as f64 / n as f64;
            AggregateJudgement {
                judged: n,
                note: Some(
                    "connections still in their handshake when the capture ended are \
                            not counted"
                        .into(),
                ),
                broken: (rate > *max).then(|| {
                    let finding = Finding::new(format!("failure rate above {}", percent(*max)))
                        .detail(format!(
                            "{} of {n} connections failed ({})",
                            failed.len(),
                            percent(rate)
                        ));
                    let examples = failed
                        .iter()
                        .map(|&i| {
                            let c = conns[i];
                            let why = c.failure_cause.as_deref().unwrap_or(&c.outcome);
                            (i, why.to_string())
                        })
                        .collect();
                    (finding, examples)
                }),
            }
        }
        Condition::MaxHandshakeMs(p, bound_ms) => {
            let samples: Vec<(usize, u64)> = (0..conns.len())
                .filter_map(|i| conns[i].handshake_us.map(|us| (i, us)))
                .collect();
            let n = samples.len() as u64;
            if n < min_handshakes {
                return not_judged(format!(
                    "{n} completed handshakes (fewer than min_handshakes = {min_handshakes})"
                ));
            }
            // The same histogram as the report's, so the figure matches its percentiles.
            let mut latency = Latency::default();
            for &(_, us) in &samples {
                latency.record(i64::try_from(us).unwrap_or(i64::MAX));
            }
            let q = latency.percentiles();
            let value = match p {
                Percentile::P50 => q.p50,
                Percentile::P90 => q.p90,
                Percentile::P95 => q.p95,
                Percentile::P99 => q.p99,
                Percentile::Max => q.max,
            };
            let bound_us = bound_ms * 1000.0;
            AggregateJudgement {
                judged: n,
                note: None,
                broken: (value as f64 > bound_us).then(|| {
                    let finding = Finding::new(format!("{} above {bound_ms} ms", p.name()))
                        .detail(format!("{} {} over {n} handshakes", p.name(), ms(value)));
                    let mut slow: Vec<(usize, u64)> = samples
                        .iter()
                        .copied()
                        .filter(|&(_, us)| us as f64 > bound_us)
                        .collect();
                    slow.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                    let examples = slow.into_iter().map(|(i, us)| (i, ms(us))).collect();
                    (finding, examples)
                }),
            }
        }
        Condition::MinResumptionRate(min) => {
            let (n, missed) = match population(
                conns,
                |c| c.resumption_offered,
                |c| !c.resumed,
                "resumption attempts",
                min_connections,
            ) {
                Ok(counts) => counts,
                Err(note) => return not_judged(note),
            };
            let rate = (n - missed.len() as u64) as f64 / n as f64;
            AggregateJudgement {
                judged: n,
                note: None,
                broken: (rate < *min).then(|| {
                    let finding = Finding::new(format!("resumption rate below {}", percent(*min)))
                        .detail(format!(
                            "{} of {n} attempts resumed ({})",
                            n - missed.len() as u64,
                            percent(rate)
                        ));
                    let examples = missed
                        .into_iter()
                        .map(|i| (i, "resumption offered, full handshake".to_string()))
                        .collect();
                    (finding, examples)
                }),
            }
        }
        _ => not_judged("not a rate or percentile".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before: &str, not_after: &str, findings: &[&str]) -> Certificate {
        Certificate {
            not_before: Some(not_before.into()),
            not_after: Some(not_after.into()),
            findings: findings.iter().map(|s| s.to_string()).collect(),
            ..Certificate::default()
        }
    }

    #[test]
    fn time_findings_are_judged_again_at_a_fixed_time() {
        let c = cert(
            "2026-01-01T00:00:00Z",
            "2026-04-01T00:00:00Z",
            &["self_signed"],
        );
        let t = |s| crate::observed::time::parse_rfc3339(s);
        assert_eq!(findings_at(&c, None, 30), vec!["self_signed"]);
        assert_eq!(
            findings_at(&c, t("2026-05-01T00:00:00Z"), 30),
            vec!["self_signed", "expired"]
        );
        assert_eq!(
            findings_at(&c, t("2026-03-15T00:00:00Z"), 30),
            vec!["self_signed", "expiring_soon"]
        );
        assert_eq!(
            findings_at(&c, t("2025-12-01T00:00:00Z"), 30),
            vec!["self_signed", "not_yet_valid"]
        );
        assert_eq!(days_left(&c, t("2026-03-31T12:00:00Z").unwrap()), Some(0));
        assert_eq!(days_left(&c, t("2026-04-02T00:00:00Z").unwrap()), Some(-1));
    }
}
