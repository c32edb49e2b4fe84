//! The page's sections, one file each, and the pieces they share: tables whose numbers align,
//! figures with captions, and notes for what was left out.

pub(super) mod census;
pub(super) mod certificates;
pub(super) mod clients;
pub(super) mod failed;
pub(super) mod latency;
pub(super) mod outcomes;
pub(super) mod overview;

use std::fmt::Write as _;

use super::format::{Esc, count};

/// One section of the page, with its place in the navigation.
pub(super) struct Section {
    /// Anchor (`#outcomes`).
    pub id: &'static str,
    /// Heading and navigation text.
    pub title: &'static str,
    /// Its HTML.
    pub body: String,
}

/// How a column's cells are aligned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    /// Text, left.
    Text,
    /// Numbers, right, in tabular figures.
    Number,
}

impl Align {
    /// The cell's class attribute.
    fn class(self) -> &'static str {
        match self {
            Align::Text => "",
            Align::Number => " class=\"n\"",
        }
    }
}

/// A table with a caption, header cells and rows of cells given as HTML (escape text with
/// [`Esc`]).
pub(super) fn table(caption: &str, head: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut html = format!(
        "<div class=\"table-wrap\"><table><caption>{}</caption><thead><tr>",
        Esc(caption)
    );
    for (name, align) in head {
        let _ = write!(
            html,
            "<th scope=\"col\"{}>{}</th>",
            align.class(),
            Esc(name)
        );
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for (cell, (_, align)) in row.iter().zip(head) {
            let _ = write!(html, "<td{}>{cell}</td>", align.class());
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div>");
    html
}

/// A chart with its caption (HTML).
pub(super) fn figure(chart: &str, caption: &str) -> String {
    format!("<figure>{chart}<figcaption>{caption}</figcaption></figure>")
}

/// "N more WHAT not shown." when `hidden` is not zero.
pub(super) fn more(hidden: usize, what: &str) -> String {
    if hidden == 0 {
        return String::new();
    }
    format!(
        "<p class=\"note\">{} more {} not shown (all of them are in the JSON report).</p>",
        count(hidden as u64),
        Esc(what)
    )
}

/// Escaped text, for table cells.
pub(super) fn text(s: &str) -> String {
    Esc(s).to_string()
}

/// A badge: a short flag in a table cell (`class` says how it looks).
pub(super) fn badge(label: &str, class: &str) -> String {
    format!("<span class=\"badge {class}\">{}</span>", Esc(label))
}

/// A headline number with its label, for a `<dl class="cards">` (the CSS shows the number
/// above its label).
pub(super) fn card(value: &str, label: &str) -> String {
    format!(
        "<div class=\"card\"><dt>{}</dt><dd>{}</dd></div>",
        Esc(label),
        Esc(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_numbers_and_escape_headers() {
        let html = table(
            "servers <all>",
            &[("server", Align::Text), ("connections", Align::Number)],
            &[vec![text("a&b"), count(1234)]],
        );
        assert!(html.contains("<caption>servers &lt;all&gt;</caption>"));
        assert!(html.contains("<th scope=\"col\" class=\"n\">connections</th>"));
        assert!(html.contains("<td>a&amp;b</td><td class=\"n\">1,234</td>"));
        assert_eq!(more(0, "servers"), "");
        assert!(more(3, "servers").contains("3 more servers not shown"));
    }
}
