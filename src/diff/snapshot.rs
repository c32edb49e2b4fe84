//! What a diff compares: one side's servers, clients and certificates, reduced to what stays
//! the same when the same traffic is recorded again. Built from connection records when the
//! side has them (a capture or NDJSON), else from a `--json` report, which lacks the
//! per-server version, cipher and group censuses: those are then compared over all servers.
//!
//! Identities (the README's "diff identities"):
//! - a server is its name as the report gives it: the SNI, else ip:port (the server's port is
//!   kept, a client's port never);
//! - a client is its JA4 fingerprint (addresses and ports change between recordings; the
//!   fingerprint names the TLS stack and its configuration);
//! - a certificate is (server, leaf or chain, subject, issuer): a re-issued certificate with a
//!   new key, serial, hash and dates is the same certificate; its key type and size, signature
//!   algorithm, lifetime and findings are what is compared.

use std::collections::{BTreeMap, BTreeSet};

use crate::aggregate::{Latency, Percentiles};
use crate::observed::time::DAY_MICROS;
use crate::observed::{Connection, Observation, ReportLatency};
use crate::tls::names::{cipher_name, group_name, version_name};

/// Counts by name.
pub type Census = BTreeMap<String, u64>;

/// Negotiated versions, ciphers and groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// By version name.
    pub versions: Census,
    /// By cipher suite name.
    pub ciphers: Census,
    /// By group name.
    pub groups: Census,
}

/// Percentiles of ClientHello → done, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
}

/// One server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerSnap {
    /// Connections.
    pub connections: u64,
    /// By outcome.
    pub outcomes: Census,
    /// By failure cause.
    pub failure_causes: Census,
    /// Per-server censuses (records only).
    pub negotiated: Option<Negotiated>,
    /// Handshake times, when any handshake completed.
    pub handshake: Option<Handshake>,
    /// Resumption attempts.
    pub resumption_attempts: u64,
    /// Resumptions accepted.
    pub resumption_hits: u64,
}

impl ServerSnap {
    /// Failed or unanswered connections over those that ended (incomplete ones excluded).
    pub fn failure_rate(&self) -> Option<f64> {
        let count = |o: &str| self.outcomes.get(o).copied().unwrap_or(0);
        let ended = self.connections.saturating_sub(count("incomplete"));
        (ended > 0).then(|| (count("failed") + count("no_response")) as f64 / ended as f64)
    }

    /// Resumptions accepted over attempts.
    pub fn resumption_rate(&self) -> Option<f64> {
        (self.resumption_attempts > 0)
            .then(|| self.resumption_hits as f64 / self.resumption_attempts as f64)
    }
}

/// One client fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSnap {
    /// Connections.
    pub connections: u64,
    /// Of which without a handshake.
    pub unsuccessful: u64,
    /// Servers reached.
    pub servers: BTreeSet<String>,
}

/// A certificate's identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertId {
    /// The server it was presented for.
    pub server: String,
    /// `leaf` or `chain`.
    pub role: &'static str,
    /// Subject.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
}

/// What is compared of a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertSnap {
    /// `rsa 2048`, `ec 256 prime256v1`.
    pub key: String,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// notAfter − notBefore, whole days (rounded up).
    pub lifetime_days: Option<i64>,
    /// Findings (union over the sightings).
    pub findings: BTreeSet<String>,
    /// Fewest days left at capture time over the sightings (records only).
    pub days_left: Option<i64>,
    /// SHA-256 of the DER (they may differ between sides: not compared).
    pub sha256: BTreeSet<String>,
}

/// Where a snapshot came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Connection records (from a capture or an NDJSON file).
    Records,
    /// A `--json` report only.
    Report,
}

/// One side of a diff.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// What it was built from.
    pub source: Source,
    /// TLS connections.
    pub connections: u64,
    /// By server name.
    pub servers: BTreeMap<String, ServerSnap>,
    /// By JA4.
    pub clients: BTreeMap<String, ClientSnap>,
    /// By identity.
    pub certificates: BTreeMap<CertId, CertSnap>,
    /// Over all servers.
    pub negotiated: Negotiated,
    /// Highest version offered, over all connections.
    pub offered_highest: Census,
}

fn handshake(p: &Percentiles) -> Option<Handshake> {
    (p.count > 0).then_some(Handshake {
        count: p.count,
        p50: p.p50,
        p95: p.p95,
        p99: p.p99,
    })
}

fn key_text(key_type: Option<&str>, bits: Option<u32>, curve: Option<&str>) -> String {
    let mut parts = vec![key_type.unwrap_or("unknown").to_string()];
    if let Some(bits) = bits {
        parts.push(bits.to_string());
    }
    if let Some(curve) = curve {
        parts.push(curve.to_string());
    }
    parts.join(" ")
}

fn lifetime_days(c: &crate::observed::Certificate) -> Option<i64> {
    let span = c.not_after_us()? - c.not_before_us()?;
    Some((span + DAY_MICROS - 1).div_euclid(DAY_MICROS))
}

fn bump(census: &mut Census, name: impl Into<String>) {
    *census.entry(name.into()).or_default() += 1;
}

impl Snapshot {
    /// The snapshot of an observation: from its records when it has them, else its report.
    pub fn of(observation: &Observation) -> Snapshot {
        match (&observation.connections, &observation.report) {
            (Some(conns), _) => Snapshot::from_records(conns),
            (None, Some(_)) => Snapshot::from_report(observation),
            (None, None) => Snapshot::from_records(&[]),
        }
    }

    fn from_records(conns: &[Connection]) -> Snapshot {
        let mut servers: BTreeMap<String, ServerSnap> = BTreeMap::new();
        let mut latencies: BTreeMap<String, Latency> = BTreeMap::new();
        let mut clients: BTreeMap<String, ClientSnap> = BTreeMap::new();
        let mut certificates: BTreeMap<CertId, CertSnap> = BTreeMap::new();
        let mut negotiated = Negotiated::default();
        let mut offered_highest = Census::new();
        for c in conns {
            let name = c.server_name();
            let s = servers.entry(name.clone()).or_default();
            s.connections += 1;
            bump(&mut s.outcomes, &*c.outcome);
            if let Some(cause) = &c.failure_cause {
                bump(&mut s.failure_causes, &**cause);
            }
            let per_server = s.negotiated.get_or_insert_with(Negotiated::default);
            for census in [&mut *per_server, &mut negotiated] {
                if let Some(v) = c.version {
                    bump(&mut census.versions, version_name(v));
                }
                if let Some(s) = c.cipher {
                    bump(&mut census.ciphers, cipher_name(s));
                }
                if let Some(g) = c.group {
                    bump(&mut census.groups, group_name(g));
                }
            }
            if let Some(us) = c.handshake_us {
                latencies
                    .entry(name.clone())
                    .or_default()
                    .record(i64::try_from(us).unwrap_or(i64::MAX));
            }
            if c.resumption_offered {
                s.resumption_attempts += 1;
                s.resumption_hits += u64::from(c.resumed);
            }
            if let Some(offer) = c.offer.as_deref() {
                if let Some(v) = offer.highest_version() {
                    bump(&mut offered_highest, version_name(v));
                }
                if let Some(ja4) = &offer.ja4 {
                    let client = clients.entry(ja4.clone()).or_default();
                    client.connections += 1;
                    client.unsuccessful +=
                        u64::from(!matches!(&*c.outcome, "established" | "resumed"));
                    client.servers.insert(name.clone());
                }
            }
            for (i, cert) in c.certificates.iter().enumerate() {
                let id = CertId {
                    server: name.clone(),
                    role: if i == 0 { "leaf" } else { "chain" },
                    subject: cert.subject.clone(),
                    issuer: cert.issuer.clone(),
                };
                let snap = certificates.entry(id).or_default();
                snap.key = key_text(
                    cert.key_type.as_deref(),
                    cert.key_bits,
                    cert.key_curve.as_deref(),
                );
                snap.signature_algorithm = cert.signature_algorithm.clone().unwrap_or_default();
                snap.lifetime_days = lifetime_days(cert);
                snap.findings.extend(cert.findings.iter().cloned());
                snap.sha256.insert(cert.sha256.clone());
                if let Some(after) = cert.not_after_us() {
                    let left = (after - c.ts_us).div_euclid(DAY_MICROS);
                    snap.days_left = Some(snap.days_left.map_or(left, |d: i64| d.min(left)));
                }
            }
        }
        for (name, latency) in latencies {
            if let Some(s) = servers.get_mut(&name) {
                s.handshake = handshake(&latency.percentiles());
            }
        }
        Snapshot {
            source: Source::Records,
            connections: conns.len() as u64,
            servers,
            clients,
            certificates,
            negotiated,
            offered_highest,
        }
    }

    fn from_report(observation: &Observation) -> Snapshot {
        let report = observation.report.as_ref();
        let mut snap = Snapshot {
            source: Source::Report,
            connections: report.map_or(0, |r| r.summary.tls_connections),
            servers: BTreeMap::new(),
            clients: BTreeMap::new(),
            certificates: BTreeMap::new(),
            negotiated: Negotiated::default(),
            offered_highest: Census::new(),
        };
        let Some(report) = report else {
            return snap;
        };
        let census = |list: &[crate::observed::NamedCount]| -> Census {
            list.iter()
                .filter_map(|n| Some((n.name.clone()?, n.count)))
                .collect()
        };
        snap.negotiated = Negotiated {
            versions: census(&report.versions_negotiated),
            ciphers: census(&report.ciphers),
            groups: census(&report.groups_negotiated),
        };
        snap.offered_highest = census(&report.versions_offered_highest);
        for s in &report.servers {
            let l: &ReportLatency = &s.latency_us.client_hello_to_done;
            snap.servers.insert(
                s.server.clone(),
                ServerSnap {
                    connections: s.connections,
                    outcomes: s.outcomes.clone(),
                    failure_causes: s.failure_causes.clone(),
                    negotiated: None,
                    handshake: (l.count > 0).then_some(Handshake {
                        count: l.count,
                        p50: l.p50,
                        p95: l.p95,
                        p99: l.p99,
                    }),
                    resumption_attempts: s.resumption.attempts,
                    resumption_hits: s.resumption.hits,
                },
            );
        }
        for c in &report.clients {
            snap.clients.insert(
                c.ja4.clone(),
                ClientSnap {
                    connections: c.connections,
                    unsuccessful: c.unsuccessful,
                    servers: c.servers.iter().map(|s| s.name.clone()).collect(),
                },
            );
        }
        for entry in &report.certificates {
            if entry.client_certificate {
                continue;
            }
            let cert = &entry.certificate;
            for server in &entry.servers {
                let id = CertId {
                    server: server.name.clone(),
                    role: if entry.leaf { "leaf" } else { "chain" },
                    subject: cert.subject.clone(),
                    issuer: cert.issuer.clone(),
                };
                let s = snap.certificates.entry(id).or_default();
                s.key = key_text(
                    cert.key_type.as_deref(),
                    cert.key_bits,
                    cert.key_curve.as_deref(),
                );
                s.signature_algorithm = cert.signature_algorithm.clone().unwrap_or_default();
                s.lifetime_days = lifetime_days(cert);
                s.findings.extend(cert.findings.iter().cloned());
                s.sha256.insert(cert.sha256.clone());
            }
        }
        snap
    }
}
