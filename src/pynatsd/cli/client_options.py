"""Which servers a ``pynats`` command talks to, and as whom: the global connection options.

Shared by the ``pynats`` group (which builds a ``ClientOptions`` from ``-s/--user/--password``)
and its subcommands (which turn it into ``Endpoint`` values to dial), so neither imports the other.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

import click

DEFAULT_SERVER = "nats://127.0.0.1:4222"
DEFAULT_PORT = 4222


@dataclass(frozen=True)
class Endpoint:
    """One server to dial, with the credentials to put in CONNECT."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls: TLSClient | None = None  # how to upgrade when the server asks for TLS


@dataclass(frozen=True)
class TLSClient:
    """The client side of TLS (``--tlsca``, ``--tlscert``, ``--tlskey``, as the nats CLI)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca)
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        return ctx


@dataclass(frozen=True)
class ClientOptions:
    """The global options, handed to every subcommand as the click context object."""

    servers: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    tls: TLSClient | None = None

    def endpoints(self) -> list[Endpoint]:
        """Parse the server URLs; ``--user``/``--password`` override credentials in a URL."""
        return [
            replace(parse_server_url(url, self.user, self.password), tls=self.tls) for url in self.servers
        ]


def parse_server_url(url: str, user: str | None = None, password: str | None = None) -> Endpoint:
    """Accept what ``nats -s`` accepts: ``nats://[user[:pass]@]host[:port]``, ``host:port`` or ``host``."""
    text = url.strip()
    if "://" not in text:
        text = "nats://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("nats", "tcp", "tls"):
        raise click.BadParameter(
            f"unsupported scheme {parts.scheme!r} (only nats:// and tls:// are supported)",
            param_hint="--server",
        )
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--server")
    host = parts.hostname or "127.0.0.1"
    url_user = unquote(parts.username) if parts.username is not None else None
    url_pass = unquote(parts.password) if parts.password is not None else None
    if user is not None:
        url_user, url_pass = user, password
    elif password is not None:
        url_pass = password
    if url_user is not None and url_pass is None:
        # As with the nats tools, a user without a password (nats://TOKEN@host) is a token.
        return Endpoint(host=host, port=port, token=url_user)
    return Endpoint(host=host, port=port, user=url_user, password=url_pass)
