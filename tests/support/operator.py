"""An operator, its accounts and users, made the way nsc makes them (nsc itself cannot be
built on this machine: its module is not in the Go cache), with pynatsd.jwt as the signer;
tests/jwt/test_jwt_go.py proves those tokens are what the reference's library makes.

:class:`World` holds the keys; :meth:`World.config` writes the operator config the
reference and pynatsd both read; :meth:`World.creds` writes a user's creds file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pynatsd import jwt
from pynatsd.jwt import claims as C


@dataclass
class Acct:
    key: jwt.KeyPair
    claims: C.AccountClaims
    signing: list[jwt.KeyPair] = field(default_factory=list)

    @property
    def pub(self) -> str:
        return self.key.public_key


@dataclass
class World:
    """One operator with a system account; add accounts and users, then write the files."""

    dir: Path
    op: jwt.KeyPair = field(default_factory=lambda: jwt.KeyPair.create(jwt.PREFIX_OPERATOR))
    accounts: dict[str, Acct] = field(default_factory=dict)
    signer: jwt.KeyPair | None = None  # an operator signing key used for account JWTs
    account_server_url: str = ""

    def __post_init__(self) -> None:
        self.sys = self.account("SYS")

    def account(self, name: str, edit: Callable[[C.AccountClaims], None] | None = None) -> Acct:
        kp = jwt.KeyPair.create(jwt.PREFIX_ACCOUNT)
        ac = jwt.new_account_claims(kp.public_key)
        ac.name = name
        if edit is not None:
            edit(ac)
        acct = self.accounts[name] = Acct(kp, ac)
        return acct

    def signing_key(self, acct: Acct, scope: C.UserTemplate | None = None, role: str = "") -> jwt.KeyPair:
        """A new signing key of ``acct`` (scoped when ``scope`` is given)."""
        sk = jwt.KeyPair.create(jwt.PREFIX_ACCOUNT)
        acct.signing.append(sk)
        if scope is None:
            acct.claims.nats.signing_keys.append(sk.public_key)
        else:
            acct.claims.nats.signing_keys.append(C.UserScope(key=sk.public_key, role=role, template=scope))
        return sk

    def account_jwt(self, acct: Acct) -> str:
        return jwt.encode(acct.claims, self.signer or self.op)

    def operator_jwt(self) -> str:
        oc = jwt.OperatorClaims(sub=self.op.public_key, name="OP")
        oc.nats.system_account = self.sys.pub
        oc.nats.account_server_url = self.account_server_url
        if self.signer is not None:
            oc.nats.signing_keys = [self.signer.public_key]
        return jwt.encode(oc, self.op)

    def config(self, extra: str = "", preload: dict[str, str] | None = None) -> Path:
        """The config file: operator JWT file, MEMORY resolver, every account preloaded."""
        op_file = self.dir / "operator.jwt"
        op_file.write_text(self.operator_jwt())
        tokens = {a.pub: self.account_jwt(a) for a in self.accounts.values()}
        tokens.update(preload or {})
        lines = "\n".join(f"  {k}: {v}" for k, v in tokens.items())
        path = self.dir / "operator.conf"
        path.write_text(f"operator: {op_file}\nresolver: MEMORY\nresolver_preload: {{\n{lines}\n}}\n{extra}")
        return path

    def user(
        self,
        acct: Acct,
        name: str = "u",
        edit: Callable[[C.UserClaims], None] | None = None,
        signer: jwt.KeyPair | None = None,
        key: jwt.KeyPair | None = None,
    ) -> tuple[str, jwt.KeyPair]:
        """A user JWT of ``acct`` (signed by the account, or ``signer``) and its key pair."""
        ukp = key or jwt.KeyPair.create(jwt.PREFIX_USER)
        uc = jwt.new_user_claims(ukp.public_key)
        uc.name = name
        if signer is not None:
            uc.nats.issuer_account = acct.pub
            if any(
                isinstance(k, C.UserScope) and k.key == signer.public_key
                for k in acct.claims.nats.signing_keys
            ):
                uc.nats.subs = uc.nats.data = uc.nats.payload = 0  # as nsc: a scoped user sets nothing
        if edit is not None:
            edit(uc)
        return jwt.encode(uc, signer or acct.key), ukp

    def creds(self, acct: Acct, name: str = "u", **kw: object) -> Path:
        token, ukp = self.user(acct, name, **kw)  # type: ignore[arg-type]
        return self.write_creds(name, token, ukp)

    def write_creds(self, name: str, token: str, ukp: jwt.KeyPair) -> Path:
        path = self.dir / f"{name}.creds"
        path.write_text(jwt.format_creds(token, ukp.seed))
        return path


def jetstream_limits(
    *,
    mem: int = 0,
    disk: int = 0,
    streams: int = -1,
    consumer: int = -1,
    tiers: dict[str, dict[str, int]] | None = None,
) -> Callable[[C.AccountClaims], None]:
    """An account edit giving it JetStream limits as nsc writes them: flat ``mem`` / ``disk``
    (0 = none) with ``streams`` / ``consumer``, or ``tiers`` (tier name -> those same keys)."""

    def edit(ac: C.AccountClaims) -> None:
        lim = ac.nats.limits
        lim.mem_storage, lim.disk_storage, lim.streams, lim.consumer = mem, disk, streams, consumer
        for name, t in (tiers or {}).items():
            lim.tiered_limits[name] = C.JetStreamLimits(
                mem_storage=t.get("mem", 0),
                disk_storage=t.get("disk", 0),
                streams=t.get("streams", -1),
                consumer=t.get("consumer", -1),
            )

    return edit
