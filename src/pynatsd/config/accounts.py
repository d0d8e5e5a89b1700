"""The config file's ``accounts`` block and ``system_account``, with the reference's checks.

Parsed in two passes as the reference does: first every account with its users, limits,
default permissions and the raw exports and imports; then (only when the first pass was
clean) exports are resolved, and each import is checked against them: the exporter must
exist, export the subject to the importer, and the import must not close a cycle. Texts are
the reference's (nats-server 2.15, opts.go and accounts.go).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pynatsd.config.account_nkey import parse_account_nkey
from pynatsd.config.errors import ConfigIssue, Position, go_type_name
from pynatsd.config.latency import parse_latency, tracking_problem
from pynatsd.config.mappings import parse_mappings
from pynatsd.config.msgtrace import parse_msg_trace
from pynatsd.gocompat import go_quote, parse_duration_ns
from pynatsd.mapping import TransformError, parse_transform
from pynatsd.options import AccountConfig, ExportConfig, ImportConfig, JsAccountLimits, ServiceLatency, User
from pynatsd.protocol.subjects import has_wildcard, is_valid_subject, subjects_collide, subset_of

if TYPE_CHECKING:
    from pynatsd.config.loader import _Loader
    from pynatsd.config.parser import Node

GLOBAL_ACCOUNT = "$G"
SYSTEM_ACCOUNT = "$SYS"
_NS = 1_000_000_000
_RESPONSE_TYPES = {"single": "singleton", "singleton": "singleton", "stream": "stream"}
_RESPONSE_TYPES.update({"chunk": "chunked", "chunked": "chunked"})


def _plus_v(v: object) -> str:
    """Go's %+v of a scalar config value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, int | float | str) else go_type_name(v)


def parse_accounts(loader: _Loader, key: str, node: Node) -> None:
    """``accounts``: a list of names, or a map of account name to its settings."""
    opts = loader.opts
    errors = loader.errors
    v = node.value
    if isinstance(v, list):
        seen: set[str] = set()
        for item in v:
            name = item.value
            if not isinstance(name, str):
                errors.append(ConfigIssue(item.pos, "Expected account name to be a string"))
                continue
            if name == GLOBAL_ACCOUNT:
                errors.append(ConfigIssue(item.pos, f"{go_quote(name)} is a Reserved Account"))
            elif name in seen:
                errors.append(ConfigIssue(item.pos, f"Duplicate Account Entry: {name}"))
            else:
                seen.add(name)
                opts.accounts.append(AccountConfig(name))
        return
    if not isinstance(v, dict):
        errors.append(ConfigIssue(node.pos, "Expected map entries for accounts"))
        return
    taken = {u.nkey or u.username for u in opts.users}
    for name, anode in v.items():
        if anode.used_as_variable:
            continue
        entries = anode.value
        if not isinstance(entries, dict):
            errors.append(ConfigIssue(anode.pos, "Expected map entries for accounts"))
            continue
        if name == GLOBAL_ACCOUNT:
            errors.append(ConfigIssue(anode.pos, f"{go_quote(name)} is a Reserved Account"))
            continue
        acc = AccountConfig(name)
        opts.accounts.append(acc)
        users: list[User] = []
        users_pos = anode.pos
        for k, child in entries.items():
            low = k.lower()
            if low == "users":
                users_pos = child.pos
                before = len(errors)
                with loader._collecting():
                    users = loader._users(child)
                if len(errors) > before:
                    users = []
            elif low == "default_permissions":
                with loader._collecting():
                    acc.default_permissions = loader._permissions(child)
            elif low == "exports":
                acc.exports = _exports(loader, child)
            elif low == "imports":
                acc.imports = _imports(loader, child)
            elif low == "limits":
                _limits(loader, child, acc)
            elif low == "jetstream":
                acc.jetstream = _jetstream(loader, child)
            elif low in ("mappings", "maps"):
                acc.mappings, issues = parse_mappings(child)
                errors.extend(issues)
            elif low == "nkey":
                nkey = parse_account_nkey(child)
                if isinstance(nkey, ConfigIssue):
                    errors.append(nkey)
                else:
                    acc.nkey = nkey
            elif low in ("msg_trace", "trace_dest"):
                parse_msg_trace(loader, k, child, acc)
            else:
                loader._unknown(k, child)
        if users:
            if opts.username:
                errors.append(ConfigIssue(users_pos, "Can not have a single user/pass and accounts"))
                continue
            if opts.authorization:
                errors.append(ConfigIssue(users_pos, "Can not have a token and accounts"))
                continue
        # names first, then NKeys, as the reference checks them
        for u in sorted(users, key=lambda u: bool(u.nkey)):
            if u.permissions is None and acc.default_permissions is not None:
                u.permissions = copy.deepcopy(acc.default_permissions)
            ident, kind = (u.nkey, "nkey") if u.nkey else (u.username, "user")
            if ident in taken:
                errors.append(ConfigIssue(users_pos, f"Duplicate {kind} {go_quote(ident)} detected"))
                continue
            taken.add(ident)
            u.account = name
            opts.users.append(u)
    if not errors:
        _resolve(loader, node.pos)


_JS_SIZES = {
    **dict.fromkeys(("max_memory", "max_mem", "mem", "memory"), "max_memory"),
    **dict.fromkeys(("max_store", "max_file", "max_disk", "store", "disk"), "max_store"),
    **dict.fromkeys(("max_streams", "streams"), "max_streams"),
    **dict.fromkeys(("max_consumers", "consumers"), "max_consumers"),
    **dict.fromkeys(("mem_max_stream_bytes", "memory_max_stream_bytes"), "memory_max_stream_bytes"),
    **dict.fromkeys(("disk_max_stream_bytes", "store_max_stream_bytes"), "store_max_stream_bytes"),
    "max_ack_pending": "max_ack_pending",
}


# The reference reports a bad account ``jetstream`` value itself without a position.
_NOWHERE = Position("")


def _jetstream(loader: _Loader, node: Node) -> JsAccountLimits | None:
    """An account's ``jetstream``: a bool, ``enabled``/``disabled`` or a map of limits.

    A map means enabled, with -1 (unlimited) for what it leaves out; ``cluster_traffic``
    only matters to clustered JetStream and is checked, not used."""
    v = node.value
    errors = loader.errors
    if isinstance(v, bool):
        return JsAccountLimits() if v else None
    if isinstance(v, str):
        low = v.lower()
        if low in ("enabled", "enable"):
            return JsAccountLimits()
        if low in ("disabled", "disable"):
            return None
        errors.append(ConfigIssue(_NOWHERE, f"Expected 'enabled' or 'disabled' for string value, got '{v}'"))
        return None
    if not isinstance(v, dict):
        errors.append(
            ConfigIssue(_NOWHERE, f"Expected map, bool or string to define JetStream, got {go_type_name(v)}")
        )
        return None
    fields: dict[str, Any] = {}
    for k, child in v.items():
        low = k.lower()
        cv = child.value
        field = _JS_SIZES.get(low)
        if field is not None:
            if isinstance(cv, bool) or not isinstance(cv, int):
                errors.append(
                    ConfigIssue(child.pos, f"Expected a parseable size for {go_quote(k)}, got {_plus_v(cv)}")
                )
                return None
            fields[field] = cv
        elif low in ("max_bytes_required", "max_stream_bytes", "max_bytes"):
            if not isinstance(cv, bool):
                errors.append(
                    ConfigIssue(child.pos, f"Expected a parseable bool for {go_quote(k)}, got {_plus_v(cv)}")
                )
                return None
            fields["max_bytes_required"] = cv
        elif low == "cluster_traffic":
            if not isinstance(cv, str):
                text = (
                    f"Expected either 'system' or 'owner' string value for {go_quote(k)}, got {_plus_v(cv)}"
                )
                errors.append(ConfigIssue(child.pos, text))
                return None
            if cv not in ("system", "", "owner"):
                text = f"Expected 'system' or 'owner' string value for {go_quote(k)}, got {cv}"
                errors.append(ConfigIssue(child.pos, text))
                return None
        else:
            loader._unknown(k, child)
    return JsAccountLimits(**fields)


def _limits(loader: _Loader, node: Node, acc: AccountConfig) -> None:
    entries = node.value
    if not isinstance(entries, dict):
        loader.errors.append(
            ConfigIssue(node.pos, f"Expected account limits to be a map/struct, got {_plus_v(entries)}")
        )
        return
    fields = {
        "max_connections": "max_connections",
        "max_conn": "max_connections",
        "max_subscriptions": "max_subscriptions",
        "max_subs": "max_subscriptions",
        "max_payload": "max_payload",
        "max_pay": "max_payload",
        "max_leafnodes": "max_leafnodes",
        "max_leafs": "max_leafnodes",
    }
    for k, child in entries.items():
        field = fields.get(k.lower())
        if field is None:
            loader._unknown(k, child, f"Unknown field {go_quote(k)} parsing account limits")
            continue
        v = child.value
        if isinstance(v, bool) or not isinstance(v, int):
            loader.errors.append(
                ConfigIssue(child.pos, f"Expected {k} to be an integer, got {go_type_name(v)}")
            )
            continue
        setattr(acc, field, v)


def _exports(loader: _Loader, node: Node) -> list[ExportConfig]:
    errors = loader.errors
    items = node.value
    if not isinstance(items, list):
        errors.append(ConfigIssue(node.pos, f"Exports should be an array, got {go_type_name(items)}"))
        return []
    out: list[ExportConfig] = []
    for item in items:
        fields = item.value
        if not isinstance(fields, dict):
            errors.append(
                ConfigIssue(
                    item.pos, f"Export Items should be a map with type entry, got {go_type_name(fields)}"
                )
            )
            continue
        kind = ""
        subject = ""
        accounts: list[str] | None = None
        rt: str | None = None
        threshold: float | None = None
        allow_trace: bool | None = None
        latency: ServiceLatency | None = None
        token_pos = 0
        directives: list[tuple[str, Position]] = []  # service-only settings, for a stream's error
        for k, child in fields.items():
            low = k.lower()
            v = child.value
            if low in ("stream", "service"):
                if kind and kind != low:
                    errors.append(
                        ConfigIssue(child.pos, f"Detected {low} {go_quote(str(v))} but already saw a {kind}")
                    )
                    continue
                if not isinstance(v, str):
                    errors.append(
                        ConfigIssue(child.pos, f"Expected {low} name to be string, got {go_type_name(v)}")
                    )
                    continue
                kind, subject = low, v
            elif low in ("response", "response_type"):
                directives.append(("response", child.pos))
                if rt is not None:
                    errors.append(ConfigIssue(child.pos, "Duplicate response type definition"))
                    continue
                if not isinstance(v, str):
                    errors.append(
                        ConfigIssue(child.pos, f"Expected response type to be string, got {go_type_name(v)}")
                    )
                    continue
                rt = _RESPONSE_TYPES.get(v.lower())
                if rt is None:
                    errors.append(ConfigIssue(child.pos, f"Unknown response type: {go_quote(v)}"))
                    rt = "singleton"
            elif low in ("threshold", "response_threshold", "response_max_time", "response_time"):
                directives.append(("response", child.pos))
                if threshold is not None:
                    errors.append(ConfigIssue(child.pos, "Duplicate response threshold detected"))
                    continue
                threshold = 0.0
                if not isinstance(v, str):
                    errors.append(
                        ConfigIssue(
                            child.pos,
                            f"Expected response threshold to be a parseable time duration, got {go_type_name(v)}",
                        )
                    )
                    continue
                try:
                    threshold = parse_duration_ns(v) / _NS
                except ValueError:
                    errors.append(
                        ConfigIssue(
                            child.pos,
                            f"Expected response threshold to be a parseable time duration, got {go_quote(v)}",
                        )
                    )
            elif low == "accounts":
                if not isinstance(v, list) or any(not isinstance(i.value, str) for i in v):
                    errors.append(ConfigIssue(child.pos, "Expected accounts to be an array of account names"))
                    continue
                accounts = [str(i.value) for i in v]
            elif low == "allow_trace":
                directives.append(("allow_trace", child.pos))
                if not isinstance(v, bool):
                    errors.append(
                        ConfigIssue(child.pos, f"Expected allow_trace to be a boolean, got {go_type_name(v)}")
                    )
                    continue
                allow_trace = v
            elif low == "account_token_position":
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    errors.append(
                        ConfigIssue(
                            child.pos, f"Expected {k} to be a positive integer, got {go_type_name(v)}"
                        )
                    )
                    continue
                token_pos = v
            elif low == "latency":
                parsed = parse_latency(child)
                if isinstance(parsed, ConfigIssue):
                    errors.append(parsed)
                    continue
                directives.append(("latency", child.pos))
                latency = parsed
            else:
                loader._unknown(k, child)
        if kind == "stream":
            for what, pos in directives:
                errors.append(ConfigIssue(pos, f"Detected {what} directive on non-service"))
        if kind:
            out.append(
                ExportConfig(
                    subject,
                    service=kind == "service",
                    accounts=accounts,
                    response_type=rt or "singleton",
                    response_threshold=threshold if threshold else 120.0,
                    allow_trace=bool(allow_trace),
                    account_token_position=token_pos,
                    latency=latency if kind == "service" else None,
                )
            )
    return out


def _imports(loader: _Loader, node: Node) -> list[ImportConfig]:
    errors = loader.errors
    items = node.value
    if not isinstance(items, list):
        errors.append(ConfigIssue(node.pos, f"Imports should be an array, got {go_type_name(items)}"))
        return []
    out: list[ImportConfig] = []
    services: dict[str, list[ImportConfig]] = {}
    for item in items:
        fields = item.value
        if not isinstance(fields, dict):
            errors.append(
                ConfigIssue(
                    item.pos, f"Import Items should be a map with type entry, got {go_type_name(fields)}"
                )
            )
            continue
        imp: ImportConfig | None = None
        prefix = to = ""
        share = allow_trace = False
        for k, child in fields.items():
            low = k.lower()
            v = child.value
            if low in ("stream", "service"):
                if imp is not None:
                    other = "service" if imp.service else "stream"
                    errors.append(ConfigIssue(child.pos, f"Detected {low} but already saw a {other}"))
                    continue
                if not isinstance(v, dict):
                    name = "Stream" if low == "stream" else "Service"
                    errors.append(
                        ConfigIssue(
                            child.pos, f"{name} entry should be an account map, got {go_type_name(v)}"
                        )
                    )
                    continue
                account = subject = ""
                for ak, av in v.items():
                    if ak.lower() == "account" and isinstance(av.value, str):
                        account = av.value
                    elif ak.lower() == "subject" and isinstance(av.value, str):
                        subject = av.value
                    elif ak.lower() not in ("account", "subject"):
                        loader._unknown(ak, av)
                if not account or not subject:
                    errors.append(ConfigIssue(child.pos, "Expect an account name and a subject"))
                    continue
                imp = ImportConfig(account, subject, service=low == "service")
            elif low == "prefix":
                if isinstance(v, str):
                    prefix = v
            elif low == "to":
                if isinstance(v, str):
                    to = v
            elif low == "share":
                share = v is True
            elif low == "allow_trace":
                allow_trace = v is True
                if imp is not None and imp.service:
                    errors.append(ConfigIssue(child.pos, "Detected allow_trace directive on a non-stream"))
            else:
                loader._unknown(k, child)
        if imp is None:
            continue
        if not imp.service and prefix and to:
            errors.append(ConfigIssue(item.pos, "Stream import can not have a 'prefix' and a 'to' property"))
            continue
        imp.to, imp.share, imp.allow_trace = to, share, allow_trace
        if imp.service:
            local = to or imp.subject
            for dup in services.get(local, []):
                if dup.account == imp.account:
                    errors.append(
                        ConfigIssue(
                            item.pos,
                            f"Duplicate service import subject {go_quote(local)}, previously used in import "
                            f"for account {go_quote(dup.account)}, subject {go_quote(dup.subject)}",
                        )
                    )
                    break
            else:
                services.setdefault(local, []).append(imp)
                out.append(imp)
        else:
            imp.prefix = prefix
            out.append(imp)
    return out


# -- the second pass: exports, then imports against them ------------------------------------


def export_allows(exports: list[ExportConfig], service: bool, subject: str, importer: str) -> bool:
    """Whether an account with these exports lets ``importer`` import ``subject``."""
    if not is_valid_subject(subject):
        return False
    for e in exports:
        if e.service != service or not subset_of(subject, e.subject):
            continue
        pos = e.account_token_position
        if pos > 0:
            tokens = subject.split(".")
            if pos <= len(tokens) and tokens[pos - 1] == importer:
                return True
        elif not e.accounts or importer in e.accounts:
            return True  # public (also an empty list, as the reference reads it), or listed
    return False


def local_subject(imp: ImportConfig) -> str:
    """Where an import appears in the importing account."""
    if imp.service:
        return imp.to or imp.subject
    if imp.prefix:
        return imp.prefix.rstrip(".") + "." + imp.subject
    return imp.to or imp.subject


def import_transform_dest(dest: str) -> str:
    """``dest`` with its ``*`` turned into wildcard placeholders, in order (the reference's
    transformTokenize), so that an import can map between two wildcard subjects."""
    if "*" not in dest:
        return dest
    n = 0
    tokens = []
    for t in dest.split("."):
        if t == "*":
            n += 1
            tokens.append(f"{{{{wildcard({n})}}}}")
        else:
            tokens.append(t)
    return ".".join(tokens)


def _resolve(loader: _Loader, pos: Position) -> None:
    errors = loader.errors
    accounts = {a.name: a for a in loader.opts.accounts}

    def err(text: str) -> None:
        errors.append(ConfigIssue(pos, text))

    for acc in accounts.values():
        for i, e in enumerate(acc.exports):
            kind = "service" if e.service else "stream"
            for name in e.accounts or []:
                if name not in accounts:
                    err(f"{go_quote(name)} account not defined for {kind} export")
            at = e.account_token_position
            tokens = e.subject.split(".")
            if not is_valid_subject(e.subject) or (at > 0 and (len(tokens) < at or tokens[at - 1] != "*")):
                err(f"Error adding {kind} export {go_quote(e.subject)}: sublist: invalid subject")
                continue
            problem = tracking_problem(acc.exports, i, loader.opts.no_system_account)
            if problem:
                err(problem)
    # imports added so far, per account, for the cycle checks
    added: dict[str, list[ImportConfig]] = {name: [] for name in accounts}
    for acc in accounts.values():
        for imp in acc.imports:
            kind = "service" if imp.service else "stream"
            src = accounts.get(imp.account)
            if src is None:
                err(f"{go_quote(imp.account)} account not defined for {kind} import")
                continue
            problem = _check_import(acc.name, imp, src, accounts, added)
            if problem:
                err(f"Error adding {kind} import {go_quote(imp.subject)}: {problem}")
                continue
            added[acc.name].append(imp)


def _check_import(
    importer: str,
    imp: ImportConfig,
    src: AccountConfig,
    accounts: dict[str, AccountConfig],
    added: dict[str, list[ImportConfig]],
) -> str:
    """The reference's reason for refusing one import, or ''."""
    if imp.service:
        local = imp.to or imp.subject
        if not is_valid_subject(imp.subject) or not is_valid_subject(local):
            return "sublist: invalid subject"
        if not export_allows(src.exports, True, imp.subject, importer):
            return "service import not authorized"
        if _service_cycle(src.name, local, {importer}, added):
            return "import forms a cycle"
        if local != imp.subject and (has_wildcard(local) or has_wildcard(imp.subject)):
            try:
                parse_transform(local, import_transform_dest(imp.subject), strict=True)
            except TransformError as exc:
                return (
                    f"failed to create mapping transform for service import subject from "
                    f"{go_quote(local)} to {go_quote(imp.subject)}: {exc}"
                )
        return ""
    if not export_allows(src.exports, False, imp.subject, importer):
        return "stream import not authorized"
    if imp.prefix and has_wildcard(imp.prefix):
        return "stream import prefix can not contain wildcard tokens"
    to = local_subject(imp)
    for subject in (to, imp.subject):
        if _stream_cycle(src.name, subject, {importer}, accounts, added):
            return "import forms a cycle"
    if imp.to and has_wildcard(imp.subject) and imp.to != imp.subject:
        try:
            parse_transform(imp.subject, import_transform_dest(imp.to), strict=True)
        except TransformError as exc:
            return (
                f"failed to create mapping transform for stream import subject from "
                f"{go_quote(imp.subject)} to {go_quote(imp.to)}: {exc}"
            )
    if any(i.account == imp.account and i.subject == imp.subject and not i.service for i in added[importer]):
        return "stream import already exists"
    return ""


def _service_cycle(
    account: str, subject: str, visited: set[str], added: dict[str, list[ImportConfig]]
) -> bool:
    """Whether requests on ``subject`` in ``account`` would come back to a visited account."""
    if len(visited) >= 1024:
        return True
    for si in added.get(account, []):
        # as the reference: the local subject against the exporter's side of its imports
        if not si.service or not subjects_collide(subject, si.subject):
            continue
        if si.account in visited:
            return True
        mine = si.to or si.subject
        nxt = mine if subset_of(mine, subject) else subject
        if _service_cycle(si.account, nxt, visited | {account}, added):
            return True
    return False


def _stream_cycle(
    account: str,
    to: str,
    visited: set[str],
    accounts: dict[str, AccountConfig],
    added: dict[str, list[ImportConfig]],
) -> bool:
    """Whether messages on ``to`` exported by ``account`` would flow back to a visited account."""
    if len(visited) >= 1024:
        return True
    acc = accounts.get(account)
    if acc is None or not any(not e.service and subset_of(to, e.subject) for e in acc.exports):
        return False
    for si in added.get(account, []):
        if si.service or not subjects_collide(to, local_subject(si)):
            continue
        if si.account in visited:
            return True
        local = local_subject(si)
        nxt = local if subset_of(local, to) else to
        if _stream_cycle(si.account, nxt, visited | {account}, accounts, added):
            return True
    return False
