#!/usr/bin/env bash
# The sans-IO core (protocol codecs, analysis, compatibility model, target grammar) must not
# do I/O or read the clock. This fails when one of those modules names a forbidden API.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='tokio|std::fs|std::net::(TcpStream|TcpListener|UdpSocket|ToSocketAddrs)|SystemTime|Instant::now|OffsetDateTime::now|std::process|std::env::var'
if grep -rnE "$pattern" src/proto src/analysis src/compat src/target --include='*.rs' \
    | grep -vE '^\S+:[0-9]+:\s*//'; then
  echo "sans-IO check failed: the lines above use I/O or the clock in the pure core" >&2
  exit 1
fi
echo "sans-IO check: ok"
