#!/usr/bin/env bash
# rdpsweep's demo (the README's first command): starts a handful of real RDP servers on
# loopback (scripts/lab.sh: xrdp negotiating TLS 1.2+/NLA-less, xrdp with legacy TLS 1.0-1.2,
# xrdp with Standard RDP Security at the low level, xrdp with an expired certificate and TLS
# 1.0 only, FreeRDP's shadow server requiring NLA, an HTTP server, a closed port), scans them
# into every report format, prints the table and where the reports are, and stops the servers.
#
#   scripts/demo.sh [OUT_DIR]        # reports in OUT_DIR (default: demo-report/)
#
# Installs what is missing (xrdp, freerdp2-shadow-x11, xvfb, openssl, python3) with apt-get,
# as scripts/test.sh does; needs root or sudo for the servers. Only loopback addresses
# (127.77.0.0/24) are started and scanned.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
out=$(mkdir -p "${1:-demo-report}" && cd "${1:-demo-report}" && pwd)

# shellcheck source=scripts/packages.sh
source scripts/packages.sh

echo "==> packages"
install_missing xrdp freerdp2-shadow-x11 xvfb openssl python3 perl make gcc libc6-dev
require_commands xrdp xrdp-keygen freerdp-shadow-cli Xvfb openssl python3 unshare
ensure_xrdp_rsakeys

echo "==> building rdpsweep (release)"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$repo/target}/release/rdpsweep

lab=$(mktemp -d /tmp/rdpsweep-demo-lab.XXXXXX)
stop_lab() {
    as_root "$repo/scripts/lab.sh" stop "$lab" >/dev/null 2>&1 || true
    as_root rm -rf "$lab"
}
trap stop_lab EXIT
echo "==> starting the lab"
as_root "$repo/scripts/lab.sh" start "$lab"

echo
echo "==> rdpsweep scan -i targets.txt (the table; every format written to $out)"
rm -f "$out"/scan.{csv,jsonl,xlsx,html} "$out"/matrix.csv
status=0
"$bin" scan -i "$lab/targets.txt" --no-progress \
    --client-profile patched-mitigated,patched-vulnerable,unpatched,modern-tls12 \
    -o "$out/scan.csv" -o "$out/scan.jsonl" -o "$out/scan.xlsx" -o "$out/scan.html" \
    --matrix "$out/matrix.csv" || status=$?

echo
echo "==> reports"
for f in scan.html scan.xlsx scan.csv matrix.csv scan.jsonl; do
    printf '  %-11s %s\n' "$f" "$out/$f"
done
echo
echo "Open scan.html in a browser (it is one self-contained file), or scan.xlsx in a spreadsheet."
echo "Scan a real network the same way:  cargo run --release -- scan 10.0.0.0/24 -o scan.html"
exit "$status"
