//! The HTML report in a real browser (headless Chromium, driven over the DevTools protocol;
//! see `cdp.rs`): the report of the scenario captures renders without a console error or a
//! failed request, its charts and tables carry the numbers of the JSON report of the same run,
//! sorting and filtering work from the keyboard, it prints to PDF, and it makes no network
//! request: its Content-Security-Policy (read from the DOM) blocks every attempt, and a
//! listener on loopback sees none.
//!
//! Skipped with a message when Chromium is not installed, except under CI (`CI` set), where
//! `scripts/ensure-deps.sh` installs it and a missing browser is a failure.

mod cdp;
#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use cdp::{Browser, find_chromium};

/// Chromium, or `None` (with the reason printed) when the test is to be skipped.
fn chromium() -> Option<PathBuf> {
    match find_chromium() {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("chromium is not installed (scripts/ensure-deps.sh installs it)")
        }
        None => {
            eprintln!("skipped: chromium is not installed (apt-get install chromium)");
            None
        }
    }
}

/// Every scenario capture, analysed as one capture with an SLO: the HTML and JSON reports.
fn scenario_reports(dir: &Path) -> (PathBuf, Value) {
    let captures = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&captures)
        .expect("captures/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    paths.sort();
    let mut run = common::analyze(&paths, 2);
    run.analysis.report.slo_p95_ms = Some(5.0);
    let json: Value = serde_json::from_slice(&common::report_json(&run)).expect("JSON report");
    let html = dir.join("report.html");
    std::fs::write(&html, common::report_html(&run)).expect("write the page");
    (html, json)
}

/// Console errors, uncaught exceptions, error log entries and failed loads seen so far.
fn problems(browser: &Browser) -> Vec<String> {
    let mut v = Vec::new();
    for e in &browser.events {
        let p = &e["params"];
        match e["method"].as_str().unwrap_or_default() {
            "Runtime.exceptionThrown" => v.push(format!("exception: {}", p["exceptionDetails"])),
            "Runtime.consoleAPICalled"
                if matches!(p["type"].as_str(), Some("error" | "warning" | "assert")) =>
            {
                v.push(format!("console {}: {}", p["type"], p["args"]));
            }
            "Log.entryAdded"
                if p["entry"]["level"] == "error" || p["entry"]["level"] == "warning" =>
            {
                v.push(format!("log: {}", p["entry"]["text"]));
            }
            "Network.loadingFailed" => v.push(format!("failed request: {p}")),
            _ => {}
        }
    }
    v
}

/// URLs of every request the page made.
fn requests(browser: &Browser) -> Vec<String> {
    browser
        .events_named("Network.requestWillBeSent")
        .iter()
        .map(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A count as the page writes it (`1,234`), read back.
fn number(text: &str) -> u64 {
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {text}"))
}

/// Where screenshots and the PDF go: kept after the test for a look.
fn artefacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&dir).expect("artefact directory");
    dir
}

/// Reads what the page shows, from the DOM, as one JSON value.
const READ_PAGE: &str = r##"(() => {
  const text = (el) => el ? el.textContent.trim() : null;
  const all = (sel) => Array.from(document.querySelectorAll(sel));
  const titles = (sel) => all(sel + " rect > title").map((t) => t.textContent);
  const cards = {};
  all("#overview .card").forEach((c) => { cards[text(c.querySelector("dt"))] = text(c.querySelector("dd")); });
  return {
    csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]').content,
    sections: all("main > section").map((s) => s.id),
    cards,
    outcome_legend: all("#outcomes figure.share li").map(text),
    cause_bars: titles('#outcomes svg[aria-label^="Failure causes"]'),
    timeline_tips: Array.from(new Set(titles('#outcomes svg[aria-label^="Connections per"]'))),
    latency_captions: all("#latency figcaption").map(text),
    latency_charts: all('#latency svg.chart').length,
    version_bars: titles('#census svg[aria-label="Versions negotiated"]'),
    calendar_rows: all('#certificates svg[aria-label^="Certificate validity"] rect[class^="cert-"]').length,
    inventory_rows: all("#certificates table tbody tr").length,
    client_rows: all("#clients table")[1].tBodies[0].rows.length,
    input_rows: all("#overview table")[0].tBodies[0].rows.length,
    failed_rows: all("#failed-table tbody tr").map((r) => r.cells[0].getAttribute("data-v")),
    failed_status: text(document.getElementById("failed-status")),
  };
})()"##;

#[test]
fn the_report_renders_with_the_numbers_of_the_json_report() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (html, json) = scenario_reports(dir.path());
    let mut browser = Browser::start(&chromium);
    let url = browser.open(&html);
    let page = browser.eval(READ_PAGE);

    assert_eq!(
        page["sections"],
        json!([
            "overview",
            "outcomes",
            "latency",
            "census",
            "clients",
            "certificates",
            "failed"
        ])
    );
    let connections = json["summary"]["tls_connections"].as_u64().expect("count");
    let card = page["cards"]["TLS connections"].as_str().expect("card");
    assert_eq!(number(card), connections);

    // Outcomes: the legend of the split bar, `established 41 (71.9 %)`.
    let legend: BTreeMap<String, u64> = page["outcome_legend"]
        .as_array()
        .expect("legend")
        .iter()
        .map(|li| {
            let words: Vec<&str> = li.as_str().unwrap_or_default().split_whitespace().collect();
            (
                words[0].to_string(),
                words[1].replace(',', "").parse().expect("count"),
            )
        })
        .collect();
    let outcomes: BTreeMap<String, u64> =
        serde_json::from_value(json["summary"]["outcomes"].clone()).expect("outcomes");
    assert_eq!(legend, outcomes);

    // Failure causes: one bar each, `cause: count (share)`.
    let bars: Vec<(String, u64)> = page["cause_bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|t| {
            let (cause, rest) = t
                .as_str()
                .unwrap_or_default()
                .split_once(": ")
                .expect("title");
            let n = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .replace(',', "");
            (cause.to_string(), n.parse().expect("count"))
        })
        .collect();
    let ranked: Vec<(String, u64)> = json["failure_causes_ranked"]
        .as_array()
        .expect("ranked causes")
        .iter()
        .map(|c| {
            (
                c["cause"].as_str().unwrap_or_default().to_string(),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(bars, ranked);

    // Over time: one column per non-empty bin, whose tooltip adds up to the bin's count.
    let bins = json["timeline"]["bins"].as_array().expect("bins");
    let tips = page["timeline_tips"].as_array().expect("tips");
    assert_eq!(tips.len(), bins.len(), "{tips:?}");
    let column_total = |tip: &str| -> u64 {
        tip.split_once(": ")
            .map(|(_, counts)| counts)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|w| w.replace(',', "").parse::<u64>().ok())
            .sum()
    };
    let drawn: u64 = tips
        .iter()
        .map(|t| column_total(t.as_str().unwrap_or_default()))
        .sum();
    assert_eq!(drawn, connections, "every connection is in a column");

    // Latency: each phase's histogram, captioned with the report's sample count.
    let captions: Vec<&str> = page["latency_captions"]
        .as_array()
        .expect("captions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (phase, title) in [
        ("tcp_handshake", "TCP handshake"),
        ("client_hello_to_server_hello", "ClientHello → ServerHello"),
        ("client_hello_to_done", "ClientHello → done"),
    ] {
        let n = json["latency_us"][phase]["count"].as_u64().expect("count");
        let caption = captions
            .iter()
            .find_map(|c| c.strip_prefix(title)?.strip_prefix("n = "))
            .unwrap_or_else(|| panic!("{title} in {captions:?}"));
        let shown = caption.split(' ').next().unwrap_or_default();
        assert_eq!(number(shown), n, "{title}");
    }
    let versions_timed = json["latency_by_version_us"]
        .as_array()
        .expect("versions")
        .iter()
        .filter(|v| v["latency_us"]["client_hello_to_done"]["count"].as_u64() > Some(0))
        .count();
    let servers_timed = json["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter(|s| s["latency_us"]["client_hello_to_done"]["count"].as_u64() > Some(0))
        .count();
    assert_eq!(
        page["latency_charts"].as_u64(),
        Some((3 + versions_timed + servers_timed.min(12) + 1) as u64),
        "three phases, one per version, one per server, the strips"
    );

    // Census: negotiated versions.
    let versions: Vec<(String, u64)> = json["versions_negotiated"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or_default();
            let shown = if v["code"].as_u64().is_some_and(|c| c < 0x0303) {
                format!("{name} (deprecated)")
            } else {
                name.to_string()
            };
            (shown, v["count"].as_u64().unwrap_or(0))
        })
        .collect();
    let version_bars: Vec<(String, u64)> = page["version_bars"]
        .as_array()
        .expect("version bars")
        .iter()
        .map(|t| {
            let title = t.as_str().unwrap_or_default();
            let (name, rest) = title.rsplit_once(": ").expect("title");
            (
                name.to_string(),
                number(rest.split(' ').next().unwrap_or_default()),
            )
        })
        .collect();
    assert_eq!(version_bars, versions);

    // Certificates, clients, inputs.
    let certificates = json["certificates"].as_array().expect("certificates").len();
    assert_eq!(
        page["inventory_rows"].as_u64(),
        Some(certificates.min(200) as u64)
    );
    assert_eq!(
        page["calendar_rows"].as_u64(),
        Some(certificates.min(40) as u64)
    );
    let clients = json["clients"].as_array().expect("clients").len();
    assert_eq!(page["client_rows"].as_u64(), Some(clients.min(50) as u64));
    assert_eq!(
        page["input_rows"].as_u64(),
        Some(json["inputs"].as_array().expect("inputs").len() as u64)
    );

    // Failed connections: the report's list, in its order.
    let listed: Vec<Value> = json["failed_connections"]
        .as_array()
        .expect("failed connections")
        .iter()
        .map(|c| c["ts"].clone())
        .collect();
    assert!(!listed.is_empty());
    assert_eq!(page["failed_rows"], Value::Array(listed.clone()));
    let n = listed.len() as u64;
    assert_eq!(
        page["failed_status"],
        json!(format!("Showing {n} of {n} listed failed connections."))
    );

    check_filter_and_keyboard_sort(&mut browser, &json);

    let shot = browser.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    );
    let png = decode_base64(shot["data"].as_str().expect("screenshot"));
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let pdf = browser.call("Page.printToPDF", json!({"printBackground": true}));
    let pdf = decode_base64(pdf["data"].as_str().expect("pdf"));
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let pages = pdf.windows(10).filter(|w| w == b"/Type /Pag").count();
    assert!(
        pages >= 3,
        "the report runs over several printed pages: {pages}"
    );
    let out = artefacts();
    std::fs::write(out.join("scenarios.png"), &png).expect("save screenshot");
    std::fs::write(out.join("scenarios.pdf"), &pdf).expect("save PDF");
    eprintln!("screenshot and PDF saved in {}", out.display());

    assert_eq!(problems(&browser), Vec::<String>::new());
    assert_eq!(
        requests(&browser),
        vec![url],
        "the page itself, nothing else"
    );
}

/// Types into the filter, picks a cause, and sorts by duration from the keyboard (Tab-free:
/// focus the header button, press Enter), checking rows and status from the DOM.
fn check_filter_and_keyboard_sort(browser: &mut Browser, json: &Value) {
    let listed = json["failed_connections"].as_array().expect("listed");
    let cause = listed[0]["cause"].as_str().expect("cause").to_string();
    let expected = listed
        .iter()
        .filter(|c| c["cause"] == cause.as_str())
        .count();
    let shown = browser.eval(&format!(
        r##"(() => {{
          const select = document.getElementById("failed-cause");
          select.value = "{cause}";
          select.dispatchEvent(new Event("change"));
          return Array.from(document.querySelectorAll("#failed-table tbody tr")).filter((r) => !r.hidden).length;
        }})()"##
    ));
    assert_eq!(shown.as_u64(), Some(expected as u64), "rows of {cause}");
    let status = browser.eval(r##"document.getElementById("failed-status").textContent"##);
    assert_eq!(
        status,
        json!(format!(
            "Showing {expected} of {} listed failed connections.",
            listed.len()
        ))
    );
    // Text filter: an IP-and-port nobody else has.
    let client = &listed[0]["client"];
    let needle = format!(
        "{}:{}",
        client["ip"].as_str().unwrap_or_default(),
        client["port"]
    );
    let shown = browser.eval(&format!(
        r##"(() => {{
          document.getElementById("failed-cause").value = "";
          const input = document.getElementById("failed-filter");
          input.value = "{needle}";
          input.dispatchEvent(new Event("input"));
          return Array.from(document.querySelectorAll("#failed-table tbody tr")).filter((r) => !r.hidden).length;
        }})()"##
    ));
    assert_eq!(shown.as_u64(), Some(1), "{needle}");
    browser.eval(
        r##"(() => { const i = document.getElementById("failed-filter"); i.value = ""; i.dispatchEvent(new Event("input")); })()"##,
    );
    // Sort by duration with the keyboard: focus the header's button and press Enter.
    let focused = browser.eval(
        r##"(() => { const b = document.querySelector("#failed-table th:last-child button"); b.focus(); return document.activeElement === b; })()"##,
    );
    assert_eq!(focused, json!(true), "header buttons take the focus");
    for kind in ["keyDown", "keyUp"] {
        browser.call(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}),
        );
    }
    let sorted = browser.eval(
        r##"(() => ({
          sort: document.querySelector("#failed-table th:last-child").getAttribute("aria-sort"),
          durations: Array.from(document.querySelectorAll("#failed-table tbody tr")).map((r) => Number(r.cells[6].getAttribute("data-v"))),
        }))()"##,
    );
    assert_eq!(sorted["sort"], json!("ascending"));
    let mut durations: Vec<u64> = listed
        .iter()
        .filter_map(|c| c["duration_us"].as_u64())
        .collect();
    durations.sort_unstable();
    assert_eq!(sorted["durations"], json!(durations));
}

#[test]
fn the_report_makes_no_network_request() {
    let Some(chromium) = chromium() else {
        return;
    };
    // A listener on loopback that counts connections: the page is given every reason to
    // reach it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("address").port();
    listener.set_nonblocking(true).expect("non-blocking");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let acceptor = std::thread::spawn(move || {
        while !stopped.load(Ordering::Relaxed) {
            if listener.accept().is_ok() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let (html, _) = scenario_reports(dir.path());
    let mut browser = Browser::start(&chromium);
    let url = browser.open(&html);
    let csp = browser.eval(
        r##"document.querySelector('meta[http-equiv="Content-Security-Policy"]').getAttribute("content")"##,
    );
    let csp = csp.as_str().expect("a policy in the DOM");
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    for directive in ["img-src 'none'", "base-uri 'none'", "form-action 'none'"] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let loaded = requests(&browser);
    assert_eq!(
        loaded,
        vec![url.clone()],
        "loading the page fetched only itself"
    );

    // Every kind of load the page could attempt, aimed at the listener: the policy must refuse
    // each (a `securitypolicyviolation` event), and nothing may arrive.
    let target = format!("http://127.0.0.1:{port}/");
    let outcome = browser.eval(&format!(
        r##"(async () => {{
          const violations = [];
          document.addEventListener("securitypolicyviolation", (e) => violations.push(e.effectiveDirective));
          const results = {{}};
          results.fetch = await fetch("{target}fetch").then(() => "loaded", () => "blocked");
          const img = new Image();
          results.img = await new Promise((done) => {{ img.onload = () => done("loaded"); img.onerror = () => done("blocked"); img.src = "{target}img"; }});
          const script = document.createElement("script");
          results.script = await new Promise((done) => {{ script.onload = () => done("loaded"); script.onerror = () => done("blocked"); script.src = "{target}script"; document.body.appendChild(script); }});
          const link = document.createElement("link");
          link.rel = "stylesheet";
          results.style = await new Promise((done) => {{ link.onload = () => done("loaded"); link.onerror = () => done("blocked"); link.href = "{target}style"; document.head.appendChild(link); }});
          await new Promise((done) => setTimeout(done, 200));
          return {{ results, violations }};
        }})()"##
    ));
    assert_eq!(
        outcome["results"],
        json!({"fetch": "blocked", "img": "blocked", "script": "blocked", "style": "blocked"})
    );
    let violations: Vec<&str> = outcome["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for directive in [
        "connect-src",
        "img-src",
        "script-src-elem",
        "style-src-elem",
    ] {
        assert!(
            violations.contains(&directive),
            "{directive} refused: {violations:?}"
        );
    }
    drop(browser);
    std::thread::sleep(std::time::Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    acceptor.join().expect("acceptor");
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        0,
        "nothing reached the listener"
    );
}

/// Standard base64 (the screenshot and the PDF come as such).
fn decode_base64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}
