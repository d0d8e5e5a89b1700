#!/usr/bin/env python3
"""Gossip convergence: five servers of one kind, four knowing only the first (the seed).

Prints, per round, the seconds from the last server's ready line to the moment every server
has logged its fourth registered route (``-D`` logs "Registering remote route", on both kinds).

    flock -s /tmp/heavy.lock python bench/route_gossip.py pynatsd reference
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.launcher import ServerProcess, free_port, server_command  # noqa: E402

NODES = 5


def seconds_of_day(line: str) -> float:
    m = re.search(r"(\d\d):(\d\d):(\d\d\.\d+)", line)
    assert m is not None, line
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def one_round(kind: str) -> float | None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        procs: list[ServerProcess] = []
        seed = 0
        try:
            for i in range(NODES):
                port, cport = free_port(), free_port()
                routes = f"routes: [nats-route://127.0.0.1:{seed}]" if seed else ""
                conf = tmp / f"n{i}.conf"
                conf.write_text(
                    f"server_name: n{i}\nlisten: 127.0.0.1:{port}\n"
                    f"cluster {{ name: c, listen: 127.0.0.1:{cport}, {routes} }}\n"
                )
                seed = seed or cport
                p = ServerProcess(server_command(kind), "-D", "-c", str(conf), host=None, name=f"n{i}")
                p.start()
                procs.append(p)
            ready = max(seconds_of_day(next(x for x in p.log if "Server is ready" in x)) for p in procs)
            deadline = time.time() + 30
            while time.time() < deadline:
                regs = [[x for x in p.log if "Registering remote route" in x] for p in procs]
                if all(len(r) >= NODES - 1 for r in regs):
                    return max(seconds_of_day(r[NODES - 2]) for r in regs) - ready
                time.sleep(0.1)
            return None
        finally:
            for p in procs:
                p.stop()


def main() -> int:
    for kind in sys.argv[1:] or ["pynatsd", "reference"]:
        results = [one_round(kind) for _ in range(3)]
        shown = ["timeout" if r is None else f"{r:.3f}" for r in results]
        print(f"{kind}: full mesh {', '.join(shown)} s after the last server was ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
