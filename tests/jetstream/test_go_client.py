"""Scenarios through the official Go client (nats.go's ``jetstream`` package) on both servers.

nats-py has no API for priority groups; nats.go does (``FetchPriorityGroup``,
``FetchMinPending``, ``FetchPrioritized``, ``Stream.UnpinConsumer``), so these scenarios
run the program ``tests/go/jsclient`` against each server and check what it observed.
Needs Go (tests/support/gotools.py): skipped without it, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.support.gotools import go_program

SCENARIO_TIMEOUT = 120  # seconds; each scenario waits at most a few seconds per step


async def run_scenario(url: str, scenario: str) -> dict[str, Any]:
    """Run one jsclient scenario against ``url`` and return its JSON observations."""
    proc = await asyncio.create_subprocess_exec(
        go_program("jsclient"),
        url,
        scenario,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), SCENARIO_TIMEOUT)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.fixture(autouse=True)
def _built() -> None:
    go_program("jsclient")  # skip (or fail under CI) before a server starts when Go is missing


async def test_pinned_client_through_nats_go(js_url: str) -> None:
    got = await run_scenario(js_url, "pinned")
    assert got == {
        "first": ["pri.0", "pri.1", "pri.2"],
        "first_err": "",
        "first_pins": 1,  # every message of the batch carries the same Nats-Pin-Id
        "first_pin_len": 22,
        "waiting_client_got": [],  # a client without the pin waits, served nothing
        "waiting_client_err": "",
        "info_pin_is_first": True,  # consumer info names the pin the first client holds
        "unpin_err": "",
        "after_unpin": ["pri.3", "pri.4", "pri.5"],  # the next client gets a new pin
        "after_unpin_err": "",
        "new_pin": True,
        "stale_client_got": [],
        "stale_is_mismatch": True,  # the old pin now ends with 423, nats.go's ErrPinIDMismatch
    }


async def test_overflow_through_nats_go(js_url: str) -> None:
    got = await run_scenario(js_url, "overflow")
    assert got == {
        "min_pending_20": [],  # 10 pending: below the threshold, not served
        "min_pending_5": ["pri.0", "pri.1", "pri.2", "pri.3", "pri.4"],
        "held": ["pri.5", "pri.6", "pri.7"],  # three left unacknowledged
        "min_ack_pending_5": [],
        "min_ack_pending_3": ["pri.8"],
    }


async def test_prioritized_through_nats_go(js_url: str) -> None:
    got = await run_scenario(js_url, "prioritized")
    assert got == {"priority_0": ["pri.0"], "priority_5": ["pri.1"]}
