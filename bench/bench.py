#!/usr/bin/env python3
"""rdpsweep benchmark against nmap, on loopback only. Run it through bench/run.sh, which
installs the tools and builds the release binary first.

Phases (each can be switched off):
  closed   sweep of a /16 where nothing listens on the port (127.0.0.0/16:3389)
  farm     for each size N: N real xrdp endpoints (127.0.1.1, 127.0.1.2, ...) plus a few
           FreeRDP shadow servers requiring NLA (127.0.9.x), scanned by rdpsweep (full default
           probe) and by nmap's RDP scripts, several runs each, alternating
  tarpit   T listeners that accept and never answer (127.0.16.1 upward), all in flight at once
  firewalled
           in a private network namespace (unshare -n) where an nftables rule drops every packet
           to 127.5.0.0/16, as a firewall drops SYNs: rdpsweep against nmap -Pn on a dropped
           /24, rdpsweep alone on the dropped /16 with defaults, and with 20,000 connects
           pending; compared with the floor ceil(N / pending connects) x connect timeout

Every tool runs as a whole process under /usr/bin/time -v (wall, user+sys CPU, max RSS).
Prints a table and writes the same figures as JSON. Only ever binds or connects to
127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
PORT = 3389
NMAP_SCRIPTS = "rdp-enum-encryption,rdp-ntlm-info,ssl-cert"
SHADOW_NET = "127.0.9"
TARPIT_FIRST = ipaddress.IPv4Address("127.0.16.1")
# Per-host figures of the targets in issue 6.
TARGET_RATIO = 20.0
TARGET_CONNECTIONS = 4
TARGET_CPU_MS_PER_HOST = 2.0
TARGET_TARPIT_RSS_MB = 100.0
TARGET_CLOSED_WALL_S = 5.0
# Issue 17: a dropped /16 with defaults within 2x its floor; peak RSS at most 100 MB with
# 20,000 connects pending.
FIREWALL_NET = ipaddress.ip_network("127.5.0.0/16")
TARGET_FIREWALLED_FLOOR_FACTOR = 2.0
TARGET_PENDING_RSS_MB = 100.0
# rdpsweep's defaults (src/cli/scan.rs): connect timeout, the cap on pending connects, the
# descriptors it keeps for itself, --concurrency.
CONNECT_TIMEOUT_S = 3.0
CONNECT_CONCURRENCY_MAX = 16384
FD_RESERVE = 64
CONCURRENCY = 512


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loopback_only(addrs) -> None:
    for a in addrs:
        if ipaddress.ip_address(a) not in LOOPBACK:
            raise SystemExit(f"bench: refusing to use {a}: not a loopback address")


def xrdp_addr(i: int) -> str:
    """The i-th xrdp endpoint (1-based): 127.0.1.1 ... 127.0.1.254, 127.0.2.1, ..."""
    third, fourth = divmod(i - 1, 254)
    return f"127.0.{1 + third}.{1 + fourth}"


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------------------------
# Measuring a whole process


@dataclass
class Measure:
    wall_s: float
    user_s: float
    sys_s: float
    max_rss_kb: int
    exit: int
    load1: float = 0.0
    # CPU seconds the whole machine was busy during the run (all processes, from /proc/stat).
    machine_busy_s: float = 0.0

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def parse_time_v(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            value = line.rsplit(": ", 1)[1]
            parts = [float(p) for p in value.split(":")]
            secs = 0.0
            for p in parts:
                secs = secs * 60 + p
            out["wall_s"] = secs
        elif line.startswith("User time (seconds):"):
            out["user_s"] = float(line.split(":")[1])
        elif line.startswith("System time (seconds):"):
            out["sys_s"] = float(line.split(":")[1])
        elif line.startswith("Maximum resident set size (kbytes):"):
            out["max_rss_kb"] = int(line.split(":")[1])
        elif line.startswith("Exit status:"):
            out["exit"] = int(line.split(":")[1])
    return out


def machine_busy_s() -> float:
    """CPU seconds all processors have spent busy since boot (everything but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def timed(cmd: list[str], stdout_path: Path, workdir: Path, tag: str) -> Measure:
    """Runs cmd under /usr/bin/time -v; stdout goes to stdout_path. Wall time is taken from
    our own clock too (time -v prints centiseconds only)."""
    tfile = workdir / f"{tag}.time"
    efile = workdir / f"{tag}.stderr"
    full = ["/usr/bin/time", "-v", "-o", str(tfile), *cmd]
    load1 = loadavg()[0]
    with open(stdout_path, "wb") as out, open(efile, "wb") as err:
        busy0 = machine_busy_s()
        t0 = time.monotonic()
        rc = subprocess.call(full, stdout=out, stderr=err)
        wall = time.monotonic() - t0
        busy = machine_busy_s() - busy0
    t = parse_time_v(tfile.read_text())
    if rc != 0:
        log(f"{tag}: exit status {rc}; stderr: {efile.read_text(errors='replace')[-2000:]}")
    return Measure(
        wall_s=round(min(wall, t.get("wall_s", wall) + 0.01), 3),
        user_s=t.get("user_s", 0.0),
        sys_s=t.get("sys_s", 0.0),
        max_rss_kb=t.get("max_rss_kb", 0),
        exit=t.get("exit", rc),
        load1=load1,
        machine_busy_s=round(busy, 2),
    )


def medians(runs: list[Measure]) -> dict:
    return {
        "wall_s": round(statistics.median(r.wall_s for r in runs), 3),
        "cpu_s": round(statistics.median(r.cpu_s for r in runs), 3),
        "user_s": round(statistics.median(r.user_s for r in runs), 3),
        "sys_s": round(statistics.median(r.sys_s for r in runs), 3),
        "max_rss_mb": round(statistics.median(r.max_rss_kb for r in runs) / 1024, 1),
        "load1_max": max(r.load1 for r in runs),
    }


# --------------------------------------------------------------------------------------------
# Reading the scanners' outputs


def read_jsonl(path: Path) -> list[dict]:
    reports = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        obj = json.loads(line)
        # Only host records (a summary record, if any, has no "status").
        if isinstance(obj, dict) and "status" in obj and "port" in obj:
            reports.append(obj)
    return reports


def rdpsweep_facts(reports: list[dict]) -> dict:
    status: dict[str, int] = {}
    for r in reports:
        status[r["status"]] = status.get(r["status"], 0) + 1
    rdp = [r for r in reports if r["status"] == "rdp"]
    conns = [int(r.get("connections", 0)) for r in rdp]
    return {
        "endpoints": len(reports),
        "status": dict(sorted(status.items())),
        "rdp": sorted(r["ip"] for r in rdp),
        "ntlm": sorted(r["ip"] for r in rdp if r.get("ntlm")),
        "tls": sorted(r["ip"] for r in rdp if r.get("tls")),
        "credssp": sorted(r["ip"] for r in rdp if r.get("credssp")),
        "nla_required": sorted(
            r["ip"] for r in rdp if (r.get("security") or {}).get("nla") == "required"
        ),
        "connections_max": max(conns, default=0),
        "connections_mean": round(statistics.mean(conns), 2) if conns else 0.0,
        "connections_total": sum(int(r.get("connections", 0)) for r in reports),
    }


def nmap_facts(xml_path: Path) -> dict:
    root = ET.parse(xml_path).getroot()
    found, ntlm, cert = [], [], []
    for host in root.iter("host"):
        addr = host.find("address[@addrtype='ipv4']")
        if addr is None:
            continue
        ip = addr.get("addr")
        for port in host.iter("port"):
            state = port.find("state")
            if state is None or state.get("state") != "open":
                continue
            scripts = {s.get("id"): s.get("output", "") for s in port.iter("script")}
            if "Security layer" in scripts.get("rdp-enum-encryption", ""):
                found.append(ip)
            if scripts.get("rdp-ntlm-info"):
                ntlm.append(ip)
            if scripts.get("ssl-cert"):
                cert.append(ip)
    return {"rdp": sorted(found), "ntlm": sorted(ntlm), "ssl_cert": sorted(cert)}


# --------------------------------------------------------------------------------------------
# Servers


@dataclass
class Farm:
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    _logdir: Path | None = None

    def logdir(self) -> Path:
        """Where servers write their logs: tmpfs when there is one (xrdp syncs its log file on
        every line, and it logs an error for every scanner connection that closes early;
        that disk traffic is not what the benchmark measures). Copied to workdir on stop."""
        if self._logdir is None:
            shm = Path("/dev/shm")
            if shm.is_dir() and os.access(shm, os.W_OK):
                self._logdir = Path(tempfile.mkdtemp(prefix="rdpsweep-bench-", dir=shm))
            else:
                self._logdir = self.workdir
        return self._logdir

    def spawn(self, cmd, log_name, env=None) -> subprocess.Popen:
        logf = open(self.workdir / log_name, "wb")
        p = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self.procs.append(p)
        return p

    def stop(self) -> None:
        # Each server was started in its own session: signal that process group (the server
        # and the children it forked per connection), and nothing else.
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs.clear()
        if self._logdir is not None and self._logdir != self.workdir:
            for f in self._logdir.iterdir():
                shutil.copy(f, self.workdir / f.name)
            shutil.rmtree(self._logdir, ignore_errors=True)
            self._logdir = None

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def cpu_s(self) -> float:
        """CPU seconds used so far by the servers, including the per-connection children that
        xrdp forked and reaped (utime + stime + cutime + cstime from /proc/PID/stat)."""
        ticks = 0
        for p in self.procs:
            try:
                stat = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, IndexError):
                continue
            ticks += sum(int(x) for x in stat[11:15])
        return ticks / os.sysconf("SC_CLK_TCK")


def listening(port: int) -> set[str]:
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    addrs = set()
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 4:
            local = cols[3]
            addrs.add(local.rsplit(":", 1)[0].strip("[]"))
    return addrs


def wait_listening(want: set[str], port: int, what: str, farm: Farm, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        missing = want - listening(port)
        if not missing:
            return
        if not farm.alive():
            raise SystemExit(f"bench: a {what} process exited early; see the logs in {farm.workdir}")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"bench: {len(missing)} {what} endpoints never listened "
                f"(e.g. {sorted(missing)[:3]}); see the logs in {farm.workdir}"
            )
        time.sleep(0.2)


def check_port_free(port: int) -> None:
    taken = listening(port)
    wildcard = taken & {"0.0.0.0", "*", "::", "[::]"}
    if wildcard:
        raise SystemExit(
            f"bench: something listens on *:{port} (an xrdp system service? "
            f"`systemctl stop xrdp`); the farm needs 127.0.x.y:{port}"
        )
    if os.path.exists("/var/run/xrdp/xrdp.pid"):
        raise SystemExit(
            "bench: /var/run/xrdp/xrdp.pid exists: xrdp refuses to start while it does "
            "(an xrdp service or a stale pid file; stop the service or remove the file)"
        )


def xrdp_ini(listen: list[str], logfile: Path, fork: bool) -> str:
    ports = " ".join(f"tcp://{a}:{PORT}" for a in listen)
    text = Path("/etc/xrdp/xrdp.ini").read_text()
    out = []
    section = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            section = s
        if section == "[Globals]" and s.startswith("port="):
            line = f"port={ports}"
        elif section == "[Globals]" and s.startswith("fork="):
            line = f"fork={'true' if fork else 'false'}"
        elif section == "[Logging]" and s.startswith("LogFile="):
            line = f"LogFile={logfile}"
        elif section == "[Logging]" and s.startswith("EnableSyslog="):
            line = "EnableSyslog=false"
        elif section == "[Logging]" and s.startswith("LogLevel="):
            line = "LogLevel=ERROR"
        out.append(line)
    return "\n".join(out) + "\n"


def start_xrdp(farm: Farm, n: int, per_proc: int, fork: bool) -> list[str]:
    addrs = [xrdp_addr(i) for i in range(1, n + 1)]
    loopback_only(addrs)
    for k in range(0, n, per_proc):
        group = addrs[k : k + per_proc]
        ini = farm.workdir / f"xrdp-{k // per_proc}.ini"
        ini.write_text(xrdp_ini(group, farm.logdir() / f"xrdp-{k // per_proc}.log", fork))
        farm.spawn(["xrdp", "--nodaemon", "-c", str(ini)], f"xrdp-{k // per_proc}.out")
    wait_listening(set(addrs), PORT, "xrdp", farm)
    return addrs


def free_display() -> int:
    for d in range(90, 400):
        if not os.path.exists(f"/tmp/.X11-unix/X{d}") and not os.path.exists(f"/tmp/.X{d}-lock"):
            return d
    raise SystemExit("bench: no free X display number between :90 and :399")


def start_shadow(farm: Farm, count: int) -> list[str]:
    if count == 0:
        return []
    display = free_display()
    farm.spawn(
        ["Xvfb", f":{display}", "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-noreset"],
        "xvfb.out",
    )
    deadline = time.monotonic() + 15
    while not os.path.exists(f"/tmp/.X11-unix/X{display}"):
        if time.monotonic() > deadline or not farm.alive():
            raise SystemExit(f"bench: Xvfb :{display} did not start; see {farm.workdir}/xvfb.out")
        time.sleep(0.1)
    # User bench, password bench (NT hash = MD4 of UTF-16LE "bench").
    sam = farm.workdir / "SAM"
    sam.write_text("bench::aad3b435b51404eeaad3b435b51404ee:79d53f1f564aa978e5a5ffeae2cc12c3:::\n")
    addrs = [f"{SHADOW_NET}.{i}" for i in range(1, count + 1)]
    loopback_only(addrs)
    for i, a in enumerate(addrs):
        cfg = farm.workdir / f"shadow-{i}"
        cfg.mkdir(exist_ok=True)
        env = dict(os.environ, DISPLAY=f":{display}", XDG_CONFIG_HOME=str(cfg))
        farm.spawn(
            [
                "freerdp-shadow-cli",
                f"/bind-address:{a}",
                f"/port:{PORT}",
                "/sec:nla",
                f"/sam-file:{sam}",
            ],
            f"shadow-{i}.out",
            env=env,
        )
    wait_listening(set(addrs), PORT, "FreeRDP shadow", farm, timeout=60)
    return addrs


# --------------------------------------------------------------------------------------------
# Phases


def rdpsweep_cmd(binary: str, extra: list[str]) -> list[str]:
    return [binary, "scan", "--format", "jsonl", "--no-progress", *extra]


def phase_closed(args, work: Path) -> dict:
    net = ipaddress.ip_network(args.closed_range)
    loopback_only([net.network_address, net.broadcast_address])
    taken = {a for a in listening(PORT) if ipaddress.ip_address(a) in net}
    log(f"closed sweep of {net} port {PORT} ({net.num_addresses} endpoints), {args.runs} runs")
    runs, facts = [], None
    for r in range(args.runs):
        out = work / f"closed-rdpsweep-{r}.jsonl"
        m = timed(rdpsweep_cmd(args.rdpsweep, [str(net), "-p", str(PORT)]), out, work, f"closed-rdpsweep-{r}")
        runs.append(m)
        facts = rdpsweep_facts(read_jsonl(out))
        log(f"  rdpsweep run {r + 1}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU, {m.max_rss_kb / 1024:.1f} MB")
    sweep = []
    for c in args.concurrency_sweep:
        out = work / f"closed-rdpsweep-c{c}.jsonl"
        m = timed(rdpsweep_cmd(args.rdpsweep, [str(net), "-p", str(PORT), "--concurrency", str(c)]),
                  out, work, f"closed-rdpsweep-c{c}")
        sweep.append({"concurrency": c, **m.__dict__})
        log(f"  rdpsweep --concurrency {c}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU")
    result = {
        "range": str(net),
        "port": PORT,
        "endpoints": net.num_addresses,
        "listening_before": sorted(taken),
        "rdpsweep": {"runs": [m.__dict__ for m in runs], "median": medians(runs)},
        "rdpsweep_status": facts["status"] if facts else {},
        "other_cpu_s": [round(max(m.machine_busy_s - m.cpu_s, 0.0), 2) for m in runs],
    }
    if sweep:
        result["rdpsweep"]["concurrency_sweep"] = sweep
    if not args.no_nmap:
        log(f"  nmap over the same range ({args.runs} runs)")
        nruns = []
        for r in range(args.runs):
            xml = work / f"closed-nmap-{r}.xml"
            m = timed(
                ["nmap", "-Pn", "-n", "-p", str(PORT), "--script", NMAP_SCRIPTS, "-oX", str(xml), str(net)],
                work / f"closed-nmap-{r}.out",
                work,
                f"closed-nmap-{r}",
            )
            nruns.append(m)
            log(f"  nmap run {r + 1}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU")
        result["nmap"] = {"runs": [m.__dict__ for m in nruns], "median": medians(nruns)}
    return result


def phase_farm(args, work: Path, n: int) -> dict:
    sub = work / f"farm-{n}"
    sub.mkdir(exist_ok=True)
    farm = Farm(sub)
    try:
        log(f"farm N={n}: starting {n} xrdp endpoints ({args.xrdp_per_process} per process) "
            f"and {args.shadow} FreeRDP NLA servers")
        xrdp = start_xrdp(farm, n, args.xrdp_per_process, args.xrdp_fork == "true")
        shadow = start_shadow(farm, args.shadow)
        endpoints = sorted(xrdp + shadow, key=ipaddress.ip_address)
        targets = sub / "targets.txt"
        targets.write_text("".join(f"{a}\n" for a in endpoints))
        procs = [p.pid for p in farm.procs]
        log(f"  {len(endpoints)} endpoints listening ({len(procs)} server processes)")

        rs_runs, nm_runs, rs_facts, nm_facts = [], [], [], []
        server_cpu: dict[str, list[float]] = {"rdpsweep": [], "nmap": []}
        other_cpu: dict[str, list[float]] = {"rdpsweep": [], "nmap": []}
        for r in range(args.runs):
            order = ["rdpsweep", "nmap"] if r % 2 == 0 else ["nmap", "rdpsweep"]
            if args.no_nmap:
                order = ["rdpsweep"]
            for tool in order:
                cpu0 = farm.cpu_s()
                if tool == "rdpsweep":
                    out = sub / f"rdpsweep-{r}.jsonl"
                    cmd = rdpsweep_cmd(args.rdpsweep, ["-i", str(targets), "-p", str(PORT)])
                    m = timed(cmd, out, sub, f"rdpsweep-{r}")
                    rs_runs.append(m)
                    rs_facts.append(rdpsweep_facts(read_jsonl(out)))
                else:
                    xml = sub / f"nmap-{r}.xml"
                    cmd = ["nmap", "-Pn", "-n", "-p", str(PORT), "--script", NMAP_SCRIPTS,
                           "-oX", str(xml), "-iL", str(targets)]
                    m = timed(cmd, sub / f"nmap-{r}.out", sub, f"nmap-{r}")
                    nm_runs.append(m)
                    nm_facts.append(nmap_facts(xml))
                # Children still running when the scan ends are counted by the next run.
                server_cpu[tool].append(round(farm.cpu_s() - cpu0, 2))
                # What the rest of the machine (other users) used meanwhile.
                other_cpu[tool].append(round(max(m.machine_busy_s - m.cpu_s - server_cpu[tool][-1], 0.0), 2))
                log(f"  {tool:8} run {r + 1}: {m.wall_s:7.2f} s wall, {m.cpu_s:6.2f} s CPU, "
                    f"{m.max_rss_kb / 1024:6.1f} MB max RSS; servers used {server_cpu[tool][-1]:.2f} s CPU, "
                    f"other processes {other_cpu[tool][-1]:.2f} s")
            if not farm.alive():
                raise SystemExit(f"bench: a farm server died during run {r + 1}; see {sub}")

        # Fixed cost of one process (start-up, TLS roots, one endpoint), to separate the
        # per-host cost from it.
        one_runs = []
        for r in range(args.runs):
            out = sub / f"rdpsweep-one-{r}.jsonl"
            cmd = rdpsweep_cmd(args.rdpsweep, [f"{endpoints[0]}:{PORT}"])
            one_runs.append(timed(cmd, out, sub, f"rdpsweep-one-{r}"))

        sweep = []
        for c in args.concurrency_sweep:
            out = sub / f"rdpsweep-c{c}.jsonl"
            cmd = rdpsweep_cmd(args.rdpsweep, ["-i", str(targets), "-p", str(PORT), "--concurrency", str(c)])
            m = timed(cmd, out, sub, f"rdpsweep-c{c}")
            f = rdpsweep_facts(read_jsonl(out))
            sweep.append({"concurrency": c, **m.__dict__, "found": len(f["rdp"])})
            log(f"  rdpsweep --concurrency {c}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU, "
                f"{m.max_rss_kb / 1024:.1f} MB, found {len(f['rdp'])}")

        expected = set(endpoints)
        rs_ok = all(set(f["rdp"]) == expected for f in rs_facts)
        nm_ok = all(set(f["rdp"]) == expected for f in nm_facts)
        last_rs = rs_facts[-1]
        result = {
            "n_xrdp": n,
            "n_shadow": len(shadow),
            "endpoints": len(endpoints),
            "server_processes": len(procs),
            "rdpsweep": {
                "runs": [m.__dict__ for m in rs_runs],
                "median": medians(rs_runs),
                "found": [len(f["rdp"]) for f in rs_facts],
                "all_found": rs_ok,
                "status": last_rs["status"],
                "connections_max": max(f["connections_max"] for f in rs_facts),
                "connections_mean": last_rs["connections_mean"],
                "tls_hosts": len(last_rs["tls"]),
                "credssp_hosts": len(last_rs["credssp"]),
                "ntlm_hosts": len(last_rs["ntlm"]),
                "nla_required_hosts": len(last_rs["nla_required"]),
                "server_cpu_s": statistics.median(server_cpu["rdpsweep"]),
                "other_cpu_s": other_cpu["rdpsweep"],
            },
        }
        if sweep:
            result["rdpsweep"]["concurrency_sweep"] = sweep
        med = result["rdpsweep"]["median"]
        result["rdpsweep"]["cpu_ms_per_host"] = round(med["cpu_s"] * 1000 / len(endpoints), 3)
        one = medians(one_runs)
        result["rdpsweep"]["one_endpoint"] = one
        result["rdpsweep"]["marginal_cpu_ms_per_host"] = round(
            max(med["cpu_s"] - one["cpu_s"], 0.0) * 1000 / max(len(endpoints) - 1, 1), 3)
        if nm_runs:
            last_nm = nm_facts[-1]
            result["nmap"] = {
                "runs": [m.__dict__ for m in nm_runs],
                "median": medians(nm_runs),
                "found": [len(f["rdp"]) for f in nm_facts],
                "all_found": nm_ok,
                "ntlm_hosts": len(last_nm["ntlm"]),
                "ssl_cert_hosts": len(last_nm["ssl_cert"]),
                "server_cpu_s": statistics.median(server_cpu["nmap"]),
                "other_cpu_s": other_cpu["nmap"],
            }
            nmed = result["nmap"]["median"]
            result["nmap"]["cpu_ms_per_host"] = round(nmed["cpu_s"] * 1000 / len(endpoints), 3)
            result["wall_ratio_nmap_over_rdpsweep"] = round(nmed["wall_s"] / max(med["wall_s"], 1e-3), 1)
            result["cpu_ratio_nmap_over_rdpsweep"] = round(nmed["cpu_s"] / max(med["cpu_s"], 1e-3), 1)
            result["same_endpoints"] = rs_ok and nm_ok and all(
                set(a["rdp"]) == set(b["rdp"]) for a, b in zip(rs_facts, nm_facts)
            )
            # Identity from NTLM: both should name the same NLA servers.
            result["same_ntlm_hosts"] = set(last_rs["ntlm"]) == set(last_nm["ntlm"])
        if not rs_ok:
            missing = expected - set(rs_facts[-1]["rdp"])
            log(f"  WARNING: rdpsweep missed {len(missing)} endpoints, e.g. {sorted(missing)[:5]}")
        if nm_runs and not nm_ok:
            missing = expected - set(nm_facts[-1]["rdp"])
            log(f"  WARNING: nmap missed {len(missing)} endpoints, e.g. {sorted(missing)[:5]}")
        return result
    finally:
        farm.stop()


def phase_serve(args, work: Path, n: int) -> None:
    """Starts the farm and keeps it up until SIGINT/SIGTERM (for profiling a scanner by hand)."""
    sub = work / f"serve-{n}"
    sub.mkdir(exist_ok=True)
    farm = Farm(sub)
    try:
        check_port_free(PORT)
        endpoints = start_xrdp(farm, n, args.xrdp_per_process, args.xrdp_fork == "true")
        endpoints += start_shadow(farm, args.shadow)
        targets = sub / "targets.txt"
        targets.write_text("".join(f"{a}\n" for a in endpoints))
        (sub / "pids").write_text(" ".join(str(p.pid) for p in farm.procs) + "\n")
        print(f"serving {len(endpoints)} endpoints; targets in {targets}; Ctrl-C stops", flush=True)
        try:
            while farm.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            print("stopping the farm", flush=True)
            return
        raise SystemExit(f"bench: a server exited; see {sub}")
    finally:
        farm.stop()


def phase_tarpit(args, work: Path) -> dict:
    sub = work / "tarpit"
    sub.mkdir(exist_ok=True)
    farm = Farm(sub)
    count = args.tarpit
    last = TARPIT_FIRST + (count - 1)
    loopback_only([TARPIT_FIRST, last])
    ready = sub / "ready"
    try:
        log(f"tarpit: {count} silent listeners {TARPIT_FIRST}-{last}, scanned with --concurrency {count}")
        farm.spawn(
            [sys.executable, str(Path(__file__).with_name("tarpit.py")), str(TARPIT_FIRST),
             str(count), str(PORT), str(ready)],
            "tarpit.out",
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if not farm.alive() or time.monotonic() > deadline:
                raise SystemExit(f"bench: the tarpit did not start: {(sub / 'tarpit.out').read_text()}")
            time.sleep(0.2)
        runs, facts = [], []
        for r in range(args.tarpit_runs):
            out = sub / f"rdpsweep-{r}.jsonl"
            cmd = rdpsweep_cmd(
                args.rdpsweep,
                [f"{TARPIT_FIRST}-{last}", "-p", str(PORT), "--concurrency", str(count),
                 *args.tarpit_args],
            )
            m = timed(cmd, out, sub, f"rdpsweep-{r}")
            runs.append(m)
            facts.append(rdpsweep_facts(read_jsonl(out)))
            log(f"  rdpsweep run {r + 1}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU, "
                f"{m.max_rss_kb / 1024:.1f} MB max RSS; {facts[-1]['status']}")
        return {
            "endpoints": count,
            "range": f"{TARPIT_FIRST}-{last}",
            "concurrency": count,
            "extra_args": args.tarpit_args,
            "rdpsweep": {"runs": [m.__dict__ for m in runs], "median": medians(runs)},
            "rdpsweep_status": facts[-1]["status"],
            "connections_total": facts[-1]["connections_total"],
            "other_cpu_s": [round(max(m.machine_busy_s - m.cpu_s, 0.0), 2) for m in runs],
        }
    finally:
        farm.stop()


def in_dropped_namespace(cmd: list[str], nofile: int) -> list[str]:
    """cmd run in a new network namespace whose loopback drops every packet to FIREWALL_NET
    (nothing leaves the namespace), with the open-file limit `nofile` (soft and hard)."""
    script = (
        "set -e; ip link set lo up; "
        "nft add table inet bench; "
        "nft add chain inet bench in '{ type filter hook input priority 0; }'; "
        f"nft add rule inet bench in ip daddr {FIREWALL_NET} drop; "
        f"ulimit -n {nofile}; exec \"$@\""
    )
    return ["unshare", "-n", "sh", "-c", script, "sh", *cmd]


def default_pending(nofile: int) -> int:
    """rdpsweep's default --connect-concurrency under `nofile` (no connection tracking in the
    fresh namespace)."""
    return max(1, min(CONNECT_CONCURRENCY_MAX, nofile - FD_RESERVE - CONCURRENCY))


def phase_firewalled(args, work: Path) -> dict:
    sub = work / "firewalled"
    sub.mkdir(exist_ok=True)
    small = ipaddress.ip_network(args.firewalled_small)
    large = ipaddress.ip_network(args.firewalled_range)
    for net in (small, large):
        loopback_only([net.network_address, net.broadcast_address])
        if not net.subnet_of(FIREWALL_NET):
            raise SystemExit(f"bench: {net} is not inside the dropped {FIREWALL_NET}")
    for tool in ("unshare", "nft", "ip"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: the firewalled phase needs {tool} (util-linux, nftables, iproute2)")
    nofile = args.firewalled_nofile
    result: dict = {"nofile": nofile, "drop_rule": f"ip daddr {FIREWALL_NET} drop (nftables, input hook)",
                    "connect_timeout_s": CONNECT_TIMEOUT_S}

    def scan(tag: str, net, extra: list[str], limit: int) -> dict:
        out = sub / f"{tag}.jsonl"
        cmd = in_dropped_namespace(rdpsweep_cmd(args.rdpsweep, [str(net), "-p", str(PORT), *extra]), limit)
        m = timed(cmd, out, sub, tag)
        facts = rdpsweep_facts(read_jsonl(out))
        log(f"  {tag}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU, {m.max_rss_kb / 1024:.1f} MB max RSS; "
            f"{facts['status']}")
        return {"measure": m, "status": facts["status"], "endpoints": facts["endpoints"]}

    # The dropped /24: rdpsweep against nmap.
    log(f"firewalled: {small} dropped, rdpsweep and nmap -Pn ({args.firewalled_runs} runs each)")
    rs, nm = [], []
    status24 = {}
    for r in range(args.firewalled_runs):
        got = scan(f"small-rdpsweep-{r}", small, [], nofile)
        rs.append(got["measure"])
        status24 = got["status"]
        if not args.no_nmap:
            xml = sub / f"small-nmap-{r}.xml"
            m = timed(in_dropped_namespace(["nmap", "-Pn", "-n", "-p", str(PORT), "-oX", str(xml), str(small)], nofile),
                      sub / f"small-nmap-{r}.out", sub, f"small-nmap-{r}")
            nm.append(m)
            log(f"  nmap run {r + 1}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU, {m.max_rss_kb / 1024:.1f} MB")
    pending24 = min(default_pending(nofile), small.num_addresses)
    result["small"] = {
        "range": str(small),
        "endpoints": small.num_addresses,
        "rdpsweep": {"runs": [m.__dict__ for m in rs], "median": medians(rs)},
        "rdpsweep_status": status24,
        "floor_s": math.ceil(small.num_addresses / pending24) * CONNECT_TIMEOUT_S,
    }
    if nm:
        result["small"]["nmap"] = {"runs": [m.__dict__ for m in nm], "median": medians(nm)}
        result["small"]["wall_ratio_nmap_over_rdpsweep"] = round(
            medians(nm)["wall_s"] / max(medians(rs)["wall_s"], 1e-3), 1)

    # The dropped /16 with defaults.
    pending = default_pending(nofile)
    floor = math.ceil(large.num_addresses / pending) * CONNECT_TIMEOUT_S
    log(f"firewalled: {large} dropped ({large.num_addresses} endpoints), rdpsweep with defaults "
        f"under ulimit -n {nofile}: {pending} pending connects, floor {floor:.0f} s")
    runs, status16 = [], {}
    for r in range(args.firewalled_runs):
        got = scan(f"large-rdpsweep-{r}", large, [], nofile)
        runs.append(got["measure"])
        status16 = got["status"]
    complete = all(m.exit == 0 for m in runs) and status16 == {"filtered": large.num_addresses}
    result["large"] = {
        "complete": complete,
        "range": str(large),
        "endpoints": large.num_addresses,
        "pending_connects": pending,
        "floor_s": floor,
        "rdpsweep": {"runs": [m.__dict__ for m in runs], "median": medians(runs)},
        "rdpsweep_status": status16,
    }

    # Memory with 20,000 connects pending at once: with --concurrency 1, the open-file limit
    # holds at most nofile - 64 - 1 of them (raising the hard limit needs CAP_SYS_RESOURCE,
    # which a container may not have; then the most the limit allows is measured).
    many = min(args.firewalled_pending, nofile - FD_RESERVE - 1)
    log(f"firewalled: {large} with --connect-concurrency {many} --concurrency 1 (ulimit -n {nofile})")
    got = scan("large-rdpsweep-pending", large,
               ["--connect-concurrency", str(many), "--concurrency", "1"], nofile)
    result["pending"] = {
        "connect_concurrency": many,
        "concurrency": 1,
        "nofile": nofile,
        "floor_s": math.ceil(large.num_addresses / many) * CONNECT_TIMEOUT_S,
        "rdpsweep": got["measure"].__dict__,
        "rdpsweep_status": got["status"],
        "complete": got["measure"].exit == 0 and got["status"] == {"filtered": large.num_addresses},
    }
    return result


# --------------------------------------------------------------------------------------------
# Report


def machine_info(args) -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.splitlines()[0]
        except (OSError, IndexError):
            return None

    git = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rdpsweep": version([args.rdpsweep, "--version"]),
        "git": git,
        "nmap": version(["nmap", "--version"]),
        "xrdp": version(["dpkg-query", "-W", "-f", "${Version}\n", "xrdp"]),
        "freerdp_shadow": version(["dpkg-query", "-W", "-f", "${Version}\n", "freerdp2-shadow-x11"]),
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "xrdp_fork": args.xrdp_fork,
        "xrdp_per_process": args.xrdp_per_process,
    }


def verdicts(res: dict) -> dict:
    v = {}
    farms = {f["n_xrdp"]: f for f in res.get("farm", [])}
    headline = farms.get(254) or (farms[max(farms)] if farms else None)
    if headline:
        rs = headline["rdpsweep"]
        if "wall_ratio_nmap_over_rdpsweep" in headline:
            ratio = headline["wall_ratio_nmap_over_rdpsweep"]
            v["wall_ratio_at_least_20x"] = {"value": ratio, "met": ratio >= TARGET_RATIO,
                                            "n": headline["n_xrdp"]}
            v["same_endpoints_as_nmap"] = {"value": headline["same_endpoints"],
                                           "met": headline["same_endpoints"]}
        v["connections_per_host_at_most_4"] = {"value": rs["connections_max"],
                                               "met": rs["connections_max"] <= TARGET_CONNECTIONS}
        v["cpu_ms_per_host_under_2"] = {"value": rs["cpu_ms_per_host"],
                                        "marginal": rs["marginal_cpu_ms_per_host"],
                                        "met": rs["cpu_ms_per_host"] < TARGET_CPU_MS_PER_HOST}
    if "tarpit" in res:
        t = res["tarpit"]
        mb = t["rdpsweep"]["median"]["max_rss_mb"]
        v["tarpit_rss_under_100mb"] = {"value": mb, "met": mb < TARGET_TARPIT_RSS_MB,
                                       "in_flight": t["concurrency"]}
    if "closed" in res:
        c = res["closed"]
        w = c["rdpsweep"]["median"]["wall_s"]
        is16 = ipaddress.ip_network(c["range"]).prefixlen == 16
        v["closed_16_under_5s"] = {"value": w, "range": c["range"],
                                   "met": (w < TARGET_CLOSED_WALL_S) if is16 else None}
    if "firewalled" in res:
        f = res["firewalled"]
        w = f["large"]["rdpsweep"]["median"]["wall_s"]
        v["firewalled_16_within_2x_floor"] = {
            "value": w, "floor": f["large"]["floor_s"], "pending": f["large"]["pending_connects"],
            "met": f["large"]["complete"] and w <= TARGET_FIREWALLED_FLOOR_FACTOR * f["large"]["floor_s"]}
        mb = round(f["pending"]["rdpsweep"]["max_rss_kb"] / 1024, 1)
        v["pending_20k_rss_at_most_100mb"] = {"value": mb, "pending": f["pending"]["connect_concurrency"],
                                              "met": f["pending"]["complete"] and mb <= TARGET_PENDING_RSS_MB}
    if len(farms) >= 2:
        sizes = sorted(farms)
        lo, hi = farms[sizes[0]], farms[sizes[-1]]
        scale = hi["endpoints"] / lo["endpoints"]
        wall = hi["rdpsweep"]["median"]["wall_s"] / max(lo["rdpsweep"]["median"]["wall_s"], 1e-3)
        rss = hi["rdpsweep"]["median"]["max_rss_mb"] / max(lo["rdpsweep"]["median"]["max_rss_mb"], 1e-3)
        # Linear or better: growth factor not above the growth in endpoints (10 % slack for noise).
        v["growth_linear_or_better"] = {
            "from": sizes[0], "to": sizes[-1], "endpoints_factor": round(scale, 2),
            "wall_factor": round(wall, 2), "rss_factor": round(rss, 2),
            "met": wall <= scale * 1.1 and rss <= scale * 1.1,
        }
    return v


def table(res: dict) -> str:
    lines = []
    m = res["machine"]
    lines.append(f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['mem_gib']} GiB, "
                 f"load before {res['load_before']} after {res['load_after']}")
    lines.append(f"rdpsweep {m['rdpsweep']} (git {m['git']}); {m['nmap']}; xrdp {m['xrdp']}")
    lines.append("")
    hdr = (f"{'scenario':28} {'tool':9} {'wall s':>8} {'CPU s':>7} {'RSS MB':>7} "
           f"{'ms CPU/host':>11} {'found':>11} {'conn/host':>9}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for f in res.get("farm", []):
        name = f"farm {f['n_xrdp']} xrdp + {f['n_shadow']} NLA"
        rs = f["rdpsweep"]
        found = f"{min(rs['found'])}/{f['endpoints']}"
        lines.append(f"{name:28} {'rdpsweep':9} {rs['median']['wall_s']:8.2f} {rs['median']['cpu_s']:7.2f} "
                     f"{rs['median']['max_rss_mb']:7.1f} {rs['cpu_ms_per_host']:11.3f} {found:>11} "
                     f"{rs['connections_max']:>5} max")
        if "nmap" in f:
            nm = f["nmap"]
            found = f"{min(nm['found'])}/{f['endpoints']}"
            lines.append(f"{'':28} {'nmap':9} {nm['median']['wall_s']:8.2f} {nm['median']['cpu_s']:7.2f} "
                         f"{nm['median']['max_rss_mb']:7.1f} {nm['cpu_ms_per_host']:11.3f} {found:>11} "
                         f"{'':>9}")
            lines.append(f"{'':28} {'ratio':9} {f['wall_ratio_nmap_over_rdpsweep']:7.1f}x "
                         f"{f['cpu_ratio_nmap_over_rdpsweep']:6.1f}x   nmap/rdpsweep; same endpoints: "
                         f"{f['same_endpoints']}; NTLM hosts rdpsweep {rs['ntlm_hosts']} nmap {nm['ntlm_hosts']}")
            lines.append(f"{'':28} {'servers':9} CPU the farm spent per scan: {rs['server_cpu_s']:.2f} s for rdpsweep, "
                         f"{nm['server_cpu_s']:.2f} s for nmap; other processes: "
                         f"{statistics.median(rs['other_cpu_s']):.2f} s / {statistics.median(nm['other_cpu_s']):.2f} s")
        else:
            lines.append(f"{'':28} {'servers':9} CPU the farm spent per scan: {rs['server_cpu_s']:.2f} s")
    if "closed" in res:
        c = res["closed"]
        for tool in ("rdpsweep", "nmap"):
            if tool in c:
                md = c[tool]["median"]
                name = f"closed {c['range']}" if tool == "rdpsweep" else ""
                found = ", ".join(f"{k} {v}" for k, v in c["rdpsweep_status"].items()) if tool == "rdpsweep" else ""
                lines.append(f"{name:28} {tool:9} {md['wall_s']:8.2f} {md['cpu_s']:7.2f} {md['max_rss_mb']:7.1f} "
                             f"{md['cpu_s'] * 1000 / c['endpoints']:11.3f} {found:>11}")
    if "tarpit" in res:
        t = res["tarpit"]
        md = t["rdpsweep"]["median"]
        found = ", ".join(f"{k} {v}" for k, v in t["rdpsweep_status"].items())
        lines.append(f"{'tarpit ' + str(t['endpoints']) + ' in flight':28} {'rdpsweep':9} {md['wall_s']:8.2f} "
                     f"{md['cpu_s']:7.2f} {md['max_rss_mb']:7.1f} {md['cpu_s'] * 1000 / t['endpoints']:11.3f} "
                     f"{found:>11}")
    if "firewalled" in res:
        f = res["firewalled"]
        sm = f["small"]
        for tool in ("rdpsweep", "nmap"):
            if tool in sm:
                md = sm[tool]["median"]
                name = f"dropped {sm['range']}" if tool == "rdpsweep" else ""
                found = ", ".join(f"{k} {v}" for k, v in sm["rdpsweep_status"].items()) if tool == "rdpsweep" else ""
                lines.append(f"{name:28} {tool:9} {md['wall_s']:8.2f} {md['cpu_s']:7.2f} {md['max_rss_mb']:7.1f} "
                             f"{md['cpu_s'] * 1000 / sm['endpoints']:11.3f} {found:>11}")
        lg = f["large"]
        md = lg["rdpsweep"]["median"]
        found = ", ".join(f"{k} {v}" for k, v in lg["rdpsweep_status"].items())
        lines.append(f"{'dropped ' + lg['range']:28} {'rdpsweep':9} {md['wall_s']:8.2f} {md['cpu_s']:7.2f} "
                     f"{md['max_rss_mb']:7.1f} {md['cpu_s'] * 1000 / lg['endpoints']:11.3f} {found:>11}"
                     f"  (defaults: {lg['pending_connects']} pending, floor {lg['floor_s']:.0f} s)")
        pd = f["pending"]
        m = pd["rdpsweep"]
        lines.append(f"{'  pending ' + str(pd['connect_concurrency']) + ', -c 1':28} {'rdpsweep':9} "
                     f"{m['wall_s']:8.2f} {m['user_s'] + m['sys_s']:7.2f} {m['max_rss_kb'] / 1024:7.1f} "
                     f"{'':11} {', '.join(f'{k} {v}' for k, v in pd['rdpsweep_status'].items()):>11}"
                     f"  (floor {pd['floor_s']:.0f} s)")
    sweeps = []
    if "concurrency_sweep" in res.get("closed", {}).get("rdpsweep", {}):
        sweeps.append((f"closed {res['closed']['range']}", res["closed"]["rdpsweep"]["concurrency_sweep"]))
    for f in res.get("farm", []):
        if "concurrency_sweep" in f["rdpsweep"]:
            sweeps.append((f"farm {f['endpoints']}", f["rdpsweep"]["concurrency_sweep"]))
    if sweeps:
        lines.append("")
        lines.append("rdpsweep wall seconds (CPU seconds) by --concurrency:")
        for name, sw in sweeps:
            cells = "  ".join(f"c={x['concurrency']}: {x['wall_s']:.2f} ({x['user_s'] + x['sys_s']:.2f})" for x in sw)
            lines.append(f"  {name:26} {cells}")
    lines.append("")
    for k, v in res.get("targets", {}).items():
        mark = {True: "met", False: "NOT MET", None: "n/a"}[v["met"]]
        detail = {kk: vv for kk, vv in v.items() if kk != "met"}
        lines.append(f"target {k:32} {mark:8} {detail}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rdpsweep", required=True, help="the release binary")
    ap.add_argument("--sizes", default="254", help="farm sizes, comma-separated (e.g. 50,254,1000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and scenario (median reported)")
    ap.add_argument("--shadow", type=int, default=3, help="FreeRDP shadow NLA servers in the farm")
    ap.add_argument("--xrdp-per-process", type=int, default=32,
                    help="listen addresses per xrdp process (xrdp accepts several)")
    ap.add_argument("--xrdp-fork", choices=["true", "false"], default="false",
                    help="xrdp's fork= setting: a thread per connection (false, the default here: the "
                         "farm then costs about half the CPU per scan) or a process per connection "
                         "(true, the packaged default); the scan results are the same")
    ap.add_argument("--concurrency-sweep", default="",
                    help="also scan the closed range and each farm once at each of these "
                         "--concurrency values (e.g. 16,64,256,1024)")
    ap.add_argument("--closed-range", default="127.0.0.0/16")
    ap.add_argument("--tarpit", type=int, default=5000, help="tarpit listeners, all in flight at once")
    ap.add_argument("--tarpit-runs", type=int, default=1)
    ap.add_argument("--tarpit-args", default="", help="extra rdpsweep options for the tarpit scan")
    ap.add_argument("--firewalled-small", default="127.5.1.0/24",
                    help="dropped range scanned by rdpsweep and nmap (inside 127.5.0.0/16)")
    ap.add_argument("--firewalled-range", default="127.5.0.0/16",
                    help="dropped range scanned by rdpsweep alone (inside 127.5.0.0/16)")
    ap.add_argument("--firewalled-nofile", type=int, default=20000,
                    help="open-file limit of the scanners in the firewalled phase")
    ap.add_argument("--firewalled-pending", type=int, default=20000,
                    help="--connect-concurrency of the memory run of the firewalled phase (at most "
                         "what --firewalled-nofile holds with --concurrency 1: the limit minus 65)")
    ap.add_argument("--firewalled-runs", type=int, default=1)
    ap.add_argument("--phases", default="closed,farm,tarpit,firewalled",
                    help="any of closed,farm,tarpit,firewalled; or serve: start the farm of the first size "
                         "and keep it up until Ctrl-C (for profiling by hand)")
    ap.add_argument("--no-nmap", action="store_true", help="run rdpsweep only (no nmap runs)")
    ap.add_argument("--wait-quiet", type=float, default=0.0,
                    help="before starting, wait until the 1-minute load average is below this")
    ap.add_argument("--wait-max", type=float, default=3600.0, help="longest wait for --wait-quiet, seconds")
    ap.add_argument("--out", default=None, help="directory for results.json, table.txt and raw outputs")
    args = ap.parse_args()

    def on_term(signum, _frame):
        # Unwind through the phases' `finally` blocks so every server we started is stopped.
        raise SystemExit(f"bench: stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    args.tarpit_args = args.tarpit_args.split()
    args.concurrency_sweep = [int(c) for c in args.concurrency_sweep.split(",") if c]
    phases = set(args.phases.split(","))
    sizes = [int(s) for s in args.sizes.split(",") if s]

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rdpsweep-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "raw"
    work.mkdir(exist_ok=True)
    log(f"results go to {out_dir}")

    if args.wait_quiet:
        deadline = time.monotonic() + args.wait_max
        while loadavg()[0] >= args.wait_quiet and time.monotonic() < deadline:
            log(f"waiting for the 1-minute load average {loadavg()[0]} to drop below {args.wait_quiet}")
            time.sleep(30)

    res: dict = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(args),
        "load_before": loadavg(),
        "runs": args.runs,
        "nmap_command": f"nmap -Pn -n -p {PORT} --script {NMAP_SCRIPTS} -iL TARGETS",
        "rdpsweep_command": f"rdpsweep scan --format jsonl --no-progress -i TARGETS -p {PORT}",
    }
    if "serve" in phases:
        phase_serve(args, work, sizes[0])
        return 0
    if "closed" in phases:
        res["closed"] = phase_closed(args, work)
    if "farm" in phases:
        check_port_free(PORT)
        res["farm"] = [phase_farm(args, work, n) for n in sizes]
    if "tarpit" in phases:
        res["tarpit"] = phase_tarpit(args, work)
    if "firewalled" in phases:
        res["firewalled"] = phase_firewalled(args, work)
    res["load_after"] = loadavg()
    res["targets"] = verdicts(res)

    (out_dir / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    text = table(res)
    (out_dir / "table.txt").write_text(text + "\n")
    print(text)
    print()
    print(json.dumps({k: res[k] for k in ("machine", "load_before", "load_after", "targets")}, indent=2))
    log(f"full results: {out_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
