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
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::show;

mod support;

#[path = "support/credssp_server.rs"]
mod credssp_server;

/// This binary's loopback tag (`support::net::loopback`): servers on 127.60.x.y.
const TAG: u8 = 60;

const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
/// Client profiles for the Linux/Windows comparisons: every built-in one, but not `local`,
/// which is the machine itself (the registry under wine, FreeRDP on Linux) and so differs by
/// design; the `local` profile has its own tests below.
const BUILT_IN_PROFILES: &str =
    "patched-mitigated,patched-force,patched-vulnerable,unpatched,modern-tls12";

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
        w.keep_wineserver();
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
        // Warm up once, before the tests start wine in parallel: the first process of a
        // prefix starts the wineserver and wine's services, and processes racing that start
        // were seen to stall for close to a minute.
        let out = w.warm_up();
        assert!(
            out.status.success(),
            "rdpsweep.exe --version failed under wine (status 53 with no output means the \
             ProcessPrng shim bcryptprimitives.dll is missing or broken):\n{}",
            show(&out)
        );
        w
    })
}

impl Wine {
    /// `wine ARGS` with this prefix, quiet, without a display; stdout/stderr piped.
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

    /// Starts this prefix's wineserver in persistent mode: it (and wine's boot services) stay
    /// up until 30 s after the last Windows process of this test binary, so each run does not
    /// pay for starting them again (about 1-2 s each). Only a speed-up: without a separate
    /// `wineserver` binary the loader starts one per run as usual.
    fn keep_wineserver(&self) {
        let Some(server) = self
            .loader
            .parent()
            .map(|d| d.join("wineserver"))
            .filter(|p| p.is_file())
        else {
            return;
        };
        // It daemonizes at once (so no pipes: the daemon would hold them open); when one is
        // already running for the prefix it says so and exits, which is fine too.
        let _ = Command::new(server)
            .arg("-p30")
            .env("WINEPREFIX", &self.prefix)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// `rdpsweep.exe --version` as the first process of the session, with its output going to
    /// files rather than pipes: the wine helper processes it starts inherit them (see
    /// [`Drain`]) and keep them open while the session lives.
    fn warm_up(&self) -> Output {
        let dir = tempfile::tempdir().expect("tempdir");
        let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let file = |p: &Path| std::fs::File::create(p).expect("create output file");
        let mut cmd = self.command([self.exe.as_os_str(), OsStr::new("--version")]);
        cmd.stdout(file(&out_path)).stderr(file(&err_path));
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        let deadline = Instant::now() + WINE_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{shown} did not finish within {} s", WINE_TIMEOUT.as_secs());
                }
                Err(e) => panic!("waiting for {shown}: {e}"),
            }
        };
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
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
    let started = Instant::now();
    // RDPSWEEP_WINE_TIMING=1 prints how long every run took (to find slow steps).
    struct Timing(Instant, String);
    impl Drop for Timing {
        fn drop(&mut self) {
            if std::env::var_os("RDPSWEEP_WINE_TIMING").is_some() {
                eprintln!("[{:>6.2} s] {}", self.0.elapsed().as_secs_f64(), self.1);
            }
        }
    }
    let _timing = Timing(started, shown.clone());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    wait_output(child, &shown, limit)
}

/// Waits for `child` (stdout and stderr piped) for at most `limit`, killing it and failing
/// after that, and returns its output.
fn wait_output(mut child: std::process::Child, shown: &str, limit: Duration) -> Output {
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let stdout = Drain::start(child.stdout.take().expect("piped stdout"));
    let stderr = Drain::start(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{shown} did not finish within {} s (killed)\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    limit.as_secs(),
                    String::from_utf8_lossy(&stdout.finish()),
                    String::from_utf8_lossy(&stderr.finish())
                );
            }
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
    };
    Output {
        status,
        stdout: stdout.finish(),
        stderr: stderr.finish(),
    }
}

/// A child's pipe read on its own thread into a shared buffer.
///
/// Why not `read_to_end`: when a wine process is the one that starts the prefix's wineserver
/// session, wine's helper processes (services.exe, winedevice.exe, explorer.exe) inherit its
/// stdout and stderr and hold them open for as long as the session lives, so end-of-file can
/// come tens of seconds after the program exited. Everything the program wrote is in the pipe
/// when it exits, so [`Drain::finish`] takes what was read once the pipe is at end-of-file or
/// has stayed quiet for a moment.
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
    eof: Arc<AtomicBool>,
}

impl Drain {
    fn start<R: Read + Send + 'static>(mut pipe: R) -> Self {
        let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
        let eof: Arc<AtomicBool> = Arc::default();
        let (b, e) = (Arc::clone(&buf), Arc::clone(&eof));
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => b
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]),
                }
            }
            e.store(true, Ordering::SeqCst);
        });
        Drain { buf, eof }
    }

    /// The bytes read: at end-of-file, or once nothing new arrived for 300 ms (at most 5 s).
    fn finish(self) -> Vec<u8> {
        let len = || self.buf.lock().unwrap_or_else(|p| p.into_inner()).len();
        let give_up = Instant::now() + Duration::from_secs(5);
        let (mut seen, mut quiet_since) = (len(), Instant::now());
        while !self.eof.load(Ordering::SeqCst) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
            let now = len();
            if now != seen {
                (seen, quiet_since) = (now, Instant::now());
            } else if quiet_since.elapsed() >= Duration::from_millis(300) {
                break;
            }
        }
        self.buf.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
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

/// `p` as a command-line argument of the Windows build (see [`win_path`]) or of the Linux one.
fn arg_path(p: &Path, windows: bool) -> String {
    if windows {
        win_path(p)
    } else {
        p.to_str().expect("utf-8 path").to_owned()
    }
}

/// Output file `name` as each build wrote it into its folder: (Windows, Linux) bytes. Checks
/// that the Windows build wrote it and left no `name.partial` behind.
fn read_both_outputs(name: &str, win_dir: &Path, linux_dir: &Path) -> (Vec<u8>, Vec<u8>) {
    assert!(
        !win_dir.join(format!("{name}.partial")).exists(),
        "{name}.partial was left behind by the Windows build"
    );
    let win = std::fs::read(win_dir.join(name))
        .unwrap_or_else(|e| panic!("the Windows build did not write {name}: {e}"));
    let linux = std::fs::read(linux_dir.join(name)).expect("Linux output file");
    (win, linux)
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
                for key in ["elapsed_ms", "started", "finished"] {
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
const TIME_COLUMNS: [&str; 2] = ["elapsed_ms", "clock_skew_s"];

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
    assert!(
        header.iter().any(|h| h == "elapsed_ms"),
        "CSV header has no elapsed_ms: {header:?}"
    );
    let mut diffs = Vec::new();
    if a.len() != b.len() {
        diffs.push(format!("{} rows on Windows, {} on Linux", a.len(), b.len()));
    }
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        if ra.len() != rb.len() {
            diffs.push(format!("row {i}: {} vs {} cells", ra.len(), rb.len()));
        }
        for (j, (ca, cb)) in ra.iter().zip(rb).enumerate() {
            let column = header.get(j).map_or("?", String::as_str);
            let near = |x: &str, y: &str| {
                x.parse::<i64>()
                    .ok()
                    .zip(y.parse::<i64>().ok())
                    .is_some_and(|(x, y)| x.abs_diff(y) <= 1)
            };
            if column == "cert_days_left" && near(ca, cb) {
                continue;
            }
            if ca != cb {
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
        "--client-profile",
        BUILT_IN_PROFILES,
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
        let path = |p: &Path| arg_path(p, windows);
        let mut args: Vec<String> = [
            "scan",
            "-p",
            &port.to_string(),
            "--no-progress",
            // Closed ports only: list them, so the CSV has rows whose line ends to check.
            "--all-endpoints",
            "--client-profile",
            BUILT_IN_PROFILES,
        ]
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
        let (win, linux) = read_both_outputs(name, &win_dir, &linux_dir);
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
const TIME_FIELDS: [&str; 5] = [
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
        // Days until a certificate expires: a scan a few seconds later may cross a day
        // boundary (fresh test certificates expire exactly N days after they were made).
        (Value::Number(x), Value::Number(y))
            if at.ends_with(".days_left")
                && x.as_i64()
                    .zip(y.as_i64())
                    .is_some_and(|(x, y)| x.abs_diff(y) <= 1) => {}
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
        let path = |p: &Path| arg_path(p, windows);
        let mut args: Vec<String> = vec![
            "scan".into(),
            "--format".into(),
            "table".into(),
            "--no-progress".into(),
            "--client-profile".into(),
            BUILT_IN_PROFILES.into(),
            "--timeout".into(),
            "20s".into(),
            // At most 2 connections per xrdp endpoint at once (its listen backlog).
            "--concurrency".into(),
            "2".into(),
            "--ca-file".into(),
            path(&certs.ca_cert()),
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

    // stdout: the same table (lines in completion order, so compared sorted), UTF-8, LF.
    let table_lines = |out: &Output, who: &str| -> Vec<String> {
        let text = std::str::from_utf8(&out.stdout)
            .unwrap_or_else(|e| panic!("{who} table is not UTF-8: {e}\n{}", show(out)));
        assert!(!text.contains('\r'), "{who} table uses LF line endings");
        assert!(
            !text.contains('\u{1b}'),
            "{who} table has no escape sequences when stdout is not a terminal"
        );
        // Certificate days left ("ca 364d") may differ by one between the two runs (see
        // json_differences); the JSON comparison checks them within one day.
        let days = |token: &str| {
            token.len() > 1
                && token.ends_with('d')
                && token[..token.len() - 1].bytes().all(|b| b.is_ascii_digit())
        };
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| {
                l.split(' ')
                    .map(|t| if days(t) { "#d" } else { t })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if let Some(body) = lines.get_mut(1..) {
            body.sort();
        }
        lines
    };
    let (win_table, linux_table) = (
        table_lines(&win, "rdpsweep.exe"),
        table_lines(&linux, "rdpsweep"),
    );
    assert!(
        win_table.len() >= 6,
        "one table line per RDP endpoint:\n{}",
        show(&win)
    );
    assert_eq!(
        win_table,
        linux_table,
        "the table differs:\n--- Windows ---\n{}\n--- Linux ---\n{}",
        String::from_utf8_lossy(&win.stdout),
        String::from_utf8_lossy(&linux.stdout)
    );

    // The JSON files: the same document apart from timings.
    let read = |dir: &Path, who: &str| {
        std::fs::read(dir.join("r.json"))
            .unwrap_or_else(|e| panic!("{who} did not write r.json: {e}"))
    };
    let linux_doc = comparable_doc(&read(&linux_dir, "rdpsweep"), "Linux r.json");
    let win_doc = comparable_doc(&read(&win_dir, "rdpsweep.exe"), "Windows r.json");
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
        let (win_bytes, linux_bytes) = read_both_outputs(name, &win_dir, &linux_dir);
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

// ------------------------------------------------------------------------------------------
// The `local` client profile: this machine's registry, read natively by the Windows build.

const CREDSSP_KEY: &str =
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters";
const CURRENT_VERSION_KEY: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion";
const ORACLE: &str = "AllowEncryptionOracle";

fn schannel_client_key(version: &str) -> String {
    format!(
        r"HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS {version}\Client"
    )
}

/// Serialises the tests that change the prefix's registry or read it through `local`.
fn registry_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `AllowEncryptionOracle` as a test sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oracle {
    /// The whole `CredSSP\Parameters` key is missing.
    KeyMissing,
    /// The key exists, the value does not.
    Absent,
    Dword(u32),
}

/// The registry values the `local` profile reads, applied in one `reg import`.
#[derive(Debug, Clone)]
struct RegState {
    /// `CurrentBuild` and `CurrentBuildNumber`.
    build: u32,
    /// `UBR`; deleted when `None`.
    ubr: Option<u32>,
    oracle: Oracle,
    /// SCHANNEL client keys to create: (`"1.2"`, `Enabled`, `DisabledByDefault`); every other
    /// TLS client key is deleted (the OS defaults apply).
    schannel: Vec<(&'static str, Option<u32>, Option<u32>)>,
}

impl RegState {
    fn new(build: u32, ubr: Option<u32>, oracle: Oracle) -> Self {
        RegState {
            build,
            ubr,
            oracle,
            schannel: Vec::new(),
        }
    }

    /// The state as a regedit export (`Windows Registry Editor Version 5.00`).
    fn reg_file(&self) -> String {
        let hive = |key: &str| key.replacen("HKLM\\", "HKEY_LOCAL_MACHINE\\", 1);
        let dword = |name: &str, v: Option<u32>| match v {
            Some(v) => format!("\"{name}\"=dword:{v:08x}\r\n"),
            None => format!("\"{name}\"=-\r\n"),
        };
        let mut t = String::from("Windows Registry Editor Version 5.00\r\n\r\n");
        for v in ["1.0", "1.1", "1.2", "1.3"] {
            t += &format!("[-{}]\r\n\r\n", hive(&schannel_client_key(v)));
        }
        for (v, enabled, disabled_by_default) in &self.schannel {
            t += &format!("[{}]\r\n", hive(&schannel_client_key(v)));
            if let Some(e) = enabled {
                t += &dword("Enabled", Some(*e));
            }
            if let Some(d) = disabled_by_default {
                t += &dword("DisabledByDefault", Some(*d));
            }
            t += "\r\n";
        }
        t += &format!("[{}]\r\n", hive(CURRENT_VERSION_KEY));
        t += &format!("\"CurrentBuild\"=\"{}\"\r\n", self.build);
        t += &format!("\"CurrentBuildNumber\"=\"{}\"\r\n", self.build);
        t += &dword("UBR", self.ubr);
        t += "\r\n";
        match self.oracle {
            Oracle::KeyMissing => t += &format!("[-{}]\r\n\r\n", hive(CREDSSP_KEY)),
            Oracle::Absent => {
                t += &format!("[{}]\r\n{}\r\n", hive(CREDSSP_KEY), dword(ORACLE, None))
            }
            Oracle::Dword(v) => {
                t += &format!("[{}]\r\n{}\r\n", hive(CREDSSP_KEY), dword(ORACLE, Some(v)))
            }
        }
        t
    }
}

impl Wine {
    /// `reg ARGS` through the same loader and prefix; panics with reg's output on failure.
    fn reg(&self, args: &[&str]) {
        let mut all = vec!["reg"];
        all.extend_from_slice(args);
        let out = self.run_raw(&all);
        assert!(
            out.status.success(),
            "wine reg {args:?} failed:\n{}",
            show(&out)
        );
    }

    /// Sets `AllowEncryptionOracle` to `value` with `reg add`, as an administrator would
    /// (KB4093492).
    fn set_oracle(&self, value: u32) {
        self.reg(&[
            "add",
            CREDSSP_KEY,
            "/v",
            ORACLE,
            "/t",
            "REG_DWORD",
            "/d",
            &value.to_string(),
            "/f",
        ]);
    }

    /// Applies `state` with one `reg import` of a UTF-16LE .reg file (as regedit writes them).
    fn apply(&self, state: &RegState) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state.reg");
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(state.reg_file().encode_utf16().flat_map(u16::to_le_bytes));
        std::fs::write(&file, bytes).expect("write .reg");
        self.reg(&["import", &win_path(&file)]);
    }

    /// `rdpsweep.exe client --client-profile local --format json`, parsed.
    fn local_profile(&self) -> Value {
        let out = self.rdpsweep(["client", "--client-profile", "local", "--format", "json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "rdpsweep.exe client must succeed whatever the registry holds:\n{}",
            show(&out)
        );
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("client --format json is not JSON ({e}):\n{}", show(&out)));
        assert_eq!(v["name"], "local", "{v:#}");
        assert_eq!(v["kind"], "windows", "{v:#}");
        assert_eq!(v["source"], "local registry", "{v:#}");
        v
    }
}

/// Human-readable `client` output (`effective policy` line), for the policy the profile
/// implies.
fn effective_policy_line(w: &Wine) -> String {
    let out = w.rdpsweep(["client", "--client-profile", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("effective policy"))
        .map(|l| l.trim_start_matches("effective policy").trim().to_owned())
        .unwrap_or_else(|| panic!("no 'effective policy' line:\n{text}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// `AllowEncryptionOracle` absent (whole key, then value), 0, 1, 2 on a patched build: the
/// profile reports the value, the OS default when it is absent (never an error), and the
/// policy that follows.
#[test]
fn local_profile_follows_allow_encryption_oracle() {
    let w = wine();
    let _lock = registry_lock();
    for (oracle, json, policy) in [
        (Oracle::KeyMissing, Value::from("absent"), "Mitigated (1)"),
        (Oracle::Absent, Value::from("absent"), "Mitigated (1)"),
        (
            Oracle::Dword(0),
            Value::from(0),
            "Force Updated Clients (0)",
        ),
        (Oracle::Dword(1), Value::from(1), "Mitigated (1)"),
        (Oracle::Dword(2), Value::from(2), "Vulnerable (2)"),
    ] {
        w.apply(&RegState::new(17763, Some(1), oracle));
        let p = w.local_profile();
        assert_eq!(p["allow_encryption_oracle"], json, "{oracle:?}: {p:#}");
        assert_eq!(p["credssp_fix"], "yes", "{oracle:?}: {p:#}");
        assert_eq!(p["oracle_default"], "mitigated", "{oracle:?}: {p:#}");
        if matches!(oracle, Oracle::KeyMissing | Oracle::Absent) {
            assert!(
                strings(&p["notes"])
                    .iter()
                    .any(|n| n.contains("AllowEncryptionOracle is not set")),
                "{oracle:?}: the note says the OS default applies: {p:#}"
            );
        }
        assert_eq!(effective_policy_line(w), policy, "{oracle:?}");
    }
}

/// The CredSSP fix from `CurrentBuild`/`UBR`: before and after the March 2018 update of
/// 1607, a build that shipped with it, and Windows 7 without UBR (undecidable from the
/// registry, as documented).
#[test]
fn local_profile_patch_state_comes_from_build_and_ubr() {
    let w = wine();
    let _lock = registry_lock();
    for (build, ubr, fix) in [
        (14393, Some(1868), "no"),
        (14393, Some(2125), "yes"),
        (19045, Some(3803), "yes"),
        (7601, None, "unknown"),
    ] {
        w.apply(&RegState::new(build, ubr, Oracle::Absent));
        let p = w.local_profile();
        assert_eq!(p["os_build"], build, "{p:#}");
        assert_eq!(
            p["ubr"].as_u64(),
            ubr.map(u64::from),
            "UBR as read from the registry: {p:#}"
        );
        assert_eq!(p["credssp_fix"], fix, "build {build}.{ubr:?}: {p:#}");
    }
}

/// SCHANNEL client switches: absent (the build's defaults), a version switched off, a
/// version switched on.
#[test]
fn local_profile_tls_versions_follow_schannel_switches() {
    let w = wine();
    let _lock = registry_lock();
    let mut state = RegState::new(17763, Some(1), Oracle::Absent);
    for (schannel, expected, what) in [
        (vec![], &["1.0", "1.1", "1.2"][..], "1809 without switches"),
        (
            vec![("1.0", Some(0), None)],
            &["1.1", "1.2"][..],
            "1809 with the TLS 1.0 client switched off",
        ),
    ] {
        state.schannel = schannel;
        w.apply(&state);
        let p = w.local_profile();
        assert_eq!(strings(&p["tls_versions"]), expected, "{what}: {p:#}");
    }
    let mut state = RegState::new(7601, None, Oracle::Absent);
    w.apply(&state);
    let p = w.local_profile();
    assert_eq!(
        strings(&p["tls_versions"]),
        ["1.0"],
        "Windows 7 without switches: {p:#}"
    );
    state.schannel = vec![("1.1", Some(1), Some(0)), ("1.2", Some(1), Some(0))];
    w.apply(&state);
    let p = w.local_profile();
    assert_eq!(
        strings(&p["tls_versions"]),
        ["1.0", "1.1", "1.2"],
        "Windows 7 with TLS 1.1/1.2 client switches on (KB3080079): {p:#}"
    );
}

/// `scan --client-profile local --matrix FILE.csv` from the Windows build against an
/// unpatched CredSSP server (TSRequest version 3) in this process: the `local` column follows
/// `AllowEncryptionOracle` (2 -> exposed; 1, 0 or absent -> blocked by the oracle remediation).
#[test]
fn matrix_local_column_follows_the_registry_against_an_unpatched_server() {
    let w = wine();
    let (server, _) = credssp_server::spawn(support::endpoint(TAG), 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let _lock = registry_lock();
    w.apply(&RegState::new(17763, Some(1), Oracle::Absent));
    for (value, expected) in [
        (Some(2), "exposed:credssp-oracle"),
        (Some(1), "blocked:credssp-oracle"),
        (None, "blocked:credssp-oracle"),
        (Some(0), "blocked:credssp-oracle"),
    ] {
        // As an administrator would (KB4093492), through the same wine prefix.
        match value {
            Some(v) => w.set_oracle(v),
            None => w.reg(&["delete", CREDSSP_KEY, "/v", ORACLE, "/f"]),
        }
        let matrix = dir.path().join(format!("matrix-{value:?}.csv"));
        let out = w.rdpsweep([
            "scan",
            "--no-progress",
            "--format",
            "jsonl",
            "--timeout",
            "15s",
            "--client-profile",
            "local",
            "--matrix",
            &win_path(&matrix),
            &server.to_string(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "AllowEncryptionOracle={value:?}:\n{}",
            show(&out)
        );
        let records = jsonl(&out.stdout, "rdpsweep.exe stdout");
        let record = records.first().expect("one record");
        assert_eq!(record["credssp"]["version"], 3, "{record:#}");
        assert_eq!(record["credssp"]["cve_2018_0886"], "missing", "{record:#}");

        let bytes = std::fs::read(&matrix)
            .unwrap_or_else(|e| panic!("the Windows build did not write the matrix: {e}"));
        let text = std::str::from_utf8(&bytes).expect("matrix is UTF-8");
        assert_eq!(
            text.matches('\n').count(),
            text.matches("\r\n").count(),
            "matrix CSV lines end with CRLF"
        );
        let rows = csv_rows(&bytes);
        let header = rows.first().cloned().unwrap_or_default();
        let local = header
            .iter()
            .position(|h| h == "local")
            .unwrap_or_else(|| panic!("no local column: {header:?}"));
        let cell = rows
            .get(1)
            .and_then(|r| r.get(local))
            .unwrap_or_else(|| panic!("no host row: {rows:?}"));
        assert_eq!(
            cell, expected,
            "AllowEncryptionOracle={value:?}: local cell (matrix {rows:?})"
        );
        let remediation = header
            .iter()
            .position(|h| h == "local remediation")
            .and_then(|i| rows.get(1).and_then(|r| r.get(i)))
            .cloned()
            .unwrap_or_default();
        assert!(
            !remediation.is_empty(),
            "a broken cell carries its fix: {rows:?}"
        );
    }
}

/// A regedit-style export made by wine's own `reg export` (UTF-16LE with BOM, CRLF): both builds
/// read it (given with a Windows path to the Windows build) into the same profile, and it
/// matches what the Windows build reads live from the registry.
#[test]
fn a_reg_export_from_windows_is_read_the_same_by_both_builds() {
    let w = wine();
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("credssp export.reg");
    let live = {
        let _lock = registry_lock();
        w.apply(&RegState::new(17763, Some(1), Oracle::Dword(2)));
        w.reg(&["export", CREDSSP_KEY, &win_path(&export), "/y"]);
        w.local_profile()
    };
    let bytes = std::fs::read(&export).expect("reg export wrote the file");
    assert!(
        bytes.starts_with(&[0xFF, 0xFE]),
        "reg export writes UTF-16LE with a BOM: {:02x?}",
        &bytes[..bytes.len().min(8)]
    );
    let args = |path: String| {
        vec![
            "client".to_owned(),
            "--client-state".to_owned(),
            format!("jump-host={path}"),
            "--format".to_owned(),
            "json".to_owned(),
        ]
    };
    let win = w.rdpsweep(args(win_path(&export)));
    let linux = linux_rdpsweep(args(export.to_str().expect("utf-8").to_owned()));
    let parse = |out: &Output, who: &str| -> Value {
        assert_eq!(out.status.code(), Some(0), "{who}:\n{}", show(out));
        let mut v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{who}: not JSON ({e}):\n{}", show(out)));
        // The source names the file as each side was given it.
        v.as_object_mut().map(|m| m.remove("source"));
        v
    };
    let (win_p, linux_p) = (parse(&win, "rdpsweep.exe"), parse(&linux, "rdpsweep"));
    assert_eq!(win_p["name"], "jump-host", "{win_p:#}");
    assert_eq!(win_p["allow_encryption_oracle"], 2, "{win_p:#}");
    assert_eq!(live["allow_encryption_oracle"], 2, "{live:#}");
    let mut diffs = Vec::new();
    json_differences(&win_p, &linux_p, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "the .reg file reads differently on Windows and Linux:\n{}",
        diffs.join("\n")
    );
}

/// Ctrl-C (SIGINT, which wine turns into a console CTRL_C_EVENT) stops a Windows scan: exit
/// status 130, completed endpoints written, the rest counted as not scanned.
#[test]
fn ctrl_c_stops_a_windows_scan_and_keeps_completed_endpoints() {
    let w = wine();
    let silent = support::FakeListener::silent(TAG);
    let closed = support::closed_port(TAG);
    let mut cmd = w.command([
        w.exe.as_os_str(),
        OsStr::new("scan"),
        OsStr::new("--format"),
        OsStr::new("jsonl"),
        OsStr::new("--no-progress"),
        OsStr::new("--client-profile"),
        OsStr::new("none"),
        OsStr::new("--timeout"),
        OsStr::new("60s"),
        OsStr::new(&closed.to_string()),
        OsStr::new(&silent.target()),
    ]);
    let shown = format!("{cmd:?}");
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // Wait until the scan holds the silent endpoint's connection open.
    let deadline = Instant::now() + Duration::from_secs(60);
    while silent.accepted() == 0 {
        assert!(
            Instant::now() < deadline,
            "rdpsweep.exe never connected to the silent listener {}",
            silent.target()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    // SAFETY: kill() has no memory effects; the child is not reaped yet, so the pid is ours.
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0, "kill(SIGINT) failed");
    let out = wait_output(child, &shown, Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(130),
        "Ctrl-C exits with 130:\n{}",
        show(&out)
    );
    assert!(
        sent.elapsed() < Duration::from_secs(15),
        "stopped {:?} after Ctrl-C (grace is 5 s)",
        sent.elapsed()
    );
    let records = jsonl(&out.stdout, "rdpsweep.exe stdout");
    assert!(
        records
            .iter()
            .any(|r| r["port"] == closed.port() && r["status"] == "closed"),
        "the completed endpoint is written:\n{}",
        show(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted") && stderr.contains("1 not scanned"),
        "{}",
        show(&out)
    );
}

/// `rdpsweep.exe report` evaluates a saved scan of an unpatched host (CredSSP version 3) against
/// the `local` client read from the registry: exposed with the temporary workaround (2), and
/// the remediation says to roll it back; blocked once it is reverted to 1 (Mitigated).
#[test]
fn report_evaluates_a_saved_host_against_the_local_client() {
    let w = wine();
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
    let _lock = registry_lock();
    // A patched Windows 10 22H2 with the temporary workaround and TLS 1.0 switched off.
    let mut state = RegState::new(19045, Some(3803), Oracle::Dword(2));
    state.schannel = vec![("1.0", Some(0), None)];
    w.apply(&state);
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
    w.set_oracle(1);
    let cell = evaluate();
    assert_eq!(
        (cell["outcome"].as_str(), cell["reason"].as_str()),
        (Some("blocked"), Some("credssp-oracle")),
        "{cell:#}"
    );
}
