"""A JetStream broker for Python services (seed 004's go-micro broker, in Python).

It works with any NATS server (pynatsd or the reference) through nats-py, an optional
dependency: ``pip install pynatsd[broker]``.

- :meth:`Broker.publish` waits for the JetStream ack; the first use of a subject's first
  token creates its stream (``orders.created`` -> ``ORDERS`` on ``orders.>``, work-queue
  retention, file storage; ``stream_config`` overrides those fields).
- :meth:`Broker.subscribe` needs a queue name: it is the durable pull consumer's name. A
  worker fetches batches and calls ``handler(event)``: returning acks; raising
  :class:`HandlerError` naks for redelivery; any other exception is a crash, logged with
  its traceback, and naks too. Fetch errors back off 1 s, 2 s, 4 s ... 30 s, reset by a
  successful fetch.
- :meth:`Broker.disconnect` drains: a fetch in progress ends (at most ``fetch_wait``), what
  it brought is handled and acked, then the connection drains and closes. Durable
  consumers stay for the next start; :meth:`Subscription.unsubscribe` stops one worker the
  same way.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynatsd.embed import Server

__all__ = [
    "Broker",
    "Counters",
    "Event",
    "HandlerError",
    "Subscription",
    "stream_name",
    "validate_queue_name",
]

log = logging.getLogger("pynatsd.broker")

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class HandlerError(Exception):
    """Raised by a handler that could not process a message: it is nak'ed and redelivered."""


@dataclass(frozen=True)
class Event:
    """One message given to a handler."""

    subject: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Counters:
    """The seed's metrics: counters, and the active subscriptions gauge."""

    published: int = 0
    consumed: int = 0
    handler_errors: int = 0
    handler_crashes: int = 0
    fetch_errors: int = 0
    active_subscriptions: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def stream_name(subject: str) -> str:
    """The stream a subject belongs to: its first token, upper case, ``-`` as ``_``."""
    first = subject.split(".", 1)[0]
    if not first or first in ("*", ">"):
        raise ValueError(f"subject {subject!r} has no literal first token to name a stream")
    return first.upper().replace("-", "_")


def validate_queue_name(queue: str) -> str:
    """A queue name is a durable consumer name: letters, digits, ``-`` and ``_`` only."""
    if not queue:
        raise ValueError("a queue name is required: it is the durable consumer's name")
    if not _QUEUE_NAME.match(queue):
        raise ValueError(
            f"invalid queue name {queue!r}: use only letters, digits, '-' and '_' "
            "(no '.', '*', '>', '/', '\\\\', whitespace or unprintable characters)"
        )
    return queue


Handler = Callable[[Event], Awaitable[None]]


@dataclass
class Subscription:
    """A running pull worker; :meth:`unsubscribe` stops it and keeps the durable consumer."""

    broker: Broker
    subject: str
    queue: str
    stream: str
    handler: Handler
    _psub: Any = None
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _sleeping: bool = False  # in a back-off wait: safe to cancel
    backoff: float = field(default=BACKOFF_START)

    async def unsubscribe(self) -> None:
        await self._stop()
        if self._psub is not None:
            try:
                await self._psub.unsubscribe()
            except Exception:  # connection already gone: nothing to undo on the server
                pass
            self._psub = None

    async def _stop(self) -> None:
        task = self._task
        if task is None:
            return
        self._stopping = True
        if self._sleeping:  # a back-off wait; a fetch in progress is waited for instead:
            task.cancel()  # what it brings is handled, not left unacked until its ack wait
        try:
            await task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self in self.broker._subs:
            self.broker._subs.remove(self)
            self.broker.counters.active_subscriptions -= 1

    async def _run(self) -> None:
        import nats.errors

        while not self._stopping:
            nc = self.broker.nc
            try:
                if not nc.is_connected:  # nats-py would only buffer the request and time out
                    raise nats.errors.ConnectionReconnectingError
                msgs = await self._psub.fetch(self.broker.batch_size, timeout=self.broker.fetch_wait)
            except nats.errors.TimeoutError:
                if nc.is_connected:
                    self.backoff = BACKOFF_START  # an empty fetch is a successful one
                else:
                    await self._back_off("not connected")  # it went away during the fetch
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:
                await self._back_off(repr(e))
                continue
            self.backoff = BACKOFF_START
            for msg in msgs:  # in order; a stop waits for the batch in hand
                await self._handle(msg)

    async def _back_off(self, why: str) -> None:
        """A failed fetch: count it, wait, and double the next wait (up to 30 s)."""
        self.broker.counters.fetch_errors += 1
        delay, self.backoff = self.backoff, min(self.backoff * 2, BACKOFF_MAX)
        log.warning("fetch from %s/%s failed: %s; retrying in %.0f s", self.stream, self.queue, why, delay)
        self._sleeping = True
        try:
            await asyncio.sleep(delay)
        finally:
            self._sleeping = False

    async def _handle(self, msg: Any) -> None:
        counters = self.broker.counters
        event = Event(msg.subject, msg.data, dict(msg.headers or {}))
        try:
            await self.handler(event)
        except HandlerError as e:
            counters.handler_errors += 1
            log.info("handler for %s failed: %s; nak for redelivery", self.queue, e)
            await _quietly(msg.nak())
            return
        except Exception:
            counters.handler_crashes += 1
            log.exception("handler for %s crashed; nak for redelivery", self.queue)
            await _quietly(msg.nak())
            return
        counters.consumed += 1
        await _quietly(msg.ack())


async def _quietly(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception as e:  # the connection went away: the message is redelivered later
        log.warning("ack/nak not sent: %r", e)


class Broker:
    """A JetStream broker: reliable publish, durable pull subscriptions."""

    def __init__(
        self,
        servers: list[str] | None = None,
        batch_size: int = 10,
        fetch_wait: float = 5.0,
        client_name: str | None = None,
        stream_config: dict[str, Any] | None = None,
        connect_options: dict[str, Any] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if fetch_wait <= 0:
            raise ValueError("fetch_wait must be positive")
        self.servers = list(servers or ["nats://127.0.0.1:4222"])
        self.batch_size = batch_size
        self.fetch_wait = fetch_wait
        self.client_name = client_name or f"pynatsd-broker-{socket.gethostname()}"
        self.stream_config = dict(stream_config or {})
        self.connect_options = dict(connect_options or {})
        self.counters = Counters()
        self.nc: Any = None
        self.js: Any = None
        self._streams: set[str] = set()
        self._subs: list[Subscription] = []
        self._lock = asyncio.Lock()

    # -- metrics -------------------------------------------------------------------------------
    def export_metrics(self, server: Server, name: str | None = None) -> None:
        """Show this broker's counters on an embedded server's monitoring port, at
        ``/brokerz`` (``{"brokers": {name: counters}}``; name: the client name)."""
        internal = server.server.internal
        current = internal.offered("brokerz")
        exported: dict[str, Counters] = getattr(current, "brokers", None) or {}

        def report() -> dict[str, Any]:
            return {"brokers": {n: c.as_dict() for n, c in exported.items()}}

        report.brokers = exported  # type: ignore[attr-defined]
        exported[name or self.client_name] = self.counters
        internal.offer("brokerz", report)

    # -- connection ------------------------------------------------------------------------
    async def connect(self) -> Broker:
        try:
            import nats
        except ImportError as e:  # pragma: no cover - the extra is not installed
            raise ImportError("pynatsd.broker needs nats-py: pip install 'pynatsd[broker]'") from e
        options: dict[str, Any] = {"name": self.client_name, "max_reconnect_attempts": -1}
        options.update(self.connect_options)
        self.nc = await nats.connect(self.servers, **options)
        self.js = self.nc.jetstream()
        log.info("connected to NATS at %s", self.nc.connected_url.geturl() if self.nc.connected_url else "?")
        return self

    async def disconnect(self) -> None:
        """Stop the workers (handlers in progress finish and ack), then drain and close."""
        for sub in list(self._subs):
            await sub.unsubscribe()  # the worker ends its batch; the durable consumer stays
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.drain()
            except Exception:  # not connected (reconnecting): nothing left to drain
                try:
                    await self.nc.close()
                except Exception as e:
                    log.warning("closing the connection: %r", e)
        self.nc = self.js = None

    async def __aenter__(self) -> Broker:
        return await self.connect()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    def _connected(self) -> Any:
        if self.js is None:
            raise RuntimeError("the broker is not connected: await broker.connect() first")
        return self.js

    # -- streams -------------------------------------------------------------------------------
    async def ensure_stream(self, subject: str) -> str:
        """The stream of ``subject``, created on first use with the broker's defaults."""
        js = self._connected()
        name = stream_name(subject)
        if name in self._streams:
            return name
        async with self._lock:
            if name in self._streams:
                return name
            from nats.js.api import RetentionPolicy, StorageType, StreamConfig
            from nats.js.errors import NotFoundError

            try:
                await js.stream_info(name)
            except NotFoundError:
                prefix = subject.split(".", 1)[0]
                fields: dict[str, Any] = {
                    "name": name,
                    "subjects": [f"{prefix}.>"],
                    "retention": RetentionPolicy.WORK_QUEUE,
                    "storage": StorageType.FILE,
                }
                fields.update(self.stream_config)
                fields["name"] = name
                await js.add_stream(StreamConfig(**fields))
                log.info("created stream %s for topic %s", name, subject)
            self._streams.add(name)
        return name

    # -- publish / subscribe -----------------------------------------------------------------------
    async def publish(self, subject: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
        """Publish and wait for JetStream's ack (returned: ``.stream``, ``.seq``)."""
        js = self._connected()
        await self.ensure_stream(subject)
        ack = await js.publish(subject, body, headers=headers)
        self.counters.published += 1
        return ack

    async def subscribe(self, subject: str, handler: Handler, queue: str) -> Subscription:
        """Start a pull worker on the durable consumer ``queue`` (created if missing)."""
        validate_queue_name(queue)
        js = self._connected()
        stream = await self.ensure_stream(subject)
        from nats.js.api import AckPolicy, ConsumerConfig
        from nats.js.errors import NotFoundError

        try:
            await js.consumer_info(stream, queue)
        except NotFoundError:
            await js.add_consumer(
                stream,
                ConsumerConfig(durable_name=queue, filter_subject=subject, ack_policy=AckPolicy.EXPLICIT),
            )
        sub = Subscription(self, subject, queue, stream, handler)
        sub._psub = await js.pull_subscribe_bind(durable=queue, stream=stream)
        sub._task = asyncio.get_running_loop().create_task(sub._run(), name=f"broker:{queue}")
        self._subs.append(sub)
        self.counters.active_subscriptions += 1
        log.info("subscribed to topic %s with durable consumer %s", subject, queue)
        return sub
