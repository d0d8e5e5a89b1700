"""The HTTP monitoring listener: aiohttp on the server's own event loop.

Each endpoint family has a module of its own (``varz``, ``connz``, ``subsz``, ``accountz``,
``cluster``, ``healthz``, ``stacksz``); this one routes, counts requests per path as the
reference's ``http_req_stats`` does, and writes the answers: JSON indented as the reference
writes it with ``Access-Control-Allow-Origin: *``, JSONP when ``callback=`` is given (the
reference dropped it; kept for old dashboards), bad options as status 400 with the
reference's plain-text error, unknown paths as Go's ``404 page not found``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pynatsd.monitor.accountz import accountz, accstatz
from pynatsd.monitor.cluster import gatewayz, leafz, routez
from pynatsd.monitor.common import BadRequest, Query, render
from pynatsd.monitor.connz import connz, parse_options
from pynatsd.monitor.healthz import healthz
from pynatsd.monitor.index import index_page
from pynatsd.monitor.jsz import jsz
from pynatsd.monitor.stacksz import stacks
from pynatsd.monitor.subsz import subsz
from pynatsd.monitor.varz import varz
from pynatsd.tls import build_context

if TYPE_CHECKING:
    from pynatsd.server.internal import Internal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        self.req_stats: dict[str, int] = {}

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
        routes: dict[str, Handler] = {
            "/varz": self._varz,
            "/connz": self._connz,
            "/subsz": self._subsz,
            "/subscriptionsz": self._subsz,
            "/accountz": self._accountz,
            "/accstatz": self._accstatz,
            "/jsz": self._jsz,
            "/brokerz": self._brokerz,  # pynatsd.broker's counters (an extension)
            "/routez": self._routez,
            "/gatewayz": self._gatewayz,
            "/leafz": self._leafz,
            "/healthz": self._healthz,
            "/stacksz": self._stacksz,
        }
        for path, handler in routes.items():
            app.router.add_route("*", b + path, handler)  # any method, as Go's mux
        app.router.add_route("*", b + "/", self._root)
        if b:
            app.router.add_route("*", b, self._root)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
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

    # -- answers --------------------------------------------------------------------------
    def _count(self, path: str) -> None:
        self.req_stats[path] = self.req_stats.get(path, 0) + 1

    @staticmethod
    def _json(data: Any, request: web.Request, status: int = 200, indent: bool = True) -> web.Response:
        body = render(data, indent)
        headers = {"Access-Control-Allow-Origin": "*"}
        callback = request.query.get("callback")
        if callback:
            headers["Content-Type"] = "application/javascript"
            return web.Response(body=f"{callback}({body})".encode(), status=status, headers=headers)
        headers["Content-Type"] = "application/json"
        return web.Response(body=body.encode(), status=status, headers=headers)

    @staticmethod
    def _bad(err: BadRequest) -> web.Response:
        return web.Response(text=str(err), status=400, content_type="text/plain", charset="utf-8")

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.Response(
            text="404 page not found\n", status=404, content_type="text/plain", charset="utf-8"
        )

    async def _simple(
        self, request: web.Request, path: str, build: Callable[[Internal, Query], dict[str, Any]]
    ) -> web.Response:
        self._count(path)
        try:
            doc = build(self.core, Query(request.query))
        except BadRequest as err:
            return self._bad(err)
        return self._json(doc, request)

    # -- endpoints ------------------------------------------------------------------------
    async def _root(self, request: web.Request) -> web.Response:
        self._count("/")
        return web.Response(text=index_page(self.base), content_type="text/html")

    async def _varz(self, request: web.Request) -> web.Response:
        self._count("/varz")
        if self.secure:
            doc = varz(self.core, 0, self.port, self.req_stats)
        else:
            doc = varz(self.core, self.port, 0, self.req_stats)
        return self._json({k: v for k, v in doc.items() if v is not None}, request)

    async def _connz(self, request: web.Request) -> web.Response:
        try:
            opts = parse_options(Query(request.query))
        except BadRequest as err:
            return self._bad(err)
        self._count("/connz")  # counted after decoding, as the reference
        try:
            doc = connz(self.core, opts)
        except BadRequest as err:
            return self._bad(err)
        return self._json(doc, request)

    async def _subsz(self, request: web.Request) -> web.Response:
        return await self._simple(request, "/subsz", subsz)

    async def _accountz(self, request: web.Request) -> web.Response:
        return await self._simple(request, "/accountz", accountz)

    async def _accstatz(self, request: web.Request) -> web.Response:
        return await self._simple(request, "/accstatz", accstatz)

    async def _jsz(self, request: web.Request) -> web.Response:
        return await self._simple(request, "/jsz", jsz)

    async def _brokerz(self, request: web.Request) -> web.Response:
        """Counters of the pynatsd.broker instances exported to this server (not in the
        reference): offered under "brokerz" by ``Broker.export_metrics``."""
        report = self.core.offered("brokerz")
        if report is None:
            return web.Response(status=404, text="no broker exports metrics to this server")
        return self._json(report(), request)

    async def _routez(self, request: web.Request) -> web.Response:
        q = Query(request.query)
        try:
            q.subs()  # decoded before it is counted, as the reference
        except BadRequest as err:
            return self._bad(err)
        return await self._simple(request, "/routez", routez)

    async def _gatewayz(self, request: web.Request) -> web.Response:
        return await self._simple(request, "/gatewayz", gatewayz)

    async def _leafz(self, request: web.Request) -> web.Response:
        return await self._simple(request, "/leafz", leafz)

    async def _healthz(self, request: web.Request) -> web.Response:
        self._count("/healthz")
        try:
            status, doc = healthz(self.core, Query(request.query))
        except BadRequest as err:
            return self._bad(err)
        return self._json(doc, request, status=status, indent=False)

    async def _stacksz(self, request: web.Request) -> web.Response:
        headers = {"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"}
        return web.Response(body=stacks().encode(), headers=headers)
