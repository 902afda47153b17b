#!/usr/bin/env bash
# rdpsweep against nmap on a loopback farm of real RDP servers. One command on a fresh clone:
#
#   bench/run.sh                       # N=254 farm, closed /16, 5,000-host tarpit (3 runs each),
#                                      # firewalled /24 and /16 (1 run each)
#   bench/run.sh --sizes 50,254,1000   # growth
#   bench/run.sh --help                # every option (they are bench/bench.py's)
#
# Installs what it needs (xrdp, freerdp2-shadow-x11, xvfb, nmap, time, python3, nftables) with apt-get
# when missing, builds target/release/rdpsweep, then runs bench/bench.py, which prints a table
# and writes results.json (default directory: bench/out/<UTC time>/, or --out DIR).
#
# Network safety: every server binds and every scan targets 127.0.0.0/8 only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo
    exec python3 "$here/bench.py" --help
fi

need=()
command -v xrdp >/dev/null 2>&1 || [[ -x /usr/sbin/xrdp ]] || need+=(xrdp)
command -v freerdp-shadow-cli >/dev/null 2>&1 || need+=(freerdp2-shadow-x11)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v nmap >/dev/null 2>&1 || need+=(nmap)
[[ -x /usr/bin/time ]] || need+=(time)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || [[ -x /usr/sbin/nft ]] || need+=(nftables)
if ((${#need[@]})); then
    echo "bench: installing ${need[*]}" >&2
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
    # Debian starts the packaged xrdp service on 0.0.0.0:3389, which would collide with the
    # farm (and it is not something a benchmark should leave running).
    if [[ " ${need[*]} " == *" xrdp "* ]] && command -v systemctl >/dev/null 2>&1; then
        "${sudo[@]}" systemctl disable --now xrdp xrdp-sesman >/dev/null 2>&1 || true
    fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

echo "bench: building the release binary" >&2
(cd "$repo" && cargo build --release --locked --quiet)
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
[[ "$target_dir" = /* ]] || target_dir="$repo/$target_dir"
bin="$target_dir/release/rdpsweep"

# The tarpit holds thousands of sockets and so does the scanner: ask for the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

args=("$@")
has_out=0
for a in "${args[@]}"; do [[ "$a" == --out || "$a" == --out=* ]] && has_out=1; done
if ((has_out == 0)); then
    args+=(--out "$here/out/$(date -u +%Y%m%dT%H%M%SZ)")
fi
# xrdp reads /etc/xrdp/key.pem and rsakeys.ini, which only root may read: run the farm (and
# so the benchmark) as root; the build above stayed with the calling user.
if [[ $(id -u) -ne 0 ]]; then
    echo "bench: xrdp needs root to read its key files; running bench/bench.py with sudo" >&2
    exec sudo "$(command -v python3)" "$here/bench.py" --rdpsweep "$bin" "${args[@]}"
fi
exec python3 "$here/bench.py" --rdpsweep "$bin" "${args[@]}"
