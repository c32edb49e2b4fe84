//! The README's cookbook is true: every `$ command` of its `console` blocks is run (with this
//! build's `tlsight` first on the PATH, from the project's root), and the output it shows must
//! appear in what the command prints, in order; `...` in a block stands for lines left out.
//! Needs `jq`, as the cookbook does: skipped with a message where it is missing, except under
//! CI (`CI` set), where `scripts/ensure-deps.sh` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `$ command` and the output lines the README shows for it.
struct Example {
    command: String,
    shown: Vec<String>,
}

/// The `console` blocks of the README's "Cookbook" section, as examples.
fn examples(readme: &str) -> Vec<Example> {
    let start = readme.find("\n## Cookbook").expect("a Cookbook section");
    let end = readme[start + 1..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 1 + e);
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    for line in readme[start..end].lines() {
        if line == "```console" {
            in_console = true;
        } else if line == "```" {
            in_console = false;
        } else if in_console {
            if let Some(command) = line.strip_prefix("$ ") {
                out.push(Example {
                    command: command.to_string(),
                    shown: Vec::new(),
                });
            } else if let Some(example) = out.last_mut() {
                example.shown.push(line.to_string());
            }
        }
    }
    out
}

/// Whether `shown` (runs of lines separated by `...`; blank lines ignored at the runs' ends)
/// appears in `printed`, each run contiguous, in order.
fn appears_in(shown: &[String], printed: &str) -> Result<(), String> {
    let printed: Vec<&str> = printed.lines().collect();
    let mut at = 0;
    for run in shown.split(|l| l == "...") {
        let run: Vec<&str> = run.iter().map(String::as_str).collect();
        let first = run.iter().position(|l| !l.is_empty()).unwrap_or(run.len());
        let last = run
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(first, |i| i + 1);
        let run = &run[first..last];
        if run.is_empty() {
            continue;
        }
        let found = (at..=printed.len().saturating_sub(run.len()))
            .find(|&i| printed[i..i + run.len()] == *run)
            .ok_or_else(|| {
                format!(
                    "these lines are not in the output (in order):\n{}",
                    run.join("\n")
                )
            })?;
        at = found + run.len();
    }
    Ok(())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_cookbook_command_prints_what_the_readme_shows() {
    if Command::new("jq").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "jq is missing under CI: scripts/ensure-deps.sh installs it"
        );
        eprintln!("skipped: jq is not installed (scripts/ensure-deps.sh installs it)");
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let examples = examples(&readme);
    assert!(examples.len() >= 8, "{} examples", examples.len());
    let bin = Path::new(env!("CARGO_BIN_EXE_tlsight"))
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let mut failures = Vec::new();
    for example in &examples {
        assert!(example.command.starts_with("tlsight ") || example.command.contains("| tlsight "));
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", &example.command])
            .current_dir(root())
            .env("PATH", &path)
            .output()
            .expect("run bash");
        let printed = String::from_utf8_lossy(&out.stdout);
        // `head` closing the pipe early is how the cookbook cuts long outputs.
        let cut_by_head = example.command.contains("| head");
        if !out.status.success() && !cut_by_head {
            failures.push(format!(
                "$ {}\nexited with {}: {}",
                example.command,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        } else if let Err(e) = appears_in(&example.shown, &printed) {
            failures.push(format!(
                "$ {}\n{e}\n--- printed:\n{printed}",
                example.command
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn shown_lines_are_matched_in_order_and_elisions_skip() {
    let lines = |t: &str| t.lines().map(String::from).collect::<Vec<_>>();
    assert!(appears_in(&lines("a\n...\nc"), "a\nb\nc\n").is_ok());
    assert!(appears_in(&lines("c\n...\na"), "a\nb\nc\n").is_err());
    assert!(
        appears_in(&lines("a\nc"), "a\nb\nc\n").is_err(),
        "a run is contiguous"
    );
    assert!(appears_in(&lines("...\n\nb\n"), "a\nb\n").is_ok());
}
