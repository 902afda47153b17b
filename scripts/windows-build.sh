#!/usr/bin/env bash
# Builds the Windows binary and everything needed to run it under wine in the test suite.
#
#   scripts/windows-build.sh [--release] [--keep-prefix]
#
# 1. Installs what is missing: the Rust target x86_64-pc-windows-gnu (rustup), Debian's mingw
#    linker (gcc-mingw-w64-x86-64) and wine (wine64), through apt-get (sudo when not root).
# 2. Cross-builds  <target-dir>/x86_64-pc-windows-gnu/<debug|release>/rdpsweep.exe
# 3. Builds the test-only bcryptprimitives.dll (tests/windows/processprng.c) next to it: Rust's
#    std imports ProcessPrng from that DLL and wine 8.0 has none (the .exe would exit with
#    status 53 printing nothing).
# 4. Creates a fresh wine prefix at <target-dir>/wine-prefix (removing the previous one unless
#    --keep-prefix), so every test run starts from a clean registry.
#
# <target-dir> is cargo's (CARGO_TARGET_DIR when set). tests/windows.rs finds the .exe, the
# DLL and the prefix at these places (override with RDPSWEEP_WINDOWS_EXE, RDPSWEEP_WINEPREFIX,
# RDPSWEEP_WINE). Build with the same profile as `cargo test` (debug unless --release).
set -euo pipefail

TARGET=x86_64-pc-windows-gnu
LINKER=x86_64-w64-mingw32-gcc
profile=debug
keep_prefix=0
for arg in "$@"; do
    case "$arg" in
        --release) profile=release ;;
        --keep-prefix) keep_prefix=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "windows-build.sh: unknown argument '$arg' (expected --release, --keep-prefix)" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

say() { printf 'windows-build: %s\n' "$*" >&2; }
die() { printf 'windows-build: ERROR: %s\n' "$*" >&2; exit 1; }

find_wine() {
    if [[ -n "${RDPSWEEP_WINE:-}" ]]; then echo "$RDPSWEEP_WINE"; return; fi
    # Debian/Ubuntu's wine64 package installs the loader here, not on PATH.
    for w in /usr/lib/wine/wine64 /usr/lib64/wine/wine64; do
        [[ -x "$w" ]] && { echo "$w"; return; }
    done
    command -v wine64 || command -v wine || true
}

# --- 1. prerequisites -----------------------------------------------------------------------
apt_packages=()
command -v "$LINKER" >/dev/null || apt_packages+=(gcc-mingw-w64-x86-64)
[[ -n "$(find_wine)" ]] || apt_packages+=(wine64)
if ((${#apt_packages[@]})); then
    say "installing ${apt_packages[*]}"
    command -v apt-get >/dev/null || die "missing ${apt_packages[*]} and no apt-get to install them"
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi
command -v "$LINKER" >/dev/null || die "$LINKER not found after installing gcc-mingw-w64-x86-64"
WINE=$(find_wine)
[[ -n "$WINE" && -x "$WINE" ]] || die "no wine loader found (looked for /usr/lib/wine/wine64, wine64, wine)"

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    command -v rustup >/dev/null || die "rustup is needed to add the Rust target $TARGET"
    say "adding Rust target $TARGET"
    rustup target add "$TARGET"
fi

target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory 2>/dev/null || true)
[[ -n "$target_dir" && "$target_dir" != null ]] || target_dir=${CARGO_TARGET_DIR:-$repo/target}
out="$target_dir/$TARGET/$profile"

# --- 2. the .exe ----------------------------------------------------------------------------
say "cross-building rdpsweep.exe ($profile)"
start=$SECONDS
profile_flag=()
[[ $profile == release ]] && profile_flag=(--release)
cargo build --target "$TARGET" --bin rdpsweep "${profile_flag[@]}"
[[ -f "$out/rdpsweep.exe" ]] || die "cargo did not produce $out/rdpsweep.exe"
say "rdpsweep.exe built in $((SECONDS - start)) s"

# --- 3. the ProcessPrng shim ----------------------------------------------------------------
shim_src=tests/windows/processprng.c
shim_def=tests/windows/processprng.def
dll="$out/bcryptprimitives.dll"
if [[ ! -f "$dll" || "$shim_src" -nt "$dll" || "$shim_def" -nt "$dll" ]]; then
    say "building $dll"
    "$LINKER" -shared -O2 -s -Wall -Wextra -Werror -o "$dll" "$shim_src" "$shim_def" -ladvapi32
fi

# --- 4. a fresh wine prefix -----------------------------------------------------------------
prefix=${RDPSWEEP_WINEPREFIX:-$target_dir/wine-prefix}
wineserver_bin=$(dirname "$WINE")/wineserver
[[ -x "$wineserver_bin" ]] || wineserver_bin=$(command -v wineserver || true)
if [[ -d "$prefix" && $keep_prefix -eq 0 ]]; then
    # Stop this prefix's wineserver (if one lingers) before deleting its files.
    [[ -n "$wineserver_bin" ]] && WINEPREFIX="$prefix" "$wineserver_bin" -k 2>/dev/null || true
    rm -rf "$prefix"
fi
if [[ ! -f "$prefix/system.reg" ]]; then
    say "creating wine prefix $prefix"
    start=$SECONDS
    mkdir -p "$(dirname "$prefix")"
    # No display is needed; mscoree/mshtml= skips the Mono and Gecko installers.
    WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY= \
        "$WINE" wineboot --init >/dev/null 2>&1 || die "wineboot --init failed for $prefix"
    [[ -n "$wineserver_bin" ]] && WINEPREFIX="$prefix" "$wineserver_bin" -w
    [[ -f "$prefix/system.reg" ]] || die "wine did not create $prefix/system.reg"
    say "wine prefix created in $((SECONDS - start)) s"
fi

# --- smoke check: the .exe starts under wine ------------------------------------------------
if ! version=$(WINEPREFIX="$prefix" WINEDEBUG=-all DISPLAY= "$WINE" "$out/rdpsweep.exe" --version 2>&1); then
    die "rdpsweep.exe --version failed under wine: $version"
fi
say "under wine: $version"
cat <<EOF >&2
windows-build: ready
  exe:    $out/rdpsweep.exe
  shim:   $dll
  prefix: $prefix
  wine:   $WINE
EOF
