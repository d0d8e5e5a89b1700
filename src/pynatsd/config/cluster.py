"""The ``cluster {}`` block: routes to the other servers of a cluster, as the reference parses it.

What pynatsd does not build yet (route TLS, compression other than off, pooling, pinned
accounts, route permissions) is recorded in ``Options.unsupported`` by name, so the
server refuses it at start with a clear message instead of running half-configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pynatsd.config.errors import ConfigIssue
from pynatsd.config.parser import Node, Value
from pynatsd.gocompat import go_quote, parse_duration_ns
from pynatsd.options import ClusterOptions

if TYPE_CHECKING:
    from pynatsd.options import Options

__all__ = ["apply_cluster_flags", "parse_cluster", "parse_route_urls"]

# The Go type names the reference's failed type assertions print.
_GO_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int64"),
    (float, "float64"),
    (str, "string"),
    (list, "[]interface {}"),
    (dict, "map[string]interface {}"),
)


def _go_type(v: Value) -> str:
    return next((name for cls, name in _GO_TYPES if isinstance(v, cls)), "time.Time")


def _int_value(node: Node) -> int:
    v = _expect(node, int, "int64")
    assert isinstance(v, int)
    return v


def _expect(node: Node, cls: type, go_name: str) -> Value:
    """A value of the type the reference asserts, or its panic text as the issue."""
    v = node.value
    if not isinstance(v, cls) or (cls is int and isinstance(v, bool)):
        raise _Bad(node, f"interface conversion: interface {{}} is {_go_type(v)}, not {go_name}")
    return v


class _Bad(Exception):
    def __init__(self, node: Node, reason: str) -> None:
        super().__init__(reason)
        self.node = node
        self.reason = reason


def parse_route_urls(values: list[str]) -> list[str] | None:
    """Route URLs as the reference accepts them (scheme, host and port); None when one is bad."""
    out = []
    for v in values:
        v = v.strip()
        try:
            u = urlsplit(v)
            ok = bool(u.scheme) and bool(u.hostname) and u.port is not None
        except ValueError:
            ok = False
        if not ok:
            return None
        out.append(v)
    return out


# Keys the reference knows inside ``cluster {}`` that pynatsd does not build yet.
_UNBUILT = {
    "tls": "TLS for routes",
    "permissions": "route permissions (import/export)",
    "accounts": "pinned accounts on routes (route pooling)",
    "connect_backoff": "route connect backoff",
    "write_deadline": "a write deadline for routes",
    "write_timeout": "a write timeout policy for routes",
}


def parse_cluster(node: Node, opts: Options) -> list[ConfigIssue]:
    """Fill ``opts.cluster`` from the block; the issues found (as the reference words them)."""
    v = node.value
    if not isinstance(v, dict):
        return [ConfigIssue(node.pos, f"Expected map to define cluster, got {_go_type(v)}")]
    c = opts.cluster or ClusterOptions()
    opts.cluster = c
    issues: list[ConfigIssue] = []
    for key, child in v.items():
        k = key.lower()
        try:
            _apply(c, k, key, child, opts)
        except _Bad as exc:
            issues.append(ConfigIssue(exc.node.pos, exc.reason))
    return issues


def _apply(c: ClusterOptions, k: str, key: str, child: Node, opts: Options) -> None:
    if k == "name":
        name = str(_expect(child, str, "string"))
        if " " in name:
            raise _Bad(child, "cluster name cannot contain spaces")
        if name == "_":  # the reference reserves it for leaf-node origin
            raise _Bad(child, "cluster name is reserved")
        c.name = name
    elif k == "listen":
        from pynatsd.config.loader import listen_address

        host, port = listen_address(child)
        if host is not None:
            c.host = host or "0.0.0.0"
        c.port = port
    elif k == "port":
        c.port = _int_value(child)
    elif k in ("host", "net"):
        c.host = str(_expect(child, str, "string"))
    elif k == "routes":
        items = _expect(child, list, "[]interface {}")
        assert isinstance(items, list)
        urls: list[str] = []
        for item in items:
            if not isinstance(item.value, str):
                raise _Bad(
                    item, f"interface conversion: interface {{}} is {_go_type(item.value)}, not string"
                )
            parsed = parse_route_urls([item.value])
            if parsed is None:
                raise _Bad(item, f"error parsing route url [{go_quote(item.value)}]")
            urls += parsed
        c.routes = urls
    elif k in ("cluster_advertise", "advertise"):
        c.advertise = str(_expect(child, str, "string"))
    elif k == "no_advertise":
        c.no_advertise = bool(_expect(child, bool, "bool"))
    elif k == "connect_retries":
        c.connect_retries = _int_value(child)
    elif k == "pool_size":
        c.pool_size = _int_value(child)
        if c.pool_size >= 0:
            opts.unsupported["cluster.pool_size"] = "route pooling (pool_size other than -1)"
    elif k == "compression":
        mode = child.value
        if isinstance(mode, bool):
            mode = "on" if mode else "off"
        if isinstance(mode, dict):
            m = mode.get("mode")
            mode = m.value if m is not None else "accept"
        if not isinstance(mode, str) or mode.lower() not in ("off", "disabled", "false", "not supported"):
            opts.unsupported["cluster.compression"] = "route compression (only compression: off is built)"
    elif k == "authorization":
        _authorization(c, child)
    elif k == "ping_interval":
        t = child.value
        if isinstance(t, str):
            try:
                c.ping_interval = parse_duration_ns(t) / 1e9
            except ValueError as exc:
                raise _Bad(child, f"error parsing {key}: {exc}")
        elif isinstance(t, int) and not isinstance(t, bool):
            c.ping_interval = float(t)
    elif k == "ping_max":
        _expect(child, int, "int64")
    elif k in _UNBUILT:
        opts.unsupported[f"cluster.{key}"] = _UNBUILT[k]
    elif not child.used_as_variable:
        raise _Bad(child, f"unknown field {go_quote(key)}")


def _authorization(c: ClusterOptions, node: Node) -> None:
    """Route credentials: one user and password (the reference refuses users lists and tokens)."""
    v = node.value
    if not isinstance(v, dict):
        raise _Bad(node, f"Expected map to define authorization, got {_go_type(v)}")
    for key, child in v.items():
        k = key.lower()
        if k == "users":
            raise _Bad(node, "Cluster authorization does not allow multiple users")
        if k == "token":
            raise _Bad(node, "Cluster authorization does not support tokens")
        if k == "user" or k == "username":
            c.username = str(_expect(child, str, "string"))
        elif k == "password" or k == "pass":
            c.password = str(_expect(child, str, "string"))
        elif k == "timeout":
            t = child.value
            if isinstance(t, (int, float)) and not isinstance(t, bool):
                c.auth_timeout = float(t)


def apply_cluster_flags(flags: dict[str, object], opts: Options) -> str | None:
    """``--cluster``, ``--cluster_listen``, ``--cluster_name``, ``--routes``,
    ``--cluster_advertise``, ``--no_advertise``, ``--connect_retries`` over the config
    file's block, as the reference's overrideCluster; an error text or None."""
    names = (
        "cluster",
        "cluster_listen",
        "cluster_name",
        "routes",
        "cluster_advertise",
        "no_advertise",
        "connect_retries",
    )
    if not any(n in flags for n in names):
        return None
    had_listener = opts.cluster is not None and opts.cluster.port != 0
    c = opts.cluster or ClusterOptions()
    opts.cluster = c
    listen = flags.get("cluster") or flags.get("cluster_listen")
    if isinstance(listen, str) and listen:
        try:
            u = urlsplit(listen)
            host, port = u.hostname, u.port
        except ValueError:
            host, port = None, None
        if host is None or port is None:
            tail = urlsplit(listen).netloc.rsplit("]", 1)[-1]
            if ":" in tail and not tail.rsplit(":", 1)[1].isdigit():
                # Go's url.Parse, as the reference reports it
                return f'parse "{listen}": invalid port ":{tail.rsplit(":", 1)[1]}" after host'
            return f"could not parse cluster URL: {listen}"
        c.host, c.port = host, port
        if u.username:
            c.username, c.password = u.username, u.password or ""
    name = flags.get("cluster_name")
    if isinstance(name, str) and name:
        if " " in name:
            return "cluster name cannot contain spaces"
        c.name = name
    routes = flags.get("routes")
    if isinstance(routes, str) and routes and not listen and not had_listener:
        return "solicited routes require cluster capabilities, e.g. --cluster"
    if isinstance(routes, str) and routes:
        parsed = parse_route_urls([r for r in routes.split(",") if r.strip()])
        if parsed is None:
            return f"error parsing route urls {routes}"
        c.routes = parsed
    adv = flags.get("cluster_advertise")
    if isinstance(adv, str) and adv:
        c.advertise = adv
    if "no_advertise" in flags:
        c.no_advertise = bool(flags["no_advertise"])
    retries = flags.get("connect_retries")
    if isinstance(retries, int):
        c.connect_retries = retries
    return None
