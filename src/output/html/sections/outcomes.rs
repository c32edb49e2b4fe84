//! Outcomes and failure causes: overall (a split bar and the causes ranked), over capture time
//! (outcomes stacked per time bin, and one strip per cause), and per server (a table with each
//! server's split and its most frequent causes).

use std::fmt::Write as _;

use super::super::bars::{Bar, Part, hbars, share};
use super::super::format::{Esc, count, percent, width as bin_width};
use super::super::over_time::{Bins, Series, stacked_columns, strips};
use super::super::palette::{OUTCOMES, outcome_class};
use super::super::svg::Svg;
use super::{Align, Section, figure, more, table, text};
use crate::aggregate::{Aggregates, Breakdown};
use crate::facts::FailureCause;
use crate::output::Report;
use crate::output::report::servers_sorted;
use crate::output::table::transports_text;

/// Servers listed in the per-server table.
const SERVERS_SHOWN: usize = 50;
/// Causes drawn as their own strip over time; the rest share one.
const CAUSE_STRIPS: usize = 8;

/// The outcomes section.
pub(in super::super) fn section(report: &Report) -> Section {
    let agg = &report.aggregates;
    let mut body = String::new();
    if agg.all.connections == 0 {
        body.push_str("<p>No TLS connection was found.</p>");
    } else {
        body.push_str("<h3>All connections</h3>");
        body.push_str(&outcome_share(&agg.all, "Outcomes of all TLS connections"));
        body.push_str(&causes(agg));
        body.push_str(&over_time(agg));
        body.push_str(&per_server(agg));
    }
    Section {
        id: "outcomes",
        title: "Outcomes and failures",
        body,
    }
}

/// A group's outcomes as one split bar with its legend.
fn outcome_share(b: &Breakdown, title: &str) -> String {
    let parts: Vec<Part> = OUTCOMES
        .iter()
        .map(|&o| Part {
            label: o.name().into(),
            value: b.outcomes.get(&o).copied().unwrap_or(0),
            class: outcome_class(o),
        })
        .collect();
    share(title, &parts)
}

/// Failure causes, most frequent first.
fn causes(agg: &Aggregates) -> String {
    let ranked = agg.all.ranked_causes();
    if ranked.is_empty() {
        return "<p>No connection failed.</p>".into();
    }
    let failed: u64 = ranked.iter().map(|r| r.1).sum();
    let bars: Vec<Bar> = ranked
        .iter()
        .map(|&(cause, n)| Bar {
            label: cause.name().into(),
            value: n,
            class: "o-failed",
        })
        .collect();
    let title = "Failure causes, most frequent first";
    figure(
        &hbars(title, &bars, failed),
        &format!(
            "{}: {} failed connections, {} of all; shares are of the failures.",
            title,
            count(failed),
            percent(failed, agg.all.connections)
        ),
    )
}

/// Outcomes stacked per time bin, then the causes one strip each.
fn over_time(agg: &Aggregates) -> String {
    let t = &agg.timeline;
    let bins: Vec<_> = t.bins().collect();
    if bins.is_empty() {
        return String::new();
    }
    let width = t.bin_width_ns();
    let starts: Vec<i64> = bins.iter().map(|(start, _)| start.0).collect();
    let series: Vec<Series> = OUTCOMES
        .iter()
        .map(|&o| {
            let values = bins.iter().map(|(_, b)| b.outcome(o)).collect();
            (o.name().to_string(), outcome_class(o), values)
        })
        .filter(|(_, _, v): &Series| v.iter().any(|&n| n > 0))
        .collect();
    let per = bin_width(width);
    let mut html = String::from("<h3>Over capture time</h3>");
    let title = format!("Connections per {per} of capture time, by outcome");
    html.push_str(&figure(
        &stacked_columns(
            &title,
            &Bins {
                width_ns: width,
                starts: &starts,
                series: &series,
            },
            &format!("connections per {per}"),
        ),
        &format!(
            "{}. Each connection counts in the bin of its first packet; hover a column for its \
             numbers. {}",
            Esc(&title),
            legend(&series)
        ),
    ));
    let ranked = agg.all.ranked_causes();
    if ranked.is_empty() {
        return html;
    }
    let shown: Vec<FailureCause> = ranked.iter().take(CAUSE_STRIPS).map(|r| r.0).collect();
    let mut series: Vec<Series> = shown
        .iter()
        .map(|&c| {
            let values = bins
                .iter()
                .map(|(_, b)| b.failure_causes.get(&c).copied().unwrap_or(0))
                .collect();
            (c.name().to_string(), "o-failed", values)
        })
        .collect();
    if ranked.len() > CAUSE_STRIPS {
        let values = bins
            .iter()
            .map(|(_, b)| {
                b.failure_causes
                    .iter()
                    .filter(|(c, _)| !shown.contains(c))
                    .map(|(_, n)| n)
                    .sum()
            })
            .collect();
        series.push(("other causes".into(), "o-failed", values));
    }
    let title = format!("Failures per {per} of capture time, one row per cause");
    html.push_str(&figure(
        &strips(
            &title,
            &Bins {
                width_ns: width,
                starts: &starts,
                series: &series,
            },
        ),
        &format!(
            "{}, all rows on one scale; the number on the right is the cause's total.",
            Esc(&title)
        ),
    ));
    html
}

/// The legend of the series drawn, for charts without one of their own.
fn legend(series: &[Series]) -> String {
    let mut html = String::from("<ul class=\"legend\">");
    for (name, class, _) in series {
        let _ = write!(
            html,
            "<li>{} {}</li>",
            super::super::svg::swatch(class),
            Esc(name)
        );
    }
    html.push_str("</ul>");
    html
}

/// A server's outcomes as a small split bar for its table row.
fn mini_share(b: &Breakdown) -> String {
    let mut svg = Svg::with_class("mini", 160.0, 12.0, "outcomes");
    let mut x = 0.0;
    for o in OUTCOMES {
        let n = b.outcomes.get(&o).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let w = 160.0 * n as f64 / b.connections.max(1) as f64;
        let tip = format!("{}: {} ({})", o.name(), count(n), percent(n, b.connections));
        svg.rect((x, 0.0), (w, 12.0), outcome_class(o), &tip);
        x += w;
    }
    svg.finish()
}

/// One row per server, most connections first.
fn per_server(agg: &Aggregates) -> String {
    let servers = servers_sorted(agg);
    let split = agg.beyond_tcp();
    let rows: Vec<Vec<String>> = servers
        .iter()
        .take(SERVERS_SHOWN)
        .map(|(name, b)| {
            let causes: Vec<String> = b
                .ranked_causes()
                .iter()
                .take(3)
                .map(|(c, n)| format!("{} ({})", c.name(), count(*n)))
                .collect();
            let mut row = vec![text(name)];
            if split {
                row.push(text(&transports_text(b)));
            }
            row.extend([
                count(b.connections),
                mini_share(b),
                count(b.unsuccessful()),
                percent(b.unsuccessful(), b.connections),
                text(&causes.join(", ")),
            ]);
            row
        })
        .collect();
    let mut columns = vec![("server", Align::Text)];
    if split {
        columns.push(("over", Align::Text));
    }
    columns.extend([
        ("connections", Align::Number),
        ("outcomes", Align::Text),
        ("unsuccessful", Align::Number),
        ("share", Align::Number),
        ("top failure causes", Align::Text),
    ]);
    let mut html = String::from("<h3>Per server</h3>");
    html.push_str(&table(
        "Servers by connections (SNI, else address): outcomes and most frequent failure causes",
        &columns,
        &rows,
    ));
    html.push_str(&more(
        servers.len().saturating_sub(SERVERS_SHOWN),
        "servers",
    ));
    html
}
