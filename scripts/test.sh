#!/usr/bin/env bash
# rdpsweep's test command (the README's): installs the real test servers when they are missing,
# makes sure rustfmt and clippy are there, then runs every test and fails loudly on any failure.
#
# Works on a fresh Debian 12 machine as root with nothing but the Rust toolchain installed.
# Re-runs are fast: apt is only touched when a package is missing.
#
#   scripts/test.sh                  # the whole suite
#   scripts/test.sh --test servers   # only `cargo test --test servers` (any cargo test arguments)
#
# Environment: CI=true adds --locked to cargo (Cargo.lock must be committed and current).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Real servers the integration tests start on loopback (tests/support), the real RDP client that
# checks the matrix (tests/real_client.rs), and the tools that open the reports (chromium,
# LibreOffice Calc and poppler's pdftoppm: tests/support/viewers.rs).
TEST_PACKAGES=(xrdp freerdp2-shadow-x11 freerdp2-x11 xvfb openssl chromium libreoffice-calc poppler-utils nmap)
# What the `openssl` crate's `vendored` feature needs to build OpenSSL from source.
BUILD_PACKAGES=(perl make gcc libc6-dev)
# Commands the test harness runs (each must exist after the install).
REQUIRED_COMMANDS=(xrdp xrdp-keygen freerdp-shadow-cli xfreerdp Xvfb openssl unshare hostname cc chromium soffice pdftoppm nmap)

LOCKED=()
if [[ "${CI:-}" == "true" ]]; then
    LOCKED=(--locked)
fi

# --- step timing --------------------------------------------------------------------------------
STEP_NAMES=()
STEP_TIMES=()
STEP_NAME=""
STEP_START=""
SCRIPT_START=$EPOCHREALTIME

elapsed_since() { # START -> seconds with 1 decimal
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

step() { # NAME: ends the current step (if any) and starts NAME
    end_step
    STEP_NAME=$1
    STEP_START=$EPOCHREALTIME
    printf '\n==> [test.sh] %s\n' "$STEP_NAME"
}

end_step() {
    if [[ -n "$STEP_NAME" ]]; then
        local t
        t=$(elapsed_since "$STEP_START")
        STEP_NAMES+=("$STEP_NAME")
        STEP_TIMES+=("$t")
        printf '<== [test.sh] %s: %s s\n' "$STEP_NAME" "$t"
        STEP_NAME=""
    fi
}

summary() {
    local status=$?
    local failed_step=$STEP_NAME
    end_step
    printf '\n[test.sh] step timings:\n'
    local i
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %8s s  %s\n' "${STEP_TIMES[$i]}" "${STEP_NAMES[$i]}"
    done
    printf '  %8s s  total\n' "$(elapsed_since "$SCRIPT_START")"
    if [[ $status -ne 0 ]]; then
        printf '\n[test.sh] FAILED (exit %d) in step: %s\n' "$status" "${failed_step:-?}" >&2
    else
        printf '\n[test.sh] all steps passed\n'
    fi
    exit "$status"
}
trap summary EXIT

# shellcheck source=scripts/packages.sh
source scripts/packages.sh

# --- 1. system packages -------------------------------------------------------------------------
step "system packages (${TEST_PACKAGES[*]} ${BUILD_PACKAGES[*]})"
install_missing "${TEST_PACKAGES[@]}" "${BUILD_PACKAGES[@]}"
require_commands "${REQUIRED_COMMANDS[@]}"
ensure_xrdp_rsakeys

# --- 2. Rust components -------------------------------------------------------------------------
step "rust components (rustfmt, clippy)"
if command -v rustup >/dev/null 2>&1; then
    installed=$(rustup component list --installed)
    for component in rustfmt clippy; do
        if ! grep -q "^${component}" <<<"$installed"; then
            rustup component add "$component"
        fi
    done
fi
cargo fmt --version
cargo clippy --version

# --- 3. the Windows binary (tests/windows.rs runs it under wine) --------------------------------
step "windows cross-build + wine prefix (scripts/windows-build.sh)"
scripts/windows-build.sh

# --- 4. tests -----------------------------------------------------------------------------------
if [[ $# -gt 0 ]]; then
    step "cargo test $*"
    cargo test "${LOCKED[@]}" "$@"
else
    step "cargo test --all-targets (unit, integration with real servers, Windows build under wine)"
    cargo test "${LOCKED[@]}" --all-targets --no-fail-fast

    step "cargo test --doc"
    cargo test "${LOCKED[@]}" --doc --no-fail-fast
fi
