"""Operator (JWT) mode keys of the config file, with the reference's load errors.

``operator`` (one or more operator JWTs, inline or as files, bare or decorated),
``trusted_keys``, ``resolver`` (``MEMORY`` and ``URL(...)``; the NATS-based resolvers are
refused as not built yet) and ``resolver_preload`` (account public key to account JWT). The
checks the reference makes when the server starts (``validateTrustedOperators``) are in
:func:`operator_start_error`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pynatsd import jwt
from pynatsd.config.errors import ConfigIssue, go_type_name
from pynatsd.gocompat import go_quote
from pynatsd.jwt.keys import PREFIX_ACCOUNT, PREFIX_OPERATOR
from pynatsd.protocol.nkeys import decode_public_key

if TYPE_CHECKING:
    from pynatsd.config.loader import _Loader
    from pynatsd.config.parser import Node
    from pynatsd.options import Options

__all__ = [
    "finish",
    "operator_start_error",
    "parse_operator",
    "parse_pinned_accounts",
    "parse_resolver",
    "parse_resolver_preload",
    "parse_trusted",
]

_JWT_PREFIX = "eyJ"
_MEM_RE = re.compile(r"(?i)(MEM|MEMORY)\s*")
_URL_RE = re.compile(r'(?i)(?:URL)(?:\(\s*"?([^\s"]*)"?\s*\))?\s*')
_UNSUPPORTED_DIR = "the NATS-based account resolver (full or cache)"


def _read_operator(text: str) -> tuple[str, jwt.OperatorClaims]:
    """A file's decorated JWT, or the text itself when it is no file but looks like a JWT."""
    try:
        with open(text, encoding="utf-8", errors="replace") as f:
            contents = f.read()
    except OSError as exc:
        if not text.startswith(_JWT_PREFIX):
            raise ValueError(f"open {text}: {_os_reason(exc)}") from None
        contents = text
    token = jwt.parse_decorated_jwt(contents)
    try:
        return token, jwt.decode_operator(token)
    except jwt.JWTError as exc:
        raise ValueError(_go_json_reason(str(exc))) from None


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()


def _go_json_reason(text: str) -> str:
    """Go's JSON decoder names a truncated document so; msgspec says it otherwise."""
    if text.startswith("Input data was truncated") or text.startswith("illegal base64"):
        return "unexpected end of JSON input" if text.startswith("Input") else text
    return text


def parse_operator(loader: _Loader, key: str, node: Node) -> None:
    """``operator``: one JWT (file or inline) or a list of them."""
    v = node.value
    items: list[str] = []
    if isinstance(v, str):
        items.append(v)
    elif isinstance(v, list):
        for item in v:
            if not isinstance(item.value, str):
                loader.errors.append(
                    ConfigIssue(
                        node.pos,
                        "error parsing operators: unsupported type *conf.token where string is expected",
                    )
                )
                break
            items.append(item.value)
    else:
        loader.errors.append(
            ConfigIssue(node.pos, f"error parsing operators: unsupported type {go_type_name(v)}")
        )
    opts = loader.opts
    opts.trusted_operators = []
    for text in items:
        try:
            token, _claims = _read_operator(text)
        except ValueError as exc:
            loader.errors.append(ConfigIssue(node.pos, f"error parsing operator JWT: {exc}"))
            continue
        opts.trusted_operators.append(token)


def parse_trusted(loader: _Loader, key: str, node: Node) -> None:
    """``trusted_keys``: operator public keys, one or a list."""
    v = node.value
    keys: list[str] = []
    pos = node.pos  # the reference reports at the last element of a list
    if isinstance(v, str):
        keys = [v]
    elif isinstance(v, list):
        for item in v:
            pos = item.pos
            if isinstance(item.value, str):
                keys.append(item.value)
            else:
                loader.errors.append(
                    ConfigIssue(
                        item.pos,
                        f"error parsing trusted: unsupported type in array {go_type_name(item.value)}",
                    )
                )
    else:
        loader.errors.append(
            ConfigIssue(node.pos, f"error parsing trusted: unsupported type {go_type_name(v)}")
        )
    loader.opts.trusted_keys = keys
    for k in keys:
        if decode_public_key(k, PREFIX_OPERATOR) is None:
            loader.errors.append(
                ConfigIssue(pos, f"trust key {go_quote(k)} required to be a valid public operator nkey")
            )


def parse_resolver(loader: _Loader, key: str, node: Node) -> None:
    """``resolver``: ``MEMORY`` is built; ``URL(...)`` and the ``full``/``cache`` maps are not yet."""
    v = node.value
    opts = loader.opts
    opts.account_resolver = ""
    if isinstance(v, str):
        if _MEM_RE.search(v):
            opts.account_resolver = "MEMORY"
        elif (m := _URL_RE.search(v)) is not None and m.group(1) is not None:
            opts.account_resolver = "URL"
            opts.resolver_url = _with_slash(m.group(1))
    elif isinstance(v, dict):
        kind = v.get("type")
        k = kind.value.upper() if kind is not None and isinstance(kind.value, str) else ""
        if k in ("MEM", "MEMORY"):
            opts.account_resolver = "MEMORY"
        elif k in ("FULL", "CACHE"):
            opts.account_resolver = k
            opts.unsupported[key] = _UNSUPPORTED_DIR
    else:
        loader.errors.append(
            ConfigIssue(node.pos, f"error parsing operator resolver, wrong type {go_type_name(v)}")
        )
        return
    if not opts.account_resolver:
        loader.errors.append(
            ConfigIssue(
                node.pos,
                'error parsing account resolver, should be MEM or  URL("url") or a map containing dir and '
                "type state=[FULL|CACHE])",
            )
        )


def parse_pinned_accounts(loader: _Loader, key: str, node: Node) -> None:
    """``resolver_pinned_accounts``: the only accounts users may log into (one or a list)."""
    v = node.value
    names: list[str] = []
    if isinstance(v, str):
        names = [v]
    elif isinstance(v, list):
        for item in v:
            if isinstance(item.value, str):
                names.append(item.value)
            else:
                loader.errors.append(
                    ConfigIssue(
                        item.pos,
                        "error parsing resolver_pinned_accounts: unsupported type in array "
                        + go_type_name(item.value),
                    )
                )
    else:
        loader.errors.append(
            ConfigIssue(
                node.pos, f"error parsing resolver_pinned_accounts: unsupported type {go_type_name(v)}"
            )
        )
        return
    loader.opts.resolver_pinned_accounts = names


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def parse_resolver_preload(loader: _Loader, key: str, node: Node) -> None:
    """``resolver_preload``: account public key to account JWT (each must decode)."""
    v = node.value
    if not isinstance(v, dict):
        loader.errors.append(
            ConfigIssue(node.pos, "preload should be a map of account_public_key:account_jwt")
        )
        return
    preload: dict[str, str] = {}
    for name, item in v.items():
        if not isinstance(item.value, str):
            loader.errors.append(ConfigIssue(item.pos, "preload map value should be a string JWT"))
            continue
        try:
            jwt.decode_account(item.value)
        except jwt.JWTError:
            loader.errors.append(ConfigIssue(item.pos, "invalid account JWT"))
            continue
        preload[name] = item.value
    loader.opts.resolver_preload = preload


def finish(opts: Options) -> None:
    """After every key, as the reference: a single operator gives the system account when the
    config names none, and without ``resolver`` asks for the URL resolver (not built yet)."""
    if len(opts.trusted_operators) == 1:
        if not opts.system_account:
            opts.system_account = jwt.decode_operator(opts.trusted_operators[0]).nats.system_account
        if not opts.account_resolver:
            # nsc pushes accounts to <account_server_url>/accounts: the reference reads there.
            url = jwt.decode_operator(opts.trusted_operators[0]).nats.account_server_url
            opts.account_resolver = "URL"
            opts.resolver_url = _with_slash(url + "/accounts")


def operator_start_error(opts: Options) -> str | None:
    """What the reference says when it refuses to start with these operator settings."""
    if not opts.trusted_operators and not opts.trusted_keys:
        return None
    for name in opts.resolver_pinned_accounts or ():
        if opts.trusted_operators and decode_public_key(name, PREFIX_ACCOUNT) is None:
            return f"pinned account key {go_quote(name)} is not a valid public account nkey"
    if opts.account_resolver == "URL" and opts.resolver_preload:
        return "resolver preloads only available for writeable resolver types MEM/DIR/CACHE_DIR"
    if opts.trusted_operators:
        if not opts.account_resolver:
            return "operators require an account resolver to be configured"
        if opts.accounts:
            return "operators do not allow Accounts to be configured directly"
        if opts.users:
            return "operators do not allow users to be configured directly"
        if opts.trusted_keys:
            return "conflicting options for 'TrustedKeys' and 'TrustedOperators'"
        if opts.system_account:
            claims = [jwt.decode_operator(t) for t in opts.trusted_operators]
            named = [c.nats.system_account for c in claims if c.nats.system_account]
            if named and opts.system_account not in named:
                return "system_account in config and operator JWT must be identical"
    return None
