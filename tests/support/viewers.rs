//! Opening reports the way a person does: LibreOffice (`soffice`, Debian `libreoffice-calc`)
//! for workbooks, headless Chromium (Debian `chromium`) for HTML pages, `pdftoppm` (Debian
//! `poppler-utils`) to turn a PDF into PNG pages.
//!
//! Every call panics with the command, its output and the Debian package to install when the
//! program is missing, fails or hangs (each run is bounded by [`VIEWER_TIMEOUT`] and killed
//! with its whole process group). Each call uses a fresh private profile (`-env:
//! UserInstallation=` for LibreOffice, `--user-data-dir` for Chromium), so runs in parallel
//! never share state. Chromium gets the flags that keep it off the network
//! (`--disable-background-networking` and friends): it only ever reads `file://` pages.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::process::require_binary;

/// How long one viewer run may take before it is killed and the test fails.
pub const VIEWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `cmd` in its own process group with no stdin, waits at most [`VIEWER_TIMEOUT`], and
/// panics (showing its output) unless it exits 0.
pub fn run_checked(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let shown = format!("{cmd:?}");
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(VIEWER_TIMEOUT) {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("waiting for {shown}: {e}"),
        Err(_) => {
            if let Ok(pgid) = i32::try_from(pid) {
                // SAFETY: kill() has no memory effects; the group is the child's own (its
                // process_group(0)), and the child is not reaped yet, so the id is still ours.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
            panic!(
                "{shown} did not finish within {} s (killed with its process group)",
                VIEWER_TIMEOUT.as_secs()
            )
        }
    };
    assert!(
        output.status.success(),
        "{shown} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `soffice --headless` with a private profile under `scratch`, converting `input` with
/// `convert_to` (e.g. `pdf`) into `outdir`, a directory of the caller's own (its `.extension`
/// files are removed first); returns the one file there with `extension`.
pub fn soffice_convert(
    input: &Path,
    convert_to: &str,
    extension: &str,
    outdir: &Path,
    scratch: &Path,
) -> PathBuf {
    let soffice = require_binary("soffice", "libreoffice-calc");
    std::fs::create_dir_all(outdir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", outdir.display()));
    // A directory of the caller's own: old results are removed so the new one is found.
    for old in files_with(outdir, extension) {
        std::fs::remove_file(&old)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", old.display()));
    }
    let profile = scratch.join("lo-profile");
    let mut env_arg = OsString::from("-env:UserInstallation=file://");
    env_arg.push(profile.as_os_str());
    let mut cmd = Command::new(soffice);
    cmd.arg(env_arg)
        .args(["--headless", "--norestore", "--nolockcheck", "--convert-to"])
        .arg(convert_to)
        .arg("--outdir")
        .arg(outdir)
        .arg(input)
        // LibreOffice writes its temporary files under TMPDIR and HOME.
        .env("HOME", scratch)
        .env("TMPDIR", scratch);
    let output = run_checked(cmd);
    let new = files_with(outdir, extension);
    match new.as_slice() {
        [one] => one.clone(),
        _ => panic!(
            "soffice --convert-to {convert_to} made {} .{extension} files in {} (expected 1): {new:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            new.len(),
            outdir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == extension))
                .collect()
        })
        .unwrap_or_default()
}

/// The CSV filter options for [`xlsx_sheet_csv`]: comma, double quote, UTF-8 (76), from line
/// 1, no column formats, default language, do not quote all text cells, detect special numbers,
/// cell contents as shown, no formulas, no trimming, then the sheet number (1-based; token 12,
/// LibreOffice 7.2 and later).
fn csv_filter(sheet: u32) -> String {
    format!("csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,{sheet}")
}

/// Converts sheet `sheet` (1 = the first) of the workbook at `xlsx` to CSV with LibreOffice
/// and returns its rows (parsed with the `csv` crate, a UTF-8 byte-order mark dropped).
pub fn xlsx_sheet_csv(xlsx: &Path, sheet: u32, scratch: &Path) -> Vec<Vec<String>> {
    let outdir = scratch.join(format!("csv-{sheet}"));
    let file = soffice_convert(xlsx, &csv_filter(sheet), "csv", &outdir, scratch);
    let bytes =
        std::fs::read(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("LibreOffice's CSV {} is not UTF-8: {e}", file.display()));
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("LibreOffice's CSV {} does not parse: {e}", file.display()))
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Converts a document (workbook, page) to PDF with LibreOffice.
pub fn to_pdf(input: &Path, scratch: &Path) -> PathBuf {
    soffice_convert(input, "pdf", "pdf", &scratch.join("pdf"), scratch)
}

/// `pdftoppm -png -r DPI PDF PREFIX`: the PNG pages, in order.
pub fn pdf_to_pngs(pdf: &Path, dpi: u32, outdir: &Path) -> Vec<PathBuf> {
    let pdftoppm = require_binary("pdftoppm", "poppler-utils");
    std::fs::create_dir_all(outdir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", outdir.display()));
    let mut cmd = Command::new(pdftoppm);
    cmd.args(["-png", "-r", &dpi.to_string()])
        .arg(pdf)
        .arg(outdir.join("page"));
    run_checked(cmd);
    let mut pages = files_with(outdir, "png");
    pages.sort();
    assert!(
        !pages.is_empty(),
        "pdftoppm made no page from {}",
        pdf.display()
    );
    pages
}

/// A headless Chromium command for `file://` pages, with a fresh profile in `scratch` and
/// every background connection switched off.
fn chromium(scratch: &Path) -> Command {
    let chromium = require_binary("chromium", "chromium");
    let mut cmd = Command::new(chromium);
    let mut data_dir = OsString::from("--user-data-dir=");
    data_dir.push(scratch.join("chromium-profile").as_os_str());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
    ])
    .arg(data_dir)
    .env("HOME", scratch);
    cmd
}

fn file_url(path: &Path) -> String {
    let abs = std::fs::canonicalize(path)
        .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", path.display()));
    format!("file://{}", abs.display())
}

/// The DOM of the page at `html` after Chromium loaded it and ran its scripts
/// (`--dump-dom`).
pub fn chromium_dump_dom(html: &Path, scratch: &Path) -> String {
    let mut cmd = chromium(scratch);
    cmd.arg("--dump-dom").arg(file_url(html));
    let output = run_checked(cmd);
    String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("Chromium's DOM is not UTF-8: {e}"))
}

/// A `width`×`height` screenshot of the page at `html`, written to `png`; returns the
/// browser's console output (stderr), where Content-Security-Policy violations are reported.
pub fn chromium_screenshot(
    html: &Path,
    png: &Path,
    width: u32,
    height: u32,
    scratch: &Path,
) -> String {
    let mut cmd = chromium(scratch);
    let mut shot = OsString::from("--screenshot=");
    shot.push(png.as_os_str());
    cmd.arg(shot)
        .arg(format!("--window-size={width},{height}"))
        .arg("--hide-scrollbars")
        .arg("--enable-logging=stderr")
        .arg(file_url(html));
    let output = run_checked(cmd);
    let meta = std::fs::metadata(png)
        .unwrap_or_else(|e| panic!("Chromium wrote no screenshot {}: {e}", png.display()));
    assert!(
        meta.len() > 1000,
        "screenshot {} is nearly empty",
        png.display()
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}
