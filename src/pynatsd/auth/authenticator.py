"""Client authentication from the CONNECT credentials, in the reference server's order.

Checked against nats-server 2.15.1:

* With a users list, a CONNECT naming a user is judged against that user only. A CONNECT
  with no user, no pass and no auth_token is logged in as ``no_auth_user`` when one is
  configured, by borrowing that user's configured password; so a ``no_auth_user`` whose
  password is a bcrypt hash can never log in this way (the reference rejects it too).
* Otherwise the configured token, else the single user/pass, decides. A token server
  ignores a supplied user/pass, a user/pass server ignores a supplied token, and a
  missing credential compares as the empty string.
* NKey users (users-list entries with ``nkey``) are looked up first: a CONNECT naming an
  ``nkey`` is judged against that key only, and must carry ``sig``, the signature of the
  connection's nonce (``pynatsd.protocol.nkeys``); an unknown key fails even when password
  users exist. A ``no_auth_user`` may be an NKey: a CONNECT with no credentials at all
  then logs in as it, without a signature. ``jwt`` is not consulted; without NKey users a
  CONNECT carrying only ``nkey``/``sig`` counts as "no credentials" for ``no_auth_user``.
* Configured passwords and tokens matching ``$2[abxy]$NN$`` are bcrypt hashes; anything
  else (``$2$...`` included) is compared as plain text. Like Go's bcrypt, only the first
  72 bytes of a supplied password count.
* ``default_permissions`` apply to users of the users list that have none, never to the
  single user or token.

Failure replies with ``-ERR 'Authorization Violation'`` and closes at once; a client that
sends nothing within the auth timeout gets ``-ERR 'Authentication Timeout'`` and is closed
(the texts are :data:`pynatsd.protocol.errors.ERR_AUTH_VIOLATION` and ``ERR_AUTH_TIMEOUT``;
the server sends them).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bcrypt

from pynatsd.auth.certmap import user_for_cert
from pynatsd.auth.operator import JwtGrant, Log, OperatorAuth
from pynatsd.options import Options, Permissions, User
from pynatsd.protocol.nkeys import verify_nonce
from pynatsd.tls import CertIdentity, effective_timeout

__all__ = [
    "DEFAULT_AUTH_TIMEOUT",
    "AuthResult",
    "Authenticator",
    "is_bcrypt",
]

DEFAULT_AUTH_TIMEOUT = 2.0  # seconds, when Options.auth_timeout is 0 and there is no TLS

_BCRYPT_RE = re.compile(r"\$2[abxy]\$[0-9]{2}\$")
_BCRYPT_MAX_PASSWORD = 72


def is_bcrypt(secret: str) -> bool:
    """Whether a configured password or token is a bcrypt hash, by the reference's rule."""
    return _BCRYPT_RE.match(secret) is not None


def _bcrypt_check(hashed: str, password: str) -> bool:
    """Run one (slow) bcrypt verification; never raises."""
    # Go treats 2a/2b/2x/2y alike and reads at most 72 bytes; normalising the prefix
    # and truncating makes the bcrypt package agree (and not raise on long input).
    h = ("$2b" + hashed[3:]).encode("utf-8", "surrogatepass")
    pw = password.encode("utf-8", "surrogatepass")[:_BCRYPT_MAX_PASSWORD]
    try:
        return bcrypt.checkpw(pw, h)
    except ValueError:
        return False


def _plain_equal(a: str, b: str) -> bool:
    # Digests first so neither content nor length leaks through timing.
    da = hashlib.sha256(a.encode("utf-8", "surrogatepass")).digest()
    db = hashlib.sha256(b.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(da, db)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """A successful login: the user name or NKey (None for token auth), its permissions
    (None = all) and its account ("" = the global account)."""

    user: str | None
    permissions: Permissions | None
    account: str = ""
    grant: JwtGrant | None = None  # operator mode: the user JWT's limits and expiry


@dataclass(frozen=True, slots=True)
class _BcryptPending:
    hashed: str
    password: str
    result: AuthResult


class Authenticator:
    """Decides CONNECTs for one configuration; rebuild it when the options change.

    Successful bcrypt verifications are remembered (bounded LRU keyed by the stored hash
    and a keyed digest of the password, never the password itself) so reconnect storms
    cost one bcrypt run per distinct credential. :meth:`authenticate_async` also runs
    bcrypt off the event loop and shares one run between concurrent identical attempts.
    """

    def __init__(self, options: Options, *, cache_size: int = 1024, log: Any = None) -> None:
        # Operator (JWT) mode: user JWTs only (auth/operator.py); None otherwise.
        self.operator = (
            OperatorAuth(options, log) if options.trusted_operators or options.trusted_keys else None
        )
        self._token = options.authorization
        self._username = options.username
        self._password = options.password
        users: dict[str, User] = {}
        nkeys: dict[str, User] = {}
        for u in options.users:
            if u.nkey:
                nkeys[u.nkey] = u
            else:
                users[u.username] = u  # later duplicates win, as in the reference's map
        self._users = users
        self._nkeys = nkeys
        self._no_auth_user = options.no_auth_user
        self._default_permissions = options.default_permissions
        self._auth_timeout = options.auth_timeout
        if self._auth_timeout <= 0 and options.tls is not None:
            # As the reference: with TLS the default leaves the handshake its time first.
            self._auth_timeout = effective_timeout(options.tls) + 1.0
        self._tls_map = options.tls is not None and options.tls.map
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_key_secret = os.urandom(32)
        self._inflight: dict[tuple[str, bytes], asyncio.Task[bool]] = {}

    # -- configuration facts the server needs --

    @property
    def auth_required(self) -> bool:
        """Credentials are checked: CONNECT must authenticate and the auth timer is armed."""
        return (
            bool(self._users)
            or bool(self._nkeys)
            or bool(self._token)
            or bool(self._username)
            or self.operator is not None
        )

    @property
    def nonce_required(self) -> bool:
        """Each connection gets a nonce in INFO: there are NKey users (or user JWTs) to sign it."""
        return bool(self._nkeys) or self.operator is not None

    @property
    def has_no_auth_user(self) -> bool:
        nau = self._no_auth_user
        return bool(nau) and (nau in self._users or nau in self._nkeys)

    def is_listed(self, name: str) -> bool:
        """Whether ``name`` is a user of the users list, by name or NKey. On reload, a client
        whose listed identity is gone is closed without an error, as the reference does."""
        return bool(name) and (name in self._users or name in self._nkeys)

    @property
    def advertise_auth_required(self) -> bool:
        """Value for INFO ``auth_required``: the reference leaves it out when no_auth_user is set."""
        return self.auth_required and not self.has_no_auth_user

    @property
    def auth_timeout(self) -> float:
        """Seconds a client has to send CONNECT (Options value, or the 2 s default)."""
        return self._auth_timeout if self._auth_timeout > 0 else DEFAULT_AUTH_TIMEOUT

    # -- authentication --

    def authenticate(
        self,
        connect: Mapping[str, Any],
        nonce: bytes = b"",
        cert: CertIdentity | None = None,
        *,
        host: str = "",
        log: Log | None = None,
    ) -> AuthResult | None:
        """Judge a CONNECT object; None means reply ``Authorization Violation`` and close.
        ``nonce`` is the one the connection's INFO carried (for NKey signatures).

        May run bcrypt (tens of milliseconds or more): call from a worker thread, or use
        :meth:`authenticate_async` on the event loop.
        """
        r = self._evaluate(connect, nonce, cert, host, log)
        if isinstance(r, _BcryptPending):
            return r.result if self._verify_bcrypt(r.hashed, r.password) else None
        return r

    async def authenticate_async(
        self,
        connect: Mapping[str, Any],
        nonce: bytes = b"",
        cert: CertIdentity | None = None,
        *,
        host: str = "",
        log: Log | None = None,
    ) -> AuthResult | None:
        """Like :meth:`authenticate`, without blocking the event loop on bcrypt.

        ``cert``: the client certificate, which names the user under ``verify_and_map``;
        ``host``: the client's address (a user JWT's ``src``); ``log`` hears why a user JWT
        was refused (operator mode).
        """
        if self.operator is not None and self.operator.fetcher is not None:
            await self.operator.resolve(connect)  # the URL resolver: fetch the user's account
        r = self._evaluate(connect, nonce, cert, host, log)
        if not isinstance(r, _BcryptPending):
            return r
        key = self._cache_key(r.hashed, r.password)
        if self._cache_hit(key):
            return r.result
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(_bcrypt_check, r.hashed, r.password))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._finish, key))
        # shield: one client giving up must not cancel the check others are waiting on.
        ok = await asyncio.shield(task)
        return r.result if ok else None

    def _evaluate(
        self,
        connect: Mapping[str, Any],
        nonce: bytes = b"",
        cert: CertIdentity | None = None,
        host: str = "",
        log: Log | None = None,
    ) -> AuthResult | _BcryptPending | None:
        if not self.auth_required:
            return AuthResult(None, None)
        if self.operator is not None:
            got = self.operator.authenticate(connect, nonce, host, log or _quiet)
            if got is None:
                return None
            account, perms, grant = got
            return AuthResult(grant.user_key, perms, account, grant)
        if self._tls_map and self._users and not (self._nkeys and connect.get("nkey")):
            # verify_and_map: the certificate alone names the user; no password is asked
            # (but a CONNECT naming an NKey is judged as that NKey user, as the reference does).
            mapped = user_for_cert(cert, self._users)
            if mapped is None:
                return None
            perms = mapped.permissions
            if perms is None and not mapped.account:  # accounts have their own defaults
                perms = self._default_permissions
            return AuthResult(mapped.username, perms, mapped.account)
        user_s = _field(connect, "user")
        pass_s = _field(connect, "pass")
        token_s = _field(connect, "auth_token")
        if user_s is None or pass_s is None or token_s is None:
            return None  # a non-string credential cannot match anything

        if self._nkeys:
            nkey_s = _field(connect, "nkey")
            if nkey_s is None:
                return None
            if nkey_s or not (user_s or pass_s or token_s):
                if not nkey_s and self._no_auth_user in self._nkeys:
                    nkey_s = self._no_auth_user
                if nkey_s:
                    return self._check_nkey(nkey_s, _field(connect, "sig"), nonce)

        if self._users:
            if self._no_auth_user and not user_s and not pass_s and not token_s:
                nau = self._users.get(self._no_auth_user)
                if nau is not None:
                    user_s, pass_s = nau.username, nau.password
            if user_s:
                user = self._users.get(user_s)
                if user is None:
                    return None
                perms = user.permissions
                if perms is None and not user.account:  # accounts have their own defaults
                    perms = self._default_permissions
                return self._compare(user.password, pass_s, AuthResult(user.username, perms, user.account))

        if self._token:
            return self._compare(self._token, token_s, AuthResult(None, None))
        if self._username:
            if not _plain_equal(self._username, user_s):
                return None
            return self._compare(self._password, pass_s, AuthResult(self._username, None))
        return None

    def _check_nkey(self, nkey: str, sig: str | None, nonce: bytes) -> AuthResult | None:
        """An NKey user: known key, and (unless it is the no_auth_user) a valid signature."""
        user = self._nkeys.get(nkey)
        if user is None or sig is None:
            return None
        if nkey != self._no_auth_user and (not sig or not verify_nonce(nkey, nonce, sig)):
            return None
        perms = user.permissions
        if perms is None and not user.account:  # accounts have their own defaults
            perms = self._default_permissions
        return AuthResult(nkey, perms, user.account)

    @staticmethod
    def _compare(stored: str, supplied: str, ok: AuthResult) -> AuthResult | _BcryptPending | None:
        if is_bcrypt(stored):
            if supplied == stored:
                return None  # a hash never verifies against itself; skip the bcrypt run
            return _BcryptPending(stored, supplied, ok)
        return ok if _plain_equal(stored, supplied) else None

    # -- bcrypt result cache --

    def _cache_key(self, hashed: str, password: str) -> tuple[str, bytes]:
        mac = hmac.new(self._cache_key_secret, password.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return hashed, mac.digest()

    def _cache_hit(self, key: tuple[str, bytes]) -> bool:
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return True
        return False

    def _cache_add(self, key: tuple[str, bytes]) -> None:
        if self._cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[key] = None
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _verify_bcrypt(self, hashed: str, password: str) -> bool:
        key = self._cache_key(hashed, password)
        if self._cache_hit(key):
            return True
        ok = _bcrypt_check(hashed, password)
        if ok:
            self._cache_add(key)
        return ok

    def _finish(self, key: tuple[str, bytes], task: asyncio.Task[bool]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and task.exception() is None and task.result():
            self._cache_add(key)


def _quiet(level: str, text: str) -> None:
    """A log that hears nothing."""


def _field(connect: Mapping[str, Any], name: str) -> str | None:
    """A CONNECT credential as a string: absent or null is empty, anything else invalid."""
    v = connect.get(name)
    if v is None:
        return ""
    return v if isinstance(v, str) else None
