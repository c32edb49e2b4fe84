//! Aligned text tables for the terminal summary: columns as wide as their widest cell, lines
//! that fit [`LINE_WIDTH`] columns (one column gives way, its cells shortened with `…` where
//! the least is lost), and "N more" when rows were left out.

use crate::aggregate::ServerEntry;
use std::fmt::Write as _;

/// Columns a summary line may take.
pub const LINE_WIDTH: usize = 100;
/// Indent of a table's lines.
const INDENT: usize = 2;
/// Space between columns.
const GAP: usize = 2;

/// How a column's cells are aligned, and shortened when the column must give way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Left-aligned; shortened at the start (names read right to left: `…mail.example.com`).
    Name,
    /// Left-aligned; shortened at the end, at a word boundary (`CN=Example Corp…`).
    Text,
    /// Right-aligned (counts, times), never shortened.
    Number,
}

/// A table being filled.
pub struct Table {
    columns: Vec<(&'static str, Column)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers and kinds of column.
    pub fn new(columns: &[(&'static str, Column)]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table: the header, then the rows.
    pub fn write(&self, s: &mut String) {
        let widths = self.widths();
        let line = |s: &mut String, cells: &[String]| {
            let mut text = " ".repeat(INDENT);
            for (i, ((_, kind), &w)) in self.columns.iter().zip(&widths).enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let cell = shorten(cell, w, *kind);
                if i > 0 {
                    text.push_str(&" ".repeat(GAP));
                }
                let pad = w.saturating_sub(width(&cell));
                match kind {
                    Column::Number => {
                        text.push_str(&" ".repeat(pad));
                        text.push_str(&cell);
                    }
                    Column::Name | Column::Text => {
                        text.push_str(&cell);
                        if i + 1 < self.columns.len() {
                            text.push_str(&" ".repeat(pad));
                        }
                    }
                }
            }
            let _ = writeln!(s, "{}", text.trim_end());
        };
        let header: Vec<String> = self.columns.iter().map(|(h, _)| h.to_string()).collect();
        line(s, &header);
        for row in &self.rows {
            line(s, row);
        }
    }

    /// Column widths: each as wide as its widest cell; when the line would be too long, the
    /// widest shortenable column gives way (down to its header's width).
    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (header, _))| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| width(c))
                    .chain([width(header)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let total =
            |w: &[usize]| INDENT + w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        while total(&widths) > LINE_WIDTH {
            let widest = self
                .columns
                .iter()
                .enumerate()
                .filter(|(i, (header, kind))| {
                    *kind != Column::Number && widths[*i] > width(header).max(8)
                })
                .max_by_key(|(i, _)| widths[*i])
                .map(|(i, _)| i);
            let Some(i) = widest else { break };
            let excess = total(&widths) - LINE_WIDTH;
            let floor = width(self.columns[i].0).max(8);
            widths[i] = widths[i].saturating_sub(excess).max(floor);
        }
        widths
    }
}

/// Columns `text` takes on a terminal (one per character: the summary's text has no wide
/// characters).
pub fn width(text: &str) -> usize {
    text.chars().count()
}

/// `text` made to fit `w` columns as a cell of kind `kind`.
fn shorten(text: &str, w: usize, kind: Column) -> String {
    if width(text) <= w {
        return text.to_string();
    }
    match kind {
        Column::Number => text.to_string(),
        Column::Name => {
            let keep: String = text.chars().rev().take(w.saturating_sub(1)).collect();
            format!("…{}", keep.chars().rev().collect::<String>())
        }
        Column::Text => cut_at_word(text, w),
    }
}

/// `text` cut to at most `w` columns, at the last space or comma that leaves half of it or
/// more (else mid-word), with `…`.
pub fn cut_at_word(text: &str, w: usize) -> String {
    if width(text) <= w {
        return text.to_string();
    }
    let room: String = text.chars().take(w.saturating_sub(1)).collect();
    let cut = room
        .char_indices()
        .rev()
        .find(|&(_, c)| c == ' ' || c == ',')
        .map(|(i, _)| i)
        .filter(|&i| width(&room[..i]) * 2 >= w)
        .unwrap_or(room.len());
    format!("{}…", room[..cut].trim_end_matches([' ', ',']))
}

/// `text` wrapped at spaces into lines of at most `w` columns (a longer word gets a line of
/// its own).
pub fn wrap(text: &str, w: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && width(&line) + 1 + width(word) > w {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `1234567` → `1,234,567`: counts for people (the summary, the HTML report, the progress
/// line).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A server's transports for people: `"tcp"` when it was reached over one, `"tcp 10, quic 4"`
/// (connections each) when over several, so a server reached over both stands out.
pub fn transports_text(server: &ServerEntry) -> String {
    match server.transports.len() {
        1 => server.transports.keys().map(|t| t.to_string()).collect(),
        _ => server
            .transports
            .iter()
            .map(|(t, share)| format!("{t} {}", thousands(share.connections)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `"1 connection"`, `"2 connections"`: the count with the noun in the right number.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else if let Some(stem) = noun
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{n} {stem}ies")
    } else if noun.ends_with('s') || noun.ends_with("sh") || noun.ends_with("ch") {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// The "N more" line after a table cut to its first rows, if any were left out.
pub fn more(s: &mut String, left_out: usize, noun: &str) {
    if left_out > 0 {
        let _ = writeln!(
            s,
            "  … {} more (--top N or --all to see them)",
            plural(left_out as u64, noun)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("", 6), Vec::<String>::new());
        assert_eq!(wrap("toolongword x", 4), ["toolongword", "x"]);
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "connection"), "1 connection");
        assert_eq!(plural(0, "connection"), "0 connections");
        assert_eq!(plural(2, "fingerprint"), "2 fingerprints");
        assert_eq!(plural(3, "day"), "3 days");
        assert_eq!(plural(3, "policy"), "3 policies");
        assert_eq!(plural(2, "class"), "2 classes");
    }

    #[test]
    fn long_names_keep_their_end_and_text_its_words() {
        assert_eq!(
            shorten("very.long.subdomain.example.com", 12, Column::Name),
            "…example.com"
        );
        assert_eq!(
            cut_at_word("CN=Example Certificate Authority, O=Example", 24),
            "CN=Example Certificate…"
        );
        assert_eq!(cut_at_word("short", 24), "short");
        assert_eq!(
            cut_at_word("Averyveryverylongwordwithoutspaces", 10),
            "Averyvery…"
        );
    }

    #[test]
    fn columns_stay_aligned_and_lines_fit() {
        let mut t = Table::new(&[
            ("server", Column::Name),
            ("conns", Column::Number),
            ("p95", Column::Number),
            ("findings", Column::Text),
        ]);
        t.row(vec!["a.test".into(), "11".into(), "-".into(), "ok".into()]);
        t.row(vec![
            format!("{}.example.com", "x".repeat(120)),
            "123456".into(),
            "1.234".into(),
            "expired, weak_key, sni_mismatch (on 3)".into(),
        ]);
        t.row(vec![
            "[2001:db8::1234:5678]:443".into(),
            "77".into(),
            "0.100".into(),
            "-".into(),
        ]);
        let mut s = String::new();
        t.write(&mut s);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines.iter().all(|l| width(l) <= LINE_WIDTH), "{s}");
        // The counts end where their header does, whatever the names' lengths.
        let end = |l: &str, token: &str| l.find(token).map(|i| width(&l[..i]) + width(token));
        let header = end(lines[0], "conns");
        assert_eq!(end(lines[1], "11"), header, "{s}");
        assert_eq!(end(lines[2], "123456"), header, "{s}");
        assert_eq!(end(lines[3], "77"), header, "{s}");
        assert!(
            lines[2].starts_with("  …"),
            "the long name keeps its end: {s}"
        );
        assert!(lines[2].contains(".example.com"), "{s}");
    }
}
