//! The Windows build, run for real under wine.
//!
//! `scripts/windows-build.sh` cross-builds `rdpsweep.exe` for x86_64-pc-windows-gnu, puts the
//! test-only `bcryptprimitives.dll` (tests/windows/processprng.c) next to it and creates a fresh
//! wine prefix. These tests run that `.exe` through the wine loader and compare it with the
//! Linux build of the same tree. They never skip: a missing `.exe`, DLL or wine fails them with
//! what to run. NETWORK SAFETY: only 127.0.0.0/8 is scanned or bound.
//!
//! Locations (overridable by environment variables):
//! - `RDPSWEEP_WINDOWS_EXE`: default `<target>/x86_64-pc-windows-gnu/<profile>/rdpsweep.exe`,
//!   where `<target>/<profile>` is the directory of the Linux binary under test;
//! - `RDPSWEEP_WINEPREFIX`: default `<target>/wine-prefix` (created here when missing);
//! - `RDPSWEEP_WINE`: the loader, default `/usr/lib/wine/wine64` (Debian), else `wine64`/`wine`
//!   on `PATH`.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;

/// This binary's loopback tag (`support::net::loopback`): servers on 127.50.x.y.
const TAG: u8 = 50;

const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
/// How long one wine run may take before it is killed and the test fails.
const WINE_TIMEOUT: Duration = Duration::from_secs(120);

/// The wine environment shared by every test of this binary (one prefix per test run).
struct Wine {
    loader: PathBuf,
    prefix: PathBuf,
    exe: PathBuf,
}

fn linux_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rdpsweep"))
}

/// A source file (src/, Cargo.toml, Cargo.lock) modified after `built`, if any.
fn newer_source(built: &Path) -> Option<PathBuf> {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let built_at = mtime(built)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("src")];
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .find(|f| mtime(f).is_some_and(|m| m > built_at))
}

fn find_loader() -> PathBuf {
    if let Some(w) = std::env::var_os("RDPSWEEP_WINE") {
        let w = PathBuf::from(w);
        assert!(
            w.is_file(),
            "RDPSWEEP_WINE={} is not a file: point it at the wine loader",
            w.display()
        );
        return w;
    }
    for w in ["/usr/lib/wine/wine64", "/usr/lib64/wine/wine64"] {
        if Path::new(w).is_file() {
            return PathBuf::from(w);
        }
    }
    for name in ["wine64", "wine"] {
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let p = dir.join(name);
                if p.is_file() {
                    return p;
                }
            }
        }
    }
    panic!(
        "wine is not installed: no /usr/lib/wine/wine64, wine64 or wine on PATH. \
         Run scripts/windows-build.sh (it installs Debian's wine64) or set RDPSWEEP_WINE."
    );
}

fn wine() -> &'static Wine {
    static WINE: OnceLock<Wine> = OnceLock::new();
    WINE.get_or_init(|| {
        // <target>/<profile>/rdpsweep -> <target>, <profile>
        let profile_dir = linux_exe()
            .parent()
            .expect("the Linux binary sits in a profile directory");
        let profile = profile_dir
            .file_name()
            .expect("profile directory name")
            .to_owned();
        let target = profile_dir.parent().expect("target directory");
        let exe = std::env::var_os("RDPSWEEP_WINDOWS_EXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                target
                    .join(WINDOWS_TARGET)
                    .join(&profile)
                    .join("rdpsweep.exe")
            });
        assert!(
            exe.is_file(),
            "the Windows binary {} is missing: run scripts/windows-build.sh{} before cargo test \
             (or set RDPSWEEP_WINDOWS_EXE)",
            exe.display(),
            if profile == "release" {
                " --release"
            } else {
                ""
            }
        );
        let dll = exe.with_file_name("bcryptprimitives.dll");
        assert!(
            dll.is_file(),
            "{} is missing: without it Rust's std cannot start under wine 8 (exit status 53); \
             run scripts/windows-build.sh",
            dll.display()
        );
        if let Some(newer) = newer_source(&exe) {
            panic!(
                "{} is older than {}: it was built from other sources than this test; rebuild \
                 it with scripts/windows-build.sh",
                exe.display(),
                newer.display()
            );
        }
        let prefix = std::env::var_os("RDPSWEEP_WINEPREFIX")
            .map(PathBuf::from)
            .unwrap_or_else(|| target.join("wine-prefix"));
        let w = Wine {
            loader: find_loader(),
            prefix,
            exe,
        };
        if !w.prefix.join("system.reg").is_file() {
            // scripts/windows-build.sh normally creates it; a first run does the same.
            let out = w.run_raw(["wineboot", "--init"]);
            assert!(
                out.status.success() && w.prefix.join("system.reg").is_file(),
                "cannot create the wine prefix {}:\n{}",
                w.prefix.display(),
                show(&out)
            );
        }
        w
    })
}

impl Wine {
    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.loader);
        cmd.args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `wine ARGS` (a Windows program such as `reg`), killed after [`WINE_TIMEOUT`].
    fn run_raw<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_timeout(self.command(args), WINE_TIMEOUT)
    }

    /// Runs `rdpsweep.exe ARGS` under wine.
    fn rdpsweep<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all = vec![self.exe.clone().into_os_string()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self.run_raw(all)
    }
}

/// Runs the Linux build with `args`.
fn linux_rdpsweep<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(linux_exe());
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_timeout(cmd, WINE_TIMEOUT)
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut b);
        b
    });
    let err_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let out = out_thread.join().unwrap_or_default();
                let err = err_thread.join().unwrap_or_default();
                panic!(
                    "{shown} did not finish within {} s (killed)\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    limit.as_secs(),
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&err)
                );
            }
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The path as the Windows program sees it: wine maps drive `Z:` to `/`.
fn win_path(p: &Path) -> String {
    let abs = std::fs::canonicalize(p)
        .or_else(|_| {
            p.parent().map(std::fs::canonicalize).transpose().map(|d| {
                d.unwrap_or_default()
                    .join(p.file_name().unwrap_or_default())
            })
        })
        .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", p.display()));
    let s = abs
        .to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", abs.display()));
    format!("Z:{}", s.replace('/', "\\"))
}

/// A loopback port that refuses connections (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    l.local_addr().expect("local address").port()
}

/// Parses JSONL, naming the bad line.
fn jsonl(bytes: &[u8], who: &str) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{who}: not UTF-8: {e}"));
    assert!(
        !text.contains('\r'),
        "{who}: JSONL must use LF line endings on every platform, found CR:\n{text:?}"
    );
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{who}: not JSON ({e}): {l}")))
        .collect()
}

/// Removes the fields that legitimately differ between two runs (timings).
fn without_timings(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in ["elapsed_ms", "started", "finished", "days_left"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Sorts host records by (ip, port) so completion order does not matter.
fn sorted(mut hosts: Vec<Value>) -> Vec<Value> {
    hosts.sort_by_key(|h| (h["ip"].to_string(), h["port"].as_u64()));
    hosts
}

/// CSV columns that differ between two scans of the same hosts for reasons of time alone.
const TIME_COLUMNS: [&str; 3] = ["elapsed_ms", "clock_skew_s", "cert_days_left"];

/// CSV records (header first, then data rows sorted) with the [`TIME_COLUMNS`] blanked.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes));
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| {
            r.expect("valid CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    let header = rows.first().cloned().unwrap_or_default();
    assert!(
        header.iter().any(|h| h == "elapsed_ms"),
        "CSV header has no elapsed_ms: {header:?}"
    );
    let blank: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| TIME_COLUMNS.contains(&h.as_str()))
        .map(|(i, _)| i)
        .collect();
    for row in rows.iter_mut().skip(1) {
        for &i in &blank {
            if let Some(cell) = row.get_mut(i) {
                cell.clear();
            }
        }
    }
    if let Some(data) = rows.get_mut(1..) {
        data.sort();
    }
    rows
}

/// Asserts two CSV files hold the same rows (see [`csv_rows`]), naming differing cells.
fn assert_same_csv(win: &[u8], linux: &[u8]) {
    let (a, b) = (csv_rows(win), csv_rows(linux));
    let header = b.first().cloned().unwrap_or_default();
    let mut diffs = Vec::new();
    if a.len() != b.len() {
        diffs.push(format!("{} rows on Windows, {} on Linux", a.len(), b.len()));
    }
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        if ra.len() != rb.len() {
            diffs.push(format!("row {i}: {} vs {} cells", ra.len(), rb.len()));
        }
        for (j, (ca, cb)) in ra.iter().zip(rb).enumerate() {
            if ca != cb {
                let column = header.get(j).map_or("?", String::as_str);
                diffs.push(format!("row {i} {column}: windows {ca:?} / linux {cb:?}"));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "CSV from Windows differs from Linux (ignoring {TIME_COLUMNS:?}):\n{}",
        diffs.join("\n")
    );
}

// ------------------------------------------------------------------------------------------

#[test]
fn the_windows_binary_starts_under_wine_and_reports_the_same_version() {
    let w = wine();
    let win = w.rdpsweep(["--version"]);
    assert!(
        win.status.success(),
        "rdpsweep.exe --version failed under wine (status 53 with no output means the \
         ProcessPrng shim bcryptprimitives.dll is missing or broken):\n{}",
        show(&win)
    );
    let linux = linux_rdpsweep(["--version"]);
    assert!(linux.status.success(), "{}", show(&linux));
    assert_eq!(
        String::from_utf8_lossy(&win.stdout),
        String::from_utf8_lossy(&linux.stdout),
        "the Windows and Linux builds report different versions"
    );
    assert!(
        String::from_utf8_lossy(&win.stdout).starts_with("rdpsweep "),
        "{}",
        show(&win)
    );
}

#[test]
fn a_closed_port_scanned_from_windows_reads_as_closed_like_on_linux() {
    let w = wine();
    let port = closed_port().to_string();
    let args = [
        "scan",
        "127.0.0.1",
        "-p",
        &port,
        "--format",
        "jsonl",
        "--no-progress",
    ];
    let win = w.rdpsweep(args);
    assert_eq!(win.status.code(), Some(0), "{}", show(&win));
    let records = jsonl(&win.stdout, "rdpsweep.exe stdout");
    assert_eq!(records.len(), 1, "one endpoint expected:\n{}", show(&win));
    let r = &records[0];
    assert_eq!(r["status"], "closed", "{r}");
    assert_eq!(r["ip"], "127.0.0.1", "{r}");
    assert_eq!(r["port"].as_u64(), port.parse::<u64>().ok(), "{r}");
    assert_eq!(r["connections"], 1, "{r}");

    let linux = linux_rdpsweep(args);
    assert_eq!(linux.status.code(), Some(0), "{}", show(&linux));
    let linux_records = jsonl(&linux.stdout, "Linux rdpsweep stdout");
    assert_eq!(
        records.into_iter().map(without_timings).collect::<Vec<_>>(),
        linux_records
            .into_iter()
            .map(without_timings)
            .collect::<Vec<_>>(),
        "the Windows and Linux builds disagree on a closed port"
    );
}

#[test]
fn bad_input_exits_2_naming_the_token_on_windows_too() {
    let w = wine();
    let out = w.rdpsweep(["scan", "10.0.0.0/33"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr.contains("10.0.0.0/33"), "{}", show(&out));
    assert!(
        out.stdout.is_empty(),
        "nothing may be scanned:\n{}",
        show(&out)
    );
}

/// `-i` and `-o` with drive-letter backslash paths; every file format is byte-compatible with
/// the Linux build's (UTF-8, CRLF in CSV, LF in JSON/JSONL: docs/output.md).
#[test]
fn windows_paths_for_input_and_output_files_and_identical_file_formats() {
    let w = wine();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let targets = dir.path().join("targets list.txt");
    // CRLF target file, as Notepad writes it.
    std::fs::write(&targets, "# lab\r\n127.0.0.1\r\n127.0.0.2\r\n").expect("write targets");
    let scan = |exe: &dyn Fn(Vec<String>) -> Output, sub: &str, windows: bool| -> PathBuf {
        let out_dir = dir.path().join(sub);
        std::fs::create_dir_all(&out_dir).expect("mkdir");
        let path = |p: &Path| {
            if windows {
                win_path(p)
            } else {
                p.to_str().expect("utf-8 path").to_owned()
            }
        };
        let mut args: Vec<String> = ["scan", "-p", &port.to_string(), "--no-progress"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["-i".into(), path(&targets)]);
        for name in ["r.csv", "r.json", "r.jsonl"] {
            args.extend(["-o".into(), path(&out_dir.join(name))]);
        }
        let out = exe(args.clone());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} {args:?}:\n{}",
            if windows { "rdpsweep.exe" } else { "rdpsweep" },
            show(&out)
        );
        out_dir
    };
    let win_dir = scan(&|a| w.rdpsweep(a), "windows", true);
    let linux_dir = scan(&|a| linux_rdpsweep(a), "linux", false);

    for name in ["r.csv", "r.json", "r.jsonl"] {
        assert!(
            !win_dir.join(format!("{name}.partial")).exists(),
            "{name}.partial was left behind by the Windows build"
        );
        let win = std::fs::read(win_dir.join(name))
            .unwrap_or_else(|e| panic!("the Windows build did not write {name}: {e}"));
        let linux = std::fs::read(linux_dir.join(name)).expect("Linux output file");
        let text = String::from_utf8(win.clone())
            .unwrap_or_else(|e| panic!("{name} from Windows is not UTF-8: {e}"));
        match name {
            "r.csv" => {
                assert!(
                    win.starts_with(b"\xEF\xBB\xBF"),
                    "CSV starts with a UTF-8 BOM"
                );
                let body = &text[3..];
                assert!(
                    body.lines().count() >= 3 && body.split("\r\n").all(|l| !l.contains('\n')),
                    "CSV rows must end with CRLF and contain no bare LF:\n{body:?}"
                );
                assert_same_csv(&win, &linux);
            }
            "r.json" => {
                assert!(
                    !text.contains('\r'),
                    "JSON file must use LF only:\n{text:?}"
                );
                let doc = |b: &[u8]| -> Value {
                    let mut v: Value = serde_json::from_slice(b).expect("valid JSON");
                    let hosts = v["hosts"].as_array().cloned().unwrap_or_default();
                    v["hosts"] = Value::Array(sorted(hosts));
                    // The `local` client profile describes the machine (registry on Windows,
                    // FreeRDP on Linux): it differs between the builds by design.
                    if let Some(scan) = v["scan"].as_object_mut() {
                        scan.remove("clients");
                    }
                    without_timings(v)
                };
                let (win_doc, linux_doc) = (doc(&win), doc(&linux));
                assert_eq!(win_doc, linux_doc, "JSON differs (ignoring timings)");
                assert_eq!(
                    win.ends_with(b"\n"),
                    linux.ends_with(b"\n"),
                    "trailing newline"
                );
            }
            _ => {
                let a = sorted(jsonl(&win, "Windows r.jsonl"))
                    .into_iter()
                    .map(without_timings)
                    .collect::<Vec<_>>();
                let b = sorted(jsonl(&linux, "Linux r.jsonl"))
                    .into_iter()
                    .map(without_timings)
                    .collect::<Vec<_>>();
                assert_eq!(a.len(), 2, "{text}");
                assert_eq!(a, b, "JSONL differs (ignoring timings)");
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Real servers on loopback (tests/support): the Windows build must report what Linux reports.

/// Fields that differ between two scans of the same hosts for reasons of time alone.
const TIME_FIELDS: [&str; 6] = [
    // A certificate's days left depends on the instant of the scan: two scans a second apart
    // can straddle a whole-day boundary of its not_after.
    "days_left",
    "elapsed_ms",
    "started",
    "finished",
    "server_time",
    "clock_skew_s",
];

/// Paths (`a.b[2].c`) where two JSON values differ, for a readable assertion message.
fn json_differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                json_differences(va, vb, &format!("{at}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_differences(va, vb, &format!("{at}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{at}: windows {a} / linux {b}")),
        _ => {}
    }
}

/// `{"hosts": [...], "scan": {...}}` with hosts sorted and time fields removed.
fn comparable_doc(bytes: &[u8], who: &str) -> Value {
    let mut v: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{who}: not a JSON document ({e})"));
    let hosts = v["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{who}: no hosts array"));
    v["hosts"] = Value::Array(sorted(hosts));
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in TIME_FIELDS {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Scans xrdp (negotiate; TLS 1.0 only through OpenSSL; CA-signed with `--ca-file`), FreeRDP's
/// shadow server (NLA with CredSSP and NTLM identity; Standard RDP Security only), a closed port
/// and an HTTP listener, once from Linux and once from the Windows build under wine, each
/// writing JSON on stdout and CSV/JSON/JSONL files. The JSON must be equal apart from timings;
/// the files must have the documented format on both sides (docs/output.md).
#[test]
fn windows_scan_of_real_servers_equals_the_linux_scan() {
    let w = wine();
    let certs = support::Certs::new();
    let ca_ip = support::loopback(TAG);
    let ca_addr = std::net::SocketAddrV4::new(ca_ip, support::net::free_port(ca_ip));

    let negotiate = support::Variant::XrdpNegotiate.start(TAG);
    let shadow_nla = support::Variant::ShadowNla.start(TAG);
    let shadow_rdp = support::Variant::ShadowRdp.start(TAG);
    let mut legacy_opts = support::XrdpOptions::new(support::endpoint(TAG), "negotiate");
    legacy_opts.ssl_protocols = Some("TLSv1".to_owned());
    let legacy = support::Xrdp::start(legacy_opts);
    let mut ca_opts = support::XrdpOptions::new(ca_addr, "tls");
    ca_opts.certificate = Some(certs.ca_signed("rdp.windows.test", Some(ca_ip)));
    let ca_signed = support::Xrdp::start(ca_opts);
    let http = support::FakeListener::http_400(TAG);
    let closed = support::closed_port(TAG);

    let targets = [
        negotiate.target(),
        shadow_nla.target(),
        shadow_rdp.target(),
        legacy.target(),
        ca_signed.target(),
        http.target(),
        closed.to_string(),
    ];
    let logs = || {
        [
            ("xrdp negotiate", negotiate.log_tail()),
            ("shadow nla", shadow_nla.log_tail()),
            ("shadow rdp", shadow_rdp.log_tail()),
            ("xrdp TLS 1.0", legacy.log_tail()),
            ("xrdp CA-signed", ca_signed.log_tail()),
        ]
        .iter()
        .map(|(name, tail)| format!("--- {name} log ---\n{tail}"))
        .collect::<Vec<_>>()
        .join("\n")
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let run = |windows: bool| -> (Output, PathBuf) {
        let out_dir = dir.path().join(if windows { "windows" } else { "linux" });
        std::fs::create_dir_all(&out_dir).expect("mkdir");
        let path = |p: &Path| {
            if windows {
                win_path(p)
            } else {
                p.to_str().expect("utf-8 path").to_owned()
            }
        };
        let mut args: Vec<String> = vec![
            "scan".into(),
            "--format".into(),
            "json".into(),
            "--no-progress".into(),
            "--timeout".into(),
            "20s".into(),
            // At most 2 connections per xrdp endpoint at once (its listen backlog).
            "--concurrency".into(),
            "2".into(),
            "--ca-file".into(),
            path(&certs.ca_cert()),
            // OS-independent client profiles (`local` describes the machine, so it differs
            // between the builds): their compat cells must then be equal too.
            "--client-profile".into(),
            "patched-mitigated,unpatched,modern-tls12".into(),
        ];
        for name in ["r.csv", "r.json", "r.jsonl"] {
            args.extend(["-o".into(), path(&out_dir.join(name))]);
        }
        args.extend(targets.iter().cloned());
        let out = if windows {
            w.rdpsweep(&args)
        } else {
            linux_rdpsweep(&args)
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} {args:?}:\n{}\n{}",
            if windows { "rdpsweep.exe" } else { "rdpsweep" },
            show(&out),
            logs()
        );
        (out, out_dir)
    };
    let (linux, linux_dir) = run(false);
    let (win, win_dir) = run(true);

    // stdout: the same JSON document apart from timings.
    let linux_doc = comparable_doc(&linux.stdout, "Linux stdout");
    let win_doc = comparable_doc(&win.stdout, "rdpsweep.exe stdout");
    let hosts = linux_doc["hosts"].as_array().map_or(0, Vec::len);
    assert_eq!(
        hosts,
        targets.len(),
        "one record per target:\n{}",
        show(&linux)
    );
    let mut diffs = Vec::new();
    json_differences(&win_doc, &linux_doc, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "the Windows build reports differently from the Linux build:\n{}\n\nWindows:\n{}",
        diffs.join("\n"),
        serde_json::to_string_pretty(&win_doc).unwrap_or_default()
    );
    // The scan really reached every kind of server (so the equality above means something).
    let status_of = |target: &str| {
        linux_doc["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| format!("{}:{}", h["ip"].as_str().unwrap_or(""), h["port"]) == target)
            .map(|h| h["status"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    for (target, status) in targets
        .iter()
        .zip(["rdp", "rdp", "rdp", "rdp", "rdp", "not_rdp", "closed"])
    {
        assert_eq!(status_of(target), status, "{target}:\n{}", show(&linux));
    }
    let host = |target: &str| -> Value {
        win_doc["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| format!("{}:{}", h["ip"].as_str().unwrap_or(""), h["port"]) == target)
            .cloned()
            .unwrap_or_else(|| panic!("rdpsweep.exe reported nothing for {target}"))
    };
    // What the Windows build itself found, stage by stage.
    let nla = host(&shadow_nla.target());
    assert_eq!(nla["security"]["nla"], "required", "{nla:#}");
    assert_eq!(
        nla["credssp"]["version"], 6,
        "CredSSP from Windows: {nla:#}"
    );
    assert_eq!(
        nla["ntlm"]["os_version"], "6.1.7601",
        "NTLM from Windows: {nla:#}"
    );
    let old = host(&legacy.target());
    assert_eq!(
        old["tls"]["stack"], "openssl",
        "OpenSSL on Windows: {old:#}"
    );
    assert_eq!(old["tls"]["version"], "1.0", "{old:#}");
    let trusted = host(&ca_signed.target());
    assert_eq!(trusted["tls"]["stack"], "rustls", "{trusted:#}");
    assert_eq!(
        trusted["tls"]["trust"]["ca_file"], "trusted",
        "--ca-file given as a Windows path: {trusted:#}"
    );

    // Files: same content, documented line endings, UTF-8, no `.partial` left.
    for name in ["r.csv", "r.json", "r.jsonl"] {
        assert!(
            !win_dir.join(format!("{name}.partial")).exists(),
            "{name}.partial was left behind by the Windows build"
        );
        let win_bytes = std::fs::read(win_dir.join(name))
            .unwrap_or_else(|e| panic!("the Windows build did not write {name}: {e}"));
        let linux_bytes = std::fs::read(linux_dir.join(name)).expect("Linux output file");
        assert_same_file_format(name, &win_bytes, &linux_bytes);
        match name {
            "r.csv" => assert_same_csv(&win_bytes, &linux_bytes),
            "r.json" => {
                let mut diffs = Vec::new();
                json_differences(
                    &comparable_doc(&win_bytes, "Windows r.json"),
                    &comparable_doc(&linux_bytes, "Linux r.json"),
                    "",
                    &mut diffs,
                );
                assert!(diffs.is_empty(), "r.json differs:\n{}", diffs.join("\n"));
            }
            _ => {
                let strip = |b: &[u8], who: &str| {
                    let mut doc = serde_json::json!({"hosts": jsonl(b, who)});
                    doc = comparable_doc(doc.to_string().as_bytes(), who);
                    doc
                };
                let mut diffs = Vec::new();
                json_differences(
                    &strip(&win_bytes, "Windows r.jsonl"),
                    &strip(&linux_bytes, "Linux r.jsonl"),
                    "",
                    &mut diffs,
                );
                assert!(diffs.is_empty(), "r.jsonl differs:\n{}", diffs.join("\n"));
            }
        }
    }
}

/// The format rules of docs/output.md, checked on a file from each build.
fn assert_same_file_format(name: &str, win: &[u8], linux: &[u8]) {
    for (who, bytes) in [("Windows", win), ("Linux", linux)] {
        let text =
            std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{who} {name} is not UTF-8: {e}"));
        if name.ends_with(".csv") {
            assert!(
                bytes.starts_with(b"\xEF\xBB\xBF"),
                "{who} {name}: CSV files start with a UTF-8 BOM"
            );
            assert!(
                text.ends_with("\r\n"),
                "{who} {name}: the last CSV row ends with CRLF"
            );
            assert_eq!(
                text.matches('\n').count(),
                text.matches("\r\n").count(),
                "{who} {name}: every CSV line ends with CRLF, never a bare LF"
            );
        } else {
            assert!(
                !text.contains('\r'),
                "{who} {name}: JSON/JSONL use LF only, found CR"
            );
            assert!(text.ends_with('\n'), "{who} {name}: ends with a newline");
        }
        assert!(
            !text.starts_with('\u{feff}') || name.ends_with(".csv"),
            "{who} {name}: only CSV carries a BOM"
        );
    }
    assert_eq!(
        win.starts_with(b"\xEF\xBB\xBF"),
        linux.starts_with(b"\xEF\xBB\xBF"),
        "{name}: BOM on one side only"
    );
}

/// The `local` client profile read from the registry by the Windows build (winreg), in a
/// private wine prefix: a missing value is the OS default, `reg add` values are read back, the
/// build/UBR decide the CredSSP fix, SCHANNEL switches the TLS versions, and `rdpsweep report`
/// evaluates a saved unpatched host against that local client. No network.
#[test]
fn the_local_client_profile_reads_the_registry_under_wine() {
    const CREDSSP: &str =
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters";
    const VERSION: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion";
    const TLS10: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.0\Client";
    let shared = wine();
    let w = Wine {
        loader: shared.loader.clone(),
        prefix: shared.prefix.with_file_name("wine-prefix-client"),
        exe: shared.exe.clone(),
    };
    if !w.prefix.join("system.reg").is_file() {
        let out = w.run_raw(["wineboot", "--init"]);
        assert!(
            out.status.success(),
            "cannot create {}:\n{}",
            w.prefix.display(),
            show(&out)
        );
    }
    let reg = |args: &[&str]| {
        let out = w.run_raw(std::iter::once("reg").chain(args.iter().copied()));
        assert!(out.status.success(), "reg {args:?}:\n{}", show(&out));
    };
    let local = || -> Value {
        let out = w.rdpsweep(["client", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not one JSON profile ({e}):\n{}", show(&out)))
    };
    // A fresh prefix has no CredSSP policy: the OS default, not an error.
    let _ = w.run_raw([
        "reg",
        "delete",
        CREDSSP,
        "/v",
        "AllowEncryptionOracle",
        "/f",
    ]);
    reg(&[
        "add",
        VERSION,
        "/v",
        "CurrentBuild",
        "/t",
        "REG_SZ",
        "/d",
        "7601",
        "/f",
    ]);
    let _ = w.run_raw(["reg", "delete", VERSION, "/v", "UBR", "/f"]);
    let p = local();
    assert_eq!(p["kind"], "windows", "{p:#}");
    assert_eq!(p["source"], "local registry", "{p:#}");
    assert_eq!(p["allow_encryption_oracle"], "absent", "{p:#}");
    assert_eq!(p["os_build"], 7601, "{p:#}");
    assert_eq!(
        p["credssp_fix"], "unknown",
        "7601's rollups are not decided by UBR: {p:#}"
    );

    // A patched Windows 10 22H2 with the temporary workaround and TLS 1.0 switched off.
    reg(&[
        "add",
        VERSION,
        "/v",
        "CurrentBuild",
        "/t",
        "REG_SZ",
        "/d",
        "19045",
        "/f",
    ]);
    reg(&[
        "add",
        VERSION,
        "/v",
        "UBR",
        "/t",
        "REG_DWORD",
        "/d",
        "3803",
        "/f",
    ]);
    reg(&[
        "add",
        CREDSSP,
        "/v",
        "AllowEncryptionOracle",
        "/t",
        "REG_DWORD",
        "/d",
        "2",
        "/f",
    ]);
    reg(&[
        "add",
        TLS10,
        "/v",
        "Enabled",
        "/t",
        "REG_DWORD",
        "/d",
        "0",
        "/f",
    ]);
    let p = local();
    assert_eq!(p["allow_encryption_oracle"], 2, "{p:#}");
    assert_eq!(
        (p["os_build"].as_u64(), p["ubr"].as_u64()),
        (Some(19045), Some(3803))
    );
    assert_eq!(p["credssp_fix"], "yes", "{p:#}");
    assert_eq!(
        p["tls_versions"],
        serde_json::json!(["1.1", "1.2"]),
        "{p:#}"
    );

    // That client against a saved host answering CredSSP version 3: exposed through the
    // workaround; with the workaround reverted (1, Mitigated) it is blocked.
    let saved = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compat/unpatched-2016.json");
    let evaluate = || -> Value {
        let out = w.rdpsweep([
            "report",
            "--input",
            &win_path(&saved),
            "--client-profile",
            "local",
            "--format",
            "jsonl",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let records = jsonl(&out.stdout, "rdpsweep.exe report");
        records
            .first()
            .map(|r| r["compat"]["local"].clone())
            .unwrap_or_else(|| panic!("no record:\n{}", show(&out)))
    };
    let cell = evaluate();
    assert_eq!(
        (cell["outcome"].as_str(), cell["reason"].as_str()),
        (Some("exposed"), Some("credssp-oracle")),
        "{cell:#}"
    );
    assert!(
        cell["remediation"]
            .as_str()
            .unwrap_or("")
            .contains("ROLLBACK"),
        "{cell:#}"
    );
    reg(&[
        "add",
        CREDSSP,
        "/v",
        "AllowEncryptionOracle",
        "/t",
        "REG_DWORD",
        "/d",
        "1",
        "/f",
    ]);
    let cell = evaluate();
    assert_eq!(
        (cell["outcome"].as_str(), cell["reason"].as_str()),
        (Some("blocked"), Some("credssp-oracle")),
        "{cell:#}"
    );
}
