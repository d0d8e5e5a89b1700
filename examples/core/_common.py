"""The plumbing every example in this folder shares, so that each script holds only its pattern.

A script writes its pattern as ``async def run(url) -> int`` and ends with
``sys.exit(main(run, "description"))``. ``main`` gives it the same command line as every
other script (``--server URL``, or an embedded pynatsd when there is none) and the same
exit codes: 0 when every check held, 1 when one did not, 2 when the server could not be
reached. Not an example itself (the leading underscore keeps it out of the example list).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence

import nats
import nats.errors
from nats.aio.client import Client


def check(ok: bool, what: str) -> bool:
    """Print one expectation; the script exits non-zero if any is false."""
    print(f"[{'ok' if ok else 'FAIL'}] {what}")
    return ok


def exit_code(checks: Sequence[bool]) -> int:
    """0 when every expectation held, 1 otherwise."""
    return 0 if all(checks) else 1


async def connect(url: str, name: str) -> Client:
    """Connect, giving up after two attempts (nats-py's default keeps trying for two minutes)."""

    async def on_error(e: Exception) -> None:
        print(f"{name}: nats error: {e!r}", file=sys.stderr)

    return await nats.connect(url, name=name, max_reconnect_attempts=1, error_cb=on_error)


async def wait_for_event(event: asyncio.Event, timeout: float, what: str) -> None:
    """Wait for ``event``; on a timeout say so and go on (the checks then tell what is missing)."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        print(f"timed out after {timeout}s waiting for {what}")


async def _run_against(run: Callable[[str], Awaitable[int]], server: str | None, jetstream: bool) -> int:
    if server:
        return await run(server)
    import tempfile

    import pynatsd  # only needed when no --server is given

    with tempfile.TemporaryDirectory() as store:
        async with pynatsd.Server(jetstream=jetstream, store_dir=store) as srv:
            print(f"started an embedded pynatsd at {srv.client_url}")
            return await run(srv.client_url)


def main(
    run: Callable[[str], Awaitable[int]],
    description: str,
    argv: Sequence[str] | None = None,
    *,
    jetstream: bool = False,
) -> int:
    """Parse ``--server``, run the example against that server (or an embedded pynatsd,
    with JetStream on a temporary store when ``jetstream``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", metavar="URL", help="NATS server URL (default: an embedded pynatsd)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run_against(run, args.server, jetstream))
    except nats.errors.NoServersError:
        print(f"could not connect to {args.server}", file=sys.stderr)
        return 2
