//! Tests of the aggregates.

use super::census::MAX_GROUP_LISTS;
use super::*;
use crate::facts::Mechanism;

#[test]
fn latency_percentiles_and_merge() {
    let mut a = Latency::default();
    let mut b = Latency::default();
    for us in 1..=50 {
        a.record(us * 1000);
    }
    for us in 51..=100 {
        b.record(us * 1000);
    }
    a.merge_in(b);
    let p = a.percentiles();
    assert_eq!(p.count, 100);
    assert!((49_000..=51_000).contains(&p.p50), "{p:?}");
    assert!((98_000..=100_000).contains(&p.p99), "{p:?}");
    assert!((99_000..=101_000).contains(&p.max), "{p:?}");
}

#[test]
fn cumulative_counts_and_sum() {
    let mut a = Latency::default();
    for us in [100, 200, 300, 5000] {
        a.record(us);
    }
    assert_eq!(a.count_at_most(99), 0);
    assert_eq!(a.count_at_most(300), 3);
    assert_eq!(a.count_at_most(1_000_000), 4);
    assert!((a.sum() - 5600.0).abs() < 60.0, "{}", a.sum());
}

#[test]
fn buckets_hold_every_sample_in_order() {
    let mut a = Latency::default();
    for us in [0, 150, 150, 90_000, 7] {
        a.record(us);
    }
    let buckets: Vec<(u64, u64)> = a.buckets().collect();
    assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 5);
    assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0), "{buckets:?}");
    assert_eq!(buckets[0], (0, 1));
    assert_eq!(buckets[2], (150, 2));
    assert!((89_000..=91_000).contains(&buckets[3].0), "{buckets:?}");
}

#[test]
fn negative_durations_count_as_zero() {
    let mut a = Latency::default();
    a.record(-5);
    assert_eq!(a.percentiles().max, 0);
    assert_eq!(a.percentiles().count, 1);
}

#[test]
fn capped_maps_keep_the_smallest_names_whatever_the_order() {
    let names = ["d", "a", "e", "c", "b", "a", "e", "d"];
    let mut one: BoundedCounts<3> = Capped::default();
    for n in names {
        one.add(n, 1);
    }
    // The same names split over two "workers" in another order, then merged.
    let (mut left, mut right): (BoundedCounts<3>, BoundedCounts<3>) = Default::default();
    for n in names.iter().rev().step_by(2) {
        left.add(n, 1);
    }
    for n in names.iter().rev().skip(1).step_by(2) {
        right.add(n, 1);
    }
    left.merge_in(right);
    for counts in [&one, &left] {
        assert_eq!(
            counts.ranked(),
            vec![("a", 2), ("b", 1), ("c", 1), (OTHER, 4)]
        );
    }
}

#[test]
fn resumption_counts_attempts_and_hits_per_mechanism() {
    let mut st = ResumptionStats::default();
    let mut f = empty_facts();
    f.resumption.offered = vec![Mechanism::SessionId, Mechanism::Ticket];
    f.resumption.accepted = Some(Mechanism::Ticket);
    f.resumption.tickets_issued = 1;
    st.add(&f);
    f.resumption.offered = vec![Mechanism::Psk];
    f.resumption.accepted = None;
    f.resumption.tickets_issued = 0;
    f.resumption.early_data_offered = true;
    st.add(&f);
    f.resumption.offered.clear();
    st.add(&f);
    assert_eq!(st.offered, [1, 1, 1]);
    assert_eq!(st.accepted, [0, 1, 0]);
    assert_eq!((st.attempts, st.hits, st.tickets_issued), (2, 1, 1));
    assert_eq!(st.early_data_offered, 2);
    assert_eq!(st.hit_rate(), Some(0.5));
    assert_eq!(ResumptionStats::default().hit_rate(), None);
}

/// Facts of a connection with no TLS events, to fill in by hand.
pub(crate) fn empty_facts() -> ConnectionFacts {
    use crate::flow::{Endpoint, FlowKey, Transport};
    let ep = |port| Endpoint {
        ip: std::net::IpAddr::from([10, 0, 0, 1]),
        port,
    };
    let key = FlowKey::from_endpoints(Transport::Tcp, ep(50000), ep(443)).0;
    crate::facts::build(
        &key,
        crate::facts::TransportFacts::Tcp(crate::facts::TcpFacts {
            meta: crate::tcp::TcpMeta::default(),
            close: crate::tcp::CloseReason::Fin,
        }),
        crate::tls::Transcript::default(),
        &crate::facts::FactsConfig::default(),
    )
}

/// Sets the first and last packet times of facts made by [`empty_facts`].
pub(crate) fn set_times(
    f: &mut ConnectionFacts,
    first: crate::flow::Timestamp,
    last: crate::flow::Timestamp,
) {
    match &mut f.transport {
        crate::facts::TransportFacts::Tcp(t) => {
            t.meta.first_ts = first;
            t.meta.last_ts = last;
        }
        crate::facts::TransportFacts::Quic(q) => (q.first_ts, q.last_ts) = (first, last),
        crate::facts::TransportFacts::Dtls(d) => (d.first_ts, d.last_ts) = (first, last),
    }
}

fn profile(versions: &[u16], ciphers: &[u16]) -> ClientProfile {
    ClientProfile {
        versions: versions.iter().copied().collect(),
        ciphers: ciphers.iter().copied().collect(),
        ..Default::default()
    }
}

#[test]
fn policy_changes_break_the_clients_that_depend_on_what_they_remove() {
    use PolicyChange::*;
    // TLS 1.0-only client with forward-secret suites.
    assert_eq!(
        profile(&[0x0301], &[0xc014]).breaks(),
        vec![MinimumTls12, Tls13Only]
    );
    // TLS 1.2 client with static RSA only (plus the renegotiation SCSV).
    assert_eq!(
        profile(&[0x0303], &[0x009c, 0x00ff]).breaks(),
        vec![NoRsaKeyExchange, Tls13Only]
    );
    // TLS 1.3 client (draft versions rank as 1.3) breaks on nothing.
    assert_eq!(
        profile(&[0x7f17, 0x0303], &[0x1301, 0x009c]).breaks(),
        vec![]
    );
    assert_eq!(profile(&[0x0304, 0x0303], &[0x1301]).breaks(), vec![]);
}

#[test]
fn group_census_totals_do_not_depend_on_which_lists_are_held() {
    // More distinct lists than are held, split over two "workers" and merged, against
    // counting group by group.
    let lists: Vec<Vec<u16>> = (0..MAX_GROUP_LISTS as u16 + 50)
        .map(|i| vec![0x001d, 0x0017, 0x0100 + i, 0x0017])
        .collect();
    let (mut one, mut left, mut right) = <(GroupCensus, GroupCensus, GroupCensus)>::default();
    let mut expected = BTreeMap::new();
    for (i, list) in lists.iter().enumerate() {
        one.add_list(list, 1);
        if i % 2 == 0 { &mut left } else { &mut right }.add_list(list, 2);
        for &g in list {
            count(&mut expected, g, 1);
        }
    }
    assert_eq!(one.lists.len(), MAX_GROUP_LISTS);
    assert_eq!(one.counts(), expected);
    assert_eq!(expected[&0x0017], 2 * lists.len() as u64);
    left.merge_in(right);
    let doubled: BTreeMap<u16, u64> = expected.iter().map(|(&g, &n)| (g, 2 * n)).collect();
    assert_eq!(left.counts(), doubled);
}

#[test]
fn offered_groups_count_each_connection_whatever_the_list_length() {
    // GREASE left out; a list longer than `MAX_LISTED_GROUPS` is counted group by group.
    let short = vec![0x0a0a, 0x11ec, 0x001d, 0x0017];
    let long: Vec<u16> = (0x0100..0x0100 + MAX_LISTED_GROUPS as u16 + 8).collect();
    let mut agg = Aggregates::default();
    for groups in [&short, &long, &short] {
        let mut f = empty_facts();
        f.client_hello = Some(Box::new(ClientHello {
            groups: groups.as_slice().into(),
            ..Default::default()
        }));
        agg.add(&f);
    }
    let counts = agg.groups_offered.counts();
    assert_eq!(counts.get(&0x0a0a), None);
    assert_eq!(
        (counts[&0x11ec], counts[&0x001d], counts[&0x0017]),
        (2, 2, 2)
    );
    assert_eq!(counts[&0x0100], 1);
    assert_eq!(counts.len(), 3 + long.len());
    assert_eq!(agg.groups_offered.lists.len(), 1);
    assert_eq!(agg.post_quantum_offered, 2);
}

#[test]
fn maps_merge_by_key() {
    let mut a: BTreeMap<&str, u64> = BTreeMap::from([("x", 1), ("y", 2)]);
    a.merge_in(BTreeMap::from([("y", 3), ("z", 4)]));
    assert_eq!(a, BTreeMap::from([("x", 1), ("y", 5), ("z", 4)]));
}

/// Issue #20: connections without TLS per server, capped like every per-server map (the
/// smallest addresses kept, whatever the worker split), totals exact.
#[test]
fn connections_without_tls_are_counted_per_server_within_the_cap() {
    use crate::facts::WithoutTls;
    use std::net::{IpAddr, Ipv4Addr};
    let server = |i: u32| Endpoint {
        ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
        port: 443,
    };
    let mut one = Aggregates::default();
    let mut halves = [Aggregates::default(), Aggregates::default()];
    let n = MAX_SERVERS as u32 + 50;
    for i in (0..n).rev() {
        let kind = WithoutTls::ALL[i as usize % 4];
        one.add_without_tls(server(i), kind);
        halves[i as usize % 2].add_without_tls(server(i), kind);
        halves[i as usize % 2].add_without_tls(server(i), WithoutTls::NoAnswer);
    }
    let [mut merged, other] = halves;
    merged.merge_in(other);
    assert_eq!(one.without_tls.entries.len(), MAX_SERVERS);
    assert_eq!(one.without_tls.other.total(), 50);
    let kept: Vec<_> = one.without_tls.entries.keys().copied().collect();
    let kept_merged: Vec<_> = merged.without_tls.entries.keys().copied().collect();
    assert_eq!(kept, kept_merged);
    assert_eq!(kept.first(), Some(&server(0)));
    let first = merged
        .without_tls
        .get(&server(1))
        .copied()
        .unwrap_or_default();
    assert_eq!(first.of(WithoutTls::Refused), 1);
    assert_eq!(first.of(WithoutTls::NoAnswer), 1);
    assert_eq!(merged.without_tls.other.total(), 100);
}
