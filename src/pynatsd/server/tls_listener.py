"""The client listener when ``tls`` is configured: INFO, then the handshake, then a Client.

NATS negotiates TLS after the server's plaintext INFO (or first, with ``handshake_first``),
and with ``allow_non_tls`` or a ``handshake_first`` fallback delay the server must look at
the first byte before it knows which. So this listener accepts raw sockets itself, writes
INFO on the socket, peeks, and only then hands the socket to the loop
(``connect_accepted_socket``, with or without TLS). Once established, the connection is an
ordinary :class:`~pynatsd.server.client.Client` on a TLS transport: the message path is the
plain one. The plain listener (no ``tls``) is untouched by any of this.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from pynatsd.options import TLSOptions
from pynatsd.tls import effective_timeout, handshake_error_text, is_probe_error, peer_identity, spki_sha256
from pynatsd.tls.context import CIPHERS

if TYPE_CHECKING:
    from pynatsd.server.client import Client
    from pynatsd.server.server import NatsServer

_GO_CIPHER = {v: k for k, v in CIPHERS.items() if v}
TLS_HANDSHAKE_FAILURE = "TLS Handshake Failure"


class _Gate(asyncio.Protocol):
    """Holds a fresh TLS transport until the peer checks pass, keeping what arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffered: list[bytes] = []
        self.eof = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.buffered.append(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class TLSListener:
    """Accepts client connections for a server with ``tls``; shaped like ``asyncio.Server``
    where the core uses it (``sockets``, ``close``, ``wait_closed``)."""

    def __init__(
        self, server: NatsServer, ctx: ssl.SSLContext, tls: TLSOptions, factory: Callable[[], Client]
    ) -> None:
        self.server = server
        self.ctx = ctx
        self.tls = tls
        self.factory = factory
        self.sockets: list[socket.socket] = []
        self._accepting: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=1024, reuse_port=False)
        sock.setblocking(False)
        self.sockets = [sock]
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop(sock))

    def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            self._accepting = None
        for s in self.sockets:
            s.close()
        for t in list(self._pending):
            t.cancel()

    async def wait_closed(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _accept_loop(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(lsock)
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                if lsock.fileno() < 0:
                    return
                self.server.log.error("Error accepting client connection: %s", exc)
                await asyncio.sleep(0.01)
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._serve(conn, addr))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _serve(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        c = self.factory()
        c.host, c.port = addr[0], addr[1]
        try:
            await self._negotiate(c, sock)
        except asyncio.CancelledError:
            sock.close()
            raise
        except Exception as exc:  # a failed connection must never reach the loop
            self._failed(c, exc)
            sock.close()

    async def _negotiate(self, c: Client, sock: socket.socket) -> None:
        srv, tls = self.server, self.tls
        timeout = effective_timeout(tls)
        first = tls.handshake_first
        if first and tls.fallback_delay > 0 and not await _readable(sock, tls.fallback_delay):
            first = False  # nothing came: an ordinary client, which needs INFO first
        if first:
            c.tls_first = True
        else:
            sock.send(srv.info_line(c))  # small: the fresh socket's buffer takes it whole
            c.info_sent = True
        use_tls = True
        if not first and srv.opts.allow_non_tls:
            use_tls = await _readable(sock, timeout) and sock.recv(1, socket.MSG_PEEK) == b"\x16"
        loop = asyncio.get_running_loop()
        if not use_tls:
            await loop.connect_accepted_socket(lambda: c, sock)
            return
        srv.log.debug("%s:%d - cid:%d - Starting TLS client connection handshake", c.host, c.port, c.cid)
        gate = _Gate()
        transport, _ = await loop.connect_accepted_socket(
            lambda: gate, sock, ssl=self.ctx, ssl_handshake_timeout=timeout
        )
        sslobj = transport.get_extra_info("ssl_object")
        if tls.pinned_certs is not None:
            der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
            if not der or spki_sha256(der) not in tls.pinned_certs:
                srv.log.error(
                    "%s:%d - cid:%d - TLS handshake error: certificate not pinned", c.host, c.port, c.cid
                )
                transport.abort()
                return
        if tls.map and sslobj is not None:
            c.cert = peer_identity(sslobj)
        if srv.log.debug_on and sslobj is not None:
            tag = f"{c.host}:{c.port} - cid:{c.cid}"
            name, version, _ = sslobj.cipher() or ("", "", 0)
            srv.log.debug("%s - TLS handshake complete", tag)
            srv.log.debug(
                "%s - TLS version %s, cipher suite %s",
                tag,
                version.removeprefix("TLSv"),
                _GO_CIPHER.get(name, name),
            )
        transport.set_protocol(c)
        c.connection_made(transport)
        for data in gate.buffered:
            if c.closed:
                break
            c.data_received(data)
        if gate.lost:
            c.connection_lost(None)
        elif gate.eof:
            c.eof_received()
        elif not c.closed:
            transport.resume_reading()

    def _failed(self, c: Client, exc: BaseException) -> None:
        log = self.server.log
        tag = f"{c.host}:{c.port} - cid:{c.cid}"
        if isinstance(exc, TimeoutError | ConnectionAbortedError):
            log.debug("%s - TLS handshake timeout", tag)
        text = handshake_error_text(exc)
        if is_probe_error(exc):
            log.debug("%s - TLS handshake error: %s", tag, text)
        else:
            log.error("%s - TLS handshake error: %s", tag, text)
        log.debug("%s - Client connection closed: %s", tag, TLS_HANDSHAKE_FAILURE)


async def _readable(sock: socket.socket, timeout: float) -> bool:
    """Whether the peer sent something (or closed) within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[bool] = loop.create_future()
    fd = sock.fileno()

    def ready() -> None:
        if not fut.done():
            fut.set_result(True)

    loop.add_reader(fd, ready)
    try:
        return await asyncio.wait_for(fut, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
