//! The watch rules and their state machines: for each closed window, which alerts start and
//! which clear (SLO p95, failure rate, expiring certificates, deprecated versions).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::aggregate::{Aggregates, Breakdown};
use crate::facts::Outcome;

use super::sightings::{CertSighting, MAX_TRACKED, Sightings};

/// Thresholds of the watch rules. ("Alert" in the outputs: a rule's notice is written as a
/// `"type":"alert"` record; in the code, `Alert` is always a TLS alert.)
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Handshake p95 (ClientHello → done) above which a server is slow, in microseconds; no
    /// SLO alerts when `None`.
    pub slo_p95_us: Option<u64>,
    /// Consecutive windows above a threshold before an alert starts, and within it before it
    /// clears (at least 1).
    pub windows: u32,
    /// Fraction of a server's connections that failed or got no response above which it is
    /// failing (0..1).
    pub failure_rate: f64,
    /// Fewest connections in a window for its failure rate to count.
    pub failure_min_connections: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            slo_p95_us: None,
            windows: 3,
            failure_rate: 0.5,
            failure_min_connections: 5,
        }
    }
}

/// A watch rule: what a notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A server's handshake p95 above the SLO for K consecutive windows.
    SloP95,
    /// A server's failure rate above the threshold for K consecutive windows.
    FailureRate,
    /// A certificate expiring within the warning period (or expired).
    CertExpiring,
    /// A version below TLS 1.2 negotiated between a client and a server.
    DeprecatedVersion,
}

impl Rule {
    /// Name in alert records and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Rule::SloP95 => "slo_p95",
            Rule::FailureRate => "failure_rate",
            Rule::CertExpiring => "cert_expiring",
            Rule::DeprecatedVersion => "deprecated_version",
        }
    }
}

/// A rule's notice: a condition starting or clearing (an `"alert"` record).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// The rule.
    pub kind: Rule,
    /// `true` when it starts, `false` when it clears.
    pub started: bool,
    /// The server (SNI, else ip:port).
    pub server: String,
    /// The client, for version alerts.
    pub client: Option<IpAddr>,
    /// The measured value (p95 in µs, failure rate), when there is one.
    pub value: Option<f64>,
    /// The threshold it was compared with.
    pub threshold: Option<f64>,
    /// The negotiated version, for version alerts.
    pub version: Option<u16>,
    /// The certificate (SHA-256 and what was seen), for certificate alerts.
    pub cert: Option<(String, CertSighting)>,
}

impl Notice {
    fn new(kind: Rule, started: bool, server: &str) -> Self {
        Notice {
            kind,
            started,
            server: server.to_string(),
            client: None,
            value: None,
            threshold: None,
            version: None,
            cert: None,
        }
    }
}

/// Hysteresis of one per-server rule: starts after K consecutive windows above, clears after
/// K consecutive windows not above (a window without enough data counts as not above, so an
/// alert on a server that went quiet clears too).
#[derive(Clone, Copy, Debug, Default)]
struct Streak {
    above: u32,
    within: u32,
    active: bool,
}

/// What a window says about one rule for one server.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reading {
    Above(f64),
    Within(f64),
    NoData,
}

impl Streak {
    /// Updates with one window; returns `Some(true)` when the alert starts, `Some(false)`
    /// when it clears.
    fn step(&mut self, reading: Reading, k: u32) -> Option<bool> {
        match reading {
            Reading::Above(_) => {
                self.above += 1;
                self.within = 0;
            }
            Reading::Within(_) | Reading::NoData => {
                self.within += 1;
                self.above = 0;
            }
        }
        if !self.active && self.above >= k {
            self.active = true;
            Some(true)
        } else if self.active && self.within >= k {
            self.active = false;
            Some(false)
        } else {
            None
        }
    }

    /// Nothing to remember: the entry can be dropped.
    fn idle(&self) -> bool {
        !self.active && self.above == 0
    }
}

/// One "once" alert's memory: whether it is active, and what it was about.
#[derive(Clone, Debug)]
struct Once<T> {
    active: bool,
    about: T,
}

/// Alert state across windows, kept by the main thread.
#[derive(Debug)]
pub struct Watch {
    cfg: WatchConfig,
    slo: BTreeMap<String, Streak>,
    failing: BTreeMap<String, Streak>,
    certs: BTreeMap<String, Once<CertSighting>>,
    pairs: BTreeMap<(IpAddr, String), Once<u16>>,
    seen_certs: BTreeSet<String>,
    /// Alerts not raised because [`MAX_TRACKED`] certificates or pairs were already tracked.
    pub suppressed: u64,
    /// Alerts active now, by rule.
    pub active: BTreeMap<&'static str, u64>,
    /// Alerts started so far, by rule.
    pub started: BTreeMap<&'static str, u64>,
}

/// What a window produced beyond its aggregates.
#[derive(Clone, Debug, Default)]
pub struct WindowNews {
    /// Alerts starting or clearing, in a stable order.
    pub notices: Vec<Notice>,
    /// Certificates with findings seen for the first time.
    pub new_certs: Vec<(String, CertSighting)>,
    /// Notices not raised since the capture started because [`MAX_TRACKED`] certificates or
    /// pairs were already tracked ([`Watch::suppressed`]).
    pub suppressed_total: u64,
}

impl Watch {
    /// A watch with no history.
    pub fn new(cfg: WatchConfig) -> Self {
        Watch {
            cfg,
            slo: BTreeMap::new(),
            failing: BTreeMap::new(),
            certs: BTreeMap::new(),
            pairs: BTreeMap::new(),
            seen_certs: BTreeSet::new(),
            suppressed: 0,
            active: BTreeMap::new(),
            started: BTreeMap::new(),
        }
    }

    /// Feeds one closed window; returns the alerts that start or clear and the new findings.
    pub fn on_window(&mut self, agg: &Aggregates, sightings: &Sightings) -> WindowNews {
        let mut news = WindowNews::default();
        let k = self.cfg.windows.max(1);
        if let Some(slo) = self.cfg.slo_p95_us {
            let read = |b: &Breakdown| {
                let p = b.timings.client_hello_to_done.percentiles();
                match p.count {
                    0 => Reading::NoData,
                    _ if p.p95 > slo => Reading::Above(p.p95 as f64),
                    _ => Reading::Within(p.p95 as f64),
                }
            };
            step_servers(
                &mut self.slo,
                agg,
                read,
                k,
                Rule::SloP95,
                slo as f64,
                &mut news,
            );
        }
        let (rate, min) = (self.cfg.failure_rate, self.cfg.failure_min_connections);
        let read = |b: &Breakdown| {
            if b.connections == 0 || b.connections < min {
                return Reading::NoData;
            }
            let failed: u64 = [Outcome::Failed, Outcome::NoResponse]
                .iter()
                .filter_map(|o| b.outcomes.get(o))
                .sum();
            let r = failed as f64 / b.connections as f64;
            if r > rate {
                Reading::Above(r)
            } else {
                Reading::Within(r)
            }
        };
        step_servers(
            &mut self.failing,
            agg,
            read,
            k,
            Rule::FailureRate,
            rate,
            &mut news,
        );
        self.certificates(sightings, &mut news);
        self.versions(sightings, &mut news);
        for a in &news.notices {
            let name = a.kind.name();
            let active = self.active.entry(name).or_default();
            if a.started {
                *active += 1;
                *self.started.entry(name).or_default() += 1;
            } else {
                *active = active.saturating_sub(1);
            }
        }
        news.suppressed_total = self.suppressed;
        news
    }

    fn certificates(&mut self, s: &Sightings, news: &mut WindowNews) {
        for (sha, c) in &s.certs {
            if !self.seen_certs.contains(sha) {
                if self.seen_certs.len() >= MAX_TRACKED {
                    // Start over rather than grow: a certificate may be reported again.
                    self.seen_certs.clear();
                }
                self.seen_certs.insert(sha.clone());
                news.new_certs.push((sha.clone(), c.clone()));
            }
            if !c.findings.iter().any(|x| x.is_expiry()) || self.certs.contains_key(sha) {
                continue;
            }
            if self.certs.len() >= MAX_TRACKED {
                self.suppressed += 1;
                continue;
            }
            self.certs.insert(
                sha.clone(),
                Once {
                    active: true,
                    about: c.clone(),
                },
            );
            let mut a = Notice::new(Rule::CertExpiring, true, &c.server);
            a.cert = Some((sha.clone(), c.clone()));
            news.notices.push(a);
        }
        for (sha, once) in self.certs.iter_mut() {
            let server = &once.about.server;
            if once.active && s.renewed.contains(server) && !s.certs.contains_key(sha) {
                once.active = false;
                let mut a = Notice::new(Rule::CertExpiring, false, server);
                a.cert = Some((sha.clone(), once.about.clone()));
                news.notices.push(a);
            }
        }
    }

    fn versions(&mut self, s: &Sightings, news: &mut WindowNews) {
        for ((client, server), &v) in &s.deprecated {
            let key = (*client, server.clone());
            if self.pairs.contains_key(&key) {
                continue;
            }
            if self.pairs.len() >= MAX_TRACKED {
                self.suppressed += 1;
                continue;
            }
            self.pairs.insert(
                key,
                Once {
                    active: true,
                    about: v,
                },
            );
            let mut a = Notice::new(Rule::DeprecatedVersion, true, server);
            a.client = Some(*client);
            a.version = Some(v);
            news.notices.push(a);
        }
        for (key, once) in self.pairs.iter_mut() {
            if once.active && s.modern.contains(key) && !s.deprecated.contains_key(key) {
                once.active = false;
                let mut a = Notice::new(Rule::DeprecatedVersion, false, &key.1);
                a.client = Some(key.0);
                a.version = Some(once.about);
                news.notices.push(a);
            }
        }
    }
}

/// Steps one per-server rule for every server of the window and every server with state.
fn step_servers(
    streaks: &mut BTreeMap<String, Streak>,
    agg: &Aggregates,
    read: impl Fn(&Breakdown) -> Reading,
    k: u32,
    kind: Rule,
    threshold: f64,
    news: &mut WindowNews,
) {
    for (server, b) in &agg.servers {
        if !streaks.contains_key(server) && !matches!(read(b), Reading::Above(_)) {
            continue;
        }
        streaks.entry(server.clone()).or_default();
    }
    streaks.retain(|server, streak| {
        let reading = agg.servers.get(server).map_or(Reading::NoData, |s| read(s));
        if let Some(started) = streak.step(reading, k) {
            let mut a = Notice::new(kind, started, server);
            a.threshold = Some(threshold);
            if let Reading::Above(v) | Reading::Within(v) = reading {
                a.value = Some(v);
            }
            news.notices.push(a);
        }
        !streak.idle()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::aggregate::{Latency, ServerEntry};
    use crate::facts::Finding;

    /// A window where `server` had `n` connections, `failed` of them failed, handshakes of
    /// `us` microseconds.
    fn window(server: &str, n: u64, failed: u64, us: i64) -> Aggregates {
        let mut b = Breakdown {
            connections: n,
            ..Breakdown::default()
        };
        b.outcomes.insert(Outcome::Established, n - failed);
        if failed > 0 {
            b.outcomes.insert(Outcome::Failed, failed);
        }
        let mut lat = Latency::default();
        for _ in 0..n {
            lat.record(us);
        }
        b.timings.client_hello_to_done = lat;
        let mut agg = Aggregates::default();
        let entry = ServerEntry {
            all: b,
            ..ServerEntry::default()
        };
        agg.servers.insert(server.to_string(), entry);
        agg
    }

    fn slo_watch(k: u32) -> Watch {
        Watch::new(WatchConfig {
            slo_p95_us: Some(50_000),
            windows: k,
            ..WatchConfig::default()
        })
    }

    fn kinds(news: &WindowNews) -> Vec<(Rule, bool)> {
        news.notices.iter().map(|a| (a.kind, a.started)).collect()
    }

    #[test]
    fn slo_alert_needs_k_consecutive_slow_windows_and_clears_after_k_fast_ones() {
        let mut w = slo_watch(3);
        let none = Sightings::default();
        let slow = window("a.example", 10, 0, 80_000);
        let fast = window("a.example", 10, 0, 10_000);
        assert!(w.on_window(&slow, &none).notices.is_empty());
        assert!(w.on_window(&slow, &none).notices.is_empty());
        // A fast window breaks the streak.
        assert!(w.on_window(&fast, &none).notices.is_empty());
        assert!(w.on_window(&slow, &none).notices.is_empty());
        assert!(w.on_window(&slow, &none).notices.is_empty());
        let news = w.on_window(&slow, &none);
        assert_eq!(kinds(&news), vec![(Rule::SloP95, true)]);
        let a = &news.notices[0];
        assert_eq!(a.server, "a.example");
        assert_eq!(a.threshold, Some(50_000.0));
        assert!(a.value.is_some_and(|v| v > 79_000.0), "{a:?}");
        assert_eq!(w.active.get("slo_p95"), Some(&1));
        // Still slow: no repeat.
        assert!(w.on_window(&slow, &none).notices.is_empty());
        assert!(w.on_window(&fast, &none).notices.is_empty());
        assert!(w.on_window(&fast, &none).notices.is_empty());
        let news = w.on_window(&fast, &none);
        assert_eq!(kinds(&news), vec![(Rule::SloP95, false)]);
        assert_eq!(w.active.get("slo_p95"), Some(&0));
        assert_eq!(w.started.get("slo_p95"), Some(&1));
    }

    #[test]
    fn quiet_server_clears_and_is_forgotten() {
        let mut w = slo_watch(1);
        let none = Sightings::default();
        let slow = window("a.example", 3, 0, 90_000);
        assert_eq!(
            kinds(&w.on_window(&slow, &none)),
            vec![(Rule::SloP95, true)]
        );
        let news = w.on_window(&Aggregates::default(), &none);
        assert_eq!(kinds(&news), vec![(Rule::SloP95, false)]);
        assert!(w.slo.is_empty(), "state of a quiet server is dropped");
    }

    #[test]
    fn no_slo_no_slo_alerts() {
        let mut w = Watch::new(WatchConfig {
            windows: 1,
            ..WatchConfig::default()
        });
        let news = w.on_window(&window("a", 10, 0, 10_000_000), &Sightings::default());
        assert!(news.notices.is_empty());
    }

    #[test]
    fn failure_rate_alert_respects_threshold_and_minimum() {
        let mut w = Watch::new(WatchConfig {
            windows: 2,
            failure_rate: 0.5,
            failure_min_connections: 4,
            ..WatchConfig::default()
        });
        let none = Sightings::default();
        // Too few connections to judge.
        assert!(w.on_window(&window("b", 3, 3, 1), &none).notices.is_empty());
        assert!(w.on_window(&window("b", 3, 3, 1), &none).notices.is_empty());
        // Exactly at the threshold is not above it.
        assert!(w.on_window(&window("b", 4, 2, 1), &none).notices.is_empty());
        assert!(w.on_window(&window("b", 4, 3, 1), &none).notices.is_empty());
        let news = w.on_window(&window("b", 10, 9, 1), &none);
        assert_eq!(kinds(&news), vec![(Rule::FailureRate, true)]);
        assert_eq!(news.notices[0].value, Some(0.9));
        assert!(
            w.on_window(&window("b", 10, 0, 1), &none)
                .notices
                .is_empty()
        );
        let news = w.on_window(&window("b", 10, 0, 1), &none);
        assert_eq!(kinds(&news), vec![(Rule::FailureRate, false)]);
    }

    fn cert(server: &str, findings: Vec<Finding>) -> CertSighting {
        CertSighting {
            server: server.into(),
            subject: "CN=x".into(),
            not_after: 1_700_000_000,
            findings,
        }
    }

    #[test]
    fn expiring_certificate_alerts_once_and_clears_on_renewal() {
        let mut w = Watch::new(WatchConfig::default());
        let agg = Aggregates::default();
        let mut s = Sightings::default();
        s.certs
            .insert("aa".into(), cert("c.example", vec![Finding::ExpiringSoon]));
        s.certs
            .insert("bb".into(), cert("c.example", vec![Finding::SelfSigned]));
        let news = w.on_window(&agg, &s);
        assert_eq!(kinds(&news), vec![(Rule::CertExpiring, true)]);
        assert_eq!(
            news.notices[0].cert.as_ref().map(|c| c.0.as_str()),
            Some("aa")
        );
        assert_eq!(news.new_certs.len(), 2, "both findings are new");
        // Seen again: no new alert, no new finding.
        let news = w.on_window(&agg, &s);
        assert!(news.notices.is_empty() && news.new_certs.is_empty());
        // The server now presents a fresh leaf.
        let mut renewed = Sightings::default();
        renewed.renewed.insert("c.example".into());
        let news = w.on_window(&agg, &renewed);
        assert_eq!(kinds(&news), vec![(Rule::CertExpiring, false)]);
        assert_eq!(
            news.notices[0].cert.as_ref().map(|c| c.1.subject.as_str()),
            Some("CN=x"),
            "a cleared alert still names the certificate"
        );
        // Once per certificate: the old one seen again does not alert again.
        assert!(w.on_window(&agg, &s).notices.is_empty());
    }

    #[test]
    fn deprecated_version_alerts_once_per_pair() {
        let mut w = Watch::new(WatchConfig::default());
        let agg = Aggregates::default();
        let c1: IpAddr = "10.0.0.1".parse().expect("ip");
        let c2: IpAddr = "10.0.0.2".parse().expect("ip");
        let mut s = Sightings::default();
        s.deprecated.insert((c1, "old.example".into()), 0x0301);
        s.deprecated.insert((c2, "old.example".into()), 0x0302);
        let news = w.on_window(&agg, &s);
        assert_eq!(news.notices.len(), 2);
        assert_eq!(news.notices[0].client, Some(c1));
        assert_eq!(news.notices[0].version, Some(0x0301));
        assert!(w.on_window(&agg, &s).notices.is_empty());
        let mut upgraded = Sightings::default();
        upgraded.modern.insert((c1, "old.example".into()));
        let news = w.on_window(&agg, &upgraded);
        assert_eq!(kinds(&news), vec![(Rule::DeprecatedVersion, false)]);
        assert_eq!(news.notices[0].client, Some(c1));
        assert!(w.on_window(&agg, &s).notices.is_empty(), "once per pair");
        assert_eq!(w.active.get("deprecated_version"), Some(&1));
    }
}
