//! The page around the sections: head with the Content-Security-Policy, the inlined style and
//! script, the navigation, and the footer.
//!
//! The policy is `default-src 'none'`: the page may load nothing, connect nowhere, submit
//! nothing. Its one style sheet and one script are inline and allowed by their SHA-256 hashes
//! (not `'unsafe-inline'`), so even markup smuggled into a server name or certificate subject
//! could neither run nor restyle anything; the charts use no `style` attributes for the same
//! reason.

use std::fmt::Write as _;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::format::Esc;
use super::palette::PATTERNS;
use super::sections::Section;
use crate::output::SCHEMA_VERSION;

/// The style sheet, inlined.
pub(super) const STYLE: &str = include_str!("style.css");
/// The table script, inlined.
pub(super) const SCRIPT: &str = include_str!("script.js");

/// `'sha256-…'`: a CSP source allowing an inline element whose content is `text`.
pub(super) fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The Content-Security-Policy of the page.
pub(super) fn policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'none'; base-uri 'none'; \
         form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// The whole page: `title`, a line under it, and the sections.
pub(super) fn page(title: &str, subtitle: &str, sections: &[Section]) -> String {
    let mut html =
        String::with_capacity(64 * 1024 + sections.iter().map(|s| s.body.len()).sum::<usize>());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"tlsight {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n{PATTERNS}\n<header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n\
         <nav aria-label=\"Sections\"><ul>",
        Esc(&policy()),
        env!("CARGO_PKG_VERSION"),
        Esc(title),
        Esc(title),
        Esc(subtitle),
    );
    for s in sections {
        let _ = write!(html, "<li><a href=\"#{}\">{}</a></li>", s.id, Esc(s.title));
    }
    html.push_str("</ul></nav>\n</header>\n<main>\n");
    for s in sections {
        let _ = write!(
            html,
            "<section id=\"{id}\" aria-labelledby=\"{id}-title\">\n<h2 id=\"{id}-title\">{}</h2>\n{}\n</section>\n",
            Esc(s.title),
            s.body,
            id = s.id,
        );
    }
    let _ = write!(
        html,
        "</main>\n<footer><p>Written by tlsight {} (report schema_version {SCHEMA_VERSION}) from \
         the same aggregates as the JSON report. This file is self-contained: it loads nothing \
         and makes no network request.</p></footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
    );
    html
}
