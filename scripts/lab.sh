#!/usr/bin/env bash
# A lab of real RDP servers on loopback (127.77.0.0/24, port 3389), for the demo
# (scripts/demo.sh) and for comparing scans by hand. Nothing listens beyond 127.0.0.0/8.
#
#   scripts/lab.sh start DIR    start the servers; DIR/targets.txt lists them (one per line)
#   scripts/lab.sh stop DIR     stop them and remove what they wrote
#
# Needs root for xrdp's pid file and `unshare --uts` (the shadow server's host name), and the
# Debian packages xrdp, freerdp2-shadow-x11, xvfb, openssl and python3 (scripts/demo.sh
# installs what is missing).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

NET=127.77.0
PORT=3389

stop() {
    if [[ -f "$dir/pids" ]]; then
        while read -r pid; do
            kill "$pid" 2>/dev/null || true
        done <"$dir/pids"
        sleep 0.5
        while read -r pid; do
            kill -9 "$pid" 2>/dev/null || true
        done <"$dir/pids"
        rm -f "$dir/pids"
    fi
}

wait_listening() { # IP PORT NAME LOG
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "lab: $3 did not listen on $1:$2 within 10 s; its log:" >&2
    tail -n 20 "$4" >&2 || true
    return 1
}

# cert NAME [IP] [DAYS_FROM DAYS_TO]: a self-signed certificate DIR/NAME.{crt,key}.
cert() {
    local name=$1 ip=${2:-}
    local san="DNS:$name"
    [[ -n "$ip" ]] && san="$san,IP:$ip"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 -subj "/CN=$name" \
        -addext "subjectAltName=$san" -addext "extendedKeyUsage=serverAuth" \
        -keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null
}

# An expired self-signed certificate (OpenSSL 3's `req -x509` cannot backdate: `ca -selfsign`).
expired_cert() {
    local name=$1 ca="$dir/expired-ca"
    mkdir -p "$ca/newcerts"
    : >"$ca/index.txt"
    echo 01 >"$ca/serial"
    cat >"$ca/ca.cnf" <<EOF
[ca]
default_ca = lab
[lab]
dir = $ca
database = $ca/index.txt
new_certs_dir = $ca/newcerts
serial = $ca/serial
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
EOF
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$name" \
        -keyout "$dir/$name.key" -out "$ca/$name.csr" 2>/dev/null
    openssl ca -batch -config "$ca/ca.cnf" -selfsign -keyfile "$dir/$name.key" \
        -startdate 20240101000000Z -enddate 20250101000000Z \
        -in "$ca/$name.csr" -out "$dir/$name.crt" >/dev/null 2>&1
}

# xrdp NAME IP SECURITY_LAYER CRYPT_LEVEL CERT SSL_PROTOCOLS [TLS_CIPHERS]
xrdp_server() {
    local name=$1 ip=$2 layer=$3 crypt=$4 cert=$5 protocols=$6 ciphers=${7:-}
    local ini="$dir/$name.ini"
    {
        echo "[Globals]"
        echo "ini_version=1"
        echo "fork=true"
        echo "port=tcp://$ip:$PORT"
        echo "use_vsock=false"
        echo "security_layer=$layer"
        echo "crypt_level=$crypt"
        echo "certificate=$dir/$cert.crt"
        echo "key_file=$dir/$cert.key"
        echo "ssl_protocols=$protocols"
        [[ -n "$ciphers" ]] && echo "tls_ciphers=$ciphers"
        echo "[Logging]"
        echo "LogFile=$dir/$name.log"
        echo "LogLevel=INFO"
        echo "EnableSyslog=false"
        echo "[Xorg]"
        echo "name=Xorg"
        echo "lib=libxup.so"
        echo "username=ask"
        echo "password=ask"
        echo "ip=127.0.0.1"
        echo "port=-1"
        echo "code=20"
    } >"$ini"
    rm -f /var/run/xrdp/xrdp.pid
    setsid xrdp --nodaemon -c "$ini" >"$dir/$name.console" 2>&1 &
    echo $! >>"$dir/pids"
    wait_listening "$ip" "$PORT" "xrdp $name" "$dir/$name.log"
    echo "$ip:$PORT" >>"$dir/targets.txt"
    printf '  %-22s xrdp security_layer=%s crypt_level=%s ssl_protocols=%s\n' \
        "$ip:$PORT" "$layer" "$crypt" "$protocols"
}

start() {
    stop
    : >"$dir/targets.txt"
    : >"$dir/pids"
    [[ -e /etc/xrdp/rsakeys.ini ]] || (umask 077 && xrdp-keygen xrdp auto >/dev/null)
    mkdir -p /var/run/xrdp
    echo "lab: starting real RDP servers on $NET.0/24 port $PORT (logs in $dir)"
    cert lab-negotiate
    cert lab-legacy-tls "$NET.11"
    cert lab-rdp
    expired_cert lab-expired
    xrdp_server negotiate "$NET.10" negotiate high lab-negotiate "TLSv1.2, TLSv1.3"
    xrdp_server legacy-tls "$NET.11" tls high lab-legacy-tls "TLSv1, TLSv1.1, TLSv1.2" \
        "DEFAULT:@SECLEVEL=0"
    xrdp_server rdp-low "$NET.12" rdp low lab-rdp "TLSv1.2, TLSv1.3"
    xrdp_server tls10-expired "$NET.13" tls high lab-expired "TLSv1" "DEFAULT:@SECLEVEL=0"

    # FreeRDP's shadow server requiring NLA, on its own Xvfb display, named lab-shadow.
    local display
    Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp -noreset 3>"$dir/xvfb.display" \
        >"$dir/xvfb.log" 2>&1 &
    echo $! >>"$dir/pids"
    for _ in $(seq 1 100); do
        display=$(tr -dc '0-9' <"$dir/xvfb.display")
        [[ -n "$display" ]] && break
        sleep 0.1
    done
    [[ -n "$display" ]] || { echo "lab: Xvfb did not start" >&2; exit 1; }
    mkdir -p "$dir/shadow/config"
    # SAM line: user lab, domain LAB, password Lab-password-1 (NT hash = MD4 of UTF-16LE).
    local nt
    nt=$(printf 'Lab-password-1' | iconv -t UTF-16LE | openssl dgst -md4 -provider legacy \
        -provider default | awk '{print $NF}')
    echo "lab:LAB::$nt:::" >"$dir/shadow/SAM"
    DISPLAY=":$display" XDG_CONFIG_HOME="$dir/shadow/config" HOME="$dir/shadow" \
        setsid unshare --uts sh -c 'hostname lab-shadow && exec "$@"' sh \
        freerdp-shadow-cli "/bind-address:$NET.14" "/port:$PORT" \
        "/sam-file:$dir/shadow/SAM" /sec:nla >"$dir/shadow.log" 2>&1 &
    echo $! >>"$dir/pids"
    wait_listening "$NET.14" "$PORT" "freerdp-shadow-cli" "$dir/shadow.log"
    echo "$NET.14:$PORT" >>"$dir/targets.txt"
    printf '  %-22s FreeRDP shadow server, NLA required (host name lab-shadow)\n' "$NET.14:$PORT"

    # Something that answers, but not RDP.
    python3 -m http.server --bind "$NET.15" "$PORT" >"$dir/http.log" 2>&1 &
    echo $! >>"$dir/pids"
    wait_listening "$NET.15" "$PORT" "http.server" "$dir/http.log"
    echo "$NET.15:$PORT" >>"$dir/targets.txt"
    printf '  %-22s an HTTP server (not RDP; it waits for a whole HTTP request, so the scan times out: error)\n' "$NET.15:$PORT"
    # And nothing at all.
    echo "$NET.16:$PORT" >>"$dir/targets.txt"
    printf '  %-22s nothing listening (closed)\n' "$NET.16:$PORT"
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
