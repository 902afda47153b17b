//! The human-facing views of a real scan: `rdpsweep scan` of a mix of loopback endpoints that
//! answer RDP (xrdp), answer something else (an HTTP server), accept and stay silent, refuse
//! (closed, twice on one address) and drop SYNs (filtered: `support::Filtered`), written as the table, CSV, matrix
//! CSV, workbook, HTML page and JSONL at once.
//!
//! Asserted: JSONL holds every endpoint; every human view lists the endpoints that answered,
//! by address (numerically: 127.140.2.x before 127.140.10.x) then port; the summary still
//! counts the closed and filtered ones; `--all-endpoints` restores every row (sorted too);
//! `report` of the saved JSONL writes the same CSV byte for byte; LibreOffice reads the
//! workbook's Hosts sheet in that order and Chromium renders the page's host table with
//! those rows; no `.partial` or `.sorting` file is left behind.
//!
//! Loopback tag 140 is this binary's.

mod support;

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::Path;

use support::{FakeListener, Filtered, Variant, closed_port, loopback, rdpsweep, show, viewers};

const TAG: u8 = 140;

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(bytes).expect("UTF-8");
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}

/// `ip:port` of each data row of a CSV view (its `ip` and `port` columns).
fn csv_endpoints(path: &Path) -> Vec<String> {
    let rows = csv_rows(path);
    let header = rows.first().expect("a header");
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{}: no {name} column in {header:?}", path.display()))
    };
    let (ip, port) = (col("ip"), col("port"));
    rows.iter()
        .skip(1)
        .map(|r| format!("{}:{}", r[ip], r[port]))
        .collect()
}

fn sorted(mut endpoints: Vec<SocketAddr>) -> Vec<String> {
    endpoints.sort_by_key(|a| (a.ip(), a.port()));
    endpoints.iter().map(ToString::to_string).collect()
}

#[test]
fn human_views_list_the_endpoints_that_answered_in_address_order() {
    // Addresses come in allocation order (127.140.N.x, N = 0, 1, 2, ...). Ten spare ones put
    // the HTTP and silent listeners at N >= 10, where text order and address order differ.
    let closed = closed_port(TAG);
    let xrdp = Variant::XrdpNegotiate.start(TAG);
    let filtered = Filtered::start(loopback(TAG));
    for _ in 0..8 {
        loopback(TAG);
    }
    let http = FakeListener::http_400(TAG);
    let silent = FakeListener::silent(TAG);
    // A second, closed port on the xrdp address: the same address sorts by port.
    let xrdp_ip = *xrdp.addr().ip();
    let closed_same_ip = SocketAddrV4::new(xrdp_ip, support::net::free_port(xrdp_ip));

    let all: Vec<SocketAddr> = [
        silent.addr(),
        http.addr(),
        closed_same_ip,
        filtered.addr,
        xrdp.addr(),
        closed,
    ]
    .into_iter()
    .map(SocketAddr::V4)
    .collect();
    let targets: Vec<String> = all.iter().map(ToString::to_string).collect();

    let dir = tempfile::tempdir().expect("a temporary directory");
    let p = |name: &str| dir.path().join(name);
    let mut args: Vec<String> = vec!["scan".into()];
    args.extend(targets.iter().cloned());
    for a in [
        "--no-progress",
        "--connect-timeout",
        "700ms",
        "--timeout",
        "4s",
        "--client-profile",
        "patched-mitigated,unpatched",
    ] {
        args.push(a.into());
    }
    for f in ["scan.csv", "scan.jsonl", "scan.xlsx", "scan.html"] {
        args.push("-o".into());
        args.push(p(f).display().to_string());
    }
    args.push("--matrix".into());
    args.push(p("matrix.csv").display().to_string());
    let out = rdpsweep(&args);
    assert!(out.status.success(), "{}", show(&out));

    // JSONL: every endpoint, whatever happened there.
    let text = std::fs::read_to_string(p("scan.jsonl")).expect("scan.jsonl");
    let records = support::jsonl(text.as_bytes());
    let status_of = |a: SocketAddr| -> String {
        records
            .iter()
            .find(|r| r["ip"] == a.ip().to_string() && r["port"] == a.port())
            .unwrap_or_else(|| panic!("{a} is not in the JSONL\n{}", show(&out)))["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(records.len(), all.len(), "{text}");
    let statuses: Vec<(SocketAddr, String)> = all.iter().map(|a| (*a, status_of(*a))).collect();
    let want = [
        (SocketAddr::V4(xrdp.addr()), "rdp"),
        (SocketAddr::V4(http.addr()), "not_rdp"),
        (SocketAddr::V4(closed), "closed"),
        (SocketAddr::V4(closed_same_ip), "closed"),
        (SocketAddr::V4(filtered.addr), "filtered"),
    ];
    for (addr, status) in want {
        assert_eq!(status_of(addr), status, "{addr}: {statuses:?}");
    }
    let silent_status = status_of(SocketAddr::V4(silent.addr()));
    assert!(
        ["error", "not_rdp"].contains(&silent_status.as_str()),
        "a silent listener answered the connect: {silent_status}"
    );

    let answered = sorted(
        all.iter()
            .copied()
            .filter(|a| !["closed", "filtered"].contains(&status_of(*a).as_str()))
            .collect(),
    );
    assert_eq!(answered.len(), 3, "{statuses:?}");
    // Address order is numeric: the xrdp host (127.140.1.x) before 127.140.10.x / .11.x.
    assert_eq!(answered[0], xrdp.addr().to_string());

    // The table on standard output.
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let listed: Vec<String> = table
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<SocketAddr>().is_ok())
        .map(str::to_owned)
        .collect();
    // The compact matrix lists the RDP host again after the table.
    let table_rows: Vec<String> = listed.iter().take(answered.len()).cloned().collect();
    assert_eq!(table_rows, answered, "{table}");
    assert!(
        !listed.contains(&filtered.addr.to_string()) && !listed.contains(&closed.to_string()),
        "{table}"
    );
    assert!(
        table.contains("2 closed") && table.contains("1 filtered"),
        "the count line still counts what is not listed:\n{table}"
    );

    // CSV and matrix CSV.
    assert_eq!(csv_endpoints(&p("scan.csv")), answered);
    assert_eq!(csv_endpoints(&p("matrix.csv")), answered);

    // The workbook, as LibreOffice reads its Hosts sheet.
    let scratch = tempfile::tempdir().expect("scratch");
    let hosts = viewers::xlsx_sheet_csv(&p("scan.xlsx"), 1, scratch.path());
    let header = hosts.first().expect("a Hosts header");
    let (ip, port) = (
        header.iter().position(|h| h == "ip").expect("ip column"),
        header
            .iter()
            .position(|h| h == "port")
            .expect("port column"),
    );
    let sheet: Vec<String> = hosts
        .iter()
        .skip(1)
        .filter(|r| r.iter().any(|c| !c.is_empty()))
        .map(|r| format!("{}:{}", r[ip], r[port]))
        .collect();
    assert_eq!(sheet, answered, "the workbook's Hosts sheet");

    // The page, as Chromium renders it: one host-table row per answered endpoint, in order.
    let dom = viewers::chromium_dump_dom(&p("scan.html"), scratch.path());
    let hosts_table = dom
        .split("id=\"hosts-table\"")
        .nth(1)
        .expect("the host table is in the rendered page");
    let mut in_page: Vec<&String> = answered
        .iter()
        .filter(|e| hosts_table.contains(&format!(">{e}<")))
        .collect();
    assert_eq!(in_page.len(), answered.len(), "{hosts_table}");
    in_page.sort_by_key(|e| hosts_table.find(&format!(">{e}<")));
    assert_eq!(in_page, answered.iter().collect::<Vec<_>>());
    assert!(!hosts_table.contains(&format!(">{}<", filtered.addr)));

    // Nothing half-written is left.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list the directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".partial") || n.ends_with(".sorting"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // `report` of the saved scan: the same CSV, byte for byte; with --all-endpoints, every
    // endpoint, sorted, in the CSV, the matrix and the table.
    let jsonl = p("scan.jsonl").display().to_string();
    let again = p("again.csv").display().to_string();
    let all_csv = p("all.csv").display().to_string();
    let all_matrix = p("all-matrix.csv").display().to_string();
    let profiles = ["--client-profile", "patched-mitigated,unpatched"];
    let out = rdpsweep(
        ["report", "-i", jsonl.as_str(), "-o", again.as_str()]
            .into_iter()
            .chain(profiles),
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        std::fs::read(p("again.csv")).expect("again.csv"),
        std::fs::read(p("scan.csv")).expect("scan.csv"),
        "report of the saved scan writes the scan's CSV"
    );
    let out = rdpsweep(
        [
            "report",
            "-i",
            jsonl.as_str(),
            "--all-endpoints",
            "-o",
            all_csv.as_str(),
            "--matrix",
            all_matrix.as_str(),
        ]
        .into_iter()
        .chain(profiles),
    );
    assert!(out.status.success(), "{}", show(&out));
    let every = sorted(all.clone());
    assert_eq!(csv_endpoints(&p("all.csv")), every);
    assert_eq!(csv_endpoints(&p("all-matrix.csv")), every);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let listed: Vec<String> = table
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<SocketAddr>().is_ok())
        .take(every.len())
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, every, "{table}");
    let ips: Vec<IpAddr> = every
        .iter()
        .filter_map(|e| e.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .collect();
    assert!(ips.windows(2).all(|w| w[0] <= w[1]));
}
