//! `tlsight merge` is exact: the scenario captures in `captures/`, read one after the other as
//! one capture whose time moves forward (each re-timed to start after the previous one, as a
//! sensor's clock does), are split into parts by connection (no connection spans two parts, as
//! with one sensor per link or a BPF filter by client), each part is analysed on its own, and
//! the merged part reports equal the report of all the traffic analysed at once — percentiles,
//! censuses, client profiles, what breaks, the certificate inventory and the merge state
//! itself — except `inputs`, which lists the part files (the README's "Running a fleet" lists
//! what else can differ in general, and why).

use std::io::Write;
use std::path::{Path, PathBuf};

use similar::TextDiff;
use tlsight::capture::{OfflineFile, PacketSource};
use tlsight::decode::{Decoded, Decoder};
use tlsight::flow::{Endpoint, FlowKey, Transport};
use tlsight::output::write_report;
use tlsight::pipeline::{Analysis, Config, analyze_files};

const PARTS: usize = 3;

/// Every capture in `captures/` (pcap and pcapng), sorted.
fn scenario_captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("captures/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

/// A classic pcap writer with nanosecond timestamps (so no precision is lost).
struct PcapWriter {
    out: std::io::BufWriter<std::fs::File>,
}

impl PcapWriter {
    fn create(path: &Path, link: i32) -> Self {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create part"));
        let mut header = Vec::new();
        header.extend_from_slice(&0xa1b2_3c4d_u32.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&[0; 8]);
        header.extend_from_slice(&262_144u32.to_le_bytes());
        header.extend_from_slice(&(link as u32).to_le_bytes());
        out.write_all(&header).expect("write header");
        PcapWriter { out }
    }

    fn frame(&mut self, ts_ns: i64, data: &[u8], wire_len: u32) {
        let mut head = Vec::with_capacity(16);
        head.extend_from_slice(&(ts_ns.div_euclid(1_000_000_000) as u32).to_le_bytes());
        head.extend_from_slice(&(ts_ns.rem_euclid(1_000_000_000) as u32).to_le_bytes());
        head.extend_from_slice(&(data.len() as u32).to_le_bytes());
        head.extend_from_slice(&wire_len.to_le_bytes());
        self.out.write_all(&head).expect("write record");
        self.out.write_all(data).expect("write frame");
    }
}

/// A capture re-timed to start after the previous one, and its parts.
struct Split {
    whole: PathBuf,
    parts: Vec<PathBuf>,
    /// Capture time of its last frame, after re-timing (nanoseconds).
    end_ns: i64,
}

/// Gap between one capture and the next once re-timed: longer than the idle timeout, as
/// between two unrelated captures.
const GAP_NS: i64 = 1_000 * 1_000_000_000;

/// Copies `capture` into `dir`, shifted forward in time to start at least [`GAP_NS`] after
/// `after_ns` (so that the scenario captures, read in order, form one capture whose time only
/// moves forward, as a sensor's does), and splits the copy into `PARTS` files by connection
/// (see [`flow_part`]); frames that are neither TCP nor UDP go to part 0.
fn split(capture: &Path, dir: &Path, after_ns: i64) -> Split {
    let mut source = OfflineFile::open(capture).expect("open capture");
    let link = source.link_type();
    let stem = capture.file_name().expect("file name").to_string_lossy();
    let whole = dir.join(format!("{stem}.pcap"));
    let parts: Vec<PathBuf> = (0..PARTS)
        .map(|i| dir.join(format!("{stem}.part{i}.pcap")))
        .collect();
    let mut whole_writer = PcapWriter::create(&whole, link.0);
    let mut writers: Vec<PcapWriter> = parts
        .iter()
        .map(|p| PcapWriter::create(p, link.0))
        .collect();
    let mut decoder = Decoder::new();
    let (mut offset, mut end_ns) = (None, after_ns);
    // A truncated capture ends with an error: the frames before it are split, as analysed.
    while let Ok(Some(frame)) = source.next_frame() {
        let shift = *offset.get_or_insert((after_ns + GAP_NS - frame.ts.0).max(0));
        let ts = frame.ts.0 + shift;
        end_ns = end_ns.max(ts);
        let part = match decoder.decode(link, frame.data, frame.ts) {
            Ok(Decoded::Tcp(seg)) => flow_part(Transport::Tcp, seg.src, seg.dst),
            Ok(Decoded::Udp(d)) => flow_part(Transport::Udp, d.src, d.dst),
            _ => 0,
        };
        whole_writer.frame(ts, frame.data, frame.wire_len);
        writers[part].frame(ts, frame.data, frame.wire_len);
    }
    Split {
        whole,
        parts,
        end_ns,
    }
}

/// The part of a connection: by the symmetric flow hash, so both directions land in it.
fn flow_part(transport: Transport, src: Endpoint, dst: Endpoint) -> usize {
    FlowKey::from_endpoints(transport, src, dst).0.shard(PARTS)
}

/// Every scenario capture, re-timed one after the other and split (see [`split`]).
fn split_all(dir: &Path) -> Vec<Split> {
    let mut after_ns = 0;
    scenario_captures()
        .iter()
        .map(|c| {
            let s = split(c, dir, after_ns);
            after_ns = s.end_ns;
            s
        })
        .collect()
}

fn analyze(paths: &[PathBuf]) -> Analysis {
    let cfg = Config {
        want_records: false,
        workers: 2,
        ..Config::default()
    };
    analyze_files(paths, &cfg, &mut std::io::sink()).expect("analysis")
}

/// The report as JSON, without `inputs` (the part files are not the whole capture's files).
fn comparable(report: &tlsight::output::Report) -> String {
    let mut out = Vec::new();
    write_report(report, &mut out).expect("write to a Vec");
    let mut v: serde_json::Value = serde_json::from_slice(&out).expect("report JSON");
    v.as_object_mut().expect("object").remove("inputs");
    serde_json::to_string_pretty(&v).expect("JSON")
}

#[test]
fn merged_part_reports_equal_the_report_of_the_whole_capture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let split = split_all(dir.path());
    let captures: Vec<PathBuf> = split.iter().map(|s| s.whole.clone()).collect();

    let whole = analyze(&captures);
    let mut part_reports = Vec::new();
    for part in 0..PARTS {
        let files: Vec<PathBuf> = split.iter().map(|s| s.parts[part].clone()).collect();
        let report = analyze(&files).report;
        // Through the JSON form, as `tlsight merge` reads it.
        let mut json = Vec::new();
        write_report(&report, &mut json).expect("write to a Vec");
        let path = dir.path().join(format!("part{part}.json"));
        std::fs::write(&path, &json).expect("write part report");
        part_reports.push(tlsight::merge::read_report_file(&path).expect("read part report"));
    }
    // Every part holds connections, so the merge is not trivially one report.
    for r in &part_reports {
        assert!(
            r.aggregates.all.connections > 10,
            "{}",
            r.aggregates.all.connections
        );
    }
    let merged = tlsight::merge::merge(part_reports).expect("merge");
    assert_eq!(merged.inputs.len(), PARTS * captures.len());

    let (expected, actual) = (comparable(&whole.report), comparable(&merged));
    if expected != actual {
        let diff = TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .context_radius(2)
            .header("whole capture", "merged parts")
            .to_string();
        panic!("the merged report differs from the whole capture's:\n{diff}");
    }
    // The key facts in plain words: the same connections, the same p95, the same inventory.
    let agg = &merged.aggregates;
    assert_eq!(agg.all.connections, whole.report.aggregates.all.connections);
    assert!(agg.clients.entries.len() > 5 && agg.certificates.entries.len() > 10);
}

#[test]
fn the_merge_command_writes_the_merged_report() {
    let captures = scenario_captures();
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = captures.split_at(captures.len() / 2);
    let mut reports = Vec::new();
    for (name, files) in [("a.json", a), ("b.json", b)] {
        let path = dir.path().join(name);
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_tlsight"))
            .arg("analyze")
            .args(files)
            .arg("--json")
            .arg(&path)
            .arg("--quiet")
            .status()
            .expect("run tlsight analyze");
        // One capture is truncated on purpose (exit code 3): its report is still written.
        assert!(matches!(status.code(), Some(0 | 3)), "{status}");
        reports.push(path);
    }
    let merged = dir.path().join("merged.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsight"))
        .arg("merge")
        .args(&reports)
        .arg("--json")
        .arg(&merged)
        .output()
        .expect("run tlsight merge");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("Outcomes"), "{summary}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&merged).expect("merged report")).expect("JSON");
    // Each half is one capture (its files merged by time, so copies of a connection in two
    // files count once); the merged report adds the halves.
    let halves =
        analyze(a).report.aggregates.all.connections + analyze(b).report.aggregates.all.connections;
    assert_eq!(report["summary"]["tls_connections"], halves);
    assert_eq!(
        report["inputs"].as_array().expect("inputs").len(),
        captures.len()
    );
}
