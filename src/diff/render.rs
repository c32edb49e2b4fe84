//! The diff for people (grouped by subject) and as JSON.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{DiffResult, Side};

fn side_text(s: &Side) -> String {
    let paths = s
        .inputs
        .iter()
        .map(|i| i.path.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{paths} ({}: {} connections, {} servers, {} clients)",
        s.kind, s.connections, s.servers, s.clients
    )
}

/// Writes the readable diff.
pub fn terminal(result: &DiffResult, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::new();
    let _ = writeln!(s, "tlsight diff");
    let _ = writeln!(s, "  base:    {}", side_text(&result.base));
    let _ = writeln!(s, "  current: {}", side_text(&result.current));
    for note in &result.notes {
        let _ = writeln!(s, "  note: {note}");
    }
    s.push('\n');
    if result.changes.is_empty() {
        s.push_str("No changes.\n");
        return out.write_all(s.as_bytes());
    }
    let width = result
        .changes
        .iter()
        .map(|c| c.kind.name().len())
        .max()
        .unwrap_or(0);
    let mut last = None;
    for change in &result.changes {
        if last != Some(&change.subject) {
            let _ = writeln!(s, "{}", change.subject.title());
            last = Some(&change.subject);
        }
        let mark = if result.fail_on.contains(&change.kind) {
            "!"
        } else {
            " "
        };
        let _ = writeln!(
            s,
            " {mark} {:width$}  {}: {} -> {}",
            change.kind.name(),
            change.field,
            change.base,
            change.current
        );
    }
    let _ = writeln!(
        s,
        "\n{} change{}{}",
        result.changes.len(),
        if result.changes.len() == 1 { "" } else { "s" },
        if result.fail_on.is_empty() {
            String::new()
        } else {
            format!("; {} of a --fail-on kind (marked !)", result.failing)
        }
    );
    out.write_all(s.as_bytes())
}

/// Writes the result as pretty JSON.
pub fn json(result: &DiffResult, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, result).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
