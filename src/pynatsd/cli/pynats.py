"""``pynats``: the client-side command line, modeled on the ``nats`` CLI.

Subcommands live in their own modules and are imported only when invoked, so ``pynats pub``
does not pay for the benchmark's imports (and vice versa). New commands register a
``"name": "module:attribute"`` entry in ``_LAZY_COMMANDS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import click

from pynatsd.version import __version__

DEFAULT_SERVER = "nats://127.0.0.1:4222"
DEFAULT_PORT = 4222

_LAZY_COMMANDS: dict[str, str] = {
    "bench": "pynatsd.cli.bench:bench",
}


@dataclass(frozen=True)
class Endpoint:
    """One server to dial, with the credentials to put in CONNECT."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class ClientOptions:
    """The global options, handed to every subcommand as the click context object."""

    servers: tuple[str, ...]
    user: str | None = None
    password: str | None = None

    def endpoints(self) -> list[Endpoint]:
        """Parse the server URLs; ``--user``/``--password`` override credentials in a URL."""
        return [parse_server_url(url, self.user, self.password) for url in self.servers]


def parse_server_url(url: str, user: str | None = None, password: str | None = None) -> Endpoint:
    """Accept what ``nats -s`` accepts: ``nats://[user[:pass]@]host[:port]``, ``host:port`` or ``host``."""
    text = url.strip()
    if "://" not in text:
        text = "nats://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("nats", "tcp"):
        raise click.BadParameter(
            f"unsupported scheme {parts.scheme!r} (only nats:// is supported)", param_hint="--server"
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


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (see the module docstring)."""

    def __init__(self, *args: object, lazy_commands: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, _, attr = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup, lazy_commands=_LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "-s",
    "--server",
    "server",
    default=DEFAULT_SERVER,
    show_default=True,
    envvar="NATS_URL",
    help="NATS server URL(s), comma separated.",
)
@click.option("--user", default=None, envvar="NATS_USER", help="Username or token.")
@click.option("--password", default=None, envvar="NATS_PASSWORD", help="Password.")
@click.version_option(__version__, prog_name="pynats")
@click.pass_context
def cli(ctx: click.Context, server: str, user: str | None, password: str | None) -> None:
    """A command line client for NATS (and pynatsd)."""
    servers = tuple(s for s in (part.strip() for part in server.split(",")) if s)
    if not servers:
        raise click.BadParameter("no server given", param_hint="--server")
    ctx.obj = ClientOptions(servers=servers, user=user, password=password)


if __name__ == "__main__":
    cli()
