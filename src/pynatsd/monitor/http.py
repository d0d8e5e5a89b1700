"""The HTTP monitoring listener: aiohttp on the server's own event loop, JSON and JSONP."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from pynatsd.gocompat import go_json_escape
from pynatsd.monitor.jsz import QueryError, jsz_report
from pynatsd.monitor.varz import varz
from pynatsd.tls import build_context

if TYPE_CHECKING:
    from pynatsd.server.internal import Internal

_ENDPOINTS = ("varz", "jsz", "healthz")


class MonitorConfigError(RuntimeError):
    """The monitoring ports are misconfigured (the reference refuses to start, with this text)."""


class MonitorServer:
    """The monitoring port (``-m`` / ``http_port``), started before clients are accepted."""

    def __init__(self, core: Internal) -> None:
        self.core = core
        opts = core.opts
        self.host = opts.http_host or opts.host or "0.0.0.0"
        self.secure = not opts.http_port and bool(opts.https_port)
        port = opts.https_port if self.secure else opts.http_port
        self.port = port if port > 0 else 0
        self.base = "/" + opts.http_base_path.strip("/") if opts.http_base_path.strip("/") else ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        opts = self.core.opts
        if opts.http_port and opts.https_port:
            raise MonitorConfigError(
                f"Can't start monitoring: can't specify both HTTP ({opts.http_port}) and HTTPs ({opts.https_port}) ports"
            )
        ssl_context = None
        if self.secure:
            if opts.tls is None:
                raise MonitorConfigError("Can't start monitoring: TLS cert and key required for HTTPS")
            # The clients' certificate, without asking browsers for one (as the reference).
            ssl_context = build_context(replace(opts.tls, verify=False, map=False, pinned_certs=None))
        app = web.Application()
        b = self.base
        app.router.add_get(b + "/", self._root)
        if b:
            app.router.add_get(b, self._root)
        app.router.add_get(b + "/healthz", self._healthz)
        app.router.add_get(b + "/varz", self._varz)
        app.router.add_get(b + "/jsz", self._jsz)
        app.router.add_get(b + "/brokerz", self._brokerz)  # pynatsd.broker's counters (an extension)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        addresses = self._runner.addresses  # the bound port is only known after start
        if addresses:
            self.port = addresses[0][1]
        scheme = "https" if self.secure else "http"
        self.core.log.notice("Starting %s monitor on %s:%d", scheme, self.host, self.port)
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        self.core.register_port("monitoring", f"{scheme}://{host}:{self.port}")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _json(data: Any, request: web.Request) -> web.Response:
        body = json.dumps(data, indent=2)
        callback = request.query.get("callback")
        if callback:
            return web.Response(text=f"{callback}({body})", content_type="application/javascript")
        return web.Response(text=body, content_type="application/json")

    async def _root(self, request: web.Request) -> web.Response:
        links = "".join(f'<a href="{self.base}/{e}">{e}</a><br/>' for e in _ENDPOINTS)
        return web.Response(
            text=f"<html><body><h1>pynatsd</h1>{links}</body></html>", content_type="text/html"
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return self._json({"status": "ok"}, request)

    async def _varz(self, request: web.Request) -> web.Response:
        doc = varz(self.core, 0, self.port) if self.secure else varz(self.core, self.port)
        return self._json({k: v for k, v in doc.items() if v is not None}, request)

    async def _jsz(self, request: web.Request) -> web.Response:
        try:
            doc = jsz_report(self.core, request.query)
        except QueryError as e:
            return web.Response(status=400, text=str(e))
        return self._go_json(doc, request)

    async def _brokerz(self, request: web.Request) -> web.Response:
        """Counters of the pynatsd.broker instances exported to this server (not in the
        reference): offered under "brokerz" by ``Broker.export_metrics``."""
        report = self.core.offered("brokerz")
        if report is None:
            return web.Response(status=404, text="no broker exports metrics to this server")
        return self._json(report(), request)

    @staticmethod
    def _go_json(data: Any, request: web.Request) -> web.Response:
        """JSON as Go's ``json.MarshalIndent`` writes it (two-space indent, ``<>&`` escaped)."""
        body = go_json_escape(msgspec.json.format(msgspec.json.encode(data), indent=2)).decode()
        callback = request.query.get("callback")
        if callback:
            return web.Response(text=f"{callback}({body})", content_type="application/javascript")
        return web.Response(text=body, content_type="application/json")
