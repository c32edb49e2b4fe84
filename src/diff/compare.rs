//! Compares two snapshots. Counts are compared as shares (two recordings rarely hold the
//! same number of connections), latencies only beyond a relative and an absolute threshold,
//! and nothing that a re-recording changes by itself (ports, times, serials) is looked at.

use std::collections::{BTreeMap, BTreeSet};

use super::change::{Change, ChangeKind, Subject};
use super::snapshot::{Census, Handshake, Negotiated, Snapshot, Source};
use crate::check;
use crate::check::names::version_code;
use crate::tls::names::version_rank;

/// What counts as a change.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// Relative change of a handshake-time percentile (0.2 = 20 %).
    pub latency_change: f64,
    /// Smallest absolute change of a percentile that counts, microseconds.
    pub latency_floor_us: u64,
    /// Change of a rate (failures, resumption hits) that counts, in points (0.05 = 5 points).
    pub rate_change: f64,
    /// Fewest handshakes on each side for any percentile to be compared.
    pub latency_min_samples: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            latency_change: 0.2,
            latency_floor_us: 5000,
            rate_change: 0.05,
            latency_min_samples: 1,
        }
    }
}

fn census_text(c: &Census) -> String {
    if c.is_empty() {
        return "none".into();
    }
    c.iter()
        .map(|(name, n)| format!("{name} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(c: &Census) -> BTreeSet<&str> {
    c.keys().map(String::as_str).collect()
}

fn rank(name: &str) -> Option<u16> {
    version_code(name).and_then(version_rank)
}

/// The kind of a change in negotiated versions, or `None` when the versions are the same.
fn version_change(base: &Census, current: &Census) -> Option<ChangeKind> {
    if names(base) == names(current) {
        return None;
    }
    let ranks = |c: &Census| -> Vec<u16> { c.keys().filter_map(|n| rank(n)).collect() };
    let (b, c) = (ranks(base), ranks(current));
    let (b_min, b_max) = (b.iter().min(), b.iter().max());
    let c_max = c.iter().max();
    let new_lower = c.iter().any(|v| b_min.is_some_and(|m| v < m));
    let lost_highest = matches!((b_max, c_max), (Some(bm), Some(cm)) if cm < bm);
    if new_lower || lost_highest {
        Some(ChangeKind::VersionDowngrade)
    } else if matches!((b_max, c_max), (Some(bm), Some(cm)) if cm > bm) {
        Some(ChangeKind::VersionUpgrade)
    } else {
        Some(ChangeKind::VersionChange)
    }
}

fn percent_points(rate: f64) -> String {
    check::percent(rate)
}

/// Collects changes.
struct Diff<'a> {
    changes: Vec<Change>,
    thresholds: &'a Thresholds,
}

impl Diff<'_> {
    fn push(
        &mut self,
        kind: ChangeKind,
        subject: &Subject,
        field: &str,
        base: String,
        current: String,
    ) {
        self.changes.push(Change {
            kind,
            subject: subject.clone(),
            field: field.to_string(),
            base,
            current,
        });
    }

    fn negotiated(&mut self, subject: &Subject, base: &Negotiated, current: &Negotiated) {
        if let Some(kind) = version_change(&base.versions, &current.versions) {
            self.push(
                kind,
                subject,
                "versions_negotiated",
                census_text(&base.versions),
                census_text(&current.versions),
            );
        }
        for (kind, field, b, c) in [
            (
                ChangeKind::CipherChange,
                "ciphers",
                &base.ciphers,
                &current.ciphers,
            ),
            (
                ChangeKind::GroupChange,
                "groups_negotiated",
                &base.groups,
                &current.groups,
            ),
        ] {
            if names(b) != names(c) {
                self.push(kind, subject, field, census_text(b), census_text(c));
            }
        }
    }

    fn rate(
        &mut self,
        subject: &Subject,
        field: &str,
        kinds: [ChangeKind; 2],
        base: Option<f64>,
        current: Option<f64>,
    ) {
        let (Some(b), Some(c)) = (base, current) else {
            return;
        };
        let delta = c - b;
        if delta.abs() + 1e-12 < self.thresholds.rate_change || delta == 0.0 {
            return;
        }
        let kind = if delta > 0.0 { kinds[0] } else { kinds[1] };
        self.push(kind, subject, field, percent_points(b), percent_points(c));
    }

    fn latency(&mut self, subject: &Subject, base: Option<Handshake>, current: Option<Handshake>) {
        let (Some(b), Some(c)) = (base, current) else {
            return;
        };
        // A percentile is compared only when both sides have enough handshakes for it to be
        // more than their slowest one: 2 for p50, 20 for p95, 100 for p99.
        let enough = |q: f64| {
            let needed = ((1.0 / (1.0 - q)).ceil() as u64).max(self.thresholds.latency_min_samples);
            b.count >= needed && c.count >= needed
        };
        let moved = |q: f64, b: u64, c: u64| -> Option<bool> {
            let delta = c.abs_diff(b);
            let relative = delta as f64 > self.thresholds.latency_change * b as f64;
            (enough(q) && relative && delta >= self.thresholds.latency_floor_us).then_some(c > b)
        };
        let moves = [
            moved(0.50, b.p50, c.p50),
            moved(0.95, b.p95, c.p95),
            moved(0.99, b.p99, c.p99),
        ];
        if moves.iter().all(Option::is_none) {
            return;
        }
        let kind = if moves.contains(&Some(true)) {
            ChangeKind::LatencyRegression
        } else {
            ChangeKind::LatencyImprovement
        };
        let text = |h: Handshake| {
            format!(
                "p50 {} ms, p95 {} ms, p99 {} ms over {} handshakes",
                h.p50 as f64 / 1000.0,
                h.p95 as f64 / 1000.0,
                h.p99 as f64 / 1000.0,
                h.count
            )
        };
        self.push(
            kind,
            subject,
            "latency_us.client_hello_to_done",
            text(b),
            text(c),
        );
    }
}

fn keyed_diff<K: Ord + Clone, V>(
    base: &BTreeMap<K, V>,
    current: &BTreeMap<K, V>,
) -> (Vec<K>, Vec<K>, Vec<K>) {
    let gone = base
        .keys()
        .filter(|k| !current.contains_key(*k))
        .cloned()
        .collect();
    let new = current
        .keys()
        .filter(|k| !base.contains_key(*k))
        .cloned()
        .collect();
    let both = base
        .keys()
        .filter(|k| current.contains_key(*k))
        .cloned()
        .collect();
    (gone, new, both)
}

/// The changes from `base` to `current`, and notes on what could not be compared.
pub fn compare(
    base: &Snapshot,
    current: &Snapshot,
    thresholds: &Thresholds,
) -> (Vec<Change>, Vec<String>) {
    let mut d = Diff {
        changes: Vec::new(),
        thresholds,
    };
    let mut notes = Vec::new();
    let per_server_census = base.source == Source::Records && current.source == Source::Records;
    if !per_server_census {
        notes.push(
            "one side is a --json report, which has no per-server version, cipher and group \
             census: those are compared over all servers"
                .to_string(),
        );
        d.negotiated(&Subject::All, &base.negotiated, &current.negotiated);
    }
    let (gone, new, both) = keyed_diff(&base.servers, &current.servers);
    for name in gone {
        let s = &base.servers[&name];
        d.push(
            ChangeKind::ServerGone,
            &Subject::Server { name },
            "connections",
            s.connections.to_string(),
            "0".into(),
        );
    }
    for name in new {
        let s = &current.servers[&name];
        d.push(
            ChangeKind::NewServer,
            &Subject::Server { name },
            "connections",
            "0".into(),
            s.connections.to_string(),
        );
    }
    for name in both {
        let (b, c) = (&base.servers[&name], &current.servers[&name]);
        let subject = Subject::Server { name };
        for cause in c
            .failure_causes
            .keys()
            .filter(|k| !b.failure_causes.contains_key(*k))
        {
            d.push(
                ChangeKind::NewFailureCause,
                &subject,
                "failure_causes",
                census_text(&b.failure_causes),
                format!("{cause} ({})", c.failure_causes[cause]),
            );
        }
        for cause in b
            .failure_causes
            .keys()
            .filter(|k| !c.failure_causes.contains_key(*k))
        {
            d.push(
                ChangeKind::FailureCauseGone,
                &subject,
                "failure_causes",
                format!("{cause} ({})", b.failure_causes[cause]),
                census_text(&c.failure_causes),
            );
        }
        d.rate(
            &subject,
            "failure_rate",
            [
                ChangeKind::FailureRateIncrease,
                ChangeKind::FailureRateDecrease,
            ],
            b.failure_rate(),
            c.failure_rate(),
        );
        if let (Some(bn), Some(cn)) = (&b.negotiated, &c.negotiated) {
            d.negotiated(&subject, bn, cn);
        }
        d.latency(&subject, b.handshake, c.handshake);
        d.rate(
            &subject,
            "resumption.hit_rate",
            [
                ChangeKind::ResumptionRateRise,
                ChangeKind::ResumptionRateDrop,
            ],
            b.resumption_rate(),
            c.resumption_rate(),
        );
    }
    if names(&base.offered_highest) != names(&current.offered_highest) {
        d.push(
            ChangeKind::OfferedVersionChange,
            &Subject::All,
            "versions_offered_highest",
            census_text(&base.offered_highest),
            census_text(&current.offered_highest),
        );
    }
    let (gone, new, both) = keyed_diff(&base.clients, &current.clients);
    let servers_text = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
    for ja4 in gone {
        let c = &base.clients[&ja4];
        d.push(
            ChangeKind::ClientGone,
            &Subject::Client { ja4 },
            "connections",
            format!("{} to {}", c.connections, servers_text(&c.servers)),
            "0".into(),
        );
    }
    for ja4 in new {
        let c = &current.clients[&ja4];
        d.push(
            ChangeKind::NewClient,
            &Subject::Client { ja4 },
            "connections",
            "0".into(),
            format!("{} to {}", c.connections, servers_text(&c.servers)),
        );
    }
    for ja4 in both {
        let (b, c) = (&base.clients[&ja4], &current.clients[&ja4]);
        let share = |s: &super::snapshot::ClientSnap| {
            (s.connections > 0).then(|| s.unsuccessful as f64 / s.connections as f64)
        };
        // Only a rise is reported for clients; a fall shows in the servers' failure rates.
        if let (Some(bs), Some(cs)) = (share(b), share(c))
            && cs - bs + 1e-12 >= thresholds.rate_change
            && cs > bs
        {
            d.push(
                ChangeKind::ClientFailureIncrease,
                &Subject::Client { ja4 },
                "unsuccessful_share",
                percent_points(bs),
                percent_points(cs),
            );
        }
    }
    let (gone, new, both) = keyed_diff(&base.certificates, &current.certificates);
    let subject = |id: &super::snapshot::CertId| Subject::Certificate {
        server: id.server.clone(),
        role: id.role.to_string(),
        subject: id.subject.clone(),
        issuer: id.issuer.clone(),
    };
    let cert_text = |c: &super::snapshot::CertSnap| {
        let mut parts = vec![c.key.clone(), c.signature_algorithm.clone()];
        if let Some(days) = c.lifetime_days {
            parts.push(format!("lifetime {days} days"));
        }
        if let Some(left) = c.days_left {
            parts.push(format!("{left} days left at capture time"));
        }
        if !c.findings.is_empty() {
            parts.push(format!(
                "findings {}",
                c.findings.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        parts.join(", ")
    };
    for id in gone {
        d.push(
            ChangeKind::CertificateGone,
            &subject(&id),
            "certificate",
            cert_text(&base.certificates[&id]),
            "none".into(),
        );
    }
    for id in new {
        d.push(
            ChangeKind::CertificateNew,
            &subject(&id),
            "certificate",
            "none".into(),
            cert_text(&current.certificates[&id]),
        );
    }
    for id in both {
        let (b, c) = (&base.certificates[&id], &current.certificates[&id]);
        let s = subject(&id);
        if (
            b.key.as_str(),
            b.signature_algorithm.as_str(),
            b.lifetime_days,
        ) != (
            c.key.as_str(),
            c.signature_algorithm.as_str(),
            c.lifetime_days,
        ) {
            d.push(
                ChangeKind::CertificateChanged,
                &s,
                "certificate",
                cert_text(b),
                cert_text(c),
            );
        }
        for f in c.findings.difference(&b.findings) {
            d.push(
                ChangeKind::CertificateFindingNew,
                &s,
                "findings",
                cert_text(b),
                f.clone(),
            );
        }
        for f in b.findings.difference(&c.findings) {
            d.push(
                ChangeKind::CertificateFindingGone,
                &s,
                "findings",
                f.clone(),
                cert_text(c),
            );
        }
    }
    (d.changes, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(items: &[(&str, u64)]) -> Census {
        items.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn version_changes_are_told_apart() {
        let kind = |b: &[(&str, u64)], c: &[(&str, u64)]| version_change(&census(b), &census(c));
        assert_eq!(
            kind(&[("TLSv1.2", 5)], &[("TLSv1.2", 9)]),
            None,
            "counts do not matter"
        );
        assert_eq!(
            kind(&[("TLSv1.2", 5)], &[("TLSv1.0", 5)]),
            Some(ChangeKind::VersionDowngrade)
        );
        assert_eq!(
            kind(&[("TLSv1.2", 5), ("TLSv1.3", 5)], &[("TLSv1.2", 5)]),
            Some(ChangeKind::VersionDowngrade),
            "the highest is gone"
        );
        assert_eq!(
            kind(&[("TLSv1.2", 5)], &[("TLSv1.3", 5)]),
            Some(ChangeKind::VersionUpgrade)
        );
        assert_eq!(
            kind(&[("TLSv1.0", 1), ("TLSv1.3", 5)], &[("TLSv1.3", 5)]),
            Some(ChangeKind::VersionChange),
            "an old version dropped is neither"
        );
    }
}
