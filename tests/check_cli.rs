//! `tlsight check` end to end: exit codes, the terminal report, `--json` read back as a
//! baseline, truncated inputs with and without `--strict-input`, NDJSON records as input, and
//! the CI outputs validated against their schemas (JUnit XML with xmllint and the Jenkins
//! xUnit XSD; SARIF 2.1.0 with the OASIS JSON Schema).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tlsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlsight"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run tlsight")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_policy(dir: &Path, body: &str) -> PathBuf {
    write_named(dir, "policy.toml", body)
}

fn write_named(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

const MIN_TLS12: &str = "[[rule]]\nid = \"modern-versions\"\nmin_version = \"TLSv1.2\"\n";

#[test]
fn exit_codes_say_pass_violation_bad_arguments_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), MIN_TLS12);
    let p = policy.to_str().unwrap();
    let out = tlsight(&["check", "captures/tls12-ecdhe-rsa.pcap", "--policy", p]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("PASS: 0 failing violations"),
        "{}",
        text(&out.stdout)
    );

    let out = tlsight(&["check", "captures/tls10-ecdhe-rsa.pcap", "--policy", p]);
    assert_eq!(code(&out), 4, "violations: {}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("modern-versions on server.test"),
        "{report}"
    );
    assert!(
        report.contains("min_version: TLSv1.0, 1 connection"),
        "{report}"
    );
    assert!(report.contains("e.g. 2026-11-22T"), "{report}");

    let bad = write_policy(
        dir.path(),
        "[[rule]]\nid = \"x\"\nmin_versoin = \"TLSv1.2\"\n",
    );
    let out = tlsight(&[
        "check",
        "captures/tls12-ecdhe-rsa.pcap",
        "--policy",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("unknown field `min_versoin`"),
        "{}",
        text(&out.stderr)
    );

    let out = tlsight(&["check", "captures/tls12-ecdhe-rsa.pcap"]);
    assert_eq!(code(&out), 2, "no policy");
    let out = tlsight(&[
        "check",
        "captures/tls12-ecdhe-rsa.pcap",
        "--profile",
        "mozilla-ancient",
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("mozilla-intermediate (5.7, 6.0)"));
    let out = tlsight(&[
        "check",
        "captures/tls12-ecdhe-rsa.pcap",
        "--policy",
        p,
        "--now",
        "soon",
    ]);
    assert_eq!(code(&out), 2);

    let p = write_policy(dir.path(), MIN_TLS12);
    let p = p.to_str().unwrap();
    let out = tlsight(&["check", "captures/no-such-file.pcap", "--policy", p]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("no-such-file.pcap"),
        "{}",
        text(&out.stderr)
    );
    let report = dir.path().join("report.json");
    tlsight(&[
        "analyze",
        "captures/tls12-ecdhe-rsa.pcap",
        "--json",
        report.to_str().unwrap(),
        "-q",
    ]);
    let out = tlsight(&["check", report.to_str().unwrap(), "--policy", p]);
    assert_eq!(code(&out), 2, "a report has no connection records");
    assert!(
        text(&out.stderr).contains("--ndjson"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_truncated_capture_is_checked_over_what_was_read_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(
        dir.path(),
        "[[rule]]\nid = \"no-failures\"\nforbidden_failure_causes = [\"no_shared_cipher\"]\n",
    );
    let p = policy.to_str().unwrap();
    let damaged = "captures/defect-truncated-mid-packet.pcap";
    let out = tlsight(&["check", damaged, "--policy", p]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("defect-truncated-mid-packet.pcap"));
    assert!(
        text(&out.stdout).contains("checked over what was read"),
        "{}",
        text(&out.stdout)
    );
    let out = tlsight(&["check", damaged, "--policy", p, "--strict-input"]);
    assert_eq!(code(&out), 3);
}

#[test]
fn ndjson_records_are_checked_like_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), MIN_TLS12);
    let records = dir.path().join("records.ndjson");
    tlsight(&[
        "analyze",
        "captures/tls10-ecdhe-rsa.pcap",
        "--ndjson",
        records.to_str().unwrap(),
        "-q",
    ]);
    let from_records = dir.path().join("a.json");
    let from_capture = dir.path().join("b.json");
    let p = policy.to_str().unwrap();
    let out = tlsight(&[
        "check",
        records.to_str().unwrap(),
        "--policy",
        p,
        "--json",
        from_records.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 4);
    tlsight(&[
        "check",
        "captures/tls10-ecdhe-rsa.pcap",
        "--policy",
        p,
        "--json",
        from_capture.to_str().unwrap(),
    ]);
    let verdicts = |path: &Path| -> Value {
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["verdicts"].clone()
    };
    assert_eq!(verdicts(&from_records), verdicts(&from_capture));
}

#[test]
fn a_baseline_fails_only_on_new_violations() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(
        dir.path(),
        &format!("{MIN_TLS12}[[rule]]\nid = \"no-cbc\"\naead = true\n"),
    );
    let p = policy.to_str().unwrap();
    let baseline = dir.path().join("baseline.json");
    let out = tlsight(&[
        "check",
        "captures/tls11-ecdhe-rsa.pcap",
        "--policy",
        p,
        "--json",
        baseline.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&out), 4);
    let b = baseline.to_str().unwrap();
    // The same violations again (another capture of the same estate, other ports and times).
    let out = tlsight(&[
        "check",
        "captures/tls11-ecdhe-rsa.pcap",
        "--policy",
        p,
        "--baseline",
        b,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("[known]"),
        "{}",
        text(&out.stdout)
    );
    // TLS 1.0 is a new offending value of a known rule: it fails; the CBC suite is known.
    let result = dir.path().join("result.json");
    let out = tlsight(&[
        "check",
        "captures/tls10-ecdhe-rsa.pcap",
        "--policy",
        p,
        "--baseline",
        b,
        "--json",
        result.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 4);
    let r: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(r["summary"]["failing_violations"], 1);
    assert_eq!(r["summary"]["known_violations"], 1);
    let new: Vec<&Value> = r["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["violations"].as_array().unwrap())
        .filter(|v| v["new"] == true)
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["value"], "TLSv1.0");
    // A capture as the baseline is checked with the same policy first.
    let out = tlsight(&[
        "check",
        "captures/tls11-ecdhe-rsa.pcap",
        "--policy",
        p,
        "--baseline",
        "captures/tls11-ecdhe-rsa.pcap",
        "-q",
    ]);
    assert_eq!(code(&out), 0);
    let out = tlsight(&[
        "check",
        "captures/tls11-ecdhe-rsa.pcap",
        "--policy",
        p,
        "--baseline",
        "captures/README.md",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
}

/// Runs a check that has passes, failures, a warning, a not-judged and a not-seen verdict,
/// with every output.
fn rich_check(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let policy = write_policy(
        dir,
        "extends = \"mozilla-intermediate@5.7\"\n\
         [[rule]]\nid = \"versions\"\nservers = [\"server.test\", \"api.example.com\"]\nmin_version = \"TLSv1.2\"\n\
         [[rule]]\nid = \"lifetime\"\nseverity = \"warning\"\ncertificate_max_lifetime_days = 30\n\
         [[rule]]\nid = \"latency\"\nmax_handshake_ms = { p95 = 1000 }\nmin_handshakes = 50\n\
         [[rule]]\nid = \"names<&>\\\"quoted\\\"\"\ndescription = \"escaping & <markup>\"\naead = true\n",
    );
    let (json, junit, sarif) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.sarif"));
    let out = tlsight(&[
        "check",
        "captures/tls10-ecdhe-rsa.pcap",
        "captures/tls12-ecdhe-rsa.pcap",
        "--policy",
        policy.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--sarif",
        sarif.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 4, "{}", text(&out.stderr));
    (json, junit, sarif)
}

#[test]
fn junit_is_valid_and_has_one_case_per_rule_and_server() {
    let dir = tempfile::tempdir().unwrap();
    let (json, junit, _) = rich_check(dir.path());
    let xml = std::fs::read_to_string(&junit).unwrap();
    let xsd = root().join("tests/schemas/junit-10.xsd");
    match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&junit)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "xmllint: {}{}\n{xml}",
            text(&out.stdout),
            text(&out.stderr)
        ),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "xmllint not installed ({e}): JUnit not validated; scripts/ensure-deps.sh installs it"
            )
        }
        Err(e) => panic!("xmllint is needed in CI (scripts/ensure-deps.sh): {e}"),
    }
    let result: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let verdicts = result["verdicts"].as_array().unwrap();
    assert_eq!(xml.matches("<testcase ").count(), verdicts.len());
    assert_eq!(
        xml.matches("<testsuite ").count(),
        result["rules"].as_array().unwrap().len()
    );
    let failing = verdicts
        .iter()
        .filter(|v| v["status"] == "fail" && v["severity"] == "error")
        .count();
    assert_eq!(xml.matches("<failure ").count(), failing);
    assert!(
        xml.contains("name=\"api.example.com\" time=\"0\">\n      <skipped message=\"not seen")
    );
    assert!(
        xml.contains("warning (does not fail the check)"),
        "the warning rule passes with its evidence"
    );
    assert!(
        xml.contains("names&lt;&amp;&gt;&quot;quoted&quot;"),
        "escaped ids"
    );
    assert!(xml.contains(&format!(
        "tests=\"{}\" failures=\"{failing}\"",
        verdicts.len()
    )));
}

#[test]
fn sarif_is_valid_with_stable_rule_ids_and_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _, sarif) = rich_check(dir.path());
    let doc: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let mut schema: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/schemas/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    // One change, in memory: the published schema's pattern for the `language` properties
    // (of `run` and `toolComponent`, which tlsight does not write),
    // `^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`, has an unbalanced `]` that the validator's
    // meta-schema check rejects as a regex, so it is dropped there.
    let mut dropped = Vec::new();
    for (name, def) in schema["definitions"].as_object_mut().unwrap() {
        if let Some(language) = def["properties"].get_mut("language")
            && language["pattern"]
                .as_str()
                .is_some_and(|p| p.ends_with("]?$"))
        {
            language.as_object_mut().unwrap().remove("pattern");
            dropped.push(name.clone());
        }
    }
    assert_eq!(dropped, ["run", "toolComponent"]);
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF schema violations: {errors:#?}");
    // And the schema does catch a broken document.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!validator.is_valid(&broken));

    let run = &doc["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"mozilla-intermediate/versions") && rules.contains(&"versions"));
    let result: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let violations: Vec<&Value> = result["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["violations"].as_array().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), violations.len());
    for (r, v) in results.iter().zip(&violations) {
        assert_eq!(
            r["partialFingerprints"]["tlsightViolation/v1"],
            v["fingerprint"]
        );
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(r["ruleId"].as_str().unwrap(), rules[index]);
    }
    // Rules of the policy file point at their line; profile rules at the first input.
    let at = |rule: &str| {
        let r = results.iter().find(|r| r["ruleId"] == rule).unwrap();
        let loc = &r["locations"][0]["physicalLocation"];
        (
            loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
            loc["region"]["startLine"].as_u64().unwrap(),
        )
    };
    for r in results {
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            !uri.contains([' ', '\\', '%']) || uri.contains("%20"),
            "a URI reference: {uri}"
        );
    }
    let (uri, line) = at("versions");
    assert!(uri.ends_with("policy.toml") && line == 2, "{uri}:{line}");
    assert_eq!(
        at("mozilla-intermediate/versions"),
        ("captures/tls10-ecdhe-rsa.pcap".to_string(), 1)
    );
}

#[test]
fn fingerprints_do_not_change_when_the_traffic_is_recorded_again() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), MIN_TLS12);
    let fingerprints = |capture: &str| -> Vec<Value> {
        let out = dir.path().join("r.json");
        tlsight(&[
            "check",
            capture,
            "--policy",
            policy.to_str().unwrap(),
            "--json",
            out.to_str().unwrap(),
            "-q",
        ]);
        let r: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        r["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|v| {
                v["violations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["fingerprint"].clone())
            })
            .collect()
    };
    let a = fingerprints("captures/diff/regress-version.pcap");
    assert_eq!(a.len(), 1);
    // Another TLS 1.0 server.test, recorded with other ports, times, keys and serials.
    assert_eq!(a, fingerprints("captures/tls10-ecdhe-rsa.pcap"));
}

#[test]
fn help_documents_the_exit_codes() {
    let out = tlsight(&["check", "--help"]);
    let help = text(&out.stdout);
    assert!(help.contains("Exit codes: 0 every rule holds; 4"), "{help}");
    let out = tlsight(&["diff", "--help"]);
    assert!(text(&out.stdout).contains("Exit codes: 0"));
}

#[test]
fn the_example_policy_of_the_readme_reads() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("```toml\n")
        .expect("a TOML example in the README")
        + 8;
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), example);
    let out = tlsight(&[
        "check",
        "captures/tls12-ecdhe-rsa.pcap",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(matches!(code(&out), 0 | 4), "{}", text(&out.stderr));
}
