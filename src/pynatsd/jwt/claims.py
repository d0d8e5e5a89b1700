"""The claim types of NATS JWTs, field for field as the reference's jwt v2 library names them.

Every JWT carries the standard claims (``ClaimsData``: ``jti iat iss name sub exp nbf aud``)
and a ``nats`` section whose shape depends on ``nats.type``. Go embeds structs, so their
fields appear flat inside ``nats`` (a user's ``pub``, ``sub``, ``subs``, ``src``... are
siblings); these structs repeat that flat shape. Numbers keep the library's meaning: a
limit of -1 is "no limit", and 0 really is 0 (the reference treats it so); durations are
Go ``time.Duration`` nanoseconds. Unknown fields are ignored, as Go's decoder does.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ACCOUNT",
    "ACTIVATION",
    "AUTH_REQUEST",
    "AUTH_RESPONSE",
    "NO_LIMIT",
    "OPERATOR",
    "USER",
    "Account",
    "AccountClaims",
    "AccountLimits",
    "Activation",
    "ActivationClaims",
    "AuthRequest",
    "AuthRequestClaims",
    "AuthResponse",
    "AuthResponseClaims",
    "ClaimsData",
    "ClientInformation",
    "ClientTLS",
    "ConnectOptions",
    "Export",
    "ExternalAuthorization",
    "GenericClaims",
    "Import",
    "JetStreamLimits",
    "Operator",
    "OperatorClaims",
    "Permission",
    "ResponsePermission",
    "ServerID",
    "ServiceLatency",
    "TimeRange",
    "User",
    "UserClaims",
    "UserScope",
    "UserTemplate",
    "WeightedMapping",
]

NO_LIMIT = -1

OPERATOR = "operator"
ACCOUNT = "account"
USER = "user"
ACTIVATION = "activation"
AUTH_REQUEST = "authorization_request"
AUTH_RESPONSE = "authorization_response"

_KW: dict[str, Any] = {"omit_defaults": True, "kw_only": True}


class Permission(msgspec.Struct, **_KW):
    allow: list[str] = []
    deny: list[str] = []


class ResponsePermission(msgspec.Struct, kw_only=True):
    max: int = 0
    ttl: int = 0  # nanoseconds


class TimeRange(msgspec.Struct, **_KW):
    start: str = ""  # "HH:MM:SS"
    end: str = ""


def _no_limit() -> int:
    return NO_LIMIT


class User(msgspec.Struct, **_KW):
    """The ``nats`` section of a user JWT (also a scoped key's ``template``, without the
    trailing issuer/generic fields): permissions, limits and connection rules."""

    pub: Permission = msgspec.field(default_factory=Permission)
    sub: Permission = msgspec.field(default_factory=Permission)
    resp: ResponsePermission | None = None
    # UserLimits: src is a list of CIDRs (older tools wrote one comma-separated string).
    src: list[str] | str = []
    times: list[TimeRange] = []
    times_location: str = ""
    # NatsLimits (the library's constructors set -1; a JWT without them decodes as 0).
    subs: int = 0
    data: int = 0
    payload: int = 0
    bearer_token: bool = False
    proxy_required: bool = False
    allowed_connection_types: list[str] = []
    issuer_account: str = ""
    tags: list[str] = []
    type: str = ""
    version: int = 0

    def src_list(self) -> list[str]:
        """``src`` as a list, whichever way it was written."""
        if isinstance(self.src, str):
            return [p.strip() for p in self.src.lower().split(",") if p.strip()]
        return list(self.src)


class UserTemplate(User, **_KW):
    """A scoped key's template: the library makes it with no limits (-1), so absent limits
    decode as -1 here, not 0."""

    subs: int = NO_LIMIT
    data: int = NO_LIMIT
    payload: int = NO_LIMIT


class UserScope(msgspec.Struct, kw_only=True):
    """A scoped signing key: users it signs get ``template``, not their own permissions."""

    kind: str = "user_scope"
    key: str = ""
    role: str = ""
    template: UserTemplate = msgspec.field(default_factory=UserTemplate)
    description: str = ""


class JetStreamLimits(msgspec.Struct, **_KW):
    mem_storage: int = 0
    disk_storage: int = 0
    streams: int = 0
    consumer: int = 0
    max_ack_pending: int = 0
    mem_max_stream_bytes: int = 0
    disk_max_stream_bytes: int = 0
    max_bytes_required: bool = False


class AccountLimits(msgspec.Struct, **_KW):
    """``nats.limits`` of an account: NATS, account and JetStream limits, flat as in Go.
    Absent fields decode as 0 (Go's zero value, which the reference takes literally); the
    library's constructor writes -1 for "no limit" (:func:`pynatsd.jwt.new_account_claims`)."""

    subs: int = 0
    data: int = 0
    payload: int = 0
    imports: int = 0
    exports: int = 0
    wildcards: bool = False
    disallow_bearer: bool = False
    conn: int = 0
    leaf: int = 0
    mem_storage: int = 0
    disk_storage: int = 0
    streams: int = 0
    consumer: int = 0
    max_ack_pending: int = 0
    mem_max_stream_bytes: int = 0
    disk_max_stream_bytes: int = 0
    max_bytes_required: bool = False
    tiered_limits: dict[str, JetStreamLimits] = {}

    def jetstream(self) -> JetStreamLimits:
        """The untiered JetStream limits as one record."""
        return JetStreamLimits(
            mem_storage=self.mem_storage,
            disk_storage=self.disk_storage,
            streams=self.streams,
            consumer=self.consumer,
            max_ack_pending=self.max_ack_pending,
            mem_max_stream_bytes=self.mem_max_stream_bytes,
            disk_max_stream_bytes=self.disk_max_stream_bytes,
            max_bytes_required=self.max_bytes_required,
        )

    def jetstream_enabled(self) -> bool:
        """JetStream is on for the account when any storage is allowed (the reference's rule)."""
        if self.tiered_limits:
            return any(t.mem_storage != 0 or t.disk_storage != 0 for t in self.tiered_limits.values())
        return self.mem_storage != 0 or self.disk_storage != 0


class ServiceLatency(msgspec.Struct, kw_only=True):
    sampling: int | str = 0  # percent, or "headers"
    results: str = ""


class Export(msgspec.Struct, **_KW):
    name: str = ""
    subject: str = ""
    type: str = ""  # "stream" or "service"
    token_req: bool = False
    revocations: dict[str, int] = {}
    response_type: str = ""
    response_threshold: int = 0  # nanoseconds
    service_latency: ServiceLatency | None = None
    account_token_position: int = 0
    advertise: bool = False
    allow_trace: bool = False
    description: str = ""
    info_url: str = ""


class Import(msgspec.Struct, **_KW):
    name: str = ""
    subject: str = ""
    account: str = ""
    token: str = ""
    to: str = ""
    local_subject: str = ""
    type: str = ""
    share: bool = False
    allow_trace: bool = False


class WeightedMapping(msgspec.Struct, **_KW):
    subject: str = ""
    weight: int = 0
    cluster: str = ""


class ExternalAuthorization(msgspec.Struct, **_KW):
    auth_users: list[str] = []
    allowed_accounts: list[str] = []
    xkey: str = ""


class MsgTrace(msgspec.Struct, **_KW):
    dest: str = ""
    sampling: int = 0


class Account(msgspec.Struct, **_KW):
    """The ``nats`` section of an account JWT."""

    imports: list[Import] = []
    exports: list[Export] = []
    limits: AccountLimits = msgspec.field(default_factory=AccountLimits)
    # Plain keys are strings; scoped keys are objects (``kind: user_scope``).
    signing_keys: list[str | UserScope] = []
    revocations: dict[str, int] = {}
    default_permissions: User = msgspec.field(default_factory=User)  # only pub/sub/resp count
    mappings: dict[str, list[WeightedMapping]] = {}
    authorization: ExternalAuthorization = msgspec.field(default_factory=ExternalAuthorization)
    trace: MsgTrace | None = None
    cluster_traffic: str = ""
    description: str = ""
    info_url: str = ""
    tags: list[str] = []
    type: str = ""
    version: int = 0

    def signing_key_scopes(self) -> dict[str, UserScope | None]:
        """Signing keys by public key: None for a plain key, the scope for a scoped one."""
        out: dict[str, UserScope | None] = {}
        for k in self.signing_keys:
            if isinstance(k, str):
                out[k] = None
            else:
                out[k.key] = k
        return out


class Operator(msgspec.Struct, **_KW):
    signing_keys: list[str] = []
    account_server_url: str = ""
    operator_service_urls: list[str] = []
    system_account: str = ""
    assert_server_version: str = ""
    strict_signing_key_usage: bool = False
    tags: list[str] = []
    type: str = ""
    version: int = 0


class Activation(msgspec.Struct, **_KW):
    subject: str = ""
    kind: str = ""  # "stream" or "service"
    issuer_account: str = ""
    tags: list[str] = []
    type: str = ""
    version: int = 0


class ServerID(msgspec.Struct, kw_only=True):
    name: str = ""
    host: str = ""
    id: str = ""
    version: str = ""
    cluster: str = ""
    tags: list[str] = []
    xkey: str = ""


class ClientInformation(msgspec.Struct, **_KW):
    host: str = ""
    id: int = 0
    user: str = ""
    name: str = ""
    tags: list[str] = []
    name_tag: str = ""
    kind: str = ""
    type: str = ""
    mqtt_id: str = ""
    nonce: str = ""


class ConnectOptions(msgspec.Struct, kw_only=True, omit_defaults=True):
    jwt: str = ""
    nkey: str = ""
    sig: str = ""
    auth_token: str = ""
    user: str = ""
    # "pass" is a Python keyword: the attribute is ``password``.
    password: str = msgspec.field(default="", name="pass")
    name: str = ""
    lang: str = ""
    version: str = ""
    protocol: int = 0


class ClientTLS(msgspec.Struct, **_KW):
    version: str = ""
    cipher: str = ""
    certs: list[str] = []
    verified_chains: list[list[str]] = []


class AuthRequest(msgspec.Struct, **_KW):
    server_id: ServerID = msgspec.field(default_factory=ServerID)
    user_nkey: str = ""
    client_info: ClientInformation = msgspec.field(default_factory=ClientInformation)
    connect_opts: ConnectOptions = msgspec.field(default_factory=ConnectOptions)
    client_tls: ClientTLS | None = None
    request_nonce: str = ""
    tags: list[str] = []
    type: str = ""
    version: int = 0


class AuthResponse(msgspec.Struct, **_KW):
    jwt: str = ""
    error: str = ""
    issuer_account: str = ""
    tags: list[str] = []
    type: str = ""
    version: int = 0


class ClaimsData(msgspec.Struct, **_KW):
    """The standard claims, in the order Go writes them."""

    aud: str = ""
    exp: int = 0
    jti: str = ""
    iat: int = 0
    iss: str = ""
    name: str = ""
    nbf: int = 0
    sub: str = ""


class UserClaims(ClaimsData, **_KW):
    nats: User = msgspec.field(default_factory=User)


class AccountClaims(ClaimsData, **_KW):
    nats: Account = msgspec.field(default_factory=Account)


class OperatorClaims(ClaimsData, **_KW):
    nats: Operator = msgspec.field(default_factory=Operator)


class ActivationClaims(ClaimsData, **_KW):
    nats: Activation = msgspec.field(default_factory=Activation)


class AuthRequestClaims(ClaimsData, **_KW):
    nats: AuthRequest = msgspec.field(default_factory=AuthRequest)


class AuthResponseClaims(ClaimsData, **_KW):
    nats: AuthResponse = msgspec.field(default_factory=AuthResponse)


class GenericClaims(ClaimsData, **_KW):
    nats: dict[str, Any] = {}
