"""Turn a parsed config file into ``Options``, with the reference server's keys and checks.

Keys are matched case-insensitively, as the reference does. Every problem is collected
before raising, so one run reports all of them (the reference does the same). Keys of
features pynatsd does not have yet are accepted but recorded in ``Options.unsupported``
so the server can refuse to start and say which feature is missing; anything else that
is not a known key is an error, unless it only served as a ``$VARIABLE``.

A few reference quirks are tightened on purpose: negative sizes, limits and durations are
rejected here (the reference accepts them and misbehaves later).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from pynatsd.config.accounts import parse_accounts
from pynatsd.config.cluster import parse_cluster
from pynatsd.config.errors import ConfigError, ConfigIssue, Position
from pynatsd.config.mappings import parse_mappings
from pynatsd.config.operator import finish as finish_operator
from pynatsd.config.operator import (
    parse_operator,
    parse_pinned_accounts,
    parse_resolver,
    parse_resolver_preload,
    parse_trusted,
)
from pynatsd.config.parser import ConfigMap, Node, Value, parse_file, parse_string
from pynatsd.config.tls import parse_tls
from pynatsd.gocompat import format_duration, go_quote, parse_duration_ns
from pynatsd.options import Options, Permission, Permissions, ResponsePermission, User
from pynatsd.protocol.nkeys import is_valid_public_user_key
from pynatsd.protocol.subjects import is_valid_subject

__all__ = [
    "UNSUPPORTED_FEATURES",
    "ConfigError",
    "ConfigIssue",
    "apply_config",
    "load_config",
    "load_config_with_warnings",
    "parse_size_value",
]

_log = logging.getLogger(__name__)

_DEFAULTS = Options()
_MAX_INT32 = (1 << 31) - 1
_NS = 1_000_000_000
_DEFAULT_RESPONSE_MAX_MSGS = 1
_DEFAULT_RESPONSE_EXPIRES = 120.0  # seconds, as the reference

# Top-level keys the reference understands but pynatsd cannot honour yet.
UNSUPPORTED_FEATURES: dict[str, str] = {
    "gateway": "gateways (super-clusters)",
    "leaf": "leaf nodes",
    "leafnodes": "leaf nodes",
    "storedir": "JetStream",
    "default_js_domain": "JetStream domains",
    "websocket": "WebSocket",
    "ws": "WebSocket",
    "mqtt": "MQTT",
    "ocsp": "OCSP stapling",
    "ocsp_cache": "OCSP stapling",
    "prof_port": "profiling",
    "prof_block_rate": "profiling",
    "max_sub_tokens": "subscription token limit",
    "max_subscription_tokens": "subscription token limit",
    "connect_error_reports": "connect error reporting (routes, gateways, leaf nodes)",
    "reconnect_error_reports": "connect error reporting (routes, gateways, leaf nodes)",
    "server_tags": "server tags",
    "trace_headers": "header-only message tracing",
    "write_timeout": "write timeout policy",
    "no_fast_producer_stall": "fast producer stall control",
    "logfile_max_num": "log file rotation count",
    "log_max_num": "log file rotation count",
    "proxies": "trusted proxies",
}


class _Invalid(Exception):
    """One bad value; caught per key so that the remaining keys are still checked."""

    def __init__(self, pos: Position, reason: str) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason


# -- value helpers --------------------------------------------------------------------


# The reference's names for value types; bool before int, since a bool is an int.
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "float"),
    (str, "string"),
    (datetime, "datetime"),
    (list, "array"),
)


def _kind(v: Value) -> str:
    return next((name for cls, name in _KINDS if isinstance(v, cls)), "map")


def _wrong(node: Node, key: str, expected: str) -> _Invalid:
    return _Invalid(
        node.pos, f"invalid value for {go_quote(key)}: expected {expected}, got {_kind(node.value)}"
    )


def _int(node: Node, key: str) -> int:
    v = node.value
    if isinstance(v, bool) or not isinstance(v, int):
        raise _wrong(node, key, "integer")
    return v


def _str(node: Node, key: str) -> str:
    if not isinstance(node.value, str):
        raise _wrong(node, key, "string")
    return node.value


def _bool(node: Node, key: str) -> bool:
    if not isinstance(node.value, bool):
        raise _wrong(node, key, "boolean")
    return node.value


def _non_negative(node: Node, key: str) -> int:
    v = _int(node, key)
    if v < 0:
        raise _Invalid(node.pos, f"{key} value can not be negative")
    return v


def _duration_string(node: Node, key: str) -> int:
    """A Go duration string, in nanoseconds."""
    try:
        return parse_duration_ns(_str(node, key))
    except ValueError as exc:
        raise _Invalid(node.pos, f"error parsing {key}: {exc}")


def _port(node: Node, key: str, value: int) -> int:
    if not -1 <= value <= 65535:
        raise _Invalid(node.pos, f"invalid {key} {value}, must be between -1 and 65535")
    return value


def _split_host_port(text: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: ``host:port`` or ``[v6]:port``; None when malformed."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            return None
        host, port = text[1:end], text[end + 2 :]
        return (host, port) if "[" not in port and "]" not in port else None
    colon = text.rfind(":")
    if colon < 0 or ":" in text[:colon] or "[" in text or "]" in text:
        return None
    return text[:colon], text[colon + 1 :]


def _listen(node: Node) -> tuple[str | None, int]:
    """``listen``/``http``: a port, or ``host:port``; host None when only a port was given."""
    v = node.value
    if isinstance(v, int) and not isinstance(v, bool):
        return None, v
    if not isinstance(v, str):
        raise _Invalid(node.pos, f"expected port or host:port, got {_kind(v)}")
    parts = _split_host_port(v)
    if parts is None:
        raise _Invalid(node.pos, f"could not parse address string {go_quote(v)}")
    host, port = parts
    body = port[1:] if port[:1] in ("+", "-") else port
    if not body or not (body.isascii() and body.isdigit()):
        raise _Invalid(node.pos, f"could not parse port {go_quote(port)}")
    return host, int(port)


def parse_size_value(text: str) -> int:
    """A size as written on the command line ("1MB", "64KiB", "1024"), typed like the file would."""
    try:
        node = parse_string(f"v: {text}").get("v")
    except ConfigError as exc:
        raise ValueError(f"invalid size {text!r}: {exc.reason}")
    if node is None or isinstance(node.value, bool) or not isinstance(node.value, int):
        raise ValueError(f"invalid size {text!r}")
    if node.value < 0:
        raise ValueError(f"invalid size {text!r}: can not be negative")
    return node.value


# -- the loader ---------------------------------------------------------------------------

_Handler = Callable[["_Loader", str, Node], None]


class _Loader:
    """Applies one config to ``opts``; handlers take (key as written, node)."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []

    def run(self, config: ConfigMap) -> None:
        for key, node in config.items():
            handler = _TOP_LEVEL.get(key.lower())
            with self._collecting():
                if handler is not None:
                    handler(self, key, node)
                elif key.lower() in UNSUPPORTED_FEATURES:
                    self.opts.unsupported[key] = UNSUPPORTED_FEATURES[key.lower()]
                elif not node.used_as_variable:
                    raise _Invalid(node.pos, f"unknown field {go_quote(key)}")
        self._check_no_auth_user(config)
        if not self.errors:
            finish_operator(self.opts)

    @contextlib.contextmanager
    def _collecting(self) -> Iterator[None]:
        """Record an ``_Invalid`` raised inside as an error, so the next key is still checked."""
        try:
            yield
        except _Invalid as exc:
            self.errors.append(ConfigIssue(exc.pos, exc.reason))

    def _unknown(self, key: str, node: Node, reason: str | None = None) -> None:
        if not node.used_as_variable:
            self.errors.append(ConfigIssue(node.pos, reason or f"unknown field {go_quote(key)}"))

    # -- listen addresses ------------------------------------------------------------

    def listen(self, key: str, node: Node) -> None:
        host, port = _listen(node)
        self.opts.port = self._client_port(node, key, port)
        if host is not None:
            self.opts.host = host or _DEFAULTS.host

    def host(self, key: str, node: Node) -> None:
        self.opts.host = _str(node, key)

    def port(self, key: str, node: Node) -> None:
        self.opts.port = self._client_port(node, key, _int(node, key))

    @staticmethod
    def _client_port(node: Node, key: str, value: int) -> int:
        # As in the reference, 0 means the default port; -1 asks for a random one.
        return _DEFAULTS.port if _port(node, key, value) == 0 else value

    def http(self, key: str, node: Node) -> None:
        host, port = _listen(node)
        self.opts.http_port = _port(node, key, port)
        if host is not None:
            self.opts.http_host = host

    def http_port(self, key: str, node: Node) -> None:
        self.opts.http_port = _port(node, key, _int(node, key))

    # -- routes (config/cluster.py) --------------------------------------------------------

    def cluster(self, key: str, node: Node) -> None:
        self.errors.extend(parse_cluster(node, self.opts))

    # -- TLS (config/tls.py) -------------------------------------------------------------

    def tls(self, key: str, node: Node) -> None:
        self.opts.tls, issues = parse_tls(node, self.opts.unsupported, key)
        self.errors.extend(issues)

    def resolver_tls(self, key: str, node: Node) -> None:
        """``resolver_tls``: the URL resolver's TLS client settings (a ``tls`` block)."""
        self.opts.resolver_tls, issues = parse_tls(node, self.opts.unsupported, key)
        self.errors.extend(issues)

    def https(self, key: str, node: Node) -> None:
        host, port = _listen(node)
        self.opts.https_port = _port(node, key, port)
        if host is not None:
            self.opts.http_host = host

    def https_port(self, key: str, node: Node) -> None:
        self.opts.https_port = _port(node, key, _int(node, key))

    # -- plain values -------------------------------------------------------------------

    def server_name(self, key: str, node: Node) -> None:
        name = _str(node, key)
        if " " in name:
            raise _Invalid(node.pos, "server name cannot contain spaces")
        self.opts.server_name = name

    def trace_verbose(self, key: str, node: Node) -> None:
        self.opts.trace_verbose = self.opts.trace = _bool(node, key)

    def no_system_account(self, key: str, node: Node) -> None:
        self.opts.no_system_account = _bool(node, key)

    def accounts(self, key: str, node: Node) -> None:
        """``accounts``: config/accounts.py."""
        parse_accounts(self, key, node)

    def system_account(self, key: str, node: Node) -> None:
        if not isinstance(node.value, str):
            raise _Invalid(node.pos, "system account name must be a string")
        self.opts.system_account = node.value

    def jetstream(self, key: str, node: Node) -> None:
        """``jetstream: true|false|enabled|disabled`` or a block of JetStream settings."""
        v = node.value
        if isinstance(v, bool):
            self.opts.jetstream = v
            return
        if isinstance(v, str):
            low = v.lower()
            if low not in ("enabled", "enable", "true", "disabled", "disable", "false"):
                raise _Invalid(
                    node.pos, f"Expected 'enabled' or 'disabled' for string value, got {go_quote(v)}"
                )
            self.opts.jetstream = low in ("enabled", "enable", "true")
            return
        if not isinstance(v, dict):
            raise _Invalid(node.pos, f"Expected map, bool or string to define JetStream, got {_kind(v)}")
        self.opts.jetstream = True
        for k, child in v.items():
            low = k.lower()
            with self._collecting():
                if low in ("store", "store_dir", "storedir"):
                    self.opts.store_dir = _str(child, k)
                elif low in ("max_memory_store", "max_mem_store", "max_mem"):
                    self.opts.jetstream_max_memory = _int(child, k)
                elif low in ("max_file_store", "max_file"):
                    self.opts.jetstream_max_store = _int(child, k)
                elif low == "domain":
                    self.opts.jetstream_domain = _str(child, k)
                elif low == "enabled":
                    self.opts.jetstream = _bool(child, k)
                elif low in ("sync", "sync_interval"):
                    self._sync_interval(child, k)
                elif low == "strict":
                    self.opts.jetstream_strict = _bool(child, k)
                elif low in ("key", "ek", "cipher", "prev_key", "prev_ek"):
                    self.opts.unsupported[f"{key}.{k}"] = "JetStream encryption at rest"
                elif low in (
                    "unique_tag",
                    "max_outstanding_catchup",
                    "max_buffered_msgs",
                    "max_buffered_size",
                    "request_queue_limit",
                    "extension_hint",
                    "tpm",
                ):
                    self.opts.unsupported[f"{key}.{k}"] = f"the JetStream setting {k!r}"
                elif low == "limits":
                    self._jetstream_limits(f"{key}.{k}", child)
                else:
                    self._unknown(k, child)

    def _jetstream_limits(self, path: str, node: Node) -> None:
        """``jetstream { limits { ... } }``: the server's limits on consumers and streams
        (``max_ha_assets`` counts replicated assets: none exist on a single server)."""
        if not isinstance(node.value, dict):
            raise _Invalid(node.pos, f"Expected a map to define JetStreamLimits, got {_kind(node.value)}")
        for k, child in node.value.items():
            low = k.lower()
            if low != "batch":
                with self._collecting():
                    if low == "max_ack_pending":
                        self.opts.jetstream_max_ack_pending = _int(child, k)
                    elif low == "max_request_batch":
                        self.opts.jetstream_max_request_batch = _int(child, k)
                    elif low == "max_ha_assets":
                        self.opts.jetstream_max_ha_assets = _int(child, k)
                    elif low == "default_max_consumers":
                        self.opts.jetstream_default_max_consumers = _int(child, k)
                    elif low == "duplicate_window":
                        self.opts.jetstream_duplicate_window = _duration_string(child, k)
                    else:
                        self._unknown(k, child)
                continue
            if not isinstance(child.value, dict):
                raise _Invalid(child.pos, f"Expected a map to define batch limits, got {_kind(child.value)}")
            for bk, bnode in child.value.items():
                low = bk.lower()
                with self._collecting():
                    if low == "max_inflight_per_stream":
                        self.opts.jetstream_batch_max_inflight_per_stream = _int(bnode, bk)
                    elif low == "max_inflight_total":
                        self.opts.jetstream_batch_max_inflight_total = _int(bnode, bk)
                    elif low == "max_msgs":
                        self.opts.jetstream_batch_max_msgs = _int(bnode, bk)
                    elif low == "timeout":
                        self.opts.jetstream_batch_timeout = _duration_string(bnode, bk) / _NS
                    else:
                        self._unknown(bk, bnode)

    def _sync_interval(self, node: Node, key: str) -> None:
        """``sync_interval: always`` fsyncs before every PubAck; a duration sets the period."""
        if isinstance(node.value, str) and node.value.lower() == "always":
            self.opts.sync_always = True
            return
        ns = _duration_string(node, key)
        if ns <= 0:
            raise _Invalid(node.pos, f"{key} must be positive")
        self.opts.sync_interval = ns / _NS

    def mappings(self, key: str, node: Node) -> None:
        """``mappings``/``maps``: subject mappings of the global account (config/mappings.py)."""
        self.opts.mappings, issues = parse_mappings(node)
        self.errors.extend(issues)

    def store_dir(self, key: str, node: Node) -> None:
        self.opts.store_dir = _str(node, key)

    def limit(self, key: str, node: Node, field: str, *, max_value: int | None = None) -> None:
        value = _non_negative(node, key)
        if max_value is not None and value > max_value:
            raise _Invalid(node.pos, f"{key} value is too big")
        setattr(self.opts, field, value)

    def limit_or_default(self, key: str, node: Node, field: str, *, max_value: int | None = None) -> None:
        """Limits where the reference reads 0 as "use the default"."""
        self.limit(key, node, field, max_value=max_value)
        if getattr(self.opts, field) == 0:
            setattr(self.opts, field, getattr(_DEFAULTS, field))

    # -- durations ------------------------------------------------------------------------

    def interval(self, key: str, node: Node, field: str) -> None:
        """ping_interval/write_deadline: a duration string, or (deprecated) whole seconds."""
        if isinstance(node.value, str):
            ns = _duration_string(node, key)
        else:
            self.warnings.append(
                ConfigIssue(
                    node.pos, f"invalid use of field {go_quote(key)}: {key} should be converted to a duration"
                )
            )
            ns = _int(node, key) * _NS
        if ns < 0:
            raise _Invalid(node.pos, f"invalid {key}, needs to be positive")
        setattr(self.opts, field, ns / _NS if ns else getattr(_DEFAULTS, field))

    def lame_duck_duration(self, key: str, node: Node) -> None:
        ns = _duration_string(node, key)
        if ns < 30 * _NS:
            raise _Invalid(node.pos, f"invalid {key} of {format_duration(ns)}, minimum is 30 seconds")
        self.opts.lame_duck_duration = ns / _NS

    def lame_duck_grace_period(self, key: str, node: Node) -> None:
        ns = _duration_string(node, key)
        if ns < 0:
            raise _Invalid(node.pos, f"invalid {key}, needs to be positive")
        self.opts.lame_duck_grace_period = ns / _NS if ns else _DEFAULTS.lame_duck_grace_period

    # -- authorization ---------------------------------------------------------------------

    def authorization(self, key: str, node: Node) -> None:
        entries = node.value
        if not isinstance(entries, dict):
            raise _Invalid(node.pos, f"Expected authorization to be a map/struct, got {_kind(entries)}")
        user = password = token = ""
        timeout: float | None = None
        users: list[User] | None = None
        defaults: Permissions | None = None
        for k, v in entries.items():
            low = k.lower()
            with self._collecting():
                if low in ("user", "username"):
                    user = _str(v, k)
                elif low in ("pass", "password"):
                    password = _str(v, k)
                elif low == "token":
                    token = _str(v, k)
                elif low == "timeout":
                    timeout = self._auth_timeout(v)
                elif low == "users":
                    users = self._users(v)
                elif low in ("default_permission", "default_permissions", "permissions"):
                    defaults = self._permissions(v)
                elif low == "auth_callout":
                    self.opts.unsupported[f"{key}.{k}"] = "authorization callout"
                elif low == "proxy_required":
                    if _bool(v, k):
                        self.opts.unsupported[f"{key}.{k}"] = "proxy-required connections"
                else:
                    self._unknown(k, v)

        if (user or password) and token:
            raise _Invalid(node.pos, "Cannot have a user/pass and token")
        if users is not None and user:
            raise _Invalid(node.pos, "Can not have a single user/pass and a users array")
        if users is not None and token:
            raise _Invalid(node.pos, "Can not have a token and a users array")
        # users of the accounts block (parsed before this block) stay, and names stay unique;
        # names first, then NKeys, against one set: the reference's order of checks
        in_accounts = [u for u in self.opts.users if u.account]
        seen: set[str] = {u.nkey or u.username for u in in_accounts}
        if in_accounts and user:
            raise _Invalid(node.pos, "Can not have a single user/pass and accounts")
        if in_accounts and token:
            raise _Invalid(node.pos, "Can not have a token and accounts")
        for u in sorted(users or [], key=lambda u: bool(u.nkey)):
            ident, kind = (u.nkey, "nkey") if u.nkey else (u.username, "user")
            if ident in seen:
                raise _Invalid(node.pos, f"Duplicate {kind} {go_quote(ident)} detected")
            seen.add(ident)
            if u.permissions is None and defaults is not None:
                u.permissions = copy.deepcopy(defaults)

        self.opts.username, self.opts.password, self.opts.authorization = user, password, token
        self.opts.auth_timeout = timeout if timeout is not None else 0.0
        self.opts.auth_block = True
        if users is not None:
            self.opts.users = users + in_accounts
        if defaults is not None:
            self.opts.default_permissions = defaults

    @staticmethod
    def _auth_timeout(node: Node) -> float:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise _Invalid(node.pos, "error parsing authorization config, 'timeout' wrong type")
        if isinstance(v, str):
            try:
                seconds = parse_duration_ns(v) / _NS
            except ValueError as exc:
                raise _Invalid(node.pos, f"error parsing authorization config, 'timeout' {exc}")
        else:
            seconds = float(v)
        if seconds < 0:
            raise _Invalid(node.pos, "invalid authorization timeout, needs to be positive")
        return seconds

    def _users(self, node: Node) -> list[User]:
        entries = node.value
        if not isinstance(entries, list):
            raise _Invalid(node.pos, f"Expected users field to be an array, got {_kind(entries)}")
        users: list[User] = []
        for entry in entries:
            fields = entry.value
            if not isinstance(fields, dict):
                self.errors.append(
                    ConfigIssue(entry.pos, f"Expected user entry to be a map/struct, got {_kind(fields)}")
                )
                continue
            user = User(username="")
            for k, v in fields.items():
                low = k.lower()
                with self._collecting():
                    if low in ("user", "username"):
                        user.username = _str(v, k)
                    elif low in ("pass", "password"):
                        user.password = _str(v, k)
                    elif low in ("permission", "permissions", "authorization"):
                        user.permissions = self._permissions(v)
                    elif low == "nkey":
                        user.nkey = _str(v, k)
                    elif low in ("allowed_connection_types", "connection_types", "clients"):
                        self.opts.unsupported[f"authorization.users.{k}"] = "allowed connection types"
                    elif low == "proxy_required":
                        if _bool(v, k):
                            self.opts.unsupported[f"authorization.users.{k}"] = "proxy-required connections"
                    else:
                        self._unknown(k, v)
            if not user.username and not user.nkey:
                raise _Invalid(entry.pos, "User entry requires a user")
            if user.nkey:  # an NKey user (in the same list, as the reference's config)
                if not is_valid_public_user_key(user.nkey):
                    raise _Invalid(entry.pos, "Not a valid public nkey for a user")
                if user.username or user.password:
                    raise _Invalid(entry.pos, "Nkey users do not take usernames or passwords")
            users.append(user)
        return users

    # -- permissions ------------------------------------------------------------------------

    def _permissions(self, node: Node) -> Permissions:
        """A permissions block. With ``allow_responses`` the reference also turns off the
        blanket publish allow, so a publish allow list that is ``None`` or empty then means
        "replies only"; the auth layer has to read ``allow_responses`` that way."""
        entries = node.value
        if not isinstance(entries, dict):
            raise _Invalid(node.pos, f"Expected permissions to be a map/struct, got {_kind(entries)}")
        perms = Permissions()
        for k, v in entries.items():
            low = k.lower()
            with self._collecting():
                if low in ("pub", "publish", "import"):
                    perms.publish = self._subject_permission(v)
                elif low in ("sub", "subscribe", "export"):
                    perms.subscribe = self._subject_permission(v)
                elif low in ("publish_allow_responses", "allow_responses"):
                    perms.allow_responses = self._allow_responses(v)
                else:
                    self._unknown(k, v, f"Unknown field {go_quote(k)} parsing permissions")
        return perms

    def _subject_permission(self, node: Node) -> Permission | None:
        """``"subj"``, ``["a", "b"]`` (allow list) or ``{allow: ..., deny: ...}``."""
        entries = node.value
        if not isinstance(entries, dict):
            return Permission(allow=_perm_subjects(node))
        if not entries:
            return None
        perm = Permission()
        for k, v in entries.items():
            low = k.lower()
            with self._collecting():
                if low == "allow":
                    perm.allow = _perm_subjects(v)
                elif low == "deny":
                    perm.deny = _perm_subjects(v)
                else:
                    self._unknown(
                        k,
                        v,
                        f"Unknown field name {go_quote(k)} parsing subject permissions, only 'allow' or 'deny' are permitted",
                    )
        return perm

    def _allow_responses(self, node: Node) -> ResponsePermission | None:
        v = node.value
        if isinstance(v, bool):
            return ResponsePermission(_DEFAULT_RESPONSE_MAX_MSGS, _DEFAULT_RESPONSE_EXPIRES) if v else None
        if not isinstance(v, dict):
            raise _Invalid(node.pos, "error parsing response permissions, expected a boolean or a map")
        rp = ResponsePermission(_DEFAULT_RESPONSE_MAX_MSGS, _DEFAULT_RESPONSE_EXPIRES)
        for k, item in v.items():
            low = k.lower()
            if low in ("max", "max_msgs", "max_messages", "max_responses"):
                n = _int(item, k)
                if n != 0:  # 0 keeps the default; negative means unlimited, as in the reference
                    rp.max_msgs = n
            elif low in ("expires", "expiration", "ttl"):
                if not isinstance(item.value, str):
                    raise _Invalid(item.pos, "error parsing expires, not a duration string")
                try:
                    ns = parse_duration_ns(item.value)
                except ValueError as exc:
                    raise _Invalid(item.pos, f"error parsing expires: {exc}")
                if ns != 0:  # negative means "never expires", which is 0.0 in Options
                    rp.expires = max(ns, 0) / _NS
            else:
                self._unknown(k, item, f"Unknown field {go_quote(k)} parsing permissions")
        return rp

    # -- cross checks ---------------------------------------------------------------------

    def _check_no_auth_user(self, config: ConfigMap) -> None:
        name = self.opts.no_auth_user
        if not name:
            return
        node = next((v for k, v in config.items() if k.lower() == "no_auth_user"), None)
        pos = node.pos if node is not None else Position(self.opts.config_file)
        if not self.opts.users:
            self.errors.append(
                ConfigIssue(pos, f"no_auth_user: {go_quote(name)} present, but users/nkeys are not defined")
            )
        elif all(name not in (u.username, u.nkey) for u in self.opts.users):
            self.errors.append(
                ConfigIssue(
                    pos,
                    f"no_auth_user: {go_quote(name)} not present as user or nkey in authorization block or account configuration",
                )
            )


def _perm_subjects(node: Node) -> list[str]:
    v = node.value
    if isinstance(v, str):
        subjects = [v]
    elif isinstance(v, list):
        subjects = []
        for item in v:
            if not isinstance(item.value, str):
                raise _Invalid(item.pos, "Subject in permissions array cannot be cast to string")
            subjects.append(item.value)
    else:
        raise _Invalid(
            node.pos, f"Expected subject permissions to be a subject, or array of subjects, got {_kind(v)}"
        )
    for s in subjects:
        if is_valid_subject(s):
            continue
        fields = s.split()  # "subject queue" is allowed in subscribe permissions
        bad = s if len(fields) != 2 else (None if is_valid_subject(fields[0]) else fields[0])
        if bad is not None:
            raise _Invalid(node.pos, f"subject {go_quote(bad)} is not a valid subject")
    return subjects


def _setter(field: str, conv: Callable[[Node, str], object]) -> _Handler:
    def handler(loader: _Loader, key: str, node: Node) -> None:
        setattr(loader.opts, field, conv(node, key))

    return handler


def _limit(field: str, *, max_value: int | None = None, zero_is_default: bool = False) -> _Handler:
    def handler(loader: _Loader, key: str, node: Node) -> None:
        if zero_is_default:
            loader.limit_or_default(key, node, field, max_value=max_value)
        else:
            loader.limit(key, node, field, max_value=max_value)

    return handler


def _interval(field: str) -> _Handler:
    def handler(loader: _Loader, key: str, node: Node) -> None:
        loader.interval(key, node, field)

    return handler


_TOP_LEVEL: dict[str, _Handler] = {
    "listen": _Loader.listen,
    "host": _Loader.host,
    "net": _Loader.host,
    "port": _Loader.port,
    "server_name": _Loader.server_name,
    "client_advertise": _setter("client_advertise", _str),
    "http": _Loader.http,
    "http_port": _Loader.http_port,
    "monitor_port": _Loader.http_port,
    "http_base_path": _setter("http_base_path", _str),
    "https": _Loader.https,
    "https_port": _Loader.https_port,
    "tls": _Loader.tls,
    "allow_non_tls": _setter("allow_non_tls", _bool),
    "pidfile": _setter("pid_file", _str),
    "pid_file": _setter("pid_file", _str),
    "ports_file_dir": _setter("ports_file_dir", _str),
    "debug": _setter("debug", _bool),
    "trace": _setter("trace", _bool),
    "trace_verbose": _Loader.trace_verbose,
    "logtime": _setter("logtime", _bool),
    "logtime_utc": _setter("logtime_utc", _bool),
    "logfile": _setter("log_file", _str),
    "log_file": _setter("log_file", _str),
    "syslog": _setter("syslog", _bool),
    "remote_syslog": _setter("remote_syslog", _str),
    "logfile_size_limit": _limit("log_size_limit"),
    "log_size_limit": _limit("log_size_limit"),
    "max_traced_msg_len": _limit("max_traced_msg_len"),
    "max_payload": _limit("max_payload", max_value=_MAX_INT32, zero_is_default=True),
    "max_control_line": _limit("max_control_line", max_value=_MAX_INT32, zero_is_default=True),
    "max_pending": _limit("max_pending", zero_is_default=True),
    "max_connections": _limit("max_connections", zero_is_default=True),
    "max_conn": _limit("max_connections", zero_is_default=True),
    "max_subscriptions": _limit("max_subscriptions"),
    "max_subs": _limit("max_subscriptions"),
    "ping_max": _limit("ping_max", zero_is_default=True),
    "ping_interval": _interval("ping_interval"),
    "write_deadline": _interval("write_deadline"),
    "lame_duck_duration": _Loader.lame_duck_duration,
    "lame_duck_grace_period": _Loader.lame_duck_grace_period,
    "no_header_support": _setter("no_header_support", _bool),
    "disable_sublist_cache": _setter("disable_sublist_cache", _bool),
    "max_closed_clients": _limit("max_closed_clients", zero_is_default=True),
    "no_sublist_cache": _setter("disable_sublist_cache", _bool),
    "authorization": _Loader.authorization,
    "no_auth_user": _setter("no_auth_user", _str),
    "no_system_account": _Loader.no_system_account,
    "accounts": _Loader.accounts,
    "system_account": _Loader.system_account,
    "system": _Loader.system_account,
    "no_system": _Loader.no_system_account,
    "no_sys_acc": _Loader.no_system_account,
    "jetstream": _Loader.jetstream,
    "store_dir": _Loader.store_dir,
    "mappings": _Loader.mappings,
    "maps": _Loader.mappings,
    # operator (JWT) mode: config/operator.py
    **dict.fromkeys(
        ("operator", "operators", "root", "roots", "root_operator", "root_operators"), parse_operator
    ),
    **dict.fromkeys(("trusted", "trusted_keys"), parse_trusted),
    **dict.fromkeys(("resolver", "account_resolver", "accounts_resolver"), parse_resolver),
    "resolver_preload": parse_resolver_preload,
    "resolver_pinned_accounts": parse_pinned_accounts,
    "resolver_tls": _Loader.resolver_tls,
    "cluster": _Loader.cluster,
}


def listen_address(node: Node) -> tuple[str | None, int]:
    """``listen``-style ``host:port`` or port (config/cluster.py); raises the loader's issue."""
    return _listen(node)


# -- public API -------------------------------------------------------------------------------


def apply_config(
    config: ConfigMap, base: Options | None = None, *, source: str = "<string>"
) -> tuple[Options, list[ConfigIssue]]:
    """Apply an already parsed config over ``base``; returns the options and the warnings.

    Raises ConfigError listing every problem found.
    """
    opts = copy.deepcopy(base) if base is not None else Options()
    if not config:
        raise ConfigError.at(Position(source), "config has no values or is empty")
    loader = _Loader(opts)
    loader.run(config)
    if loader.errors:
        raise ConfigError(loader.errors)
    return opts, loader.warnings


def load_config_with_warnings(path: str, base: Options | None = None) -> tuple[Options, list[ConfigIssue]]:
    """Like load_config, but hands back the warnings (the reference's ``-t`` fails on them)."""
    opts, warnings = apply_config(parse_file(path), base, source=path)
    opts.config_file = path
    return opts, warnings


def load_config(path: str, base: Options | None = None) -> Options:
    """Read a config file over ``base`` (default: fresh Options). Warnings are logged.

    Raises ConfigError (with file, line, column and reason for every problem).
    """
    opts, warnings = load_config_with_warnings(path, base)
    for warning in warnings:
        _log.warning("%s", warning)
    return opts
