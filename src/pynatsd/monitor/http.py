"""HTTP monitoring endpoints, served by aiohttp on the server's own event loop."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from pynatsd.server.server import NatsServer

_ENDPOINTS = ("varz", "healthz")


class MonitorServer:
    """/healthz and /varz now; the monitoring issue adds the rest behind the same app."""

    def __init__(self, server: NatsServer) -> None:
        self.server = server
        opts = server.opts
        self.host = opts.http_host or opts.host or "0.0.0.0"
        self.port = opts.http_port if opts.http_port > 0 else 0
        self.base = "/" + opts.http_base_path.strip("/") if opts.http_base_path.strip("/") else ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        b = self.base
        app.router.add_get(b + "/", self._root)
        if b:
            app.router.add_get(b, self._root)
        app.router.add_get(b + "/healthz", self._healthz)
        app.router.add_get(b + "/varz", self._varz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # the bound port is only known after start
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self.port

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
        return self._json({k: v for k, v in self.server.varz().items() if v is not None}, request)
