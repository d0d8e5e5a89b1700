"""``pynats bench``: the click group and its commands, one per scenario.

The scenario modules only run benchmarks and return results; this module turns command-line
options into calls to them and prints the result (a table, or ``--json`` for
``bench/harness.py``). It imports the scenarios, never the reverse.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from pynatsd.cli.bench.core import MAX_SUBJECTS, run_pubsub, run_request
from pynatsd.cli.bench.jetstream import run_js_consume, run_js_pub
from pynatsd.cli.bench.kv import render_kv, run_kv
from pynatsd.cli.bench.mirror import run_js_mirror
from pynatsd.cli.bench.results import BenchResult, render
from pynatsd.cli.client_options import DEFAULT_SERVER, ClientOptions, Endpoint, parse_server_url


def _endpoint(ctx: click.Context) -> Endpoint:
    opts: ClientOptions | None = ctx.find_root().obj
    if opts is None:
        return parse_server_url(DEFAULT_SERVER)
    return opts.endpoints()[0]


def _finish(result: BenchResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        render(result, Console())
    if not result.ok:
        sys.exit(1)


_F = TypeVar("_F", bound=Callable[..., None])


def _options(*options: Callable[[_F], _F]) -> Callable[[_F], _F]:
    """Stack click options into one decorator; ``--help`` lists them in the order given."""

    def apply(func: _F) -> _F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def _size_option(help: str) -> Callable[[_F], _F]:
    return click.option("--size", default=128, show_default=True, type=click.IntRange(0), help=help)


_TIMEOUT_OPTION = click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds before giving up.",
)
_JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (for bench/harness.py)."
)
_PUBS_OPTION = click.option(
    "--pubs", default=1, show_default=True, type=click.IntRange(1, 16), help="Publisher processes."
)


def _subs_option(default: int) -> Callable[[_F], _F]:
    return click.option(
        "--subs", default=default, show_default=True, type=click.IntRange(1, 16), help="Subscriber processes."
    )


# The options every throughput scenario shares (pub, pubsub, fanout: all ``run_pubsub``).
_throughput_options = _options(
    click.option(
        "-n",
        "--msgs",
        default=1_000_000,
        show_default=True,
        type=click.IntRange(1),
        help="Messages to publish (split over publishers).",
    ),
    _size_option("Payload bytes per message."),
    click.option(
        "--subject", default="bench", show_default=True, help="Subject (base subject with --subjects)."
    ),
    click.option(
        "--subjects",
        default=1,
        show_default=True,
        type=click.IntRange(1, MAX_SUBJECTS),
        help="Spread over SUBJECT.0..K-1; subscribers use SUBJECT.*",
    ),
    _TIMEOUT_OPTION,
    _JSON_OPTION,
    _PUBS_OPTION,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def bench() -> None:
    """Benchmark a server with a raw-protocol, multi-process load generator.

    \b
    pub      publishers only: the server's ingest rate
    pubsub   publishers -> subscribers (add --subjects K for a wildcard spread)
    fanout   every message to each of N subscribers
    request  sequential request-reply round trips: latency percentiles
    """


def _throughput_command(name: str, subs: int | None, help: str) -> click.Command:
    """``bench NAME``: ``run_pubsub`` with the throughput options and ``--subs`` defaulting to
    ``subs``, or with no subscribers at all when ``subs`` is None."""

    @click.pass_context
    def command(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
        _finish(run_pubsub(_endpoint(ctx), scenario=name, **{"subs": 0, **params}), as_json)

    if subs is not None:
        command = _subs_option(subs)(command)
    return bench.command(name, help=help)(_throughput_options(command))


bench_pub = _throughput_command(
    "pub", None, "Publish only (no subscribers): the server's ingest rate, measured at the publishers."
)
bench_pubsub = _throughput_command(
    "pubsub", 1, "Publishers to subscribers; rates measured from first to last message at the subscribers."
)
bench_fanout = _throughput_command("fanout", 4, "Every message delivered to each of N subscribers.")


@bench.command("request")
@_options(
    click.option(
        "-n", "--msgs", default=10_000, show_default=True, type=click.IntRange(1), help="Sequential requests."
    ),
    _size_option("Payload bytes per request and reply."),
    click.option(
        "--subject", default="bench.req", show_default=True, help="Subject the responder listens on."
    ),
    click.option("--responder-subject", default=None, help="The responder's subject, when not --subject."),
    click.option("--responder-user", default=None, help="The responder's user (e.g. in another account)."),
    click.option("--responder-password", default=None, help="The responder's password."),
    _TIMEOUT_OPTION,
    _JSON_OPTION,
)
@click.pass_context
def bench_request(
    ctx: click.Context,
    /,
    as_json: bool,
    responder_user: str | None,
    responder_password: str | None,
    **params: Any,
) -> None:
    """Request-reply latency: one requester, one responder, sequential round trips."""
    endpoint = _endpoint(ctx)
    responder = None
    if responder_user is not None:
        responder = dataclasses.replace(
            endpoint, user=responder_user, password=responder_password, token=None
        )
    _finish(run_request(endpoint, responder=responder, **params), as_json)


@bench.command("js-pub")
@_options(
    click.option(
        "-n", "--msgs", default=100_000, show_default=True, type=click.IntRange(1), help="Messages."
    ),
    _size_option("Payload bytes per message."),
    click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True),
    click.option("--mode", type=click.Choice(["async", "sync"]), default="async", show_default=True),
    click.option(
        "--window",
        default=1000,
        show_default=True,
        type=click.IntRange(2),
        help="Async: PubAcks outstanding.",
    ),
    click.option(
        "--payload",
        type=click.Choice(["fixed", "json"]),
        default="fixed",
        show_default=True,
        help="fixed: one payload repeated; json: distinct JSON documents of --size bytes (>= 200).",
    ),
    click.option("--compression", type=click.Choice(["none", "s2"]), default="none", show_default=True),
    click.option("--keep", is_flag=True, help="Leave the stream in place (to measure its files)."),
    click.option(
        "--stream", default="JSBENCH", show_default=True, help="Stream created (and deleted) for the run."
    ),
    click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0.1)),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for bench/harness.py)."),
)
@click.pass_context
def bench_js_pub(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """JetStream publish: every message acknowledged by the stream (PubAck)."""
    _finish(run_js_pub(_endpoint(ctx), **params), as_json)


@bench.command("js-consume")
@_options(
    click.option(
        "-n", "--msgs", default=100_000, show_default=True, type=click.IntRange(1), help="Messages."
    ),
    _size_option("Payload bytes per message."),
    click.option("--mode", type=click.Choice(["fetch", "push"]), default="fetch", show_default=True),
    click.option("--batch", default=500, show_default=True, type=click.IntRange(1), help="Fetch batch size."),
    click.option("--ack", is_flag=True, help="Explicit acks (one +ACK per message)."),
    click.option(
        "--stream", default="JSBENCH", show_default=True, help="Stream created (and deleted) for the run."
    ),
    click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0.1)),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for bench/harness.py)."),
)
@click.pass_context
def bench_js_consume(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """JetStream consumption: a pull consumer fetching in batches, or a push consumer."""
    _finish(run_js_consume(_endpoint(ctx), **params), as_json)


@bench.command("js-mirror")
@_options(
    click.option(
        "-n", "--msgs", default=100_000, show_default=True, type=click.IntRange(1), help="Messages."
    ),
    _size_option("Payload bytes per message."),
    click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True),
    click.option(
        "--stream", default="JSBENCH", show_default=True, help="Origin created (and deleted) for the run."
    ),
    click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=0.1)),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for bench/harness.py)."),
)
@click.pass_context
def bench_js_mirror(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """Mirror catch-up: fill a stream, then time a new mirror of it until it holds everything."""
    _finish(run_js_mirror(_endpoint(ctx), **params), as_json)


@bench.command("kv")
@_options(
    click.option(
        "-n", "--msgs", default=10_000, show_default=True, type=click.IntRange(1), help="Sequential puts."
    ),
    _size_option("Value bytes."),
    click.option(
        "--gets",
        default=None,
        type=click.IntRange(0),
        help="Sequential gets after the puts (default: as many as puts; 0: none).",
    ),
    click.option(
        "--keys", default=0, show_default=True, type=click.IntRange(0), help="Distinct keys (0: one per put)."
    ),
    click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True),
    click.option(
        "--history", default=1, show_default=True, type=click.IntRange(1, 64), help="Values kept per key."
    ),
    click.option(
        "--api",
        type=click.Choice(["direct", "msg-get"]),
        default="direct",
        show_default=True,
        help="Gets through DIRECT.GET or STREAM.MSG.GET.",
    ),
    click.option(
        "--bucket", default="KVBENCH", show_default=True, help="Bucket created (and deleted) for the run."
    ),
    _TIMEOUT_OPTION,
    _JSON_OPTION,
)
@click.pass_context
def bench_kv(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """Key-Value: awaited puts, then gets of existing keys (throughput and latency)."""
    result = run_kv(_endpoint(ctx), **params)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        render_kv(result, Console())
    if not result.ok:
        raise SystemExit(1)
