//! The formats of a [`ScanDiff`]: terminal table, JSON document, JSONL and CSV, each streamed
//! to an `impl Write` (examples in `docs/diff.md`). Server text reaches the terminal through
//! [`escape_controls`] and the CSV through [`csv_cell`]; JSON needs only serde's escaping.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use super::{Change, DiffSummary, EndpointChanges, EndpointRef, ScanDiff};
use crate::report::csv::spreadsheet_writer;
use crate::report::sanitize::{csv_cell, escape_controls};

/// A table line longer than this (display columns) is split: the path on one line, the old
/// and new values on their own lines below it.
const LINE_WIDTH: usize = 100;

/// Split lines are word-wrapped at this width (a 120-column terminal, less a margin).
const WRAP_WIDTH: usize = 118;

/// A value as text (unescaped): `none` for nothing, lists as `[a, b]`, objects as JSON.
pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(value_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) if o.is_empty() => "none".into(),
        other => other.to_string(),
    }
}

/// ` (target)` when the target is not just the address.
fn target_suffix(target: &str, ip: Option<std::net::IpAddr>) -> String {
    match ip {
        Some(ip) if ip.to_string() == target => String::new(),
        None => String::new(), // the endpoint text is already target:port
        Some(_) => format!(" ({target})"),
    }
}

/// Writes `text` escaped, word-wrapped at [`WRAP_WIDTH`] columns: the first line after
/// `indent` spaces, the others after two more. A single word wider than that stays whole.
fn wrapped<W: Write>(out: &mut W, indent: usize, text: &str) -> io::Result<()> {
    let text = escape_controls(text);
    let mut line = " ".repeat(indent);
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.width() + 1 + word.width() > WRAP_WIDTH {
            writeln!(out, "{line}")?;
            line = " ".repeat(indent + 2);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    writeln!(out, "{line}")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The endpoints where something answered, one per line; the others only counted.
fn write_refs<W: Write>(out: &mut W, title: &str, refs: &[EndpointRef]) -> io::Result<()> {
    if refs.is_empty() {
        return Ok(());
    }
    let quiet = refs.iter().filter(|e| !e.answered()).count();
    let note = if quiet > 0 {
        format!(" ({quiet} closed or filtered, not listed)")
    } else {
        String::new()
    };
    writeln!(
        out,
        "{title}: {} endpoint{}{note}",
        refs.len(),
        plural(refs.len())
    )?;
    for e in refs.iter().filter(|e| e.answered()) {
        let head = format!(
            "  {}{}  {}",
            e.endpoint,
            target_suffix(&e.target, e.ip),
            e.status.as_str()
        );
        let summary = e.summary();
        let one = if summary.is_empty() {
            head.clone()
        } else {
            format!("{head}  {summary}")
        };
        if one.width() <= LINE_WIDTH || summary.is_empty() {
            writeln!(out, "{}", escape_controls(&one))?;
        } else {
            writeln!(out, "{}", escape_controls(&head))?;
            wrapped(out, 6, &summary)?;
        }
    }
    writeln!(out)
}

fn write_change<W: Write>(out: &mut W, c: &Change) -> io::Result<()> {
    let old = value_text(&c.old);
    let new = value_text(&c.new);
    let one = format!("    {}: {old} → {new} ({})", c.path, c.direction.as_str());
    if one.width() <= LINE_WIDTH {
        writeln!(out, "{}", escape_controls(&one))
    } else {
        writeln!(
            out,
            "{}",
            escape_controls(&format!("    {} ({})", c.path, c.direction.as_str()))
        )?;
        wrapped(out, 6, &format!("old: {old}"))?;
        wrapped(out, 6, &format!("new: {new}"))
    }
}

/// The terminal table: a section each for added, removed and changed endpoints (empty ones
/// left out), each change as `path: old → new (direction)`, then the count line.
pub fn write_table<W: Write>(mut out: W, diff: &ScanDiff) -> io::Result<()> {
    write_refs(&mut out, "Added", &diff.added)?;
    write_refs(&mut out, "Removed", &diff.removed)?;
    if !diff.changed.is_empty() {
        writeln!(
            out,
            "Changed: {} endpoint{}",
            diff.changed.len(),
            plural(diff.changed.len())
        )?;
        for e in &diff.changed {
            writeln!(
                out,
                "{}",
                escape_controls(&format!(
                    "  {}{}: {}",
                    e.endpoint,
                    target_suffix(&e.target, e.ip),
                    e.direction.as_str()
                ))
            )?;
            for c in &e.changes {
                write_change(&mut out, c)?;
            }
        }
        writeln!(out)?;
    }
    let summary = diff.summary();
    if !summary.clients_not_compared.is_empty() {
        writeln!(
            out,
            "Not compared (client profiles evaluated in only one scan): {}",
            escape_controls(&summary.clients_not_compared.join(", "))
        )?;
    }
    if diff.is_empty() {
        writeln!(out, "No differences.")?;
    }
    writeln!(out, "{}", summary.count_line())
}

#[derive(Serialize)]
struct Document<'a> {
    added: &'a [EndpointRef],
    removed: &'a [EndpointRef],
    changed: &'a [EndpointChanges],
    summary: DiffSummary,
}

/// `{"added": [...], "removed": [...], "changed": [...], "summary": {...}}` on one line.
pub fn write_json<W: Write>(mut out: W, diff: &ScanDiff) -> io::Result<()> {
    let doc = Document {
        added: &diff.added,
        removed: &diff.removed,
        changed: &diff.changed,
        summary: diff.summary(),
    };
    serde_json::to_writer(&mut out, &doc).map_err(io::Error::other)?;
    writeln!(out)
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    kind: &'static str,
    #[serde(flatten)]
    item: &'a T,
}

/// One object per line, each with `"kind"`: the added endpoints, then the removed, then one
/// line per changed endpoint with its `changes`.
pub fn write_jsonl<W: Write>(mut out: W, diff: &ScanDiff) -> io::Result<()> {
    fn line<W: Write, T: Serialize>(out: &mut W, kind: &'static str, item: &T) -> io::Result<()> {
        serde_json::to_writer(&mut *out, &Line { kind, item }).map_err(io::Error::other)?;
        writeln!(out)
    }
    for e in &diff.added {
        line(&mut out, "added", e)?;
    }
    for e in &diff.removed {
        line(&mut out, "removed", e)?;
    }
    for e in &diff.changed {
        line(&mut out, "changed", e)?;
    }
    out.flush()
}

/// The CSV columns, in order (`docs/diff.md`).
pub const CSV_COLUMNS: &[&str] = &[
    "kind",
    "endpoint",
    "target",
    "ip",
    "port",
    "status",
    "path",
    "old",
    "new",
    "direction",
    "summary",
];

/// A value as a CSV cell: empty for nothing, booleans as `yes`/`no`, lists joined with `;`
/// (as in the scan CSV), TLS versions as `TLS1.2`, and any other text a spreadsheet would read
/// as a number (`1.0`, `007`) behind the visible `'` that docs/output.md uses for formulas.
fn csv_value(path: &str, v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::Bool(b) => yes_no(*b).into(),
        Value::String(s) if path == "tls.version" => tls_text(s),
        Value::Array(a) if path == "tls.versions" => a
            .iter()
            .map(|x| x.as_str().map(tls_text).unwrap_or_else(|| x.to_string()))
            .collect::<Vec<_>>()
            .join(";"),
        Value::String(s) if s.trim().parse::<f64>().is_ok() => format!("'{s}"),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                Value::Bool(b) => yes_no(*b).into(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(";"),
        Value::Object(o) if o.is_empty() => String::new(),
        other => other.to_string(),
    };
    csv_cell(&text).into_owned()
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `1.2` → `TLS1.2`, `ssl3` → `SSL3.0`, unknown (`0x0305`) as is: the scan CSV's form.
fn tls_text(v: &str) -> String {
    match v {
        "ssl3" => "SSL3.0".into(),
        "ssl2" => "SSL2.0".into(),
        v if v.starts_with("0x") => v.into(),
        v => format!("TLS{v}"),
    }
}

/// One row per change; an added or removed endpoint is one row with an empty `path` and its
/// posture in `summary`. `bom`: start with a UTF-8 byte-order mark (files).
pub fn write_csv<W: Write>(out: W, diff: &ScanDiff, bom: bool) -> io::Result<()> {
    let mut w = spreadsheet_writer(out, bom)?;
    w.write_record(CSV_COLUMNS)?;
    let ip = |ip: Option<std::net::IpAddr>| ip.map(|i| i.to_string()).unwrap_or_default();
    for (kind, refs) in [("added", &diff.added), ("removed", &diff.removed)] {
        for e in refs {
            w.write_record([
                kind.to_owned(),
                csv_cell(&e.endpoint).into_owned(),
                csv_cell(&e.target).into_owned(),
                ip(e.ip),
                e.port.to_string(),
                e.status.as_str().to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                csv_cell(&e.summary()).into_owned(),
            ])?;
        }
    }
    for e in &diff.changed {
        for c in &e.changes {
            w.write_record([
                "changed".to_owned(),
                csv_cell(&e.endpoint).into_owned(),
                csv_cell(&e.target).into_owned(),
                ip(e.ip),
                e.port.to_string(),
                e.status.as_str().to_owned(),
                csv_cell(&c.path).into_owned(),
                csv_value(&c.path, &c.old),
                csv_value(&c.path, &c.new),
                c.direction.as_str().to_owned(),
                String::new(),
            ])?;
        }
    }
    w.flush()
}
