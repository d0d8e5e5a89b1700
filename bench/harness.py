#!/usr/bin/env python3
"""Benchmark pynatsd against the reference nats-server with identical ``pynats bench`` runs.

The servers run one after the other, never together: the machine has two cores, and a server
competing with the other for CPU would skew both columns. Each scenario is a separate
``pynats bench ... --json`` process so a hung or crashed run cannot take the harness with it.

    python bench/harness.py              # full run, both servers
    python bench/harness.py --quick      # small counts, a smoke test
    python bench/harness.py --servers reference --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the server launcher is shared with the tests: tests/support/

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.support.binary import nats_server_binary, pynatsd_command  # noqa: E402
from tests.support.launcher import (  # noqa: E402
    READY_MARKER,
    ServerProcess,
    ServerStartError,
    child_env,
    signal_group,
)
from tests.support.wire import WireClient  # noqa: E402

SERVER_NAMES = ("reference", "pynatsd")


@dataclass(frozen=True)
class Metric:
    """One number to compare: where it lives in the bench JSON, and which direction is better."""

    label: str
    path: tuple[str, ...]
    higher_is_better: bool = True
    fmt: str = "{:,.0f}"


SUB_RATE = (
    Metric("sub msgs/s", ("sub", "msgs_per_sec")),
    Metric("sub MB/s", ("sub", "mb_per_sec"), fmt="{:,.1f}"),
)
PUB_RATE = (
    Metric("pub msgs/s", ("pub", "msgs_per_sec")),
    Metric("pub MB/s", ("pub", "mb_per_sec"), fmt="{:,.1f}"),
)
LATENCY = (
    Metric("req/s", ("requests", "msgs_per_sec")),
    Metric("p50 µs", ("latency", "p50_us"), higher_is_better=False, fmt="{:,.1f}"),
    Metric("p90 µs", ("latency", "p90_us"), higher_is_better=False, fmt="{:,.1f}"),
    Metric("p99 µs", ("latency", "p99_us"), higher_is_better=False, fmt="{:,.1f}"),
)

# Compression: JSON events of 512 bytes, each different (pynats bench --payload json), and
# the size of the stream's files once the servers' background compression has settled.
DISK = (Metric("on disk MB", ("disk", "mb"), higher_is_better=False, fmt="{:,.1f}"),)

KV_PUT = (
    Metric("puts/s", ("pub", "msgs_per_sec")),
    Metric("put p50 µs", ("put_latency", "p50_us"), higher_is_better=False, fmt="{:,.1f}"),
    Metric("put p99 µs", ("put_latency", "p99_us"), higher_is_better=False, fmt="{:,.1f}"),
)
KV_GET = (
    Metric("gets/s", ("requests", "msgs_per_sec")),
    Metric("get p50 µs", ("latency", "p50_us"), higher_is_better=False, fmt="{:,.1f}"),
    Metric("get p99 µs", ("latency", "p99_us"), higher_is_better=False, fmt="{:,.1f}"),
)


# Two accounts: the requester (no credentials: no_auth_user) in APP imports SVC's service.
IMPORT_CONFIG = """
accounts {
  SVC { users = [{user: svc, password: svc}], exports = [{service: "bench.svc"}] }
  APP {
    users = [{user: app, password: app}]
    imports = [{service: {account: SVC, subject: "bench.svc"}, to: "bench.req"}]
  }
}
no_auth_user: app
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    command: str
    args: tuple[str, ...]
    msgs: int
    quick_msgs: int
    metrics: tuple[Metric, ...]
    disk: bool = False  # keep the stream after the run, measure its files, then delete it
    config: str = ""  # a config file of its own: the scenario runs on a server started with it
    tls: bool = False  # run against a server started with --tls (certificates made at start)

    def argv(self, quick: bool) -> list[str]:
        keep = ["--keep"] if self.disk else []
        return [self.command, *self.args, *keep, "--msgs", str(self.quick_msgs if quick else self.msgs)]


SCENARIOS = (
    Scenario("pub", "pub", ("--size", "128"), 5_000_000, 200_000, PUB_RATE),
    Scenario("pubsub-16", "pubsub", ("--size", "16"), 2_000_000, 100_000, SUB_RATE),
    Scenario("pubsub", "pubsub", ("--size", "128"), 2_000_000, 100_000, SUB_RATE),
    Scenario("pubsub-16k", "pubsub", ("--size", "16384"), 100_000, 5_000, SUB_RATE),
    Scenario("spread-100", "pubsub", ("--size", "128", "--subjects", "100"), 2_000_000, 100_000, SUB_RATE),
    Scenario("fanout-4", "fanout", ("--size", "128", "--subs", "4"), 1_000_000, 50_000, SUB_RATE),
    Scenario("request", "request", ("--size", "128"), 20_000, 2_000, LATENCY),
    # a request through a cross-account service import (budget: 1.25x the latency of "request")
    Scenario(
        "request-import",
        "request",
        (
            "--size",
            "128",
            "--responder-subject",
            "bench.svc",
            "--responder-user",
            "svc",
            "--responder-password",
            "svc",
        ),
        20_000,
        2_000,
        LATENCY,
        config=IMPORT_CONFIG,
    ),
    # The same over TLS: the server started with --tls, the bench clients upgrading after INFO
    Scenario("pubsub-tls", "pubsub", ("--size", "128"), 2_000_000, 100_000, SUB_RATE, tls=True),
    Scenario("request-tls", "request", ("--size", "128"), 20_000, 2_000, LATENCY, tls=True),
    Scenario("js-pub-file", "js-pub", ("--size", "128", "--storage", "file"), 300_000, 20_000, PUB_RATE),
    Scenario("js-pub-memory", "js-pub", ("--size", "128", "--storage", "memory"), 300_000, 20_000, PUB_RATE),
    Scenario("js-pub-sync", "js-pub", ("--size", "128", "--mode", "sync"), 20_000, 2_000, PUB_RATE),
    Scenario(
        "js-pub-json",
        "js-pub",
        ("--size", "512", "--payload", "json"),
        300_000,
        20_000,
        PUB_RATE + DISK,
        disk=True,
    ),
    Scenario(
        "js-pub-s2",
        "js-pub",
        ("--size", "512", "--payload", "json", "--compression", "s2"),
        300_000,
        20_000,
        PUB_RATE + DISK,
        disk=True,
    ),
    Scenario("js-fetch", "js-consume", ("--size", "128", "--mode", "fetch"), 300_000, 20_000, SUB_RATE),
    Scenario(
        "js-fetch-ack", "js-consume", ("--size", "128", "--mode", "fetch", "--ack"), 200_000, 20_000, SUB_RATE
    ),
    Scenario("js-push", "js-consume", ("--size", "128", "--mode", "push"), 300_000, 20_000, SUB_RATE),
    # a new mirror of a filled stream, timed until it holds every message
    Scenario("js-mirror", "js-mirror", ("--size", "128"), 300_000, 20_000, SUB_RATE),
    # Key-Value: one operation at a time, each waiting for its reply (bench kv: --msgs puts of
    # distinct keys, then as many gets of them)
    Scenario("kv-put", "kv", ("--size", "128", "--storage", "file", "--gets", "0"), 20_000, 2_000, KV_PUT),
    Scenario(
        "kv-put-memory", "kv", ("--size", "128", "--storage", "memory", "--gets", "0"), 20_000, 2_000, KV_PUT
    ),
    Scenario("kv-get", "kv", ("--size", "128", "--storage", "file"), 20_000, 2_000, KV_GET),
    Scenario(
        "kv-get-msg", "kv", ("--size", "128", "--storage", "file", "--api", "msg-get"), 20_000, 2_000, KV_GET
    ),
)


class BenchServer(ServerProcess):
    """A server on a free 127.0.0.1 port with JetStream on, storing in a directory of its own."""

    def __init__(self, name: str, argv: list[str], *extra: str) -> None:
        self.store_dir = tempfile.mkdtemp(prefix=f"bench-{name}-")
        super().__init__(argv, "-js", "-sd", self.store_dir, *extra, name=name, env=child_env(), log_lines=50)
        self.version = "?"

    def start_bench(self, timeout: float) -> None:
        """Start and wait for the readiness line, then read the version from INFO."""
        try:
            self.start(timeout=timeout, attempts=1)
        except ServerStartError as exc:
            if exc.returncode is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {exc.returncode}:\n" + self.tail()
                ) from None
            raise RuntimeError(
                f"{self.name} did not log {READY_MARKER!r} within {timeout:.0f}s:\n" + self.tail()
            ) from None
        self.version = self._info_version()

    def _info_version(self) -> str:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                line = sock.makefile("rb").readline()  # INFO comes before any TLS
            info = json.loads(line[5:])
            return str(info.get("pynatsd_version") or info.get("version", "?"))
        except (OSError, ValueError):
            return "?"

    def cpu_seconds(self) -> float | None:
        """User+system CPU the server has used so far (Linux /proc), to relate rates to cost."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def tail(self, lines: int = 15) -> str:
        return super().tail(lines)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        shutil.rmtree(self.store_dir, ignore_errors=True)


def settled_disk(server: BenchServer, timeout: float = 120.0) -> dict[str, float]:
    """Bytes of the store's files once they stop changing for 2 s (compression runs in the
    background in both servers), then the kept bench stream is deleted."""

    def total() -> int:
        return sum(p.stat().st_size for p in Path(server.store_dir).rglob("*") if p.is_file())

    last, stable_since, deadline = total(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline and time.monotonic() - stable_since < 2.0:
        time.sleep(0.25)
        now = total()
        if now != last:
            last, stable_since = now, time.monotonic()
    with WireClient.open(server.port, timeout=30) as client:
        client.send(
            b'CONNECT {"verbose":false}\r\nSUB _INBOX.harness 1\r\n'
            b"PUB $JS.API.STREAM.DELETE.JSBENCH _INBOX.harness 0\r\n\r\n"
        )
        client.read_until(b"MSG _INBOX.harness")
    return {"bytes": last, "mb": round(last / 1e6, 1)}


def server_argv(name: str, reference: str | None) -> list[str]:
    if name == "pynatsd":
        return pynatsd_command()
    binary = reference or nats_server_binary()
    if not binary:
        raise RuntimeError("nats-server not found: pass --reference PATH")
    return [binary]


def kill_group(proc: subprocess.Popen[str]) -> None:
    signal_group(proc, signal.SIGKILL)
    proc.communicate()


def run_bench(
    url: str, scenario: Scenario, quick: bool, timeout: float, tls_ca: str | None = None
) -> dict[str, Any]:
    """One ``pynats bench`` run; failures come back as a result with ``ok`` false."""
    tls = ["--tlsca", tls_ca] if tls_ca else []
    argv = [sys.executable, "-m", "pynatsd.cli.pynats", "-s", url, *tls, "bench", *scenario.argv(quick)]
    argv += ["--timeout", str(timeout), "--json"]
    # Its own process group, so a timeout or Ctrl-C also takes down the bench's worker processes.
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return {"ok": False, "errors": [f"pynats bench did not finish within {timeout + 30:.0f}s"]}
    except BaseException:
        kill_group(proc)
        raise
    try:
        result: dict[str, Any] = json.loads(stdout)
    except ValueError:
        err = (stderr or stdout).strip().splitlines()[-5:]
        return {
            "ok": False,
            "errors": [f"pynats bench exited with code {proc.returncode}: " + " | ".join(err)],
        }
    return result


def metric_value(result: dict[str, Any] | None, metric: Metric) -> float | None:
    node: Any = result
    for key in metric.path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def pick_median(runs: list[dict[str, Any]], metric: Metric) -> dict[str, Any]:
    """With ``--runs`` > 1, report the run whose headline metric is the median."""
    good = [r for r in runs if r.get("ok") and metric_value(r, metric) is not None]
    if not good:
        return runs[-1]
    ordered = sorted(good, key=lambda r: metric_value(r, metric) or 0.0)
    return ordered[(len(ordered) - 1) // 2]


@dataclass
class ServerRun:
    name: str
    version: str = "?"
    error: str | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def make_tls_certs() -> tuple[str, str, str]:
    """A throwaway CA and server certificate for the TLS scenarios: (ca, cert, key) files.

    Made with ``trustme`` (a test dependency) so that no private key lives in the repository.
    """
    import trustme

    d = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    leaf.private_key_pem.write_to_path(str(d / "server-key.pem"))
    return str(d / "ca.pem"), str(d / "server.pem"), str(d / "server-key.pem")


def bench_servers(
    name: str, argv: list[str], scenarios: list[Scenario], args: argparse.Namespace, console: Console
) -> ServerRun:
    """The plain scenarios on one server, then the TLS ones on a server started with --tls."""
    run = ServerRun(name)
    plain = [s for s in scenarios if not s.tls and not s.config]
    secure = [s for s in scenarios if s.tls]
    if plain:
        bench_server(run, argv, plain, args, console)
    for scenario in scenarios:
        # a scenario with a config file of its own runs on a server started with it
        if scenario.config and run.error is None:
            conf = Path(tempfile.mkdtemp(prefix=f"bench-{name}-conf-")) / "server.conf"
            conf.write_text(scenario.config)
            try:
                bench_server(run, argv, [scenario], args, console, ("-c", str(conf)))
            finally:
                shutil.rmtree(conf.parent, ignore_errors=True)
    if secure and run.error is None:
        try:
            ca, cert, key = make_tls_certs()
        except ImportError:
            run.error = "the TLS scenarios need trustme (pip install trustme)"
            return run
        try:
            bench_server(run, argv, secure, args, console, ("--tls", "--tlscert", cert, "--tlskey", key), ca)
        finally:
            shutil.rmtree(Path(ca).parent, ignore_errors=True)
    return run


def bench_server(
    run: ServerRun,
    argv: list[str],
    scenarios: list[Scenario],
    args: argparse.Namespace,
    console: Console,
    extra: tuple[str, ...] = (),
    tls_ca: str | None = None,
) -> None:
    name = run.name
    server = BenchServer(name, argv, *extra)
    try:
        console.print(f"[bold]{name}[/bold]: starting {' '.join(server.argv)}", highlight=False)
        server.start_bench(args.ready_timeout)
        run.version = server.version
        for scenario in scenarios:
            for i in range(args.runs):
                if not server.alive():
                    raise RuntimeError(
                        f"{name} died (exit code {server.proc and server.proc.returncode}):\n{server.tail()}"
                    )
                started = time.monotonic()
                cpu_before = server.cpu_seconds()
                result = run_bench(server.url, scenario, args.quick, args.timeout, tls_ca)
                cpu_after = server.cpu_seconds()
                if scenario.disk and result.get("ok"):
                    result["disk"] = settled_disk(server)
                if cpu_before is not None and cpu_after is not None:
                    result["server_cpu_seconds"] = round(cpu_after - cpu_before, 3)
                run.runs.setdefault(scenario.name, []).append(result)
                status = (
                    "ok" if result.get("ok") else "[red]FAILED[/red] " + "; ".join(result.get("errors", []))
                )
                headline = metric_value(result, scenario.metrics[0])
                shown = scenario.metrics[0].fmt.format(headline) if headline is not None else "-"
                console.print(
                    f"  {scenario.name:<12} run {i + 1}/{args.runs}: {scenario.metrics[0].label} {shown}"
                    f"  ({time.monotonic() - started:.1f}s, server CPU {result.get('server_cpu_seconds', '?')}s) {status}",
                    highlight=False,
                )
            run.results[scenario.name] = pick_median(run.runs[scenario.name], scenario.metrics[0])
        if not server.alive():
            raise RuntimeError(f"{name} died at the end of the run:\n{server.tail()}")
    except RuntimeError as exc:
        run.error = str(exc)
        console.print(f"[red]{name}: {exc}[/red]", highlight=False)
    finally:
        server.stop()


def ratio_text(ref: float | None, ours: float | None, metric: Metric) -> str:
    if ref is None or ours is None or ref == 0:
        return "-"
    ratio = ours / ref
    good = ratio >= 1 if metric.higher_is_better else ratio <= 1
    return f"[{'green' if good else 'yellow'}]{ratio:.2f}[/]"


def cell(run: ServerRun | None, scenario: Scenario, metric: Metric) -> tuple[str, float | None]:
    if run is None:
        return "not run", None
    result = run.results.get(scenario.name)
    if result is None:
        return ("[red]error[/red]" if run.error else "pending"), None
    if not result.get("ok"):
        return "[red]failed[/red]", None
    value = metric_value(result, metric)
    return (metric.fmt.format(value) if value is not None else "-"), value


def render(runs: dict[str, ServerRun], scenarios: list[Scenario], console: Console) -> None:
    ref, ours = runs.get("reference"), runs.get("pynatsd")
    table = Table(
        title="pynatsd vs reference", caption="ratio = pynatsd / reference (for latency, lower is better)"
    )
    table.add_column("scenario")
    table.add_column("metric")
    table.add_column(f"reference {ref.version if ref else ''}".strip(), justify="right")
    table.add_column(f"pynatsd {ours.version if ours else ''}".strip(), justify="right")
    table.add_column("ratio", justify="right")
    for scenario in scenarios:
        for j, metric in enumerate(scenario.metrics):
            ref_text, ref_value = cell(ref, scenario, metric)
            our_text, our_value = cell(ours, scenario, metric)
            table.add_row(
                scenario.name if j == 0 else "",
                metric.label,
                ref_text,
                our_text,
                ratio_text(ref_value, our_value, metric),
                end_section=j == len(scenario.metrics) - 1,
            )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small message counts (a smoke test, not figures)"
    )
    parser.add_argument("--json", metavar="PATH", help="write every result to PATH")
    parser.add_argument(
        "--servers", default=",".join(SERVER_NAMES), help="comma-separated subset of: reference,pynatsd"
    )
    parser.add_argument(
        "--scenarios", default="", help="comma-separated subset of: " + ",".join(s.name for s in SCENARIOS)
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per scenario; the median run is reported")
    parser.add_argument(
        "--reference",
        metavar="PATH",
        help="nats-server binary (default: $NATS_SERVER_BIN, next to python, then PATH)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per bench run")
    parser.add_argument(
        "--ready-timeout", type=float, default=30.0, help="seconds to wait for a server to be ready"
    )
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    wanted = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVER_NAMES] + [
        n for n in wanted if n not in {s.name for s in SCENARIOS}
    ]
    if unknown or args.runs < 1 or not names:
        parser.error(f"unknown or invalid: {', '.join(unknown) or '--runs/--servers'}")
    scenarios = [s for s in SCENARIOS if not wanted or s.name in wanted]

    # Turn SIGTERM/SIGHUP into an exception so the finally blocks stop the servers.
    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    console = Console()
    runs: dict[str, ServerRun] = {}
    for name in SERVER_NAMES:  # reference first, then pynatsd, never both at once
        if name not in names:
            continue
        try:
            argv_ = server_argv(name, args.reference)
        except RuntimeError as exc:
            runs[name] = ServerRun(name, error=str(exc))
            console.print(f"[red]{name}: {exc}[/red]")
            continue
        runs[name] = bench_servers(name, argv_, scenarios, args, console)

    render(runs, scenarios, console)
    failed = [
        f"{run.name}/{scenario}: {'; '.join(result.get('errors', []))}"
        for run in runs.values()
        for scenario, result in run.results.items()
        if not result.get("ok")
    ] + [f"{run.name}: {' | '.join(run.error.splitlines())[:400]}" for run in runs.values() if run.error]
    for line in failed:
        console.print(f"[red]error:[/red] {line}", highlight=False)

    if args.json:
        doc = {
            "quick": args.quick,
            "runs_per_scenario": args.runs,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "scenarios": {s.name: {"command": s.argv(args.quick)} for s in scenarios},
            "servers": {
                run.name: {
                    "version": run.version,
                    "error": run.error,
                    "results": run.results,
                    "all_runs": run.runs,
                }
                for run in runs.values()
            },
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        console.print(f"results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
