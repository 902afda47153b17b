//! The XLSX workbook (`-o FILE.xlsx`): what an administrator would otherwise build by hand from
//! the CSV (filters, colours, a summary). Four sheets, in this order:
//!
//! - `Hosts`: one row per endpoint with the host CSV's columns ([`super::csv::COLUMNS`], same
//!   names, same order, same text), typed: numbers as numbers ([`super::view::NUMBER_COLUMNS`]),
//!   `cert_not_after` as a date shown `yyyy-mm-ddThh:mm:ssZ`, the yes/no columns as booleans,
//!   everything else as text. Frozen header row and first column, autofilter, column widths
//!   from the content.
//! - `Findings`: one row per finding (endpoint, target, id, severity, message), the severity
//!   cell coloured.
//! - `Matrix`: host × client, each cell [`super::matrix::cell_text`] coloured by outcome (the
//!   palette of [`super::view::outcome_colors`], shared with the HTML page), the remediation as
//!   a cell note (comment); a legend below the grid.
//! - `Summary`: the scan metadata, counts per status, per finding id and severity, and per
//!   client outcome.
//!
//! Untrusted text (every string cell: target strings, server names, certificate fields, error
//! text, remediations that quote them) is written with `write_string`, so it is always a string
//! cell, never a formula, whatever it starts with (`=`, `+`, `-`, `@`); rust_xlsxwriter has no
//! string-to-formula conversion and escapes `_xHHHH_` sequences, so a name cannot smuggle a
//! character either. Control characters are made visible first
//! ([`super::sanitize::escape_controls`]), and text longer than a cell holds (32,767 UTF-16
//! units) is cut with a visible mark instead of failing the workbook.

use std::path::Path;

use anyhow::{Context, Result};
use rust_xlsxwriter::{
    ColNum, Color, ExcelDateTime, Format, FormatAlign, FormatBorder, Note, RowNum, Workbook,
    Worksheet,
};

use super::HostReport;
use super::csv::COLUMNS;
use super::matrix::cell_text;
use super::schema::Outcome;
use super::view::{
    self, Colors, ColumnKind, OUTCOMES, ReportView, SEVERITIES, column_kind, display_text,
    outcome_colors, severity_colors,
};
use crate::analysis::findings::Severity;

/// The sheet names, in workbook order.
pub const SHEETS: [&str; 4] = ["Hosts", "Findings", "Matrix", "Summary"];

/// The most a cell holds (Excel's limit, in UTF-16 code units).
const MAX_CELL: usize = 32_767;

/// The most a note holds (rust_xlsxwriter reserves 54 units of a cell for the note's author).
const MAX_NOTE: usize = MAX_CELL - 54;

/// How many targets (and client profiles) the Summary sheet lists before "… and N more" (the
/// JSON output has them all).
const SUMMARY_LIST_MAX: usize = 12;

/// Number format of date cells: the RFC 3339 form the CSV writes (UTC, whole seconds).
pub const DATE_FORMAT: &str = "yyyy-mm-dd\"T\"hh:mm:ss\"Z\"";

/// Writes the workbook of `view` to `path`.
pub fn write_xlsx(path: &Path, view: &ReportView<'_>) -> Result<()> {
    let mut wb = workbook(view)?;
    wb.save(path)
        .with_context(|| format!("cannot write the workbook {}", path.display()))
}

/// The workbook of `view` as XLSX bytes.
pub fn xlsx_bytes(view: &ReportView<'_>) -> Result<Vec<u8>> {
    let mut wb = workbook(view)?;
    wb.save_to_buffer().context("cannot build the workbook")
}

fn workbook(view: &ReportView<'_>) -> Result<Workbook> {
    let mut wb = Workbook::new();
    let sheets = [
        hosts_sheet(view).context("Hosts sheet")?,
        findings_sheet(view).context("Findings sheet")?,
        matrix_sheet(view).context("Matrix sheet")?,
        summary_sheet(view).context("Summary sheet")?,
    ];
    for s in sheets {
        wb.push_worksheet(s);
    }
    Ok(wb)
}

/// A row index, or an error when the sheet would outgrow a spreadsheet.
fn row(i: usize) -> Result<RowNum> {
    RowNum::try_from(i).context("too many rows for a worksheet")
}

fn col(i: usize) -> Result<ColNum> {
    ColNum::try_from(i).context("too many columns for a worksheet")
}

fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xD9E1F2))
        .set_border(FormatBorder::Thin)
        .set_border_color(Color::RGB(0x8EA9DB))
}

fn colored(c: Colors) -> Format {
    Format::new()
        .set_background_color(Color::RGB(c.fill))
        .set_font_color(Color::RGB(c.text))
        .set_border(FormatBorder::Thin)
        .set_border_color(Color::RGB(0xA6A6A6))
}

/// Tracks the widest text per column, to size columns.
struct Widths(Vec<usize>);

impl Widths {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn see(&mut self, c: usize, text: &str) {
        if self.0.len() <= c {
            self.0.resize(c + 1, 0);
        }
        if let Some(w) = self.0.get_mut(c) {
            *w = (*w).max(text.chars().count());
        }
    }

    /// Sets each column to its widest text plus a margin, between `min` and `max` characters.
    fn apply(&self, ws: &mut Worksheet, min: usize, max: usize) -> Result<()> {
        for (c, w) in self.0.iter().enumerate() {
            let width = (*w + 2).clamp(min, max);
            ws.set_column_width(col(c)?, u32::try_from(width).unwrap_or(u32::MAX))?;
        }
        Ok(())
    }
}

/// Writes untrusted `text` as a string cell (never a formula), escaped and clipped.
fn write_text(
    ws: &mut Worksheet,
    r: RowNum,
    c: ColNum,
    text: &str,
    fmt: Option<&Format>,
) -> Result<String> {
    let shown = display_text(text, MAX_CELL);
    match fmt {
        Some(f) => ws.write_string_with_format(r, c, shown.as_str(), f)?,
        None => ws.write_string(r, c, shown.as_str())?,
    };
    Ok(shown)
}

/// The height (points) of a row whose wrapped text is `text` in a column `width` characters
/// wide: spreadsheets do not grow rows for wrapped text written by a program, so a long message
/// would overlap the next row.
fn line_height(text: &str, width: usize) -> f64 {
    let lines: usize = text
        .lines()
        .map(|l| l.chars().count().div_ceil(width.max(1)).max(1))
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let lines = lines.clamp(1, 400) as f64;
    15.0 * lines
}

fn write_header(ws: &mut Worksheet, r: RowNum, names: &[&str], widths: &mut Widths) -> Result<()> {
    let fmt = header_format();
    for (i, name) in names.iter().enumerate() {
        ws.write_string_with_format(r, col(i)?, *name, &fmt)?;
        widths.see(i, name);
    }
    Ok(())
}

/// An RFC 3339 time as a spreadsheet date (UTC, whole seconds), or `None` when it does not
/// parse or lies outside what a spreadsheet dates (1900-9999).
fn excel_date(text: &str) -> Option<ExcelDateTime> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    ExcelDateTime::from_timestamp(t.unix_timestamp()).ok()
}

/// One typed Hosts cell from the CSV text of column `kind`. A value that does not fit its type
/// (a future change of the CSV text) is kept as text rather than lost.
fn write_typed(
    ws: &mut Worksheet,
    r: RowNum,
    c: ColNum,
    kind: ColumnKind,
    text: &str,
    date_fmt: &Format,
) -> Result<String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    match kind {
        ColumnKind::Number => {
            // Every number column holds integers well inside f64's exact range (2^53).
            if let Ok(n) = text.parse::<i64>() {
                #[allow(clippy::cast_precision_loss)]
                ws.write_number(r, c, n as f64)?;
                return Ok(text.to_owned());
            }
        }
        ColumnKind::Bool => match text {
            "yes" => {
                ws.write_boolean(r, c, true)?;
                return Ok("TRUE".to_owned());
            }
            "no" => {
                ws.write_boolean(r, c, false)?;
                return Ok("FALSE".to_owned());
            }
            _ => {}
        },
        ColumnKind::Date => {
            if let Some(d) = excel_date(text) {
                ws.write_datetime_with_format(r, c, &d, date_fmt)?;
                return Ok(text.to_owned());
            }
        }
        ColumnKind::Text => {}
    }
    write_text(ws, r, c, text, None)
}

fn hosts_sheet(view: &ReportView<'_>) -> Result<Worksheet> {
    let mut ws = Worksheet::new();
    ws.set_name("Hosts")?;
    let mut widths = Widths::new();
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    write_header(&mut ws, 0, &names, &mut widths)?;
    let date_fmt = Format::new().set_num_format(DATE_FORMAT);
    let kinds: Vec<ColumnKind> = COLUMNS.iter().map(|c| column_kind(c.name)).collect();
    for (i, h) in view.hosts.iter().enumerate() {
        let r = row(i + 1)?;
        for (j, (column, kind)) in COLUMNS.iter().zip(&kinds).enumerate() {
            let shown = write_typed(&mut ws, r, col(j)?, *kind, &(column.value)(h), &date_fmt)?;
            widths.see(j, &shown);
        }
    }
    widths.apply(&mut ws, 6, 48)?;
    ws.set_freeze_panes(1, 1)?;
    ws.autofilter(
        0,
        0,
        row(view.hosts.len())?,
        col(names.len().saturating_sub(1))?,
    )?;
    ws.set_active(true);
    ws.set_landscape();
    ws.set_repeat_rows(0, 0)?;
    Ok(ws)
}

fn findings_sheet(view: &ReportView<'_>) -> Result<Worksheet> {
    let mut ws = Worksheet::new();
    ws.set_name("Findings")?;
    let mut widths = Widths::new();
    let names = ["endpoint", "target", "id", "severity", "message"];
    write_header(&mut ws, 0, &names, &mut widths)?;
    let sev_fmt: Vec<(Severity, Format)> = SEVERITIES
        .iter()
        .map(|s| (*s, colored(severity_colors(*s)).set_align(FormatAlign::Top)))
        .collect();
    let top = Format::new().set_align(FormatAlign::Top);
    let wrap = top.clone().set_text_wrap();
    let mut r = 1usize;
    for h in view.hosts {
        for f in &h.findings {
            let rr = row(r)?;
            let cells = [h.endpoint(), h.target.clone(), f.id.clone()];
            for (j, text) in cells.iter().enumerate() {
                let shown = write_text(&mut ws, rr, col(j)?, text, Some(&top))?;
                widths.see(j, &shown);
            }
            let fmt = sev_fmt
                .iter()
                .find(|(s, _)| *s == f.severity)
                .map(|(_, f)| f);
            write_text(&mut ws, rr, 3, f.severity.as_str(), fmt)?;
            let shown = write_text(&mut ws, rr, 4, &f.message, Some(&wrap))?;
            // A 90-wide column holds about 100 characters of the default font per line.
            ws.set_row_height(rr, line_height(&shown, 100))?;
            r += 1;
        }
    }
    widths.see(3, "severity");
    widths.apply(&mut ws, 8, 40)?;
    // Messages are sentences: a wrapped column instead of one very long line.
    ws.set_column_width(4, 90)?;
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, row(r.saturating_sub(1))?, 4)?;
    ws.set_landscape();
    ws.set_repeat_rows(0, 0)?;
    ws.set_print_fit_to_pages(1, 0);
    Ok(ws)
}

/// The host columns of the Matrix sheet, before one column per client.
pub const MATRIX_HOST_COLUMNS: [&str; 4] = ["endpoint", "target", "status", "computer"];

/// The NTLM computer name (DNS, else NetBIOS) of a host, for the matrix rows.
fn computer(h: &HostReport) -> String {
    h.ntlm
        .as_ref()
        .and_then(|n| n.dns_computer.clone().or_else(|| n.nb_computer.clone()))
        .unwrap_or_default()
}

/// The note of a matrix cell: its reason and the fix, at a size that shows the whole text.
fn matrix_note(cell_text: &str, remediation: &str) -> Note {
    // Escaped apart, so that the blank line between them stays a line break.
    let text = format!(
        "{cell_text}\n\n{}",
        display_text(remediation, MAX_NOTE.saturating_sub(cell_text.len() + 2))
    );
    // About 70 characters per line in a 480-pixel wide note, 13 pixels per line.
    let lines =
        u32::try_from(text.chars().count() / 70 + text.lines().count() + 1).unwrap_or(u32::MAX);
    Note::new(text)
        .set_author("rdpsweep")
        .add_author_prefix(false)
        .set_width(480)
        .set_height(lines.saturating_mul(13).clamp(60, 640))
}

fn matrix_sheet(view: &ReportView<'_>) -> Result<Worksheet> {
    let mut ws = Worksheet::new();
    ws.set_name("Matrix")?;
    let mut widths = Widths::new();
    let mut names: Vec<&str> = MATRIX_HOST_COLUMNS.to_vec();
    names.extend(view.clients.iter().map(String::as_str));
    let header = header_format();
    for (i, name) in names.iter().enumerate() {
        let shown = write_text(&mut ws, 0, col(i)?, name, Some(&header))?;
        widths.see(i, &shown);
    }
    let formats: Vec<(Outcome, Format)> = OUTCOMES
        .iter()
        .map(|o| (*o, colored(outcome_colors(*o))))
        .collect();
    let fmt_of = |o: Outcome| formats.iter().find(|(x, _)| *x == o).map(|(_, f)| f);
    for (i, h) in view.hosts.iter().enumerate() {
        let r = row(i + 1)?;
        let cells = [
            h.endpoint(),
            h.target.clone(),
            h.status.as_str().to_owned(),
            computer(h),
        ];
        for (j, text) in cells.iter().enumerate() {
            if !text.is_empty() {
                let shown = write_text(&mut ws, r, col(j)?, text, None)?;
                widths.see(j, &shown);
            }
        }
        for (k, client) in view.clients.iter().enumerate() {
            let c = col(MATRIX_HOST_COLUMNS.len() + k)?;
            let cell = h.compat.get(client);
            let outcome = cell.map_or(Outcome::Unknown, |c| c.outcome);
            let text = cell_text(cell);
            let shown = write_text(&mut ws, r, c, &text, fmt_of(outcome))?;
            widths.see(usize::from(c), &shown);
            if let Some(fix) = cell.and_then(|c| c.remediation.as_deref()) {
                ws.insert_note(r, c, &matrix_note(&shown, fix))?;
            }
        }
    }
    widths.apply(&mut ws, 8, 40)?;
    ws.set_freeze_panes(1, 1)?;
    ws.autofilter(
        0,
        0,
        row(view.hosts.len())?,
        col(names.len().saturating_sub(1))?,
    )?;
    // The legend, below the grid (beside it, a filter would hide its rows).
    let mut r = view.hosts.len() + 2;
    let bold = Format::new().set_bold();
    ws.write_string_with_format(row(r)?, 0, "Legend", &bold)?;
    ws.write_string(
        row(r)?,
        1,
        "Each client cell is outcome:reason; a cell with a red corner mark has a note with the fix (hover it, or View > Comments).",
    )?;
    for o in OUTCOMES {
        r += 1;
        if let Some(f) = fmt_of(o) {
            ws.write_string_with_format(row(r)?, 0, o.as_str(), f)?;
        }
        ws.write_string(row(r)?, 1, view::outcome_meaning(o))?;
    }
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    Ok(ws)
}

fn summary_sheet(view: &ReportView<'_>) -> Result<Worksheet> {
    let mut ws = Worksheet::new();
    ws.set_name("Summary")?;
    let title = Format::new().set_bold().set_font_size(14);
    let bold = Format::new().set_bold();
    let header = header_format();
    let top = Format::new().set_align(FormatAlign::Top);
    let meta = view.meta;
    let mut r = 0usize;
    ws.write_string_with_format(row(r)?, 0, "rdpsweep report", &title)?;
    r += 2;

    ws.write_string_with_format(row(r)?, 0, "Scan", &bold)?;
    r += 1;
    let targets = view::list_text(&meta.targets, SUMMARY_LIST_MAX);
    let ports = meta
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let clients = view::list_text(
        &meta
            .clients
            .iter()
            .map(|c| format!("{} ({}, {})", c.name, c.kind.as_str(), c.source))
            .collect::<Vec<_>>(),
        SUMMARY_LIST_MAX,
    );
    let rows: [(&str, &str); 7] = [
        ("tool", meta.tool),
        ("version", meta.version),
        ("started", &meta.started),
        ("finished", meta.finished.as_deref().unwrap_or("")),
        ("targets", &targets),
        ("ports", &ports),
        ("client profiles", &clients),
    ];
    // Each value spans B-G (66 characters), wrapped, its row as high as its lines.
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    for (k, v) in rows {
        let rr = row(r)?;
        ws.write_string_with_format(rr, 0, k, &top)?;
        let shown = display_text(v, MAX_CELL);
        ws.merge_range(rr, 1, rr, 6, &shown, &wrap)?;
        ws.set_row_height(rr, line_height(&shown, 66))?;
        r += 1;
    }
    ws.write_string(row(r)?, 0, "endpoints in this report")?;
    ws.write_number(
        row(r)?,
        1,
        u32::try_from(view.hosts.len()).unwrap_or(u32::MAX),
    )?;
    r += 2;

    ws.write_string_with_format(row(r)?, 0, "Endpoints by status", &bold)?;
    r += 1;
    ws.write_string_with_format(row(r)?, 0, "status", &header)?;
    ws.write_string_with_format(row(r)?, 1, "count", &header)?;
    r += 1;
    for (k, v) in status_counts(view) {
        ws.write_string(row(r)?, 0, k)?;
        #[allow(clippy::cast_precision_loss)]
        ws.write_number(row(r)?, 1, v as f64)?;
        r += 1;
    }
    r += 1;

    ws.write_string_with_format(row(r)?, 0, "Findings", &bold)?;
    r += 1;
    for (j, h) in ["id", "severity", "endpoints"].iter().enumerate() {
        ws.write_string_with_format(row(r)?, col(j)?, *h, &header)?;
    }
    r += 1;
    let groups = view.findings_by_id();
    if groups.is_empty() {
        ws.write_string(row(r)?, 0, "none")?;
        r += 1;
    }
    for g in &groups {
        write_text(&mut ws, row(r)?, 0, &g.id, None)?;
        ws.write_string_with_format(
            row(r)?,
            1,
            g.severity.as_str(),
            &colored(severity_colors(g.severity)),
        )?;
        #[allow(clippy::cast_precision_loss)]
        ws.write_number(row(r)?, 2, g.endpoints.len() as f64)?;
        r += 1;
    }
    r += 1;

    ws.write_string_with_format(row(r)?, 0, "Client outcomes (RDP hosts)", &bold)?;
    r += 1;
    ws.write_string_with_format(row(r)?, 0, "client", &header)?;
    for (j, o) in OUTCOMES.iter().enumerate() {
        ws.write_string_with_format(
            row(r)?,
            col(j + 1)?,
            o.as_str(),
            &colored(outcome_colors(*o)),
        )?;
    }
    r += 1;
    let summaries = view.client_summaries();
    if summaries.is_empty() {
        ws.write_string(row(r)?, 0, "no client evaluated")?;
    }
    for s in &summaries {
        write_text(&mut ws, row(r)?, 0, &s.client, None)?;
        for (j, o) in OUTCOMES.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            ws.write_number(row(r)?, col(j + 1)?, s.count(*o) as f64)?;
        }
        r += 1;
    }
    // Column A labels, B-G counts; a metadata value in B runs on over the empty C-G.
    ws.set_column_width(0, 30)?;
    for c in 1..=6 {
        ws.set_column_width(c, 11)?;
    }
    ws.set_print_fit_to_pages(1, 0);
    Ok(ws)
}

/// Counts per status: the scan's summary when there is one (it also counts the closed and
/// filtered endpoints a report leaves out), otherwise counted over the report's hosts.
fn status_counts(view: &ReportView<'_>) -> Vec<(&'static str, u64)> {
    let s = match &view.meta.summary {
        Some(s) => s.clone(),
        None => {
            let mut s = super::summary::Summary::default();
            for h in view.hosts {
                s.add(h);
            }
            s
        }
    };
    let mut v = vec![
        ("endpoints", s.endpoints),
        ("rdp", s.rdp),
        ("not_rdp", s.not_rdp),
        ("closed", s.closed),
        ("filtered", s.filtered),
        ("error", s.error),
    ];
    if s.interrupted {
        v.push(("not scanned (interrupted)", s.skipped));
    }
    if s.resumed > 0 {
        v.push(("resumed", s.resumed));
    }
    if s.local_errors > 0 {
        v.push(("local errors retried", s.local_errors));
    }
    v
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use calamine::{Data, Reader, Xlsx, open_workbook};

    use super::*;
    use crate::report::view::sample;

    struct Written {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        hosts: Vec<HostReport>,
    }

    fn written() -> Written {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xlsx");
        let hosts = sample::hosts();
        let clients = sample::clients();
        let meta = sample::meta();
        let view = ReportView {
            hosts: &hosts,
            clients: &clients,
            meta: &meta,
        };
        write_xlsx(&path, &view).unwrap();
        Written {
            _dir: dir,
            path,
            hosts,
        }
    }

    fn zip_entry(path: &Path, name: &str) -> String {
        let file = std::fs::File::open(path).unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        let mut entry = zip.by_name(name).unwrap();
        let mut s = String::new();
        entry.read_to_string(&mut s).unwrap();
        s
    }

    fn column(name: &str) -> u32 {
        u32::try_from(COLUMNS.iter().position(|c| c.name == name).unwrap()).unwrap()
    }

    #[test]
    fn sheets_and_typed_host_cells() {
        let w = written();
        let mut wb: Xlsx<_> = open_workbook(&w.path).unwrap();
        assert_eq!(wb.sheet_names(), SHEETS.map(str::to_owned).to_vec());
        let hosts = wb.worksheet_range("Hosts").unwrap();
        assert_eq!(hosts.height(), w.hosts.len() + 1);
        let header: Vec<String> = (0..COLUMNS.len())
            .map(|c| {
                hosts
                    .get_value((0, u32::try_from(c).unwrap()))
                    .unwrap()
                    .to_string()
            })
            .collect();
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(header, names);

        let at = |r: u32, name: &str| hosts.get_value((r, column(name))).cloned();
        // Numbers are numbers.
        assert_eq!(at(1, "port"), Some(Data::Float(3389.0)));
        assert_eq!(at(1, "elapsed_ms"), Some(Data::Float(1234.0)));
        assert_eq!(at(1, "cert_days_left"), Some(Data::Float(-5.0)));
        assert_eq!(at(1, "clock_skew_s"), Some(Data::Float(-42.0)));
        assert_eq!(at(1, "credssp_version"), Some(Data::Float(3.0)));
        assert_eq!(at(1, "os_build"), Some(Data::Float(17763.0)));
        assert_eq!(at(1, "cert_key_bits"), Some(Data::Float(2048.0)));
        // Booleans are booleans; empty stays empty.
        assert_eq!(at(1, "credssp"), Some(Data::Bool(true)));
        assert_eq!(at(1, "rdp"), Some(Data::Bool(false)));
        assert_eq!(at(1, "cert_self_signed"), Some(Data::Bool(true)));
        assert_eq!(at(1, "cert_trusted"), Some(Data::Bool(false)));
        assert_eq!(at(1, "cert_name_ok"), Some(Data::Bool(true)));
        assert!(matches!(at(1, "rdstls"), None | Some(Data::Empty)));
        // Dates are dates, at the exact second.
        match at(1, "cert_not_after") {
            Some(Data::DateTime(d)) => {
                assert!(d.is_datetime());
                let expected = ExcelDateTime::from_timestamp(1_798_859_045)
                    .unwrap()
                    .to_excel();
                assert!(
                    (d.as_f64() - expected).abs() < 1e-6,
                    "{} vs {expected}",
                    d.as_f64()
                );
            }
            other => panic!("cert_not_after is {other:?}"),
        }
        // Text is text, even when it looks like a formula, a number or an XML escape.
        let text = |r: u32, name: &str| match at(r, name) {
            Some(Data::String(s)) => s,
            other => panic!("{name} row {r} is {other:?}, not a string"),
        };
        assert_eq!(text(1, "target"), sample::FORMULA);
        assert_eq!(text(1, "nb_domain"), sample::MINUS);
        assert_eq!(text(1, "dns_domain"), sample::AT);
        assert_eq!(text(1, "cert_signature_algorithm"), sample::PLUS);
        assert_eq!(text(1, "os_name"), sample::XML_ESCAPE);
        assert_eq!(text(1, "cert_subject_cn"), sample::SCRIPT);
        assert_eq!(text(1, "tls_version"), "TLS1.2");
        assert_eq!(text(1, "ip"), "192.0.2.10");
        // Control characters are visible escapes.
        assert_eq!(text(3, "error"), "-2+3 tab\\x09here\\x1b[31m\\u{202e}txt");
        // Not one formula anywhere in the workbook.
        for sheet in SHEETS {
            let f = wb.worksheet_formula(sheet).unwrap();
            assert!(
                f.used_cells().all(|(_, _, s)| s.is_empty()),
                "formula in {sheet}"
            );
        }
        for n in 1..=4 {
            let xml = zip_entry(&w.path, &format!("xl/worksheets/sheet{n}.xml"));
            assert!(
                !xml.contains("<f>") && !xml.contains("<f "),
                "sheet{n} has a formula"
            );
        }
    }

    #[test]
    fn findings_and_summary_sheets() {
        let w = written();
        let mut wb: Xlsx<_> = open_workbook(&w.path).unwrap();
        let f = wb.worksheet_range("Findings").unwrap();
        let rows: Vec<Vec<String>> = f
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        assert_eq!(rows[0], ["endpoint", "target", "id", "severity", "message"]);
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert_eq!(rows[1][0], "192.0.2.10:3389");
        assert_eq!(rows[1][1], sample::FORMULA);
        assert_eq!(rows[1][3], "high");
        assert_eq!(rows[1][4], format!("unpatched {}", sample::SCRIPT));
        assert_eq!(rows[3][0], "192.0.2.11:3389");

        let s = wb.worksheet_range("Summary").unwrap();
        let cells: Vec<Vec<Data>> = s.rows().map(<[Data]>::to_vec).collect();
        let find = |label: &str| {
            cells
                .iter()
                .find(|r| matches!(r.first(), Some(Data::String(s)) if s == label))
                .unwrap_or_else(|| panic!("no {label} row"))
                .clone()
        };
        assert_eq!(find("closed")[1], Data::Float(257.0));
        assert_eq!(find("endpoints")[1], Data::Float(260.0));
        assert_eq!(find("cert-self-signed")[1], Data::String("medium".into()));
        assert_eq!(find("cert-self-signed")[2], Data::Float(2.0));
        assert_eq!(
            find("targets")[1],
            Data::String(format!("192.0.2.0/24; {}", sample::SCRIPT))
        );
        // patched-mitigated: ok 1 (192.0.2.11), blocked 1; the error endpoint is not counted.
        let pm = find("patched-mitigated");
        let idx = |o: Outcome| 1 + OUTCOMES.iter().position(|x| *x == o).unwrap();
        assert_eq!(pm[idx(Outcome::Ok)], Data::Float(1.0));
        assert_eq!(pm[idx(Outcome::Blocked)], Data::Float(1.0));
        assert_eq!(pm[idx(Outcome::Unknown)], Data::Float(0.0));
        assert_eq!(find("unpatched")[idx(Outcome::Depends)], Data::Float(1.0));
    }

    /// The fill colour of cell `cell_ref` (e.g. `E2`) of sheet `n`, from the sheet and styles
    /// XML (calamine does not read fills).
    fn fill_of(path: &Path, n: u32, cell_ref: &str) -> Option<String> {
        let sheet = zip_entry(path, &format!("xl/worksheets/sheet{n}.xml"));
        let styles = zip_entry(path, "xl/styles.xml");
        let start = sheet.find(&format!("<c r=\"{cell_ref}\""))?;
        let tag = &sheet[start..start + sheet[start..].find('>')?];
        let s: usize = tag
            .split(" s=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .and_then(|t| t.parse().ok())?;
        let xfs = styles
            .split("<cellXfs")
            .nth(1)?
            .split("</cellXfs>")
            .next()?;
        let xf = xfs.split("<xf ").nth(s + 1)?;
        let fill_id: usize = xf
            .split("fillId=\"")
            .nth(1)?
            .split('"')
            .next()?
            .parse()
            .ok()?;
        let fills = styles.split("<fills").nth(1)?.split("</fills>").next()?;
        let fill = fills.split("<fill>").nth(fill_id + 1)?;
        Some(
            fill.split("fgColor rgb=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_owned(),
        )
    }

    #[test]
    fn matrix_cells_are_coloured_with_notes() {
        let w = written();
        let mut wb: Xlsx<_> = open_workbook(&w.path).unwrap();
        let m = wb.worksheet_range("Matrix").unwrap();
        let row = |r: u32| -> Vec<String> {
            (0..6)
                .map(|c| {
                    m.get_value((r, c))
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                })
                .collect()
        };
        assert_eq!(
            row(0),
            [
                "endpoint",
                "target",
                "status",
                "computer",
                "patched-mitigated",
                "unpatched"
            ]
        );
        assert_eq!(
            row(1),
            [
                "192.0.2.10:3389",
                sample::FORMULA,
                "rdp",
                sample::JS_URL,
                "blocked:credssp-oracle",
                "exposed:credssp-oracle"
            ]
        );
        assert_eq!(row(2)[4], "ok");
        assert_eq!(row(2)[5], "depends:credssp-oracle");
        assert_eq!(row(3)[4], "unknown:not-rdp");
        assert_eq!(row(3)[5], "unknown:not-evaluated");
        let rgb = |o: Outcome| format!("FF{:06X}", outcome_colors(o).fill);
        assert_eq!(fill_of(&w.path, 3, "E2"), Some(rgb(Outcome::Blocked)));
        assert_eq!(fill_of(&w.path, 3, "F2"), Some(rgb(Outcome::Exposed)));
        assert_eq!(fill_of(&w.path, 3, "E3"), Some(rgb(Outcome::Ok)));
        assert_eq!(fill_of(&w.path, 3, "F3"), Some(rgb(Outcome::Depends)));
        assert_eq!(fill_of(&w.path, 3, "E4"), Some(rgb(Outcome::Unknown)));
        assert_eq!(fill_of(&w.path, 3, "F4"), Some(rgb(Outcome::Unknown)));
        // The legend names every outcome, in its colour.
        let legend_row = (0..m.height() as u32)
            .find(|r| {
                m.get_value((*r, 0))
                    .is_some_and(|v| matches!(v, Data::String(s) if s == "Legend"))
            })
            .expect("legend");
        for (i, o) in OUTCOMES.iter().enumerate() {
            let r = legend_row + 1 + u32::try_from(i).unwrap();
            assert_eq!(m.get_value((r, 0)).unwrap().to_string(), o.as_str());
            assert_eq!(fill_of(&w.path, 3, &format!("A{}", r + 1)), Some(rgb(*o)));
        }
        // The remediation is the cell's note, escaped as XML text (never markup).
        let comments = zip_entry(&w.path, "xl/comments1.xml");
        assert!(comments.contains("blocked:credssp-oracle"));
        assert!(comments.contains("Patch the server &lt;img src=x onerror=alert(4)&gt;; =1+1"));
        assert!(comments.contains("Depends on the server."));
        assert!(comments.contains("blocked:credssp-oracle\n\nPatch the server"));
        assert!(!comments.contains("\\x0a"));
        // Frozen header and autofilter on the data sheets.
        for n in [1, 2, 3] {
            let xml = zip_entry(&w.path, &format!("xl/worksheets/sheet{n}.xml"));
            assert!(xml.contains("state=\"frozen\""), "sheet{n} not frozen");
            assert!(xml.contains("<autoFilter"), "sheet{n} has no autofilter");
        }
    }

    /// What rust_xlsxwriter does with formula-looking strings: both `write_string` and the
    /// generic `write` store a string cell; only `write_formula` (never used here) makes a
    /// formula. Checked so that an upgrade that changed it would fail here.
    #[test]
    fn formula_looking_strings_stay_strings_in_rust_xlsxwriter() {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "=1+1").unwrap();
        ws.write(1, 0, "=SUM(1,2)").unwrap();
        ws.write(2, 0, String::from("@A1")).unwrap();
        ws.write_formula(3, 0, "=1+1").unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let mut wb = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let values = wb.worksheet_range("Sheet1").unwrap();
        assert_eq!(values.get_value((0, 0)), Some(&Data::String("=1+1".into())));
        assert_eq!(
            values.get_value((1, 0)),
            Some(&Data::String("=SUM(1,2)".into()))
        );
        assert_eq!(values.get_value((2, 0)), Some(&Data::String("@A1".into())));
        let formulas = wb.worksheet_formula("Sheet1").unwrap();
        let f: Vec<(usize, usize, &String)> = formulas
            .used_cells()
            .filter(|(_, _, f)| !f.is_empty())
            .collect();
        // Only the write_formula cell is a formula: the check above would see one.
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            formulas
                .get_value((3, 0))
                .is_some_and(|f| f.contains("1+1"))
        );
    }

    #[test]
    fn oversized_text_is_cut_not_fatal() {
        let mut hosts = sample::hosts();
        hosts[0].target = "x".repeat(40_000);
        let meta = sample::meta();
        let clients = sample::clients();
        let bytes = xlsx_bytes(&ReportView {
            hosts: &hosts,
            clients: &clients,
            meta: &meta,
        })
        .unwrap();
        let mut wb = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let h = wb.worksheet_range("Hosts").unwrap();
        let t = h.get_value((1, 0)).unwrap().to_string();
        assert_eq!(t.encode_utf16().count(), MAX_CELL);
        assert!(t.ends_with("…[cut]"));
    }

    #[test]
    fn empty_report_still_has_four_sheets() {
        let meta = sample::meta();
        let bytes = xlsx_bytes(&ReportView {
            hosts: &[],
            clients: &[],
            meta: &meta,
        })
        .unwrap();
        let wb = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(wb.sheet_names(), SHEETS.map(str::to_owned).to_vec());
    }
}
