"""``pynats``: the client-side command line, modeled on the ``nats`` CLI.

Subcommands live in their own modules and are imported only when invoked, so ``pynats pub``
does not pay for the benchmark's imports (and vice versa). New commands register a
``"name": "module:attribute"`` entry in ``_LAZY_COMMANDS``; they get the global options as a
``ClientOptions`` (``pynatsd.cli.client_options``) in the click context object and never import
this module.
"""

from __future__ import annotations

import importlib

import click

from pynatsd.cli.client_options import DEFAULT_SERVER, ClientOptions, TLSClient
from pynatsd.version import __version__

_LAZY_COMMANDS: dict[str, str] = {
    "bench": "pynatsd.cli.bench.commands:bench",
}


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
@click.option("--tlsca", default=None, envvar="NATS_CA", help="CA file to verify a TLS server with.")
@click.option("--tlscert", default=None, envvar="NATS_CERT", help="Client certificate for TLS.")
@click.option("--tlskey", default=None, envvar="NATS_KEY", help="Client private key for TLS.")
@click.version_option(__version__, prog_name="pynats")
@click.pass_context
def cli(
    ctx: click.Context,
    server: str,
    user: str | None,
    password: str | None,
    tlsca: str | None,
    tlscert: str | None,
    tlskey: str | None,
) -> None:
    """A command line client for NATS (and pynatsd)."""
    servers = tuple(s for s in (part.strip() for part in server.split(",")) if s)
    if not servers:
        raise click.BadParameter("no server given", param_hint="--server")
    tls = TLSClient(tlsca, tlscert, tlskey) if (tlsca or tlscert or tlskey) else None
    ctx.obj = ClientOptions(servers=servers, user=user, password=password, tls=tls)


if __name__ == "__main__":
    cli()
