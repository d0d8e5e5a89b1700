"""Operator (JWT) mode: trusted operators, accounts from account JWTs, users from user JWTs.

The server trusts only operator keys (``trusted_keys``, and each operator JWT's subject
unless it asks for strict signing-key use, plus its signing keys). Accounts come from the
resolver: MEMORY holds the ``resolver_preload`` JWTs; the URL resolver's fetches
(``server/resolver.py``, injected as :attr:`OperatorAuth.fetcher`) add accounts as users
need them (:meth:`OperatorAuth.resolve`). Each account signed by a trusted key and valid
becomes an :class:`~pynatsd.options.AccountConfig` named by its public key, so the
accounts machinery (limits, imports, exports) serves it unchanged. A client logs in with
a user JWT in CONNECT (``jwt``) and its signature of the INFO nonce (``sig``, unless the
JWT is a bearer token); :meth:`OperatorAuth.authenticate` makes the reference's checks in
its order and reports the reason of a refusal with the reference's debug texts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pynatsd import jwt
from pynatsd.jwt import claims as C
from pynatsd.jwt import validate as V
from pynatsd.options import (
    AccountConfig,
    ExportConfig,
    ImportConfig,
    JsAccountLimits,
    Options,
    Permission,
    Permissions,
    ResponsePermission,
)
from pynatsd.protocol.nkeys import PREFIX_ACCOUNT, decode_public_key, verify_nonce
from pynatsd.protocol.subjects import has_wildcard, subset_of

__all__ = ["JwtAccount", "JwtGrant", "OperatorAuth", "trusted_keys"]

_NS = 1_000_000_000
_DEFAULT_RESPONSE_EXPIRES = 120.0
_KNOWN_CONN_TYPES = frozenset(
    {"STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS", "IN_PROCESS"}
)

# (level, text): level "DBG" or "ERR", as the reference logs each reason.
Log = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class JwtGrant:
    """What a user JWT grants besides its account and permissions."""

    user_key: str  # the user's public key (its identity)
    subs: int  # -1: no limit of the user's own
    payload: int
    expires_in: float  # seconds until the login ends (JWT expiry or end of its time range); 0 = never
    name: str = ""
    account_expires_in: float = 0.0  # seconds until the account JWT expires; 0 = never


@dataclass
class JwtAccount:
    """One account JWT as the server holds it."""

    claims: C.AccountClaims
    token: str
    signers: dict[str, C.UserScope | None] = field(default_factory=dict)  # keys that may sign users

    @property
    def name(self) -> str:
        return self.claims.sub


def trusted_keys(opts: Options) -> tuple[set[str], set[str]]:
    """The trusted operator keys, and the operators that allow only their signing keys."""
    keys = set(opts.trusted_keys)
    strict: set[str] = set()
    for token in opts.trusted_operators:
        op = jwt.decode_operator(token)
        if op.nats.strict_signing_key_usage:
            strict.update([op.sub, *op.nats.signing_keys])
        else:
            keys.add(op.sub)
        keys.update(op.nats.signing_keys)
    return keys, strict


def _permissions(u: C.User) -> Permissions | None:
    """The reference's buildPermissionsFromJwt: None when the JWT sets none."""
    p: Permissions | None = None
    if u.pub.allow or u.pub.deny:
        p = Permissions(publish=Permission(list(u.pub.allow), list(u.pub.deny)))
    if u.sub.allow or u.sub.deny:
        p = p or Permissions()
        p.subscribe = Permission(list(u.sub.allow), list(u.sub.deny))
    if u.resp is not None:
        p = p or Permissions()
        p.allow_responses = ResponsePermission(
            max_msgs=u.resp.max if u.resp.max > 0 else 1,
            expires=u.resp.ttl / _NS if u.resp.ttl > 0 else _DEFAULT_RESPONSE_EXPIRES,
        )
    return p


def _account_issues(ac: C.AccountClaims, now: float) -> list[str]:
    """Blocking issues of an account JWT (time checks included), as the library's Validate."""
    out = V.time_issues(ac, now)
    lim = ac.nats.limits
    if lim.imports >= 0 and len(ac.nats.imports) > lim.imports:
        out.append("the account contains more imports than allowed by the operator")
    if lim.exports >= 0 and len(ac.nats.exports) > lim.exports:
        out.append("the account contains more exports than allowed by the operator")
    if not lim.wildcards and any(has_wildcard(e.subject) for e in ac.nats.exports):
        out.append("the account contains wildcard exports that are not allowed by the operator")
    for imp in ac.nats.imports:
        out += V.import_issues(imp, ac.sub, now, time_checks=False)
    return out


class OperatorAuth:
    """The accounts of operator mode and the judge of user JWTs (one per configuration)."""

    def __init__(self, opts: Options, log: Any = None) -> None:
        self.trusted, self._strict = trusted_keys(opts)
        # resolver_pinned_accounts (with the system account), or None: every account.
        pinned = opts.resolver_pinned_accounts
        self._pinned: set[str] | None = None
        if pinned:
            self._pinned = {*pinned, *([opts.system_account] if opts.system_account else [])}
        self.accounts: dict[str, JwtAccount] = {}
        self._invalid: set[str] = set()  # preloaded, but not valid: lookups fail validation
        self._log = log
        self._notes: list[tuple[str, str]] = []  # what to log at start, after the operators
        # A resolver that fetches account JWTs on demand (the URL resolver): set by the
        # server; ``on_accounts_changed`` lets it create the accounts fetched.
        self.fetcher: Callable[[str], Awaitable[str]] | None = None
        self.on_accounts_changed: Callable[[], None] | None = None
        self._fetched: dict[str, str] = {}  # account -> JWT, kept across reloads
        self._fetch_errors: dict[str, str] = {}
        self._inflight: dict[str, asyncio.Future[None]] = {}
        # When the first activation of the wired imports expires (Unix time; 0: none).
        self.next_activation_expiry = 0.0
        now = time.time()
        for name, token in opts.resolver_preload.items():
            self._preload(name, token, now)

    def _warn(self, msg: str) -> None:
        self._notes.append(("WRN", msg))

    def _preload(self, name: str, token: str, now: float, fetched: bool = False) -> None:
        try:
            ac = jwt.decode_account(token)
        except jwt.JWTError:
            if not fetched:
                self._notes.append(("ERR", f"Preloaded account [{name}] not valid"))
            self._invalid.add(name)
            return
        issues = _account_issues(ac, now)
        if issues and not fetched:
            self._warn(f"Account [{name}] has validation issues:")
            for i in issues:
                self._warn(f"  - {i}")
        if ac.sub != name or ac.iss not in self.trusted or issues:
            self._invalid.add(name)
            return  # as the reference: every lookup of it fails (account validation failed)
        signers: dict[str, C.UserScope | None] = dict(ac.nats.signing_key_scopes())
        if ac.iss not in self._strict:
            signers[ac.sub] = None
        self.accounts[name] = JwtAccount(ac, token, signers)

    # -- fetching (URL resolver) -------------------------------------------------------------

    def adopt(self, old: OperatorAuth) -> None:
        """Keep the accounts an earlier configuration fetched (on reload)."""
        now = time.time()
        for name, token in old._fetched.items():
            if name not in self.accounts:
                self._fetched[name] = token
                self._preload(name, token, now, fetched=True)

    async def resolve(self, connect: Mapping[str, Any]) -> None:
        """Fetch the account of the CONNECT's user JWT (and the accounts it imports from)
        when it is not known yet; failures are remembered for the login's debug line."""
        if self.fetcher is None:
            return
        token = connect.get("jwt")
        if not isinstance(token, str) or not token:
            return
        try:
            uc = jwt.decode_user(token)
        except jwt.JWTError:
            return
        name = uc.nats.issuer_account or uc.iss
        if await self._ensure(name, depth=0) and self.on_accounts_changed is not None:
            self.on_accounts_changed()

    async def ensure_account(self, name: str) -> bool:
        """Fetch one account unless known (the system account at start); whether it is known."""
        if await self._ensure(name, depth=0) and self.on_accounts_changed is not None:
            self.on_accounts_changed()
        return name in self.accounts

    async def _ensure(self, name: str, depth: int) -> bool:
        """Fetch ``name`` and its exporters; True when an account was added."""
        if name in self.accounts or name in self._invalid or depth > 8 or self.fetcher is None:
            return False
        if decode_public_key(name, PREFIX_ACCOUNT) is None:
            return False
        pending = self._inflight.get(name)
        if pending is not None:
            await asyncio.shield(pending)
            return name in self.accounts
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[name] = fut
        try:
            try:
                token = (await self.fetcher(name)).strip()
            except Exception as exc:
                self._fetch_errors[name] = str(exc)
                return False
            self._fetch_errors.pop(name, None)
            self._fetched[name] = token
            self._preload(name, token, time.time(), fetched=True)
            acc = self.accounts.get(name)
            if acc is not None:
                for imp in acc.claims.nats.imports:
                    await self._ensure(imp.account, depth + 1)
            return acc is not None
        finally:
            fut.set_result(None)
            del self._inflight[name]

    def log_startup(self, opts: Options, log: Any) -> None:
        """The reference's ``Trusted Operators`` lines at start."""
        log.notice("Trusted Operators")
        for token in opts.trusted_operators:
            op = jwt.decode_operator(token)
            log.notice('  System  : "%s"', op.aud)  # the reference prints the audience here
            log.notice('  Operator: "%s"', op.name)
            log.notice("  Issued  : %s", _go_time(op.iat))
            log.notice("  Expires : %s", _go_time(op.exp) if op.exp else "Never")
        if opts.trusted_keys and not opts.trusted_operators:
            log.notice("Trusted Keys")
            for k in opts.trusted_keys:
                log.notice("  %s", k)
        if opts.trusted_operators and not opts.system_account:
            log.warn("Trusted Operators should utilize a System Account")
        for level, msg in self._notes:
            (log.error if level == "ERR" else log.warn)("%s", msg)

    # -- accounts --------------------------------------------------------------------------

    def account_configs(self, now: float | None = None) -> list[AccountConfig]:
        """Every valid account as an accounts-block entry, imports checked against exports."""
        n = time.time() if now is None else now
        self.next_activation_expiry = 0.0
        return [self._account_config(a, n) for a in self.accounts.values()]

    def _account_config(self, acc: JwtAccount, now: float) -> AccountConfig:
        ac = acc.claims
        lim = ac.nats.limits
        cfg = AccountConfig(
            name=ac.sub,
            max_connections=lim.conn,
            max_subscriptions=lim.subs,
            max_payload=lim.payload,
            max_leafnodes=lim.leaf,
            default_permissions=_permissions(ac.nats.default_permissions),
        )
        for e in ac.nats.exports:
            cfg.exports.append(
                ExportConfig(
                    subject=e.subject,
                    service=e.type == "service",
                    response_type=(e.response_type or "Singleton").lower(),
                    response_threshold=e.response_threshold / _NS if e.response_threshold else 120.0,
                    allow_trace=e.allow_trace,
                    account_token_position=e.account_token_position,
                )
            )
        for imp in ac.nats.imports:
            ic = self._import_config(ac.sub, imp, now)
            if ic is not None:
                cfg.imports.append(ic)
        cfg.jetstream = _jetstream(lim)
        if ac.nats.mappings:
            from pynatsd.options import MapDest

            cfg.mappings = [
                (src, [MapDest(m.subject, m.weight or 100, m.cluster) for m in dests])
                for src, dests in ac.nats.mappings.items()
            ]
        return cfg

    def _import_config(self, importer: str, imp: C.Import, now: float) -> ImportConfig | None:
        """The import when the exporter exports it to ``importer``, else None."""
        exporter = self.accounts.get(imp.account)
        service = imp.type == "service"
        if service:
            local, remote = (
                (imp.local_subject, imp.subject)
                if imp.local_subject
                else (imp.subject, imp.to or imp.subject)
            )
        else:
            local, remote = imp.local_subject, imp.subject
        if exporter is None:
            self._error(f"Can't locate account [{imp.account}] for import of [{imp.subject}] {imp.type}")
            return None
        export = next(
            (
                e
                for e in exporter.claims.nats.exports
                if (e.type == "service") == service and subset_of(remote, e.subject)
            ),
            None,
        )
        if export is None:
            return None
        if export.account_token_position:
            toks = remote.split(".")
            pos = export.account_token_position
            if pos > len(toks) or toks[pos - 1] != importer:
                return None
        if export.token_req:
            act = V.activation_ok(imp, importer, exporter.name, exporter.signers, export.revocations, now)
            if act is None:
                return None
            if act.exp and (not self.next_activation_expiry or act.exp < self.next_activation_expiry):
                self.next_activation_expiry = float(act.exp)  # the server rebuilds the imports then
        if service:
            return ImportConfig(
                account=imp.account,
                subject=remote,
                service=True,
                to=local if local != remote else "",
                share=imp.share,
            )
        return ImportConfig(
            account=imp.account,
            subject=remote,
            to=local,
            prefix="" if local else imp.to,
            allow_trace=imp.allow_trace,
        )

    def _error(self, msg: str) -> None:
        if self._log is not None:
            self._log.error("%s", msg)

    # -- users -----------------------------------------------------------------------------

    def authenticate(
        self, connect: Mapping[str, Any], nonce: bytes, host: str, debug: Log
    ) -> tuple[str, Permissions | None, JwtGrant] | None:
        """(account, permissions, grant) for a valid user JWT in CONNECT, else None after
        telling ``debug`` why, with the reference's texts and in its order."""
        token = connect.get("jwt")
        uc: C.UserClaims | None = None
        if isinstance(token, str) and token:
            try:
                uc = jwt.decode_user(token)
            except jwt.JWTError as exc:
                debug("DBG", f"User JWT not valid: {exc}")
                return None
        if uc is None:
            debug("DBG", "Authentication requires a user JWT")
            return None
        now = time.time()
        issues = V.user_issues(uc, now)
        if issues:
            debug("DBG", f"User JWT no longer valid: {_vr(issues)}")
            return None
        issuer = uc.nats.issuer_account or uc.iss
        if self._pinned is not None and issuer not in self._pinned:
            debug("DBG", f"Account {issuer} not listed as operator pinned account")
            return None
        acc = self.accounts.get(issuer)
        if acc is None:
            debug("DBG", f"Account JWT lookup error: {self.lookup_error(issuer)}")
            return None
        if uc.iss not in acc.signers:
            debug("DBG", "User JWT issuer is not known")
            return None
        user = uc.nats
        scope = acc.signers[uc.iss]
        if scope is not None:
            reason = V.validate_scoped_signer(scope, uc)
            if reason is not None:
                debug("DBG", f"User JWT is not valid: {reason}")
                return None
            try:
                user = V.apply_template(scope.template, uc, acc.claims.name, acc.claims.nats.tags)
            except V.TemplateError:
                debug("DBG", "User JWT generated invalid permissions")
                return None
        if acc.claims.exp and acc.claims.exp <= now:
            debug("DBG", "Account JWT has expired")
            return None
        if user.bearer_token and acc.claims.nats.limits.disallow_bearer:
            debug("DBG", "Account does not allow bearer tokens")
            return None
        if user.allowed_connection_types:
            known = [t for t in user.allowed_connection_types if t.upper() in _KNOWN_CONN_TYPES]
            unknown = [t for t in user.allowed_connection_types if t.upper() not in _KNOWN_CONN_TYPES]
            if unknown:
                listed = " ".join(f'"{t.upper()}"' for t in unknown)
                debug("DBG", f"invalid connection types [{listed}]")
                if not known:
                    return None
            if "STANDARD" not in {t.upper() for t in known}:
                debug("DBG", "Connection type not allowed")
                return None
        if not user.bearer_token:
            sig = connect.get("sig")
            if not isinstance(sig, str) or not sig:
                debug("DBG", "Signature missing")
                return None
            if not verify_nonce(uc.sub, nonce, sig):
                debug("DBG", "Signature not verified")
                return None
        if V.is_revoked(acc.claims.nats.revocations, uc.sub, uc.iat):
            debug("DBG", "User authentication revoked")
            return None
        if not V.src_allows(user, host):
            debug("ERR", f"Bad src Ip {host}")
            return None
        allowed, valid_for = V.times_allow(user, now)
        if not allowed:
            debug("ERR", "Outside connect times")
            return None
        perms = _permissions(user)
        if perms is None:
            perms = _permissions(acc.claims.nats.default_permissions)
        expires_in = 0.0
        if uc.exp:
            expires_in = max(uc.exp - now, 0.0)
            if valid_for and valid_for < expires_in:
                expires_in = valid_for
        elif valid_for:
            expires_in = valid_for
        acc_left = max(acc.claims.exp - now, 0.0) if acc.claims.exp else 0.0
        grant = JwtGrant(uc.sub, user.subs, user.payload, expires_in, uc.name, acc_left)
        debug(
            "DBG",
            f'Authenticated JWT: Client "{uc.sub}" (claim-name: "{uc.name}", claim-tags: {_tags(uc.nats.tags)}) '
            f'signed with "{uc.iss}" by Account "{issuer}" (claim-name: "{acc.claims.name}", '
            f'claim-tags: {_tags(acc.claims.nats.tags)}) signed with "{acc.claims.iss}"',
        )
        return issuer, perms, grant

    def lookup_error(self, name: str) -> str:
        if decode_public_key(name, PREFIX_ACCOUNT) is None:
            return "will only fetch valid account keys"
        if name in self._fetch_errors:
            return self._fetch_errors[name]
        return "account validation failed" if name in self._invalid else "account missing"


def _go_time(t: int) -> str:
    """A Unix time as Go prints a time.Time in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(t))


def _vr(issues: list[str]) -> str:
    """Go's %+v of the library's ValidationResults, enough to read the reason."""
    return "&{Issues:[" + " ".join(f"{i}" for i in issues) + "]}"


def _tags(tags: list[str]) -> str:
    return "[" + " ".join(f'"{t}"' for t in tags) + "]"


def _jetstream(lim: C.AccountLimits) -> JsAccountLimits | None:
    """An account JWT's JetStream limits as the reference reads them: enabled when any
    storage is allowed; storage, stream and consumer limits taken as written (-1 unlimited),
    the others' zero meaning unlimited; tiered limits when no flat storage limit is set."""

    def unlimited(v: int) -> int:
        return v if v > 0 else -1

    def convert(j: C.JetStreamLimits | C.AccountLimits, tier: str = "") -> JsAccountLimits:
        return JsAccountLimits(
            max_memory=j.mem_storage,
            max_store=j.disk_storage,
            max_streams=j.streams,
            max_consumers=j.consumer,
            max_ack_pending=unlimited(j.max_ack_pending),
            memory_max_stream_bytes=unlimited(j.mem_max_stream_bytes),
            store_max_stream_bytes=unlimited(j.disk_max_stream_bytes),
            max_bytes_required=j.max_bytes_required,
            tier=tier,
        )

    if not lim.jetstream_enabled():
        return None
    if lim.mem_storage != 0 or lim.disk_storage != 0:
        return convert(lim.jetstream())
    tiers = tuple((name, convert(t, name)) for name, t in sorted(lim.tiered_limits.items()))
    r1 = dict(tiers).get("R1")
    if r1 is None:
        return JsAccountLimits(tiers=tiers)
    return dataclasses.replace(r1, tiers=tiers)
