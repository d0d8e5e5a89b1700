"""Logging in the reference's line format, which tools and people grep for.

``[pid] 2026/11/21 07:04:42.682424 [INF] Server is ready``
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from typing import IO, Any


class ServerLogger:
    """A small logger: levels as the reference names them, no handlers to configure."""

    def __init__(
        self,
        debug: bool = False,
        trace: bool = False,
        logtime: bool = True,
        utc: bool = False,
        path: str = "",
        stream: IO[str] | None = None,
    ) -> None:
        self.debug_on = debug
        self.trace_on = trace
        self.logtime = logtime
        self.utc = utc
        self.path = path
        self.pid = os.getpid()
        self._own_stream = False
        self._stream: IO[str]
        if path:
            self._stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            self._own_stream = True
        else:
            self._stream = stream if stream is not None else sys.stderr

    def _emit(self, label: str, msg: str, args: tuple[Any, ...]) -> None:
        if args:
            try:
                msg = msg % args
            except (TypeError, ValueError):
                msg = f"{msg} {args!r}"
        if self.logtime:
            now = dt.datetime.now(dt.UTC) if self.utc else dt.datetime.now()
            line = f"[{self.pid}] {now.strftime('%Y/%m/%d %H:%M:%S.%f')} [{label}] {msg}\n"
        else:
            line = f"[{self.pid}] [{label}] {msg}\n"
        try:
            self._stream.write(line)
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def notice(self, msg: str, *args: Any) -> None:
        self._emit("INF", msg, args)

    info = notice

    def warn(self, msg: str, *args: Any) -> None:
        self._emit("WRN", msg, args)

    def error(self, msg: str, *args: Any) -> None:
        self._emit("ERR", msg, args)

    def fatal(self, msg: str, *args: Any) -> None:
        self._emit("FTL", msg, args)

    def debug(self, msg: str, *args: Any) -> None:
        if self.debug_on:
            self._emit("DBG", msg, args)

    def trace(self, msg: str, *args: Any) -> None:
        if self.trace_on:
            self._emit("TRC", msg, args)

    def exception(self, msg: str, *args: Any) -> None:
        self._emit("ERR", msg + "\n" + traceback.format_exc().rstrip(), args)

    def reopen(self) -> None:
        """Reopen the log file (the reference's ``reopen`` signal, for log rotation)."""
        if self._own_stream and self.path:
            old = self._stream
            self._stream = open(self.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            old.close()

    def close(self) -> None:
        if self._own_stream:
            self._stream.close()
            self._own_stream = False


class PythonLogger(ServerLogger):
    """The server's log through Python's :mod:`logging` (the ``pynatsd`` logger), for
    embedded servers: a library must not write to stderr on its own. With logging
    unconfigured only warnings and errors reach the user (Python's last-resort handler);
    an application or pytest (``caplog``, ``--log-level``) decides the rest."""

    _LEVELS = {"INF": 20, "WRN": 30, "ERR": 40, "FTL": 50, "DBG": 10, "TRC": 5}

    def __init__(self, debug: bool = False, trace: bool = False, name: str = "pynatsd") -> None:
        import logging

        super().__init__(debug=debug, trace=trace, stream=sys.stderr)
        self.logger = logging.getLogger(name)

    def _emit(self, label: str, msg: str, args: tuple[Any, ...]) -> None:
        level = self._LEVELS[label]
        if not self.logger.isEnabledFor(level):
            return
        if args:
            try:
                msg = msg % args
            except (TypeError, ValueError):
                msg = f"{msg} {args!r}"
        self.logger.log(level, "%s", msg)
