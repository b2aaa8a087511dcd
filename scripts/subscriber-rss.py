#!/usr/bin/env python3
"""Memory of `meltap run` over rounds of idle subscribers (issue 10's RSS measurement).

    scripts/subscriber-rss.py SOCKET PID [CLIENTS 500] [ROUNDS 3] [HOLD_SECONDS 12]

Opens CLIENTS subscribers that never read (4 KiB receive buffers), holds them HOLD_SECONDS,
closes them, and prints meltap's RSS (VmRSS of PID) before, during, and each second for 8 s
after every round. Start meltap with a --max-subscribers above CLIENTS and a stream that has
frames flowing, e.g.:

    meltap run --inputs 8 --socket /tmp/m.sock --max-subscribers 600 &
    meltap-testsource --outputs 8 --signal noise --connect 'meltap:in_.*' --duration 200 &
    scripts/subscriber-rss.py /tmp/m.sock $(pgrep -n meltap)
"""
import socket
import sys
import time

path, pid = sys.argv[1], int(sys.argv[2])
clients, rounds, hold = (int(sys.argv[3]) if len(sys.argv) > 3 else 500,
                         int(sys.argv[4]) if len(sys.argv) > 4 else 3,
                         float(sys.argv[5]) if len(sys.argv) > 5 else 12.0)


def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024


print(f"before: {rss()} MB", flush=True)
for r in range(rounds):
    sockets = []
    for _ in range(clients):
        s = socket.socket(socket.AF_UNIX)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(path)
        sockets.append(s)
    time.sleep(hold)
    during = rss()
    for s in sockets:
        s.close()
    after = []
    for _ in range(8):
        time.sleep(1)
        after.append(rss())
    print(f"round {r + 1}: during {during} MB, after 1..8 s: {after} MB", flush=True)
