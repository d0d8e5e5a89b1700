"""Validation of decoded claims, with the reference's rules and texts.

Pure functions of the claims and the time: expiry, user limits (``src``, ``times``,
``times_location``), revocations, scoped signing keys and their permission templates,
and activation tokens of imports.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
import zoneinfo

import msgspec

from pynatsd.jwt import claims as C
from pynatsd.jwt.codec import JWTError, decode_activation
from pynatsd.jwt.keys import PREFIX_ACCOUNT
from pynatsd.protocol.nkeys import decode_public_key
from pynatsd.protocol.subjects import is_valid_subject

__all__ = [
    "ALL",
    "activation_ok",
    "apply_template",
    "import_issues",
    "is_revoked",
    "src_allows",
    "time_issues",
    "times_allow",
    "user_issues",
    "validate_scoped_signer",
]

ALL = "*"  # a revocation of every key issued before its time


def time_issues(claim: C.ClaimsData, now: float | None = None) -> list[str]:
    """``claim is expired`` / ``claim is not yet valid``, as the library's time checks."""
    n = int(time.time() if now is None else now)
    out = []
    if claim.exp > 0 and n > claim.exp:
        out.append("claim is expired")
    if claim.nbf > 0 and claim.nbf > n:
        out.append("claim is not yet valid")
    return out


def _parse_clock(text: str) -> dt.time | None:
    try:
        return dt.datetime.strptime(text, "%H:%M:%S").time()
    except ValueError:
        return None


def _cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in text:
        return None  # Go's ParseCIDR requires the prefix length
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _zone(name: str) -> dt.tzinfo | None:
    if name in ("", "UTC"):
        return dt.UTC
    if name == "Local":
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise LookupError(f"unknown time zone {name}") from None


def user_limit_issues(u: C.User) -> list[str]:
    """Blocking issues of a user's limits (``src``, ``times``, ``times_location``)."""
    out = []
    for cidr in u.src_list():
        if _cidr(cidr) is None:
            out.append(f'invalid cidr "{cidr}" in user src limits')
    for tr in u.times:
        if not tr.start:
            out.append("time ranges start must contain a start")
        elif _parse_clock(tr.start) is None:
            out.append(f'start in time range is invalid "{tr.start}"')
        if not tr.end:
            out.append("time ranges end must contain an end")
        elif _parse_clock(tr.end) is None:
            out.append(f'end in time range is invalid "{tr.end}"')
    if u.times_location:
        try:
            _zone(u.times_location)
        except LookupError as e:
            out.append(f"could not parse iana time zone by name: {e}")
    return out


def user_issues(uc: C.UserClaims, now: float | None = None) -> list[str]:
    """Every blocking issue of a user JWT, time checks included (``IsBlocking(true)``)."""
    out = time_issues(uc, now) + user_limit_issues(uc.nats)
    ia = uc.nats.issuer_account
    if ia and decode_public_key(ia, PREFIX_ACCOUNT) is None:
        out.append("account_id is not an account public key")
    return out


def is_revoked(revocations: dict[str, int], subject: str, issued_at: int) -> bool:
    """A key is revoked when its entry (or the ``*`` entry) is not older than its JWT."""
    if not revocations:
        return False
    t = revocations.get(subject)
    if t is not None and t >= issued_at:
        return True
    t = revocations.get(ALL)
    return t is not None and t >= issued_at


def src_allows(u: C.User, host: str) -> bool:
    """Whether the client's address is inside one of ``src``'s CIDRs (no ``src``: any)."""
    src = u.src_list()
    if not src:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    for cidr in src:
        net = _cidr(cidr)
        if net is None:
            return False
        if ip.version == net.version and ip in net:
            return True
    return False


def times_allow(u: C.User, now: float | None = None) -> tuple[bool, float]:
    """Whether ``now`` is inside one of the ``times`` ranges (in ``times_location``, else the
    server's local zone), and for how many seconds more (0: no ranges, no limit)."""
    if not u.times:
        return True, 0.0
    try:
        zone = _zone(u.times_location) if u.times_location else None
    except LookupError:
        return False, 0.0
    t = time.time() if now is None else now
    cur = (
        dt.datetime.fromtimestamp(t, zone) if zone is not None else dt.datetime.fromtimestamp(t).astimezone()
    )
    ok, valid_for = False, 0.0
    for tr in u.times:
        s, e = _parse_clock(tr.start), _parse_clock(tr.end)
        if s is None or e is None:
            return False, 0.0
        start = cur.replace(hour=s.hour, minute=s.minute, second=s.second, microsecond=0)
        end = cur.replace(hour=e.hour, minute=e.minute, second=e.second, microsecond=0)
        inside, left = _in_range(start, end, cur)
        if inside and (not ok or left > valid_for):
            ok, valid_for = True, left
    return ok, valid_for


def _in_range(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> tuple[bool, float]:
    if start < now < end:
        return True, (end - now).total_seconds()
    if start > end:  # the range wraps past midnight
        if end > now:
            return True, (end - now).total_seconds()
        end = end + dt.timedelta(days=1)
        if start < now < end:
            return True, (end - now).total_seconds()
    return False, 0.0


def _perm_limits_empty(u: C.User) -> bool:
    """The library's HasEmptyPermissions: nothing of UserPermissionLimits is set."""
    return (
        not u.pub.allow
        and not u.pub.deny
        and not u.sub.allow
        and not u.sub.deny
        and u.resp is None
        and not u.src_list()
        and not u.times
        and not u.times_location
        and u.subs == 0
        and u.data == 0
        and u.payload == 0
        and not u.bearer_token
        and not u.proxy_required
        and not u.allowed_connection_types
    )


def validate_scoped_signer(scope: C.UserScope, uc: C.UserClaims) -> str | None:
    """None when a user signed by a scoped key is acceptable, else the library's reason."""
    if uc.iss != scope.key:
        return "issuer not the scoped signer"
    if not _perm_limits_empty(uc.nats):
        return "scoped users require no permissions or limits set"
    return None


_MUSTACHE = re.compile(r"\{{2}([^}]+)\}{2}")
_MAX_EXPANSIONS = 4096


class TemplateError(ValueError):
    pass


def _expand(
    items: list[str], uc: C.UserClaims, acc_name: str, acc_tags: list[str], strict: bool
) -> list[str]:
    if not any(_MUSTACHE.search(x) for x in items):
        return list(items)
    out: list[str] = []
    for item in items:
        srcs = [m.group(0) for m in _MUSTACHE.finditer(item)]
        values: list[list[str]] = []
        for tk in srcs:
            op = tk[2:-2].strip()
            low = op.lower()
            if low == "name()":
                values.append([uc.name])
            elif low == "subject()":
                values.append([uc.sub])
            elif low == "account-name()":
                values.append([acc_name])
            elif low == "account-subject()":
                values.append([uc.nats.issuer_account])
            elif (low.startswith("tag(") or low.startswith("account-tag(")) and op.endswith(")"):
                is_acc = low.startswith("account-tag(")
                name = op[len("account-tag(") if is_acc else len("tag(") : -1]
                prefix = name.lower() + ":"
                tags = acc_tags if is_acc else uc.nats.tags
                vals = [t[len(prefix) :] for t in tags if t.startswith(prefix)]
                if vals:
                    values.append(vals)
                elif strict:
                    raise TemplateError(f'generated invalid subject "{item}": "{name}" is not defined')
                else:
                    values.append([" "])
            else:
                raise TemplateError(f'template operation in "{item}": "{op}" is not defined')
        combos: list[list[str]] = [[]]
        for v in values:
            if len(combos) * len(v) > _MAX_EXPANSIONS:
                raise TemplateError(f"template expansion exceeds limit: {_MAX_EXPANSIONS}")
            combos = [[*c, x] for c in combos for x in v]
        for combo in combos:
            subj = item
            for src, val in zip(srcs, combo, strict=True):
                subj = subj.replace(src, val)
            if is_valid_subject(subj):
                out.append(subj)
                if len(out) > _MAX_EXPANSIONS:
                    raise TemplateError(f"template expansion exceeds limit: {_MAX_EXPANSIONS}")
            elif strict:
                raise TemplateError("generated invalid subject")
    return out


def apply_template(template: C.User, uc: C.UserClaims, acc_name: str, acc_tags: list[str]) -> C.User:
    """A scoped key's template with ``{{name()}}``, ``{{subject()}}``, ``{{tag(x)}}``... filled
    in for this user (TemplateError when it cannot be); the user's own tags and issuer stay."""
    sub_allow = _expand(template.sub.allow, uc, acc_name, acc_tags, False)
    sub_deny = _expand(template.sub.deny, uc, acc_name, acc_tags, True)
    pub_allow = _expand(template.pub.allow, uc, acc_name, acc_tags, False)
    pub_deny = _expand(template.pub.deny, uc, acc_name, acc_tags, True)
    if template.sub.allow and not sub_allow:
        sub_deny.append(">")
    if template.pub.allow and not pub_allow:
        pub_deny.append(">")
    return msgspec.structs.replace(
        template,
        pub=C.Permission(allow=pub_allow, deny=pub_deny),
        sub=C.Permission(allow=sub_allow, deny=sub_deny),
        issuer_account=uc.nats.issuer_account,
        tags=uc.nats.tags,
        type=uc.nats.type,
        version=uc.nats.version,
    )


def _contained_in(subject: str, other: str) -> bool:
    """Whether every subject matching ``subject`` also matches ``other`` (the library's
    IsContainedIn: token by token, ``*`` and ``>`` in ``other`` cover anything)."""
    a, b = subject.split("."), other.split(".")
    for i, tb in enumerate(b):
        if tb == ">":
            return i < len(a)
        if i >= len(a):
            return False
        if tb == "*":
            if a[i] == ">":
                return False
            continue
        if tb != a[i]:
            return False
    return len(a) == len(b)


def import_issues(
    imp: C.Import, importer: str, now: float | None = None, *, time_checks: bool = True
) -> list[str]:
    """Blocking issues of an import's activation token for account ``importer`` (an account
    JWT's own validation leaves the activation's time checks out: ``time_checks=False``)."""
    if not imp.token:
        return []
    try:
        act = decode_activation(imp.token)
    except JWTError:
        return [f'import "{imp.subject}" contains an invalid activation token']
    out = []
    if not (act.iss == imp.account or act.nats.issuer_account == imp.account):
        out.append(f'activation token doesn\'t match account for import "{imp.subject}"')
    if act.sub != importer:
        out.append(f'activation token doesn\'t match account it is being included in, "{imp.subject}"')
    if act.nats.kind != imp.type:
        out.append(f"mismatch between token import type {act.nats.kind} and type of import {imp.type}")
    if time_checks:
        out += time_issues(act, now)
    subj = imp.to if imp.type == "service" and imp.to else imp.subject
    if not _contained_in(subj, act.nats.subject):
        out.append(
            f'activation token import subject "{act.nats.subject}" doesn\'t match import "{imp.subject}"'
        )
    return out


def activation_ok(
    imp: C.Import,
    importer: str,
    exporter: str,
    exporter_keys: dict[str, C.UserScope | None],
    export_revocations: dict[str, int],
    now: float | None = None,
) -> C.ActivationClaims | None:
    """The import's activation when it lets ``importer`` use the export of ``exporter``
    (signed by the exporter or one of its signing keys, for this account, unexpired,
    not revoked by the export), else None."""
    if not imp.token or import_issues(imp, importer, now):
        return None
    try:
        act = decode_activation(imp.token)
    except JWTError:
        return None
    ia = act.nats.issuer_account
    if ia and (ia != exporter or act.iss not in exporter_keys):
        return None
    if not ia and act.iss != exporter:
        return None
    n = int(time.time() if now is None else now)
    if act.exp and act.exp <= n:
        return None
    if is_revoked(export_revocations, act.sub, act.iat):
        return None
    return act
