//! The HTML report (`-o FILE.html`): one self-contained page to open offline or attach to a
//! ticket. No external script, style, font or image: the stylesheet and one small script are
//! inline, and a Content-Security-Policy `<meta>` forbids every load (`default-src 'none'`)
//! and allows exactly that style and that script by their SHA-256 hashes (CSP Level 2,
//! "hash-source"), so no injected markup could run or fetch anything even if it got in.
//!
//! Sections: summary counts; the compatibility matrix as a coloured grid (each non-`ok` cell
//! is a `<details>` whose summary is [`super::matrix::cell_text`] and whose body is the
//! remediation, with the same text in the cell's `title` for hovering; no script needed);
//! findings grouped by severity with the affected endpoints; the host table; the scan
//! metadata. The script only adds a filter box and sortable column headers to the host table:
//! with JavaScript off, the page shows everything.
//!
//! Escaping: the page is built with `maud`, which escapes every interpolated value (`&`, `<`,
//! `>`, `"`; attributes are always double-quoted, so `'` cannot end one). Server-supplied
//! text additionally goes through [`super::view::display_text`] (control and bidi characters
//! made visible). No server text ever becomes a URL, an attribute name, a style or a script.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::HostReport;
use super::csv::COLUMNS;
use super::matrix::cell_text;
use super::schema::Outcome;
use super::view::{
    ColumnKind, OUTCOMES, ReportView, SEVERITIES, column_kind, display_text, outcome_colors,
    outcome_meaning, severity_colors,
};

/// The longest server text shown in one place (UTF-16 units), as in the workbook.
const MAX_TEXT: usize = 32_767;

/// Host CSV columns shown in the HTML host table, after `endpoint` (the full set is in the
/// CSV, JSON and workbook).
pub const HOST_TABLE_COLUMNS: &[&str] = &[
    "target",
    "status",
    "nla",
    "accepted_protocols",
    "tls_versions",
    "cert_subject_cn",
    "cert_days_left",
    "cert_trusted",
    "credssp_version",
    "cve_2018_0886",
    "nb_computer",
    "os_name",
    "max_severity",
    "findings",
    "error",
];

/// Host table columns whose text may be long (wrapped; the others stay on one line).
const LONG_COLUMNS: &[&str] = &["cert_subject_cn", "os_name", "findings", "error", "target"];

/// Writes the page for `view`.
pub fn write_html(out: &mut impl Write, view: &ReportView<'_>) -> std::io::Result<()> {
    write_html_with_changes(out, view, None)
}

/// Writes the page with an optional "changes since the last scan" section, shown right after
/// the summary.
///
/// EXTENSION POINT for the scan diff: build `changes` with `maud::html!` (which escapes every
/// value), e.g. `html! { ul { @for c in &changes { li { (c.endpoint) ": " (c.what) } } } }`;
/// it is wrapped in `<section id="changes"><h2>Changes since the last scan</h2>…</section>`.
/// Do not pass `PreEscaped` server text. `None` leaves the section out.
pub fn write_html_with_changes(
    out: &mut impl Write,
    view: &ReportView<'_>,
    changes: Option<Markup>,
) -> std::io::Result<()> {
    out.write_all(page(view, changes).into_string().as_bytes())?;
    out.flush()
}

/// The page's stylesheet (allowed by its hash in the CSP).
const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; margin: 0; color: #1b1b1b; background: #fff; }
header { background: #1f3a5f; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; opacity: .9; }
nav { padding: 8px 24px; background: #eef2f7; border-bottom: 1px solid #d0d7e2; }
nav a { color: #1f3a5f; margin-right: 16px; text-decoration: none; font-weight: 600; }
main { padding: 8px 24px 40px; }
section { margin-top: 22px; }
h2 { font-size: 18px; border-bottom: 2px solid #1f3a5f; padding-bottom: 2px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; }
.tile { border: 1px solid #c9d1dc; border-radius: 6px; padding: 6px 14px; min-width: 96px; background: #f8fafc; }
.tile b { display: block; font-size: 22px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #b9c2cf; padding: 3px 7px; text-align: left; vertical-align: top; }
thead th { background: #d9e1f2; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.wrap { overflow-x: auto; max-width: 100%; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-weight: 600; }
table.matrix td.cell { min-width: 150px; max-width: 340px; font-weight: 600; }
table.matrix td.cell details summary { cursor: pointer; }
table.matrix td.cell details p { font-weight: 400; margin: 4px 0 2px; white-space: pre-wrap; overflow-wrap: anywhere; }
table.matrix th.host { font-weight: 600; white-space: nowrap; }
table.matrix .sub { display: block; font-weight: 400; color: #4a4a4a; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 0 0 10px; padding: 0; list-style: none; }
.legend li { display: flex; gap: 6px; align-items: baseline; }
.findings details { margin: 4px 0; }
.findings summary { cursor: pointer; }
.findings ul { margin: 4px 0 8px 18px; padding: 0; }
.findings .msg { margin: 4px 0 2px; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
table.hosts td { white-space: nowrap; }
table.hosts td.long { white-space: normal; overflow-wrap: anywhere; min-width: 180px; max-width: 360px; }
table.hosts th button { font: inherit; font-weight: 700; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; text-align: left; }
table.hosts th[aria-sort=ascending] button::after { content: " \25B2"; }
table.hosts th[aria-sort=descending] button::after { content: " \25BC"; }
.filter { margin: 0 0 8px; }
.filter input { font: inherit; padding: 3px 6px; width: 320px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.muted { color: #555; }
footer { padding: 10px 24px; color: #555; border-top: 1px solid #d0d7e2; font-size: 12px; }
@media print { nav, .filter { display: none; } thead th { position: static; } details { display: block; } }
"#;

/// The host table's filter box and sortable headers (allowed by its hash in the CSP). It only
/// reads text (`textContent`) and sets text and attributes: it never parses markup.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  var table = document.getElementById("hosts-table");
  if (!table || !table.tBodies.length) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var box = document.createElement("p");
  box.className = "filter";
  var input = document.createElement("input");
  input.type = "search";
  input.id = "host-filter";
  input.placeholder = "Filter hosts (any text in the row)";
  input.setAttribute("aria-label", "Filter hosts");
  var count = document.createElement("span");
  count.className = "muted";
  box.appendChild(input);
  box.appendChild(document.createTextNode(" "));
  box.appendChild(count);
  table.parentNode.parentNode.insertBefore(box, table.parentNode);
  function refilter() {
    var q = input.value.toLowerCase();
    var shown = 0;
    rows.forEach(function (r) {
      var ok = r.textContent.toLowerCase().indexOf(q) !== -1;
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " hosts shown";
  }
  input.addEventListener("input", refilter);
  refilter();
  function key(row, i) {
    var cell = row.cells[i];
    var n = cell.getAttribute("data-num");
    if (n !== null && n !== "") { return [0, parseFloat(n), ""]; }
    var k = cell.getAttribute("data-key");
    var t = (k !== null ? k : cell.textContent).toLowerCase();
    return [t === "" ? 2 : 1, 0, t];
  }
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, i) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = th.textContent;
    b.title = "Sort by " + th.textContent;
    th.textContent = "";
    th.appendChild(b);
    b.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      rows.sort(function (a, c) {
        var x = key(a, i), y = key(c, i);
        if (x[0] !== y[0]) { return x[0] - y[0]; }
        if (x[0] === 0) { return (x[1] - y[1]) * dir; }
        return x[2].localeCompare(y[2], undefined, { numeric: true }) * dir;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
"#;

/// `'sha256-…'` of `text`, a CSP hash-source.
fn csp_hash(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// The page's Content-Security-Policy: nothing may load; only this page's style and script
/// (by hash) apply.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'none'; font-src 'none'; \
         connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'",
        csp_hash(&stylesheet()),
        csp_hash(SCRIPT)
    )
}

/// Untrusted text as shown (escaped by maud on output).
fn t(s: &str) -> String {
    display_text(s, MAX_TEXT)
}

fn outcome_class(o: Outcome) -> String {
    format!("o-{}", o.as_str())
}

fn page(view: &ReportView<'_>, changes: Option<Markup>) -> Markup {
    let meta = view.meta;
    let title = format!("rdpsweep report, scan of {}", t(&meta.started));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(content_security_policy());
                meta name="referrer" content="no-referrer";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content={ (meta.tool) " " (meta.version) };
                title { (title) }
                style { (PreEscaped(stylesheet())) }
            }
            body {
                header {
                    h1 { "rdpsweep report" }
                    p {
                        "Scan started " (t(&meta.started))
                        @if let Some(f) = &meta.finished { ", finished " (t(f)) }
                        ". " (view.hosts.len()) " endpoints answered."
                    }
                }
                nav {
                    a href="#summary" { "Summary" }
                    @if changes.is_some() { a href="#changes" { "Changes" } }
                    a href="#matrix" { "Compatibility" }
                    a href="#findings" { "Findings" }
                    a href="#hosts" { "Hosts" }
                    a href="#scan" { "Scan" }
                }
                main {
                    (summary_section(view))
                    (changes_section(changes))
                    (matrix_section(view))
                    (findings_section(view))
                    (hosts_section(view))
                    (scan_section(view))
                }
                footer { "Written by " (meta.tool) " " (meta.version) ". Self-contained: no external resources." }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

/// The "changes since the last scan" section: the lead's extension point (see
/// [`write_html_with_changes`]). Empty when `None`.
fn changes_section(changes: Option<Markup>) -> Markup {
    html! {
        @if let Some(body) = changes {
            section id="changes" {
                h2 { "Changes since the last scan" }
                (body)
            }
        }
    }
}

fn summary_section(view: &ReportView<'_>) -> Markup {
    let groups = view.findings_by_id();
    let summaries = view.client_summaries();
    html! {
        section id="summary" {
            h2 { "Summary" }
            @if let Some(s) = &view.meta.summary {
                div class="tiles" {
                    @for (k, v) in [("endpoints", s.endpoints), ("rdp", s.rdp), ("not_rdp", s.not_rdp), ("closed", s.closed), ("filtered", s.filtered), ("error", s.error)] {
                        div class="tile" { b { (v) } (k) }
                    }
                }
                @if s.interrupted { p { "Interrupted: " (s.skipped) " endpoints were not scanned." } }
                @if s.resumed > 0 { p { (s.resumed) " endpoints were done in an earlier run (--resume)." } }
            } @else {
                p { (view.hosts.len()) " endpoints." }
            }
            h3 { "Findings by severity" }
            div class="tiles" {
                @for sev in SEVERITIES {
                    @let n: usize = groups.iter().filter(|g| g.severity == sev).map(|g| g.endpoints.len()).sum();
                    div class={ "tile s-" (sev.as_str()) } { b { (n) } (sev.as_str()) }
                }
            }
            @if !summaries.is_empty() {
                h3 { "Client outcomes (RDP hosts)" }
                table class="outcomes" {
                    thead { tr { th { "client" } @for o in OUTCOMES { th class=(outcome_class(o)) { (o.as_str()) } } } }
                    tbody {
                        @for s in &summaries {
                            tr {
                                th { (t(&s.client)) }
                                @for o in OUTCOMES {
                                    @let n = s.count(o);
                                    td class={ "num" @if n > 0 { " " (outcome_class(o)) } } { (n) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn matrix_section(view: &ReportView<'_>) -> Markup {
    html! {
        section id="matrix" {
            h2 { "Compatibility matrix" }
            @if view.clients.is_empty() {
                p class="muted" { "No client profile was evaluated." }
            } @else {
                ul class="legend" {
                    @for o in OUTCOMES {
                        li { span class={ "badge " (outcome_class(o)) } { (o.as_str()) } span { (outcome_meaning(o)) } }
                    }
                }
                p class="muted" { "Each cell is outcome:reason. Hover a cell for the fix, or click it to open the fix in place." }
                div class="wrap" {
                    table class="matrix" id="matrix-table" {
                        thead {
                            tr {
                                th { "host" }
                                @for c in view.clients { th { (t(c)) } }
                            }
                        }
                        tbody {
                            @for h in view.hosts {
                                tr {
                                    th class="host" scope="row" {
                                        (t(&h.endpoint()))
                                        @if let Some(name) = computer(h) { span class="sub" { (t(&name)) } }
                                        @if h.ip.map(|ip| ip.to_string()) != Some(h.target.clone()) { span class="sub" { (t(&h.target)) } }
                                    }
                                    @for c in view.clients {
                                        (matrix_cell(h, c))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn computer(h: &HostReport) -> Option<String> {
    h.ntlm
        .as_ref()
        .and_then(|n| n.dns_computer.clone().or_else(|| n.nb_computer.clone()))
}

fn matrix_cell(h: &HostReport, client: &str) -> Markup {
    let cell = h.compat.get(client);
    let outcome = cell.map_or(Outcome::Unknown, |c| c.outcome);
    let text = t(&cell_text(cell));
    let fix = cell.and_then(|c| c.remediation.as_deref()).map(t);
    html! {
        @match fix {
            Some(fix) => {
                td class={ "cell " (outcome_class(outcome)) } title={ (text) "\n\n" (fix) } {
                    details { summary { (text) } p { (fix) } }
                }
            }
            None => { td class={ "cell " (outcome_class(outcome)) } { (text) } }
        }
    }
}

fn findings_section(view: &ReportView<'_>) -> Markup {
    let groups = view.findings_by_id();
    html! {
        section id="findings" class="findings" {
            h2 { "Findings" }
            @if groups.is_empty() { p class="muted" { "No findings." } }
            @for sev in SEVERITIES {
                @let of_sev: Vec<_> = groups.iter().filter(|g| g.severity == sev).collect();
                @if !of_sev.is_empty() {
                    h3 { span class={ "badge s-" (sev.as_str()) } { (sev.as_str()) } " (" (of_sev.len()) " kinds)" }
                    @for g in of_sev {
                        details open {
                            summary { code { (t(&g.id)) } " on " (g.endpoints.len()) " endpoint" @if g.endpoints.len() != 1 { "s" } }
                            @for (message, endpoints) in messages(view, &g.id) {
                                p class="msg" { (t(&message)) }
                                ul { @for e in endpoints { li class="mono" { (t(&e)) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The distinct messages of finding `id`, each with its endpoints, in host order.
fn messages(view: &ReportView<'_>, id: &str) -> Vec<(String, Vec<String>)> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in view.hosts {
        for f in h.findings.iter().filter(|f| f.id == id) {
            if !by.contains_key(&f.message) {
                order.push(f.message.clone());
            }
            by.entry(f.message.clone()).or_default().push(h.endpoint());
        }
    }
    order
        .into_iter()
        .map(|m| {
            let e = by.remove(&m).unwrap_or_default();
            (m, e)
        })
        .collect()
}

/// A sort key for an endpoint that orders addresses numerically (IPv4 before IPv6, then port).
fn endpoint_key(h: &HostReport) -> String {
    match h.ip {
        Some(IpAddr::V4(ip)) => format!("4-{:010}-{:05}", u32::from(ip), h.port),
        Some(IpAddr::V6(ip)) => format!("6-{:032x}-{:05}", u128::from(ip), h.port),
        None => format!("9-{}-{:05}", h.target, h.port),
    }
}

fn hosts_section(view: &ReportView<'_>) -> Markup {
    let columns: Vec<_> = HOST_TABLE_COLUMNS
        .iter()
        .filter_map(|n| COLUMNS.iter().find(|c| c.name == *n))
        .collect();
    html! {
        section id="hosts" {
            h2 { "Hosts" }
            p class="muted" { "Every column of every host is in the CSV, JSON and XLSX outputs." }
            div class="wrap" {
                table class="hosts" id="hosts-table" {
                    thead { tr { th { "endpoint" } @for c in &columns { th { (c.name) } } } }
                    tbody {
                        @for h in view.hosts {
                            tr {
                                td class="mono" data-key=(endpoint_key(h)) { (t(&h.endpoint())) }
                                @for c in &columns {
                                    @let v = t(&(c.value)(h));
                                    @if column_kind(c.name) == ColumnKind::Number {
                                        td class="num" data-num=(v) { (v) }
                                    } @else if c.name == "max_severity" && !v.is_empty() {
                                        td data-key=(severity_key(&v)) { span class={ "badge s-" (v) } { (v) } }
                                    } @else if LONG_COLUMNS.contains(&c.name) {
                                        td class="long" { (v) }
                                    } @else {
                                        td { (v) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Sorts severities worst first.
fn severity_key(s: &str) -> String {
    let rank = SEVERITIES
        .iter()
        .position(|x| x.as_str() == s)
        .unwrap_or(SEVERITIES.len());
    format!("{rank}-{s}")
}

fn scan_section(view: &ReportView<'_>) -> Markup {
    let meta = view.meta;
    let ports = meta
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        section id="scan" {
            h2 { "Scan" }
            dl class="meta" {
                dt { "tool" } dd { (meta.tool) " " (meta.version) }
                dt { "started" } dd { (t(&meta.started)) }
                dt { "finished" } dd { (t(meta.finished.as_deref().unwrap_or("(not finished)"))) }
                dt { "targets" } dd class="mono" { (t(&meta.targets.join(" "))) }
                dt { "ports" } dd { (ports) }
                dt { "client profiles" }
                dd {
                    @if meta.clients.is_empty() { (t(&view.clients.join(", "))) }
                    @for c in &meta.clients {
                        div { b { (t(&c.name)) } " (" (c.kind.as_str()) ", " (t(&c.source)) ")"
                            @if !c.notes.is_empty() { span class="muted" { ": " (t(&c.notes.join("; "))) } } }
                    }
                }
            }
        }
    }
}

/// The whole stylesheet: [`CSS`] plus the outcome and severity classes generated from the
/// palette the workbook uses ([`outcome_colors`], [`severity_colors`]), so both stay the same.
fn stylesheet() -> String {
    format!("{CSS}{}\n{}\n", outcome_css(), severity_css())
}

fn severity_css() -> String {
    SEVERITIES
        .iter()
        .map(|s| {
            let c = severity_colors(*s);
            format!(
                ".s-{} {{ background: {}; color: {}; }}",
                s.as_str(),
                c.fill_hex(),
                c.text_hex()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn outcome_css() -> String {
    OUTCOMES
        .iter()
        .map(|o| {
            let c = outcome_colors(*o);
            format!(
                ".o-{} {{ background: {}; color: {}; }}",
                o.as_str(),
                c.fill_hex(),
                c.text_hex()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::sample;

    fn render(changes: Option<Markup>) -> String {
        let hosts = sample::hosts();
        let clients = sample::clients();
        let meta = sample::meta();
        let view = ReportView {
            hosts: &hosts,
            clients: &clients,
            meta: &meta,
        };
        let mut out = Vec::new();
        write_html_with_changes(&mut out, &view, changes).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
        let start = s.find(open).unwrap() + open.len();
        let end = start + s[start..].find(close).unwrap();
        &s[start..end]
    }

    #[test]
    fn hostile_text_never_becomes_markup() {
        let page = render(None);
        // Our one script and one style; nothing else that runs, loads or styles.
        assert_eq!(page.matches("<script").count(), 1);
        assert_eq!(page.matches("</script>").count(), 1);
        assert_eq!(page.matches("<style").count(), 1);
        assert_eq!(page.matches("</style>").count(), 1);
        for tag in [
            "<img",
            "<iframe",
            "<object",
            "<link",
            "<base",
            "<a href=\"javascript",
        ] {
            assert!(!page.contains(tag), "{tag} in the page");
        }
        // Every hostile string is there, escaped, as text.
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("self-signed &lt;/style&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
        assert!(page.contains("javascript:alert(3)"));
        assert!(page.contains("' onmouseover='alert(1)"));
        // In attributes (the matrix cell's title), the hostile remediation stays inside quotes.
        assert!(page.contains(
            "title=\"blocked:credssp-oracle\n\nPatch the server &lt;img src=x onerror=alert(4)&gt;; =1+1\""
        ));
        // Control characters are visible.
        assert!(page.contains("tab\\x09here\\x1b[31m\\u{202e}txt"));
        assert!(!page.contains('\u{1b}') && !page.contains('\u{202e}'));
        // No server text ever becomes a link: the only hrefs are the page's own anchors.
        for href in page.split("href=\"").skip(1) {
            assert!(
                href.starts_with('#'),
                "external link: {}",
                &href[..href.len().min(40)]
            );
        }
    }

    #[test]
    fn csp_allows_exactly_the_inline_style_and_script() {
        let page = render(None);
        let csp = between(
            &page,
            "http-equiv=\"Content-Security-Policy\" content=\"",
            "\"",
        );
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        let style = between(&page, "<style>", "</style>");
        let script = between(&page, "<script>", "</script>");
        assert!(
            csp.contains(&format!("style-src {};", csp_hash(style))),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("script-src {};", csp_hash(script))),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("http"),
            "{csp}"
        );
        // No inline style attributes or event handlers (the CSP would block them anyway).
        assert!(!page.contains(" style=\""));
        assert!(!page.contains(" onclick="));
        // The palette in the page is the workbook's.
        for o in OUTCOMES {
            let c = outcome_colors(o);
            assert!(style.contains(&format!(
                ".o-{} {{ background: {}; color: {}; }}",
                o.as_str(),
                c.fill_hex(),
                c.text_hex()
            )));
        }
    }

    #[test]
    fn sections_matrix_and_host_table() {
        let page = render(None);
        for id in ["summary", "matrix", "findings", "hosts", "scan"] {
            assert!(page.contains(&format!("<section id=\"{id}\"")), "{id}");
        }
        assert!(!page.contains("id=\"changes\""));
        assert!(page.contains("<td class=\"cell o-blocked\""));
        assert!(page.contains("<summary>blocked:credssp-oracle</summary>"));
        assert!(page.contains("<td class=\"cell o-ok\">ok</td>"));
        assert!(page.contains("<td class=\"cell o-depends\""));
        assert!(page.contains("unknown:not-evaluated"));
        // Findings grouped by severity, with their endpoints.
        let findings = between(&page, "<section id=\"findings\"", "</section>");
        let high = findings.find("s-high").unwrap();
        let medium = findings.find("s-medium").unwrap();
        assert!(high < medium);
        assert!(findings.contains("<code>cert-self-signed</code> on 2 endpoints"));
        assert!(findings.contains("<li class=\"mono\">192.0.2.11:3389</li>"));
        // Host table: numbers carry a numeric sort key, addresses sort numerically.
        assert!(
            page.contains("<td class=\"num\" data-num=\"1234\">")
                || page.contains("data-num=\"3\"")
        );
        assert!(page.contains("data-key=\"4-3221225994-03389\""));
        assert!(page.contains("data-key=\"6-20010db8000000000000000000000001-03390\""));
        // Summary counts.
        assert!(page.contains("<b>257</b>closed"));
    }

    #[test]
    fn changes_section_is_an_extension_point() {
        let page = render(Some(maud::html! { p { "1 new host: " (sample::SCRIPT) } }));
        let changes = between(&page, "<section id=\"changes\">", "</section>");
        assert!(changes.contains("<h2>Changes since the last scan</h2>"));
        assert!(changes.contains("1 new host: &lt;script&gt;"));
        assert!(page.contains("<a href=\"#changes\">"));
    }

    #[test]
    fn host_table_columns_exist_in_the_csv() {
        for n in HOST_TABLE_COLUMNS {
            assert!(COLUMNS.iter().any(|c| c.name == *n), "{n}");
        }
    }
}
