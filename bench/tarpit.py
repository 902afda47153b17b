#!/usr/bin/env python3
"""A TCP tarpit for the rdpsweep benchmark: listens on many loopback addresses, accepts every
connection and never sends a byte. Accepted sockets are held until the peer closes them.

Usage: tarpit.py FIRST_ADDR COUNT PORT READY_FILE

Listens on COUNT consecutive IPv4 addresses starting at FIRST_ADDR (which must lie in
127.0.0.0/8), writes READY_FILE once every listener is bound, and runs until SIGTERM.
It raises its own open-file limit to the hard limit and refuses to start when that cannot
cover the listeners plus as many accepted connections.
"""

import ipaddress
import resource
import selectors
import signal
import socket
import sys

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    first = ipaddress.IPv4Address(sys.argv[1])
    count = int(sys.argv[2])
    port = int(sys.argv[3])
    ready = sys.argv[4]
    last = first + (count - 1)
    if first not in LOOPBACK or last not in LOOPBACK:
        print(f"tarpit: {first}..{last} is not inside 127.0.0.0/8", file=sys.stderr)
        return 2

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * count + 64
    if hard != resource.RLIM_INFINITY and hard < need:
        print(
            f"tarpit: the hard open-file limit {hard} cannot hold {count} listeners and "
            f"{count} accepted connections (need {need})",
            file=sys.stderr,
        )
        return 3
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else need, hard))

    sel = selectors.DefaultSelector()
    listeners = []
    for i in range(count):
        addr = str(first + i)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "listen")
        listeners.append(s)

    stop = False

    def on_term(_signum, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    with open(ready, "w", encoding="ascii") as f:
        f.write(f"{count}\n")

    held = 0
    peak = 0
    while not stop:
        for key, _ in sel.select(timeout=0.5):
            sock = key.fileobj
            if key.data == "listen":
                while True:
                    try:
                        conn, _peer = sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:  # EMFILE and friends: leave it in the backlog
                        print(f"tarpit: accept failed: {e}", file=sys.stderr)
                        break
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                    held += 1
                    peak = max(peak, held)
            else:
                # The scanner sent its request or closed: read and drop, never answer.
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    sock.close()
                    held -= 1
    print(f"tarpit: peak {peak} connections held at once", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
