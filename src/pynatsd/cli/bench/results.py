"""What a benchmark run produces: its error type, rates, latencies, the result document
(``--json``, parsed by ``bench/harness.py``) and the tables printed without ``--json``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

MB = 1_000_000


class BenchError(Exception):
    """A scenario could not run to completion (server error, timeout, lost connection)."""


@dataclass
class Rate:
    msgs: int
    bytes: int
    seconds: float
    msgs_per_sec: float
    mb_per_sec: float

    @classmethod
    def over(cls, parts: list[dict[str, Any]]) -> Rate:
        """Aggregate rate: all messages over the span from the earliest start to the latest end."""
        msgs = sum(p["msgs"] for p in parts)
        nbytes = sum(p["bytes"] for p in parts)
        starts = [p["start_ns"] for p in parts if p["start_ns"]]
        ends = [p["end_ns"] for p in parts if p["end_ns"]]
        seconds = (max(ends) - min(starts)) / 1e9 if starts and ends else 0.0
        return cls(
            msgs=msgs,
            bytes=nbytes,
            seconds=seconds,
            msgs_per_sec=msgs / seconds if seconds > 0 else 0.0,
            mb_per_sec=nbytes / MB / seconds if seconds > 0 else 0.0,
        )


@dataclass
class Latency:
    count: int
    min_us: float
    mean_us: float
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Latency:
        ordered = sorted(samples_ns)

        def pct(p: float) -> float:
            if not ordered:
                return 0.0
            return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] / 1000

        return cls(
            count=len(ordered),
            min_us=ordered[0] / 1000 if ordered else 0.0,
            mean_us=sum(ordered) / len(ordered) / 1000 if ordered else 0.0,
            p50_us=pct(50),
            p90_us=pct(90),
            p99_us=pct(99),
            max_us=ordered[-1] / 1000 if ordered else 0.0,
        )


@dataclass
class BenchResult:
    scenario: str
    server: str
    params: dict[str, Any]
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    pub: Rate | None = None
    pub_clients: list[Rate] = field(default_factory=list)
    sub: Rate | None = None
    sub_clients: list[Rate] = field(default_factory=list)
    expected_per_sub: int = 0
    received: list[int] = field(default_factory=list)
    requests: Rate | None = None
    latency: Latency | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fmt(n: float) -> str:
    return f"{n:,.0f}" if n >= 100 else f"{n:,.2f}"


def render(result: BenchResult, console: Console) -> None:
    """Human-readable tables for one result."""
    p = result.params
    if "pubs" in p:
        title = f"{result.scenario}: {p['msgs']:,} msgs x {p['size']} B, {p['pubs']} pub -> {p['subs']} sub"
        if p["subjects"] > 1:
            title += f", {p['subjects']} subjects"
    else:
        title = f"{result.scenario}: {p['msgs']:,} sequential requests x {p['size']} B"
    console.print(f"[bold]{title}[/bold] [dim]({result.server})[/dim]", highlight=False)
    if result.latency is not None and result.requests is not None:
        lat = result.latency
        table = Table()
        for col in ("requests", "req/s", "min µs", "mean µs", "p50 µs", "p90 µs", "p99 µs", "max µs"):
            table.add_column(col, justify="right")
        table.add_row(
            f"{lat.count:,}",
            fmt(result.requests.msgs_per_sec),
            *(fmt(v) for v in (lat.min_us, lat.mean_us, lat.p50_us, lat.p90_us, lat.p99_us, lat.max_us)),
        )
        console.print(table)
    elif result.pub is not None or result.sub is not None:
        table = Table()
        for col in ("side", "msgs", "seconds", "msgs/s", "MB/s"):
            table.add_column(col, justify="right" if col != "side" else "left")

        def row(label: str, r: Rate) -> None:
            table.add_row(label, f"{r.msgs:,}", f"{r.seconds:.3f}", fmt(r.msgs_per_sec), fmt(r.mb_per_sec))

        if result.pub is not None:
            row("pub (all)" if len(result.pub_clients) > 1 else "pub", result.pub)
        if len(result.pub_clients) > 1:
            for i, r in enumerate(result.pub_clients):
                row(f"  pub {i}", r)
        if result.sub is not None:
            row("sub (all)" if len(result.sub_clients) > 1 else "sub", result.sub)
            if len(result.sub_clients) > 1:
                for i, r in enumerate(result.sub_clients):
                    row(f"  sub {i}", r)
        console.print(table)
    for err in result.errors:
        console.print(f"[red]error:[/red] {err}")
    if result.ok and result.received:
        console.print(
            f"[green]ok[/green]: every subscriber received exactly {result.expected_per_sub:,} messages"
        )
