"""The pytest plugin, used by a throwaway project as a team would use it (pytester).

Each case writes a small test suite into a temporary directory and runs pytest on it in a
subprocess: the plugin is found through its ``pytest11`` entry point, nothing else is set up.
"""

from __future__ import annotations

import pytest

from tests.support.binary import require_reference

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(300)

SUITE = """
import socket
import threading

import nats
import pytest

PORTS = {}


async def roundtrip(url):
    nc = await nats.connect(url)
    sub = await nc.subscribe("greet")
    await nc.publish("greet", b"hi")
    msg = await sub.next_msg(timeout=10)
    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s.>"])
    ack = await js.publish("s.1", b"x")
    await nc.close()
    return msg.data, ack.seq


def test_sync(nats_server):
    import asyncio
    assert asyncio.run(roundtrip(nats_server.client_url)) == (b"hi", 1)


async def test_asyncio(nats_server):
    assert await roundtrip(nats_server.client_url) == (b"hi", 1)


async def test_each_test_gets_a_fresh_server(nats_server):
    assert await roundtrip(nats_server.client_url) == (b"hi", 1)  # stream S does not exist yet


def test_module_scope_1(nats_server_module):
    PORTS["m1"] = nats_server_module.port


def test_module_scope_2(nats_server_module, nats_server_session):
    assert nats_server_module.port == PORTS["m1"]
    PORTS["s"] = nats_server_session.port


async def test_factory(nats_server_factory):
    a = await nats_server_factory(max_payload=1024)
    b = nats_server_factory(max_payload=2048)  # without await (a sync test's way)
    nca, ncb = await nats.connect(a.client_url), await nats.connect(b.client_url)
    assert (nca.max_payload, ncb.max_payload) == (1024, 2048)
    await nca.close()
    await ncb.close()
    PORTS["factory"] = (a.port, b.port)


def test_factory_servers_were_stopped():
    for port in PORTS["factory"]:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
"""


def _project(pytester: pytest.Pytester, ini: str = "") -> None:
    pytester.makeini(f"[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n{ini}")
    pytester.makepyfile(test_app=SUITE)


def test_fixtures_on_pynatsd_with_pytest_asyncio(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*test_sync?pynatsd? PASSED*"])


def test_fixtures_with_anyio(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_anyio="""
import nats
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_anyio(nats_server, nats_server_factory):
    other = await nats_server_factory()
    for url in (nats_server.client_url, other.client_url):
        nc = await nats.connect(url)
        ack = await nc.jetstream().add_stream(name="A", subjects=["a"])
        assert ack.config.name == "A"
        await nc.close()
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)


def test_both_runs_each_test_on_pynatsd_and_the_reference(pytester: pytest.Pytester) -> None:
    require_reference()
    _project(pytester)
    pytester.makepyfile(
        test_kind="""
def test_kind(nats_server, nats_server_kind):
    assert nats_server.kind == nats_server_kind
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "--nats-server=both")
    result.assert_outcomes(passed=15)
    result.stdout.fnmatch_lines_random(
        [
            "*test_asyncio?pynatsd? PASSED*",
            "*test_asyncio?reference? PASSED*",
            "*test_kind?reference? PASSED*",
            "*test_factory?reference? PASSED*",
        ]
    )


def test_the_ini_option_chooses_the_reference(pytester: pytest.Pytester) -> None:
    require_reference()
    _project(pytester, "nats_server = reference\n")
    pytester.makepyfile(
        test_kind="""
def test_kind(nats_server):
    assert nats_server.kind == "reference"
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines_random(["*test_kind?reference? PASSED*", "*test_asyncio?reference? PASSED*"])


def test_a_bad_choice_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _project(pytester, "nats_server = docker\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(["*nats_server must be pynatsd, reference or both, not 'docker'*"])
