//! The finished-file writers (XLSX workbook, HTML page) on a real scan, opened by the programs
//! people open them with: LibreOffice and Chromium (`support::viewers`).
//!
//! Input: the saved scan of real loopback servers in `fixtures/report/loopback-mix.json` (see
//! `fixtures/report/README.md`), read with serde, reduced to the endpoints that answered
//! (`rdp`, `not_rdp`, `error`) and sorted by address then port, as the scan's pipeline hands
//! them to the writers, evaluated with every built-in client profile through
//! `rdpsweep::compat::evaluate`. One synthetic endpoint is added, marked as such: a copy of the
//! real FreeRDP host whose server-supplied names (NTLM names, certificate subject, error text)
//! are hostile markup, script and formulas, to prove none of it becomes markup, script or a
//! formula in either file.
//!
//! Loopback tag 90 is this binary's (it starts no server; the synthetic endpoint's address is
//! 127.90.0.1 so that it can never collide with a real one).
//!
//! Set `RDPSWEEP_KEEP_REPORTS=DIR` to keep the written files, the screenshot and the PDF pages
//! in DIR for looking at them.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdpsweep::client::builtin::{BUILTIN_NAMES, builtin};
use rdpsweep::client::profile::ClientProfile;
use rdpsweep::compat::evaluate;
use rdpsweep::report::csv::{COLUMNS, CsvWriter};
use rdpsweep::report::schema::{ErrorInfo, Stage, Status};
use rdpsweep::report::summary::{ScanMeta, Summary};
use rdpsweep::report::view::{BOOL_COLUMNS, ColumnKind, column_kind};
use rdpsweep::report::{HostReport, ReportView, sanitize, write_html, write_xlsx};
use serde::Deserialize;
use support::viewers;

const FIXTURE: &str = "fixtures/report/loopback-mix.json";

/// Hostile server text, as a malicious server or certificate would carry it.
const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";
const ATTR: &str = "' onmouseover='alert(1)";
const STYLE: &str = "</style><script>alert(2)</script>";
const JS_URL: &str = "javascript:alert(3)";
const FORMULA: &str = "=HYPERLINK(\"http://127.90.0.2/\",\"open\")";

#[derive(Deserialize)]
struct Saved {
    hosts: Vec<HostReport>,
    scan: SavedScan,
}

#[derive(Deserialize)]
struct SavedScan {
    started: String,
    finished: Option<String>,
    targets: Vec<String>,
    ports: Vec<u16>,
    summary: BTreeMap<String, serde_json::Value>,
}

struct Scan {
    hosts: Vec<HostReport>,
    clients: Vec<String>,
    meta: ScanMeta,
}

impl Scan {
    fn view(&self) -> ReportView<'_> {
        ReportView {
            hosts: &self.hosts,
            clients: &self.clients,
            meta: &self.meta,
        }
    }
}

/// The synthetic hostile endpoint: the real shadow host with hostile server text.
fn hostile_copy(real: &HostReport) -> HostReport {
    let mut h = real.clone();
    h.target = FORMULA.to_owned();
    h.ip = Some("127.90.0.1".parse().expect("address"));
    let ntlm = h.ntlm.get_or_insert_with(Default::default);
    ntlm.nb_computer = Some(SCRIPT.to_owned());
    ntlm.dns_computer = Some(IMG.to_owned());
    ntlm.nb_domain = Some(ATTR.to_owned());
    ntlm.dns_domain = Some("-1+2".to_owned());
    ntlm.os_name = Some(JS_URL.to_owned());
    if let Some(cert) = h.tls.as_mut().and_then(|t| t.certificate.as_mut()) {
        cert.subject_cn = Some(STYLE.to_owned());
        cert.issuer = format!("CN={IMG}, O=@evil");
    } else {
        panic!("the fixture's shadow host has no certificate any more");
    }
    h.findings
        .iter_mut()
        .for_each(|f| f.message = format!("{} {SCRIPT}", f.message));
    h
}

fn scan() -> Scan {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let saved: Saved = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"));
    let real_shadow = saved
        .hosts
        .iter()
        .find(|h| h.ntlm.is_some())
        .expect("the fixture has the FreeRDP host")
        .clone();
    let mut error_host = real_shadow.clone();
    error_host.ip = Some("127.90.0.2".parse().expect("address"));
    error_host.target = "127.90.0.2".to_owned();
    error_host.status = Status::Error;
    error_host.error = Some(ErrorInfo {
        stage: Stage::Tls,
        message: format!("{ATTR} handshake failed\x1b[2J"),
    });
    error_host.tls = None;
    error_host.credssp = None;
    error_host.ntlm = None;
    error_host.findings.clear();

    let mut hosts: Vec<HostReport> = saved
        .hosts
        .into_iter()
        .chain([hostile_copy(&real_shadow), error_host])
        .filter(|h| matches!(h.status, Status::Rdp | Status::NotRdp | Status::Error))
        .collect();
    hosts.sort_by_key(|h| (h.ip, h.port));

    let profiles: Vec<ClientProfile> = BUILTIN_NAMES
        .iter()
        .map(|n| builtin(n).unwrap_or_else(|| panic!("no built-in profile {n}")))
        .collect();
    for h in &mut hosts {
        for p in &profiles {
            h.compat.insert(p.name.clone(), evaluate(h, p));
        }
    }
    let clients: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
    let count = |k: &str| {
        saved
            .scan
            .summary
            .get(k)
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    };
    let summary = Summary {
        endpoints: count("endpoints"),
        rdp: count("rdp"),
        not_rdp: count("not_rdp"),
        closed: count("closed"),
        filtered: count("filtered"),
        error: count("error"),
        ..Summary::default()
    };
    let compat = rdpsweep::report::matrix::summarize(&hosts, &clients);
    let meta = ScanMeta {
        tool: "rdpsweep",
        version: env!("CARGO_PKG_VERSION"),
        started: saved.scan.started,
        finished: saved.scan.finished,
        targets: saved.scan.targets,
        ports: saved.scan.ports,
        summary: Some(summary),
        clients: profiles,
        compat,
    };
    Scan {
        hosts,
        clients,
        meta,
    }
}

/// Where to write: a temp dir, or `RDPSWEEP_KEEP_REPORTS` (kept for looking at).
fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("RDPSWEEP_KEEP_REPORTS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).expect("create RDPSWEEP_KEEP_REPORTS");
            (None, dir)
        }
        None => {
            let t = tempfile::tempdir().expect("temp dir");
            let p = t.path().to_owned();
            (Some(t), p)
        }
    }
}

/// The CSV writer's rows for `hosts` (header first).
fn csv_rows(hosts: &[HostReport]) -> Vec<Vec<String>> {
    let mut w = CsvWriter::new(Vec::new(), false).expect("CSV writer");
    for h in hosts {
        w.write(h).expect("CSV row");
    }
    let bytes = w.into_inner().expect("CSV bytes");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice())
        .records()
        .map(|r| {
            r.expect("our CSV parses")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// What LibreOffice shows for a workbook cell, turned into what the CSV writer writes for it:
/// - booleans: LibreOffice renders a boolean cell `TRUE`/`FALSE`; the CSV writes `yes`/`no`
///   (a CSV must not hand spreadsheets a value they turn into a boolean);
/// - text: the CSV prefixes text that a spreadsheet would take for a formula (`=`, `+`, `@`,
///   `-` not a number) with `'` (`sanitize::csv_cell`); the workbook needs no prefix because
///   its cells are typed strings, so the same rule is applied to LibreOffice's text here.
///
/// Nothing else is normalised: numbers render as the CSV's digits, and the date cells' number
/// format renders exactly the CSV's RFC 3339 text.
fn normalise(column: &str, shown: &str) -> String {
    match column_kind(column) {
        ColumnKind::Bool => match shown {
            "TRUE" => "yes".to_owned(),
            "FALSE" => "no".to_owned(),
            other => other.to_owned(),
        },
        ColumnKind::Text => sanitize::csv_cell(shown).into_owned(),
        ColumnKind::Number | ColumnKind::Date => shown.to_owned(),
    }
}

fn keep_or_scratch(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

#[test]
fn workbook_in_libreoffice_matches_the_csv() {
    let scan = scan();
    let (_tmp, dir) = out_dir();
    let xlsx = dir.join("loopback-mix.xlsx");
    write_xlsx(&xlsx, &scan.view()).expect("write the workbook");

    let scratch = keep_or_scratch(&dir, "lo-hosts");
    let shown = viewers::xlsx_sheet_csv(&xlsx, 1, &scratch);
    let expected = csv_rows(&scan.hosts);
    assert_eq!(shown.len(), expected.len(), "rows: LibreOffice {shown:?}");
    let mut compared = 0;
    for (r, (got, want)) in shown.iter().zip(&expected).enumerate() {
        assert_eq!(got.len(), COLUMNS.len(), "row {r} width: {got:?}");
        for ((column, g), w) in COLUMNS.iter().zip(got).zip(want) {
            let g = if r == 0 {
                g.clone()
            } else {
                normalise(column.name, g)
            };
            assert_eq!(&g, w, "row {r} column {}", column.name);
            compared += 1;
        }
    }
    assert_eq!(compared, expected.len() * COLUMNS.len());
    // The comparison covered what it is meant to: typed booleans, a date, and formula text.
    let col = |n: &str| COLUMNS.iter().position(|c| c.name == n).expect("column");
    let booleans: Vec<&str> = shown
        .iter()
        .skip(1)
        .flat_map(|r| BOOL_COLUMNS.iter().map(|b| r[col(b)].as_str()))
        .collect();
    assert!(booleans.contains(&"TRUE") && booleans.contains(&"FALSE"));
    assert!(
        booleans.iter().all(|b| matches!(*b, "TRUE" | "FALSE" | "")),
        "{booleans:?}"
    );
    assert!(
        shown
            .iter()
            .any(|r| r[col("cert_not_after")] == "2021-01-01T00:00:00Z")
    );
    assert!(
        shown.iter().any(|r| r[col("target")] == FORMULA),
        "formula text shown as itself"
    );
    assert!(shown.iter().any(|r| r[col("nb_computer")] == SCRIPT));
}

#[test]
fn workbook_renders_to_pdf() {
    let scan = scan();
    let (_tmp, dir) = out_dir();
    let xlsx = dir.join("loopback-mix-print.xlsx");
    write_xlsx(&xlsx, &scan.view()).expect("write the workbook");
    let scratch = keep_or_scratch(&dir, "lo-pdf");
    let pdf = viewers::to_pdf(&xlsx, &scratch);
    let pages = viewers::pdf_to_pngs(&pdf, 60, &dir.join("xlsx-pages"));
    // One page at least per sheet.
    assert!(pages.len() >= 4, "{} pages", pages.len());

    // LibreOffice reads every matrix note: one per cell with a remediation, text intact.
    let fods = viewers::soffice_convert(&xlsx, "fods", "fods", &dir.join("fods"), &scratch);
    let doc = std::fs::read_to_string(&fods).expect("read the flat ODS");
    let notes: Vec<&str> = doc
        .split("<office:annotation")
        .skip(1)
        .map(|a| a.split("</office:annotation>").next().unwrap_or(""))
        .collect();
    let with_fix = scan
        .hosts
        .iter()
        .flat_map(|h| h.compat.values())
        .filter(|c| c.remediation.is_some())
        .count();
    assert!(with_fix > 0);
    assert_eq!(notes.len(), with_fix, "notes LibreOffice read");
    assert!(
        notes.iter().all(|n| !n.contains("\\x0a")),
        "a line break was escaped"
    );
    assert!(notes.iter().any(|n| n.contains("blocked:cert-strict")));
}

/// Tags and attribute names of a serialised DOM. Chromium's serialiser escapes `<` and `>` in
/// text and in attribute values (HTML spec, 2025), so every `<` starts a tag; the test checks
/// that assumption on the way (an attribute value holding `<` fails it).
fn tags(dom: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for piece in dom.split('<').skip(1) {
        let end = piece
            .find('>')
            .unwrap_or_else(|| panic!("unclosed tag: {piece:.60}"));
        let inner = &piece[..end];
        if inner.starts_with('/') || inner.starts_with('!') {
            continue;
        }
        let name: String = inner
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect::<String>()
            .to_ascii_lowercase();
        let mut attrs = Vec::new();
        let mut rest = &inner[name.len()..];
        loop {
            rest = rest.trim_start();
            if rest.is_empty() || rest == "/" {
                break;
            }
            let n: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '=')
                .collect();
            rest = &rest[n.len()..];
            if let Some(after) = rest.strip_prefix("=\"") {
                let close = after
                    .find('"')
                    .unwrap_or_else(|| panic!("unclosed value: {inner}"));
                rest = &after[close + 1..];
            }
            attrs.push(n.to_ascii_lowercase());
        }
        out.push((name, attrs));
    }
    out
}

#[test]
fn html_in_chromium_is_inert_and_complete() {
    let scan = scan();
    let (_tmp, dir) = out_dir();
    let html = dir.join("loopback-mix.html");
    let mut file = std::fs::File::create(&html).expect("create the page");
    write_html(&mut file, &scan.view()).expect("write the page");
    drop(file);

    let dom = viewers::chromium_dump_dom(&html, &keep_or_scratch(&dir, "chromium-dom"));
    std::fs::write(dir.join("loopback-mix.dom.html"), &dom).expect("keep the DOM");
    let tags = tags(&dom);
    const ALLOWED: &[&str] = &[
        "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "nav",
        "a", "main", "section", "div", "b", "table", "thead", "tbody", "tr", "th", "td", "details",
        "summary", "span", "ul", "li", "code", "dl", "dt", "dd", "footer", "script", "input",
        "button",
    ];
    for (name, attrs) in &tags {
        assert!(
            ALLOWED.contains(&name.as_str()),
            "unexpected element <{name}> in the DOM"
        );
        for a in attrs {
            assert!(!a.starts_with("on"), "event handler {a} on <{name}>");
            assert!(
                !matches!(
                    a.as_str(),
                    "src" | "srcdoc" | "style" | "formaction" | "action"
                ),
                "attribute {a} on <{name}>"
            );
        }
    }
    assert_eq!(
        tags.iter().filter(|(n, _)| n == "script").count(),
        1,
        "only our script"
    );
    // The same, without the parser. The hostile text itself is in the DOM, escaped as text
    // (`&lt;img src=x onerror=alert(1)&gt;`), so an event handler would show as `onerror="`.
    assert!(!dom.contains("<img"), "an <img> reached the DOM");
    assert!(
        !dom.contains("onerror=\"") && !dom.contains("onmouseover=\""),
        "an event handler reached the DOM"
    );
    // Every link stays on the page.
    for href in dom.split("href=\"").skip(1) {
        assert!(href.starts_with('#'), "link leaves the page: {href:.40}");
    }
    // The matrix grid and the rows: the real FreeRDP host, the hostile copy, an xrdp host.
    assert!(dom.contains("id=\"matrix-table\""));
    let endpoint = |h: &HostReport| format!("{}:{}", h.ip.expect("an address"), h.port);
    let shadow = scan
        .hosts
        .iter()
        .find(|h| h.ntlm.is_some() && h.ip != Some("127.90.0.1".parse().expect("address")))
        .expect("the FreeRDP host");
    let rdp_only = scan
        .hosts
        .iter()
        .find(|h| h.security.selected.as_deref() == Some("rdp"))
        .expect("the xrdp rdp-only host");
    for e in [
        endpoint(shadow),
        endpoint(rdp_only),
        format!("127.90.0.1:{}", shadow.port),
    ] {
        assert!(dom.contains(&e), "{e} is not in the page");
    }
    assert!(
        dom.contains("class=\"cell o-blocked\""),
        "a blocked cell (modern-tls12 on xrdp rdp-only)"
    );
    assert!(dom.contains("class=\"cell o-ok\""));
    // The hostile names are there, as text.
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(dom.contains("&lt;/style&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(dom.contains("javascript:alert(3)"));
    // The inline script ran under the CSP (its hash allowed it): it added the filter box and
    // the sort buttons.
    assert!(dom.contains("id=\"host-filter\""), "the script did not run");
    assert!(dom.contains("<button type=\"button\""), "no sort buttons");
    // The host table holds every endpoint.
    let hosts_table = dom.split("id=\"hosts-table\"").nth(1).expect("host table");
    let body = hosts_table.split("</table>").next().expect("table end");
    assert_eq!(body.matches("<tr").count(), scan.hosts.len() + 1);

    let png = dir.join("loopback-mix.png");
    let log = viewers::chromium_screenshot(
        &html,
        &png,
        1400,
        2400,
        &keep_or_scratch(&dir, "chromium-shot"),
    );
    assert!(
        !log.contains("Content Security Policy") && !log.contains("Refused to"),
        "CSP violation: {log}"
    );
}
