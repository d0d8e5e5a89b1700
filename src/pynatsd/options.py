"""Server options: one typed record shared by the CLI, the config file and the embedding API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024


@dataclass
class Permission:
    """An allow/deny pair of subject lists; empty allow means everything is allowed."""

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)


@dataclass
class ResponsePermission:
    """allow_responses: how many replies (max_msgs) may be sent within expires seconds."""

    max_msgs: int = 1
    expires: float = 0.0  # seconds; 0 = no expiry


@dataclass
class Permissions:
    publish: Permission | None = None
    subscribe: Permission | None = None
    allow_responses: ResponsePermission | None = None


@dataclass
class User:
    """A user of the users list: a name and password, or (``nkey`` set, no name or
    password) an NKey user who proves the key by signing the connection's nonce."""

    username: str
    password: str = ""  # plain text or a bcrypt hash ("$2a$...")
    permissions: Permissions | None = None
    nkey: str = ""  # public user NKey ("U..."); the user's identity when set
    account: str = ""  # the account the user belongs to ("" = the global account $G)


# -- accounts (the config file's ``accounts`` block) -------------------------------------


@dataclass
class ServiceLatency:
    """An export's latency tracking: results go to ``subject`` in the exporting account for
    ``sampling`` percent of requests (1-100), or 0: for requests whose tracing headers ask."""

    subject: str
    sampling: int = 100


@dataclass
class ExportConfig:
    """One export of an account: a stream or a service subject, public when ``accounts`` is None."""

    subject: str
    service: bool = False
    accounts: list[str] | None = None
    response_type: str = "singleton"  # singleton, stream or chunked (services)
    response_threshold: float = 120.0  # seconds a streamed/chunked response stays mapped
    allow_trace: bool = False
    account_token_position: int = 0  # > 0: that token of the subject must be the importer's name
    latency: ServiceLatency | None = None  # services: latency tracking (server/latency.py)


@dataclass
class ImportConfig:
    """One import: ``subject`` of account ``account``, seen locally under ``to`` or ``prefix``."""

    account: str
    subject: str
    service: bool = False
    to: str = ""
    prefix: str = ""
    share: bool = False
    allow_trace: bool = False


@dataclass
class AccountConfig:
    """An account of the ``accounts`` block; its users are in ``Options.users`` with ``account`` set.
    Limits are -1 when not set (the server's own limit applies)."""

    name: str
    exports: list[ExportConfig] = field(default_factory=list)
    imports: list[ImportConfig] = field(default_factory=list)
    default_permissions: Permissions | None = None
    max_connections: int = -1
    max_subscriptions: int = -1
    max_payload: int = -1
    max_leafnodes: int = -1
    mappings: list[tuple[str, list[MapDest]]] | None = None  # the account's own subject mappings
    # ``jetstream`` of the account: None = not enabled for it (the reference's nil jsLimits)
    jetstream: JsAccountLimits | None = None
    nkey: str = ""  # the account's public NKey ("A..."); config mode only keeps it, as the reference
    # msg_trace / trace_dest: where a sampled W3C ``traceparent`` publish sends its trace event
    trace_dest: str = ""
    trace_sampling: int = 0  # percent, 1..100 (100 when a destination has no sampling)


@dataclass(frozen=True)
class JsAccountLimits:
    """An account's JetStream limits (the reference's JetStreamAccountLimits); -1 = unlimited.

    ``jetstream: enabled`` is all -1. Only the default tier exists in config mode (tiered
    limits come with account JWTs)."""

    max_memory: int = -1
    max_store: int = -1
    max_streams: int = -1
    max_consumers: int = -1
    max_ack_pending: int = -1
    memory_max_stream_bytes: int = -1
    store_max_stream_bytes: int = -1
    max_bytes_required: bool = False
    # Tiered limits (account JWTs only): ``tier`` names the tier these limits are, the one a
    # single server's streams fall in ("R1"); ``tiers`` are all the account's tiers, for
    # ``$JS.API.INFO``. A tiered account without an R1 tier has ``tier`` set to "" and
    # ``tiers`` non-empty: no stream fits (10120).
    tier: str = ""
    tiers: tuple[tuple[str, JsAccountLimits], ...] = ()


@dataclass(frozen=True)
class MapDest:
    """One destination of a subject mapping (the config file's ``mappings``): the destination
    subject (with mapping functions), its weight in percent and the cluster it is scoped to."""

    subject: str
    weight: int = 100
    cluster: str = ""


@dataclass
class TLSOptions:
    """A parsed ``tls {}`` block (or the ``--tls*`` flags), as the reference's TLSConfigOpts.

    One record serves every listener (clients now; routes, gateways, leaf nodes and
    WebSocket later): :func:`pynatsd.tls.build_context` turns it into an ``ssl.SSLContext``.
    """

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    verify: bool = False  # require and verify a client certificate
    map: bool = False  # verify_and_map: the certificate names the user
    insecure: bool = False
    timeout: float = 0.0  # seconds; 0 = the reference's default (2 s)
    handshake_first: bool = False
    fallback_delay: float = 0.0  # seconds; > 0: send INFO if no handshake starts within it
    min_version: str = ""  # "1.2" or "1.3"; empty = 1.2
    cipher_suites: list[str] | None = None  # Go names; None = the reference's defaults
    curve_preferences: list[str] | None = None  # Go names; None = the TLS stack's defaults
    allow_insecure_cipher_suites: bool = False
    pinned_certs: set[str] | None = None  # lower-case hex SHA-256 of the SubjectPublicKeyInfo
    certs: list[tuple[str, str]] = field(default_factory=list)  # (cert_file, key_file) pairs
    connection_rate_limit: int = 0


@dataclass
class ClusterOptions:
    """The ``cluster {}`` block (and the ``--cluster*``/``--routes`` flags): routes to other
    servers of one cluster (pynatsd/cluster). ``port`` 0 with no routes: no cluster."""

    name: str = ""  # "" = a dynamic name, adopted from the first named peer
    host: str = "0.0.0.0"
    port: int = 0  # -1 = a random port
    routes: list[str] = field(default_factory=list)  # nats-route://[user:pass@]host:port URLs
    advertise: str = ""
    no_advertise: bool = False
    connect_retries: int = 0
    username: str = ""  # authorization { user, password } for routes
    password: str = ""
    auth_timeout: float = 0.0  # seconds; 0 = the default
    pool_size: int = -1  # only -1 (no pooling) is built: see docs/CLUSTERING.md
    ping_interval: float = 0.0  # seconds; 0 = the server's


@dataclass
class Options:
    """Every option of the core server, named as in the reference's config file."""

    server_name: str = ""
    host: str = "0.0.0.0"
    port: int = 4222  # 0 or -1 = pick a free port
    client_advertise: str = ""
    http_host: str = ""  # defaults to host
    http_port: int = 0  # 0 = monitoring off; -1 = random
    http_base_path: str = ""
    https_port: int = 0  # 0 = no HTTPS monitoring; -1 = random (needs ``tls``)
    pid_file: str = ""
    ports_file_dir: str = ""
    config_file: str = ""

    # logging
    debug: bool = False
    trace: bool = False
    trace_verbose: bool = False
    logtime: bool = True
    logtime_utc: bool = False
    log_file: str = ""
    syslog: bool = False
    remote_syslog: str = ""
    log_size_limit: int = 0
    max_traced_msg_len: int = 0

    # limits
    max_payload: int = MB
    max_control_line: int = 4096
    max_connections: int = 64 * 1024
    max_subscriptions: int = 0  # 0 = unlimited
    max_pending: int = 64 * MB
    write_deadline: float = 10.0  # seconds
    ping_interval: float = 120.0  # seconds
    ping_max: int = 2
    auth_timeout: float = 0.0  # seconds; 0 = default (2s, or tls timeout)
    lame_duck_duration: float = 120.0
    lame_duck_grace_period: float = 10.0
    no_header_support: bool = False
    disable_sublist_cache: bool = False
    max_closed_clients: int = 10000  # closed connections kept for /connz?state=closed

    # authentication / authorization
    username: str = ""
    password: str = ""
    authorization: str = ""  # token
    users: list[User] = field(default_factory=list)
    no_auth_user: str = ""
    default_permissions: Permissions | None = None

    # accounts: the ``accounts`` block ($G is implicit), the system account's name
    # ("" = $SYS, created unless no_system_account) and whether an authorization block was given
    accounts: list[AccountConfig] = field(default_factory=list)
    system_account: str = ""
    no_system_account: bool = False
    auth_block: bool = False

    # operator (JWT) mode (config/operator.py, auth/operator.py): the operators' JWTs, trusted
    # operator keys, the account resolver ("MEMORY"; "" = none) and its preloaded account JWTs
    trusted_operators: list[str] = field(default_factory=list)
    trusted_keys: list[str] = field(default_factory=list)
    account_resolver: str = ""  # "MEMORY" or "URL"
    resolver_url: str = ""  # the URL resolver's account server (ends with "/")
    resolver_preload: dict[str, str] = field(default_factory=dict)
    resolver_pinned_accounts: list[str] | None = None  # None: any account may log in
    resolver_tls: TLSOptions | None = None  # the URL resolver's TLS client settings

    # TLS for client connections (None = plain TCP)
    tls: TLSOptions | None = None
    allow_non_tls: bool = False  # with tls: plain clients are accepted too (INFO tls_available)

    # JetStream
    jetstream: bool = False
    store_dir: str = ""  # default: <tmp>/nats/jetstream, as the reference
    jetstream_max_memory: int = -1  # -1 = a share of system memory, as the reference
    jetstream_max_store: int = -1  # -1 = a share of the disk
    sync_interval: float = 120.0  # seconds between background fsyncs of file streams
    sync_always: bool = False  # fsync before every PubAck (group commit)
    jetstream_domain: str = ""
    # jetstream { limits { ... } }: 0 / -1 = none
    jetstream_max_ack_pending: int = -1
    jetstream_max_request_batch: int = 0
    jetstream_max_ha_assets: int = 0
    # consumers per stream when neither the stream nor the account sets a limit (-1: none)
    jetstream_default_max_consumers: int = 1000
    jetstream_duplicate_window: int = 0  # ns
    jetstream_strict: bool = True
    # jetstream { limits { batch { ... } } }: atomic and batched publish limits (0 = the default)
    jetstream_batch_max_inflight_per_stream: int = 0
    jetstream_batch_max_inflight_total: int = 0
    jetstream_batch_max_msgs: int = 0
    jetstream_batch_timeout: float = 0.0  # seconds

    # subject mappings of the global account, in configuration order: (source, destinations);
    # None when the config has no mappings block (a reload then keeps the current ones)
    mappings: list[tuple[str, list[MapDest]]] | None = None

    # routes (clusters): None = a single server
    cluster: ClusterOptions | None = None

    # features not built yet: set only to be refused clearly at start
    unsupported: dict[str, str] = field(default_factory=dict)

    def copy(self) -> Options:
        return dataclasses.replace(self)

    def merge(self, overrides: dict[str, Any]) -> Options:
        """Return a copy with the given fields replaced (flags over config file)."""
        return dataclasses.replace(self, **overrides)
