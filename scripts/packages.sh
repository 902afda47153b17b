# Sourced by scripts/test.sh and scripts/demo.sh: installs the Debian packages they need when
# some are missing (apt is only touched then), and checks that the commands they run exist.
#
#   source scripts/packages.sh
#   install_missing PKG...          # apt-get install of the missing ones (root or sudo)
#   require_commands CMD...         # fails naming the first command not found

pkg_die() {
    printf '%s: ERROR: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        pkg_die "need root to run: $* (run this script as root, or install sudo)"
    fi
}

install_missing() {
    local missing=() pkg
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "all installed"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || pkg_die "missing packages ${missing[*]} and no apt-get: install them by hand"
    echo "installing: ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

require_commands() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || [[ -x "/usr/sbin/$cmd" ]] ||
            pkg_die "command '$cmd' is missing after the install"
    done
}

# xrdp's Standard RDP Security key (the package's postinst makes it; the servers need it).
ensure_xrdp_rsakeys() {
    if [[ ! -e /etc/xrdp/rsakeys.ini ]]; then
        echo "creating /etc/xrdp/rsakeys.ini"
        as_root sh -c 'umask 077 && xrdp-keygen xrdp auto'
    fi
}
