"""Embedding is safe by default: a private JetStream store, one server per store
directory (embedded or daemon), and a quiet log through Python's logging."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import nats
import pytest

import pynatsd
from pynatsd.server.internal import StartError
from tests.support import ServerStartError, start_server

pytestmark = pytest.mark.timeout(60)


async def test_embedded_jetstream_gets_a_private_temporary_store_removed_on_exit() -> None:
    async with pynatsd.Server(jetstream=True) as a, pynatsd.Server(jetstream=True) as b:
        assert a.store_dir and b.store_dir and a.store_dir != b.store_dir
        assert Path(a.store_dir).is_relative_to(tempfile.gettempdir())
        assert not Path(a.store_dir).is_relative_to(Path(tempfile.gettempdir()) / "nats")
        nca, ncb = await nats.connect(a.client_url), await nats.connect(b.client_url)
        await nca.jetstream().add_stream(name="ONLY_A", subjects=["a.>"])
        names = [s.config.name for s in await ncb.jetstream().streams_info()]
        assert "ONLY_A" not in names  # the second server does not see the first one's streams
        await nca.close()
        await ncb.close()
        dirs = [Path(a.store_dir), Path(b.store_dir)]
        assert all(d.is_dir() for d in dirs)
    assert not any(d.exists() for d in dirs)


async def test_an_explicit_store_dir_is_kept(tmp_path: Path) -> None:
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)) as srv:
        nc = await nats.connect(srv.client_url)
        await nc.jetstream().add_stream(name="KEEP", subjects=["k"])
        await nc.close()
    assert (tmp_path / "jetstream" / "$G" / "streams" / "KEEP").is_dir()


async def test_a_store_directory_in_use_by_an_embedded_server_is_refused(tmp_path: Path) -> None:
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)) as first:
        second = pynatsd.Server(jetstream=True, store_dir=str(tmp_path))
        with pytest.raises(StartError, match=r"is in use by another server \(pid \d+\)"):
            await second.start()
        # the first one is unaffected
        nc = await nats.connect(first.client_url)
        await nc.jetstream().add_stream(name="S", subjects=["s"])
        assert (await nc.jetstream().publish("s", b"x")).seq == 1
        await nc.close()
    # released at shutdown: a new server may use it and finds the stream
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)) as again:
        nc = await nats.connect(again.client_url)
        assert (await nc.jetstream().stream_info("S")).state.messages == 1
        await nc.close()


def test_the_daemon_and_an_embedded_server_refuse_each_other_s_store(tmp_path: Path) -> None:
    daemon = start_server("pynatsd", "-js", "-sd", str(tmp_path))
    try:
        with pytest.raises(StartError, match="is in use by another server"):
            pynatsd.Server(jetstream=True, store_dir=str(tmp_path)).start_in_thread()
    finally:
        daemon.stop()
    with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)):
        with pytest.raises(ServerStartError) as failed:
            start_server("pynatsd", "-js", "-sd", str(tmp_path), attempts=1)
        assert failed.value.returncode not in (None, 0)
    lock = tmp_path / "jetstream" / "LOCK"
    assert lock.is_file() and lock.read_text().strip() == str(os.getpid())


async def test_embedded_servers_log_through_python_logging(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="pynatsd")
    async with pynatsd.Server(jetstream=True):
        pass
    records = [r for r in caplog.records if r.name == "pynatsd"]
    assert any(r.getMessage() == "Server is ready" and r.levelno == logging.INFO for r in records)
    assert any(r.getMessage().startswith("Starting JetStream") for r in records)
    assert "[INF]" not in capfd.readouterr().err  # nothing written to stderr by the server itself


async def test_unconfigured_logging_shows_only_warnings(capfd: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("pynatsd")
    level = logger.level
    logger.setLevel(logging.WARNING)  # what an application that configures nothing gets
    try:
        async with pynatsd.Server(jetstream=True):
            pass
    finally:
        logger.setLevel(level)
    assert "Server is ready" not in capfd.readouterr().err


async def test_the_daemon_format_when_asked(capfd: pytest.CaptureFixture[str]) -> None:
    async with pynatsd.Server(log="stderr"):
        pass
    err = capfd.readouterr().err
    assert f"[{os.getpid()}] " in err and "[INF] Server is ready" in err


def test_an_unknown_log_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="log must be"):
        pynatsd.Server(log="syslog")
