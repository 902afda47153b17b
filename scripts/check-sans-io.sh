#!/usr/bin/env bash
# The sans-IO core (protocol codecs, observations and the connection plan, analysis, the
# compatibility model, the target grammar) must not do I/O or read the clock. This fails when
# one of those modules names a forbidden API. The probe driver must not read the wall clock
# either (its deadlines use the monotonic clock; the scan passes `now` in).
set -euo pipefail
cd "$(dirname "$0")/.."
core=(src/proto src/observe src/analysis src/compat src/target)
pattern='tokio|std::fs|std::net::(TcpStream|TcpListener|UdpSocket|ToSocketAddrs)|SystemTime|Instant::now|OffsetDateTime::now|UnixTime::now|std::process|std::env::var'
status=0
if grep -rnE "$pattern" "${core[@]}" --include='*.rs' | grep -vE '^\S+:[0-9]+:\s*//'; then
  echo "sans-IO check failed: the lines above use I/O or the clock in the pure core (${core[*]})" >&2
  status=1
fi
wall='SystemTime|OffsetDateTime::now|UnixTime::now|Utc::now'
if grep -rnE "$wall" src/probe --include='*.rs' | grep -vE '^\S+:[0-9]+:\s*//' | grep -v '/tests.rs:'; then
  echo "sans-IO check failed: the probe driver reads the wall clock (lines above)" >&2
  status=1
fi
[ $status -eq 0 ] && echo "sans-IO check: ok (${core[*]}; no wall clock in src/probe)"
exit $status
