//! Tests of the whole page: deterministic bytes whatever the worker split, a policy that allows
//! exactly the inlined style and script, nothing that could load or run anything else, and
//! every piece of traffic-chosen text escaped.

use std::net::IpAddr;

use super::{page, render};
use crate::aggregate::{Aggregates, Merge};
use crate::facts::{Failure, FailureCause, Outcome};
use crate::flow::Timestamp;
use crate::output::{InputFile, Report};

/// A report over `n` connections, one in three failed, `sni` as their server name.
fn report(n: u64, sni: &str, parts: u64) -> Report {
    let mut pieces: Vec<Aggregates> = (0..parts).map(|_| Aggregates::default()).collect();
    for i in 0..n {
        let mut f = crate::aggregate::tests::empty_facts();
        crate::aggregate::tests::set_times(
            &mut f,
            Timestamp::from_parts(1_700_000_000 + i as i64, 0),
            Timestamp::from_parts(1_700_000_000 + i as i64, 5_000_000),
        );
        f.client.ip = IpAddr::from([10, 0, 0, (i % 200) as u8]);
        f.client_hello = Some(Box::new(crate::tls::ClientHello {
            sni: Some(sni.into()),
            ..Default::default()
        }));
        f.timing.client_hello_to_done_us = Some(1_000 + i as i64 * 37);
        if i % 3 == 0 {
            f.outcome = Outcome::Failed;
            f.failure = Some(Failure {
                cause: FailureCause::ServerReset,
                explanation: format!("reset <{i}>"),
                inferred: false,
            });
        } else {
            f.outcome = Outcome::Established;
            f.failure = None;
        }
        pieces[(i % parts) as usize].add(&f);
    }
    let mut aggregates = Aggregates::default();
    for p in pieces.into_iter().rev() {
        aggregates.merge_in(p);
    }
    Report {
        inputs: vec![InputFile {
            path: "dir/capture<1>.pcap".into(),
            packets: 10 * n,
            start: Some(Timestamp::from_parts(1_700_000_000, 0)),
            end: Some(Timestamp::from_parts(1_700_000_000 + n as i64, 0)),
            ..InputFile::default()
        }],
        aggregates,
        slo_p95_ms: Some(2.0),
        ..Report::default()
    }
}

#[test]
fn the_same_report_gives_the_same_bytes_whatever_the_worker_split() {
    let one = render(&report(300, "www.example.test", 1));
    assert_eq!(one, render(&report(300, "www.example.test", 1)));
    assert_eq!(one, render(&report(300, "www.example.test", 3)));
}

#[test]
fn the_policy_allows_exactly_the_inlined_style_and_script() {
    let html = render(&report(30, "www.example.test", 1));
    let csp = page::policy().replace('\'', "&#39;");
    assert!(
        html.contains(&format!("content=\"{csp}\"")),
        "policy in the head"
    );
    assert!(csp.starts_with("default-src &#39;none&#39;;"));
    let style = html
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next());
    assert_eq!(style, Some(page::STYLE));
    let script = html
        .split("<script>")
        .nth(1)
        .and_then(|s| s.split("</script>").next());
    assert_eq!(script, Some(page::SCRIPT));
    assert!(csp.contains(&page::csp_hash(page::STYLE).replace('\'', "&#39;")));
    assert!(csp.contains(&page::csp_hash(page::SCRIPT).replace('\'', "&#39;")));
    assert_eq!(html.matches("<style").count(), 1);
    assert_eq!(html.matches("<script").count(), 1);
    for forbidden in [
        " style=",
        " onclick=",
        " onload=",
        " src=",
        "http://",
        "https://",
        "url(http",
    ] {
        assert!(!html.contains(forbidden), "{forbidden} in the page");
    }
    // Links stay in the page.
    for href in html.split(" href=\"").skip(1) {
        assert!(href.starts_with('#'), "{}", &href[..href.len().min(40)]);
    }
}

#[test]
fn traffic_chosen_text_is_escaped() {
    let html = render(&report(9, "<script>alert(1)</script>.test", 1));
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.test"));
    assert!(html.contains("reset &lt;0&gt;"), "explanations too");
    assert!(html.contains("capture&lt;1&gt;.pcap"), "and input paths");
}

#[test]
fn every_section_is_there_with_the_numbers_of_the_report() {
    let html = render(&report(300, "www.example.test", 2));
    for id in [
        "overview",
        "outcomes",
        "latency",
        "census",
        "clients",
        "certificates",
        "failed",
    ] {
        assert!(html.contains(&format!("<section id=\"{id}\"")), "{id}");
        assert!(
            html.contains(&format!("<a href=\"#{id}\">")),
            "{id} in the navigation"
        );
    }
    assert!(html.contains("<dd>300</dd><"), "connections");
    assert!(
        html.contains("established <b>200</b> (66.7 %)"),
        "outcome split"
    );
    assert!(
        html.contains("server_reset: 100 (100.0 %)"),
        "cause ranking"
    );
    assert!(html.contains("SLO 2.00 ms"), "the SLO line");
    assert!(html.contains("Showing 100 of 100 listed failed connections."));
    assert!(html.contains("<tr data-cause=\"server_reset\">"));
}

#[test]
fn a_capture_whose_clock_stepped_back_still_makes_a_page() {
    let mut r = report(30, "www.example.test", 1);
    let first = r.inputs[0].start;
    r.inputs[0].start = r.inputs[0].end;
    r.inputs[0].end = first.map(|t| Timestamp(t.0 - 86_400_000_000_000 * 400));
    let html = render(&r);
    assert!(html.contains("capture span"));
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn an_empty_report_still_makes_a_page() {
    let html = render(&Report::default());
    assert!(html.contains("No TLS connection was found."));
    assert!(html.contains("No connection failed."));
    assert!(html.ends_with("</html>\n"));
}
