#!/usr/bin/env python3
"""Connects per second with JWT (operator mode) auth, pynatsd against the reference.

Each connect is what a client does: TCP connect, read INFO, sign the nonce with the user's
seed, send ``CONNECT {jwt, sig}`` and ``PING``, wait for ``PONG``, close. ``--clients``
threads connect in a loop for ``--seconds``; the servers run one after the other (two
cores), on the same operator config with the MEMORY resolver. ``--mode none`` measures the
same loop without auth, as the baseline of each server.

    python bench/connect_bench.py --runs 3
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for p in (str(REPO), str(REPO / "src")):
    if p not in sys.path:
        sys.path.insert(0, p)

from tests.support.launcher import ServerProcess, server_command  # noqa: E402
from tests.support.operator import World  # noqa: E402

from pynatsd import jwt  # noqa: E402


def _read_line(sock: socket.socket, buf: bytearray) -> bytes:
    while b"\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    i = buf.index(b"\r\n")
    line = bytes(buf[:i])
    del buf[: i + 2]
    return line


def connect_once(port: int, token: str | None, kp: jwt.KeyPair | None) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        info = json.loads(_read_line(sock, buf)[5:])
        opts: dict[str, object] = {"verbose": False, "pedantic": False, "protocol": 1}
        if token is not None and kp is not None:
            sig = kp.sign(info["nonce"].encode())
            opts["jwt"] = token
            opts["sig"] = base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
        sock.sendall(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        line = _read_line(sock, buf)
        if line != b"PONG":
            raise RuntimeError(f"unexpected reply {line!r}")


def measure(port: int, token: str | None, kp: jwt.KeyPair | None, clients: int, seconds: float) -> float:
    counts = [0] * clients
    stop = time.monotonic() + seconds
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            while time.monotonic() < stop:
                connect_once(port, token, kp)
                counts[i] += 1
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--servers", default="reference,pynatsd")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        acct = world.account("BENCH")
        token, kp = world.user(acct, "bench")
        jwt_conf = world.config()
        plain_conf = Path(tmp) / "plain.conf"
        plain_conf.write_text("max_connections: 65536\n")
        rows = []
        for kind in args.servers.split(","):
            for mode, conf, tok in (("none", plain_conf, None), ("jwt", jwt_conf, token)):
                server = ServerProcess(server_command(kind), "-c", str(conf), name=kind)  # type: ignore[arg-type]
                server.start()
                try:
                    connect_once(server.port, tok, kp)  # warm up
                    rates = [
                        measure(server.port, tok, kp, args.clients, args.seconds) for _ in range(args.runs)
                    ]
                finally:
                    server.stop()
                rows.append((kind, mode, statistics.median(rates), rates))
    print(f"{'server':<10} {'auth':<5} {'connects/s (median)':>20}  runs")
    for kind, mode, med, rates in rows:
        print(f"{kind:<10} {mode:<5} {med:>20,.0f}  {', '.join(f'{r:,.0f}' for r in rates)}")


if __name__ == "__main__":
    main()
