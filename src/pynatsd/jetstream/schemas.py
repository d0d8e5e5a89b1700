"""JetStream API message shapes, and JSON read and written the way the reference server does.

Every request and response of ``$JS.API.>`` is JSON. Clients compare what they get with
what nats-server 2.15.1 sends, so the Structs here reproduce it field for field:

* field order is declaration order (the reference's struct order);
* a field the reference always writes has no default (it is required here), a field it
  leaves out when empty/zero (Go ``omitempty``) has its zero value as default, and
  ``omit_defaults`` drops it;
* durations are integers in nanoseconds, times are strings in Go's RFC 3339 form
  (:func:`format_time`; the zero time is ``"0001-01-01T00:00:00Z"``);
* responses carry ``"type"`` first (the msgspec tag), then ``"error"`` when set;
* :func:`encode` escapes ``<``, ``>``, ``&``, U+2028 and U+2029 like Go's encoder.

Requests are read with :func:`decode_request`, which accepts and rejects exactly what the
reference accepts and rejects, and reports a rejection as the reference does:
``invalid JSON: <Go's message>`` (error 10025). It follows Go's ``encoding/json`` as the
reference uses it: keys match fields case-insensitively, ``null`` leaves a field alone,
unknown fields are an error, several JSON values in one body are decoded one after the
other into the same request, and the first problem in document order is the one reported.

Stream configuration defaults: :func:`with_defaults` fills in what the reference fills in on
create and update, and :func:`with_dynamic_metadata` adds the ``_nats.ver``/``_nats.level``
metadata it shows in create, update and info responses (not in STREAM.LIST).
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar

import msgspec
from msgspec import Meta

from pynatsd.jetstream.errors import ApiError, api_error
from pynatsd.version import REFERENCE_VERSION

__all__ = [
    "API_LEVEL",
    "API_PREFIX",
    "DEFAULT_DUPLICATE_WINDOW",
    "JS_MAX_DESCRIPTION_LEN",
    "JS_MAX_METADATA_LEN",
    "JS_MAX_NAME_LEN",
    "LIST_PAGE_SIZE",
    "NAMES_PAGE_SIZE",
    "SUBJECTS_PAGE_SIZE",
    "ZERO_TIME",
    "AccountInfoResponse",
    "AccountLimits",
    "ApiErrorBody",
    "ApiStats",
    "ClusterInfo",
    "ConsumerConfig",
    "ConsumerCreateRequest",
    "ConsumerCreateResponse",
    "ConsumerDeleteResponse",
    "ConsumerInfo",
    "ConsumerInfoResponse",
    "ConsumerListResponse",
    "ConsumerNamesResponse",
    "ConsumerPauseRequest",
    "ConsumerPauseResponse",
    "ConsumersRequest",
    "ExternalStream",
    "GoTimeError",
    "LostStreamData",
    "MsgDeleteRequest",
    "MsgGetRequest",
    "PeerInfo",
    "Placement",
    "PriorityGroupState",
    "PubAck",
    "PubAckError",
    "RePublish",
    "SequenceInfo",
    "StoredMsg",
    "StreamAlternate",
    "StreamConfig",
    "StreamConfigRequest",
    "StreamConsumerLimits",
    "StreamConsumerSource",
    "StreamCreateResponse",
    "StreamDeleteResponse",
    "StreamInfo",
    "StreamInfoRequest",
    "StreamInfoResponse",
    "StreamListRequest",
    "StreamListResponse",
    "StreamMsgDeleteResponse",
    "StreamMsgGetResponse",
    "StreamNamesRequest",
    "StreamNamesResponse",
    "StreamPurgeRequest",
    "StreamPurgeResponse",
    "StreamSource",
    "StreamSourceInfo",
    "StreamState",
    "StreamUpdateResponse",
    "SubjectTransformConfig",
    "Tier",
    "decode",
    "decode_pub_ack",
    "decode_request",
    "encode",
    "encode_pub_ack",
    "encode_pub_ack_error",
    "error_response",
    "format_time",
    "go_json_escape",
    "go_quote",
    "is_empty_request",
    "looks_like_object_or_array",
    "new_stream_config",
    "parse_time",
    "required_api_level",
    "with_defaults",
    "with_dynamic_metadata",
]

T = TypeVar("T")

# --------------------------------------------------------------------------------------
# Constants of the API
# --------------------------------------------------------------------------------------

API_PREFIX: Final = "$JS.API"
API_LEVEL: Final = 5  # what 2.15.1 reports as "api":{"level":5} and "_nats.level":"5"
JS_MAX_NAME_LEN: Final = 255
JS_MAX_DESCRIPTION_LEN: Final = 4 * 1024
JS_MAX_METADATA_LEN: Final = 128 * 1024  # sum of len(key) + len(value)
DEFAULT_DUPLICATE_WINDOW: Final = 120_000_000_000  # 2 minutes in ns
NAMES_PAGE_SIZE: Final = 1024  # STREAM.NAMES and CONSUMER.NAMES "limit"
LIST_PAGE_SIZE: Final = 256  # STREAM.LIST and CONSUMER.LIST "limit"
SUBJECTS_PAGE_SIZE: Final = 100_000  # STREAM.INFO "limit" when subjects_filter is given

META_REQUIRED_LEVEL: Final = "_nats.req.level"
META_SERVER_VERSION: Final = "_nats.ver"
META_SERVER_LEVEL: Final = "_nats.level"

# --------------------------------------------------------------------------------------
# Go-compatible JSON output
# --------------------------------------------------------------------------------------

# "deterministic": map keys sorted like Go does, struct fields kept in declaration order.
_ENCODER: Final = msgspec.json.Encoder(order="deterministic")
_HTML_ESCAPES: Final = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)
_NEEDS_ESCAPE: Final = re.compile(b"[<>&]|\xe2\x80[\xa8\xa9]")


def go_json_escape(raw: bytes) -> bytes:
    """Rewrite msgspec's JSON as Go's encoder writes it: ``<>&`` and U+2028/9 as ``\\uXXXX``.

    Safe on whole documents: these characters only ever occur inside strings.
    """
    if _NEEDS_ESCAPE.search(raw) is None:
        return raw
    for plain, escaped in _HTML_ESCAPES:
        raw = raw.replace(plain, escaped)
    return raw


def encode(obj: object) -> bytes:
    """JSON bytes byte-identical to the reference's for the same value (compact, Go escapes)."""
    return go_json_escape(_ENCODER.encode(obj))


def decode(data: bytes | str, type: type[T]) -> T:
    """Plain msgspec decoding of trusted JSON (the reference's own output, stored metadata)."""
    return msgspec.json.decode(data, type=type)


def go_quote(s: str | bytes) -> str:
    """Go's ``%q`` / ``strconv.Quote``: double-quoted, Go escapes, printable Unicode kept."""
    if isinstance(s, bytes):
        s = s.decode("utf-8", "replace")
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x80 or ch.isprintable():
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


# --------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------

ZERO_TIME: Final = "0001-01-01T00:00:00Z"
_NS: Final = 1_000_000_000


def format_time(ns: int) -> str:
    """Go's RFC 3339 form of a UTC time in ns since the epoch; 0 is Go's zero time.

    Nanoseconds are written without trailing zeros, and not at all when zero:
    ``2026-11-21T07:39:16.48795578Z``, ``2024-01-01T00:00:00Z``.
    """
    if ns == 0:
        return ZERO_TIME
    secs, frac = divmod(ns, _NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


class GoTimeError(ValueError):
    """A time string Go's RFC 3339 parser rejects; the message is Go's."""


_LAYOUT: Final = "2006-01-02T15:04:05Z07:00"
_DAYS_IN: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _getnum(value: str, fixed: bool) -> tuple[int, str] | None:
    if not value or not value[0].isdigit() or not value[0].isascii():
        return None
    if len(value) < 2 or not (value[1].isascii() and value[1].isdigit()):
        if fixed:
            return None
        return int(value[0]), value[1:]
    return int(value[:2]), value[2:]


def _time_quote(s: str) -> str:
    """The quoting of Go's time package: ASCII kept (``"`` and ``\\`` escaped), other bytes ``\\xNN``."""
    out = ['"']
    for ch in s:
        if ch >= "\x80" or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


def parse_time(s: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time, as Go's ``time.Time`` JSON decoding reads it.

    Raises :class:`GoTimeError` with Go's message (``parsing time "x" as "2006-01-02T15:04:05Z07:00":
    cannot parse "x" as "2006"``, ``parsing time "...": month out of range``...).
    """
    whole = _time_quote(s)

    def bad(rest: str, elem: str) -> GoTimeError:
        return GoTimeError(
            f"parsing time {whole} as {_time_quote(_LAYOUT)}: cannot parse {_time_quote(rest)} as {_time_quote(elem)}"
        )

    def out_of_range(what: str) -> GoTimeError:
        return GoTimeError(f"parsing time {whole}: {what} out of range")

    v = s
    if len(v) < 4 or not v[:4].isascii() or not v[:4].isdigit():
        raise bad(v, "2006")
    year, v = int(v[:4]), v[4:]
    fields: list[int] = []
    for sep, elem, fixed, hi, name in (
        ("-", "01", True, 12, "month"),
        ("-", "02", True, 31, "day"),
        ("T", "15", False, 23, "hour"),
        (":", "04", True, 59, "minute"),
        (":", "05", True, 59, "second"),
    ):
        if not v.startswith(sep):
            raise bad(v, sep)
        v = v[1:]
        got = _getnum(v, fixed)
        if got is None:
            raise bad(v, elem)
        n, v = got
        lo = 1 if name in ("month", "day") else 0
        if not lo <= n <= hi:
            raise out_of_range(name)
        fields.append(n)
    month, day, hour, minute, second = fields
    frac_ns = 0
    if len(v) >= 2 and v[0] in ".," and v[1].isascii() and v[1].isdigit():
        i = 1
        while i < len(v) and v[i].isascii() and v[i].isdigit():
            i += 1
        digits = v[1:i]
        frac_ns = int((digits + "000000000")[:9])
        v = v[i:]
    offset = 0
    if v.startswith("Z"):
        v = v[1:]
    elif len(v) >= 6 and v[0] in "+-" and v[3] == ":" and v[1:3].isdigit() and v[4:6].isdigit():
        hh, mm = int(v[1:3]), int(v[4:6])
        if hh > 24 or mm > 59:
            raise GoTimeError(f"parsing time {whole}: time zone offset out of range")
        offset = (hh * 3600 + mm * 60) * (1 if v[0] == "+" else -1)
        v = v[6:]
    else:
        raise bad(v, "Z07:00")
    if v:
        raise GoTimeError(f"parsing time {whole}: extra text: {_time_quote(v)}")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _DAYS_IN[month - 1] + (1 if month == 2 and leap else 0):
        raise out_of_range("day")
    secs = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return secs * _NS + frac_ns


# --------------------------------------------------------------------------------------
# Field types (the Go type named in decoding errors rides along as metadata)
# --------------------------------------------------------------------------------------

_I64: Final = 2**63
Int64 = Annotated[int, Meta(ge=-_I64, le=_I64 - 1, extra={"go": "int64"})]
Int = Annotated[int, Meta(ge=-_I64, le=_I64 - 1, extra={"go": "int"})]
Int32 = Annotated[int, Meta(ge=-(2**31), le=2**31 - 1, extra={"go": "int32"})]
Uint64 = Annotated[int, Meta(ge=0, extra={"go": "uint64", "max": 2**64 - 1})]  # msgspec caps bounds at int64
Uint16 = Annotated[int, Meta(ge=0, le=2**16 - 1, extra={"go": "uint16"})]
Duration = Annotated[int, Meta(ge=-_I64, le=_I64 - 1, extra={"go": "time.Duration"})]
#: An RFC 3339 time kept as the text the reference writes (see :func:`format_time`).
Time = Annotated[str, Meta(extra={"go": "time.Time", "time": True})]

# Enumerations; "zero" is Go's zero value (what a missing field means).
# "enum" names how the reference's UnmarshalJSON compares the raw JSON text.
Retention = Annotated[
    Literal["limits", "interest", "workqueue"], Meta(extra={"enum": "exact", "zero": "limits"})
]
Discard = Annotated[Literal["old", "new"], Meta(extra={"enum": "lower", "zero": "old"})]
Storage = Annotated[Literal["file", "memory"], Meta(extra={"enum": "exact", "zero": "file"})]
Compression = Annotated[Literal["none", "s2"], Meta(extra={"enum": "compression", "zero": "none"})]
PersistMode = Annotated[Literal["default", "async"], Meta(extra={"enum": "persist", "zero": "default"})]
DeliverPolicy = Annotated[
    Literal["all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"],
    Meta(extra={"enum": "deliver", "zero": "all"}),
]
AckPolicy = Annotated[
    Literal["none", "all", "explicit", "flow_control"], Meta(extra={"enum": "exact", "zero": "none"})
]
ReplayPolicy = Annotated[Literal["instant", "original"], Meta(extra={"enum": "exact", "zero": "instant"})]
PriorityPolicy = Annotated[
    Literal["none", "overflow", "pinned_client", "prioritized"],
    Meta(extra={"enum": "priority", "zero": "none"}),
]
ConsumerAction = Annotated[Literal["", "create", "update"], Meta(extra={"enum": "action", "zero": ""})]


class _Obj(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Base of every JSON object here. ``__go_name__`` is the Go type named in decoding errors."""

    __go_name__: ClassVar[str] = ""
    __strict__: ClassVar[bool] = True  # unknown fields are an error (DisallowUnknownFields)


class _Response(_Obj, tag_field="type", kw_only=True):
    """An API response: ``{"type":...,"error":{...}?, ...}``."""

    error: ApiErrorBody | None = None


class ApiErrorBody(_Obj, kw_only=True):
    """The ``error`` object: ``{"code":404,"err_code":10059,"description":"stream not found"}``."""

    code: Int
    err_code: Uint16 = 0
    description: str = ""

    @classmethod
    def of(cls, err: ApiError) -> ApiErrorBody:
        return cls(code=err.code, err_code=err.err_code, description=err.description)


# --------------------------------------------------------------------------------------
# Stream configuration
# --------------------------------------------------------------------------------------


class StreamConsumerLimits(_Obj, kw_only=True):
    __go_name__ = "server.StreamConsumerLimits"
    inactive_threshold: Duration = 0
    max_ack_pending: Int = 0


class SubjectTransformConfig(_Obj, kw_only=True):
    __go_name__ = "server.SubjectTransformConfig"
    src: str
    dest: str


class RePublish(_Obj, kw_only=True):
    __go_name__ = "server.RePublish"
    src: str = ""
    dest: str
    headers_only: bool = False


class Placement(_Obj, kw_only=True):
    __go_name__ = "server.Placement"
    cluster: str = ""
    tags: list[str] | None = None
    preferred: str = ""


class ExternalStream(_Obj, kw_only=True):
    __go_name__ = "server.ExternalStream"
    api: str
    deliver: str


class StreamConsumerSource(_Obj, kw_only=True):
    """A durable consumer a mirror or source uses (2.14+): both fields omitted when empty."""

    __go_name__ = "server.StreamConsumerSource"
    name: str = ""
    deliver_subject: str = ""


class StreamSource(_Obj, kw_only=True):
    """``mirror`` and each of ``sources``. ``opt_start_time`` keeps the offset it was given in."""

    __go_name__ = "server.StreamSource"
    name: str
    opt_start_seq: Uint64 = 0
    opt_start_time: Time | None = None
    filter_subject: str = ""
    subject_transforms: list[SubjectTransformConfig] | None = None
    external: ExternalStream | None = None
    consumer: StreamConsumerSource | None = None


class StreamConfig(_Obj, kw_only=True):
    """A stream's configuration, fields in the reference's order.

    Required fields are the ones the reference always writes; :func:`with_defaults` turns a
    request's zero values into the values the reference stores (-1 limits, 2m window...).
    """

    __go_name__ = "server.StreamConfig"
    name: str
    description: str = ""
    subjects: list[str] | None = None
    retention: Retention
    max_consumers: Int
    max_msgs: Int64
    max_bytes: Int64
    max_age: Duration
    max_msgs_per_subject: Int64
    max_msg_size: Int32 = 0
    discard: Discard
    storage: Storage
    num_replicas: Int
    no_ack: bool = False
    duplicate_window: Duration = 0
    placement: Placement | None = None
    mirror: StreamSource | None = None
    sources: Annotated[list[StreamSource], Meta(extra={"go": "[]*server.StreamSource"})] | None = None
    compression: Compression
    first_seq: Uint64 = 0
    subject_transform: SubjectTransformConfig | None = None
    republish: RePublish | None = None
    allow_direct: bool
    mirror_direct: bool
    discard_new_per_subject: bool = False
    sealed: bool
    deny_delete: bool
    deny_purge: bool
    allow_rollup_hdrs: bool
    consumer_limits: StreamConsumerLimits
    allow_msg_ttl: bool
    subject_delete_marker_ttl: Duration = 0
    allow_msg_counter: bool = False
    allow_atomic: bool = False
    allow_msg_schedules: bool = False
    persist_mode: PersistMode = "default"
    allow_batched: bool = False
    metadata: dict[str, str] | None = None


class StreamConfigRequest(StreamConfig, kw_only=True):
    """Body of STREAM.CREATE and STREAM.UPDATE: a config plus the request-only ``pedantic``."""

    __go_name__ = "server.StreamConfigRequest"
    pedantic: bool = False

    def config(self) -> StreamConfig:
        """The configuration without ``pedantic``."""
        fields = msgspec.structs.asdict(self)
        del fields["pedantic"]
        return StreamConfig(**fields)


def _zero_stream_config(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "retention": "limits",
        "max_consumers": 0,
        "max_msgs": 0,
        "max_bytes": 0,
        "max_age": 0,
        "max_msgs_per_subject": 0,
        "discard": "old",
        "storage": "file",
        "num_replicas": 0,
        "compression": "none",
        "allow_direct": False,
        "mirror_direct": False,
        "sealed": False,
        "deny_delete": False,
        "deny_purge": False,
        "allow_rollup_hdrs": False,
        "consumer_limits": StreamConsumerLimits(),
        "allow_msg_ttl": False,
    }


def new_stream_config(name: str, **fields: Any) -> StreamConfig:
    """A StreamConfig from only the fields given, the rest at their Go zero values (not defaulted)."""
    return StreamConfig(**(_zero_stream_config(name) | fields))


def required_api_level(cfg: StreamConfig) -> int:
    """The ``_nats.req.level`` the reference stores for a stream using these features."""
    level = 0
    if cfg.allow_msg_ttl or cfg.subject_delete_marker_ttl > 0:
        level = 1
    if cfg.allow_msg_counter or cfg.allow_atomic or cfg.allow_msg_schedules or cfg.persist_mode == "async":
        level = 2
    if cfg.allow_batched:
        level = 4
    return level


def with_defaults(
    cfg: StreamConfig,
    *,
    max_duplicate_window: int = 0,
    origin_allow_direct: bool | None = None,
) -> StreamConfig:
    """The configuration the reference stores for a create or update request.

    What it fills in (the reference's ``checkStreamCfg``, silent corrections only — the
    validation errors are the caller's): storage stays as given ("file" when absent);
    ``num_replicas`` 0 -> 1; ``max_msgs``, ``max_bytes``, ``max_msgs_per_subject``,
    ``max_msg_size``, ``max_consumers`` 0 or below -1 -> -1; ``duplicate_window`` 0 ->
    2m (or ``max_duplicate_window`` if set lower, or ``max_age`` if lower), but left 0 for
    a mirror or a stream with sources; ``subject_delete_marker_ttl`` > 0 turns on
    ``allow_msg_ttl`` and ``allow_rollup_hdrs`` (and off ``deny_purge``);
    ``allow_msg_schedules`` turns on ``allow_rollup_hdrs`` (and off ``deny_purge``);
    a mirror takes ``mirror_direct`` from its origin's ``allow_direct`` when the origin is
    known (``origin_allow_direct``); no subjects and neither mirror nor sources -> the
    stream name; an empty ``placement`` -> none; ``republish.src`` "" -> ">"; metadata:
    ``_nats.ver``/``_nats.level`` removed, ``_nats.req.level`` set (:func:`required_api_level`).
    """
    f = msgspec.structs.asdict(cfg)
    for key in ("max_msgs", "max_bytes", "max_msgs_per_subject", "max_msg_size", "max_consumers"):
        if f[key] == 0 or f[key] < -1:
            f[key] = -1
    if f["num_replicas"] == 0:
        f["num_replicas"] = 1
    if f["duplicate_window"] == 0 and cfg.mirror is None and not cfg.sources:
        window = DEFAULT_DUPLICATE_WINDOW
        if 0 < max_duplicate_window < window:
            window = max_duplicate_window
        f["duplicate_window"] = cfg.max_age if cfg.max_age != 0 and cfg.max_age < window else window
    if cfg.subject_delete_marker_ttl > 0:
        f["allow_msg_ttl"] = True
        if not cfg.allow_rollup_hdrs:
            f["allow_rollup_hdrs"], f["deny_purge"] = True, False
    if cfg.allow_msg_schedules and not f["allow_rollup_hdrs"]:
        f["allow_rollup_hdrs"], f["deny_purge"] = True, False
    if cfg.mirror is not None and origin_allow_direct is not None:
        f["mirror_direct"] = origin_allow_direct
    if not cfg.subjects:
        f["subjects"] = [cfg.name] if cfg.mirror is None and not cfg.sources else None
    if cfg.placement is not None and cfg.placement == Placement():
        f["placement"] = None
    if cfg.republish is not None and cfg.republish.src == "":
        f["republish"] = msgspec.structs.replace(cfg.republish, src=">")
    out = StreamConfig(**f)
    meta = dict(cfg.metadata or {})
    meta.pop(META_SERVER_VERSION, None)
    meta.pop(META_SERVER_LEVEL, None)
    meta[META_REQUIRED_LEVEL] = str(required_api_level(out))
    out.metadata = meta
    return out


def with_dynamic_metadata(
    cfg: StreamConfig, version: str = REFERENCE_VERSION, level: int = API_LEVEL
) -> StreamConfig:
    """A copy with ``_nats.ver`` and ``_nats.level`` added, as create/update/info responses show it."""
    meta = dict(cfg.metadata or {})
    meta[META_SERVER_VERSION] = version
    meta[META_SERVER_LEVEL] = str(level)
    return msgspec.structs.replace(cfg, metadata=dict(sorted(meta.items())))


# --------------------------------------------------------------------------------------
# Stream state and info
# --------------------------------------------------------------------------------------


class LostStreamData(_Obj, kw_only=True):
    msgs: list[int] | None
    bytes: Uint64


class StreamState(_Obj, kw_only=True):
    """``state`` of STREAM.INFO. ``subjects`` only with ``subjects_filter``, ``deleted`` only with
    ``deleted_details``; ``num_subjects``/``num_deleted`` whenever non-zero."""

    messages: Uint64
    bytes: Uint64
    first_seq: Uint64
    first_ts: Time
    last_seq: Uint64
    last_ts: Time
    num_subjects: Int = 0
    subjects: dict[str, int] | None = None
    num_deleted: Int = 0
    deleted: list[int] | None = None
    lost: LostStreamData | None = None
    consumer_count: Int


class PeerInfo(_Obj, kw_only=True):
    name: str
    current: bool
    offline: bool = False
    active: Duration
    lag: Uint64 = 0
    peer: str


class ClusterInfo(_Obj, kw_only=True):
    """``cluster``; a standalone server writes only ``{"leader":"<server id>"}`` in STREAM.INFO."""

    name: str = ""
    raft_group: str = ""
    leader: str = ""
    leader_since: Time | None = None
    system_account: bool = False
    traffic_account: str = ""
    replicas: list[PeerInfo] | None = None


class StreamSourceInfo(_Obj, kw_only=True):
    """``mirror`` / ``sources`` entries of STREAM.INFO; ``active`` is -1 until the first contact."""

    name: str
    external: ExternalStream | None = None
    lag: Uint64
    active: Duration
    error: ApiErrorBody | None = None
    filter_subject: str = ""
    subject_transforms: list[SubjectTransformConfig] | None = None


class StreamAlternate(_Obj, kw_only=True):
    name: str
    domain: str = ""
    cluster: str


class StreamInfo(_Obj, kw_only=True):
    """A stream as STREAM.LIST shows it (and, inlined, STREAM.INFO/CREATE/UPDATE)."""

    config: StreamConfig
    created: Time
    state: StreamState
    domain: str = ""
    cluster: ClusterInfo | None = None
    mirror: StreamSourceInfo | None = None
    sources: list[StreamSourceInfo] | None = None
    alternates: list[StreamAlternate] | None = None
    ts: Time


# --------------------------------------------------------------------------------------
# Stream API responses
# --------------------------------------------------------------------------------------


class _StreamInfoResponse(_Response, kw_only=True):
    # The StreamInfo fields, inlined; all absent in an error response.
    config: StreamConfig | None = None
    created: Time | None = None
    state: StreamState | None = None
    domain: str = ""
    cluster: ClusterInfo | None = None
    mirror: StreamSourceInfo | None = None
    sources: list[StreamSourceInfo] | None = None
    alternates: list[StreamAlternate] | None = None
    ts: Time | None = None


class StreamCreateResponse(
    _StreamInfoResponse, tag="io.nats.jetstream.api.v1.stream_create_response", kw_only=True
):
    """STREAM.CREATE: info inlined (no ``cluster`` on a standalone server), ``did_create`` true.

    Build one with ``StreamCreateResponse(**msgspec.structs.asdict(info), did_create=True)``.
    """

    did_create: bool = False


class StreamUpdateResponse(
    _StreamInfoResponse, tag="io.nats.jetstream.api.v1.stream_update_response", kw_only=True
):
    """STREAM.UPDATE: the info inlined, no ``did_create``."""


class StreamInfoResponse(_Response, tag="io.nats.jetstream.api.v1.stream_info_response", kw_only=True):
    """STREAM.INFO: paging fields (always, also on errors), then the info inlined."""

    total: Int
    offset: Int
    limit: Int
    config: StreamConfig | None = None
    created: Time | None = None
    state: StreamState | None = None
    domain: str = ""
    cluster: ClusterInfo | None = None
    mirror: StreamSourceInfo | None = None
    sources: list[StreamSourceInfo] | None = None
    alternates: list[StreamAlternate] | None = None
    ts: Time | None = None


class StreamDeleteResponse(_Response, tag="io.nats.jetstream.api.v1.stream_delete_response", kw_only=True):
    success: bool = False


class StreamPurgeResponse(_Response, tag="io.nats.jetstream.api.v1.stream_purge_response", kw_only=True):
    success: bool = False
    purged: Uint64


class StreamNamesResponse(_Response, tag="io.nats.jetstream.api.v1.stream_names_response", kw_only=True):
    """STREAM.NAMES: ``streams`` is ``null`` (None) when there are none, also on errors."""

    total: Int
    offset: Int
    limit: Int
    streams: list[str] | None


class StreamListResponse(_Response, tag="io.nats.jetstream.api.v1.stream_list_response", kw_only=True):
    """STREAM.LIST: ``streams`` is ``[]`` when empty, also on errors; entries have no
    ``cluster`` and their metadata only ``_nats.req.level``."""

    total: Int
    offset: Int
    limit: Int
    streams: list[StreamInfo]
    missing: list[str] | None = None
    offline: dict[str, str] | None = None


class StoredMsg(_Obj, kw_only=True):
    """``message`` of STREAM.MSG.GET: headers and data base64 (omitted when empty)."""

    subject: str
    seq: Uint64
    hdrs: bytes = b""
    data: bytes = b""
    time: Time


class StreamMsgGetResponse(_Response, tag="io.nats.jetstream.api.v1.stream_msg_get_response", kw_only=True):
    message: StoredMsg | None = None


class StreamMsgDeleteResponse(
    _Response, tag="io.nats.jetstream.api.v1.stream_msg_delete_response", kw_only=True
):
    success: bool = False


# --------------------------------------------------------------------------------------
# Account info
# --------------------------------------------------------------------------------------


class AccountLimits(_Obj, kw_only=True):
    max_memory: Int64
    max_storage: Int64
    max_streams: Int
    max_consumers: Int
    max_ack_pending: Int
    memory_max_stream_bytes: Int64
    storage_max_stream_bytes: Int64
    max_bytes_required: bool


class ApiStats(_Obj, kw_only=True):
    level: Int
    total: Uint64
    errors: Uint64
    inflight: Uint64 = 0


class Tier(_Obj, kw_only=True):
    memory: Uint64
    storage: Uint64
    reserved_memory: Uint64
    reserved_storage: Uint64
    streams: Int
    consumers: Int
    limits: AccountLimits


class AccountInfoResponse(_Response, tag="io.nats.jetstream.api.v1.account_info_response", kw_only=True):
    """$JS.API.INFO. ``reserved_*`` sum the ``max_bytes`` of the streams; ``api.total`` counts
    every API request, ``api.errors`` those answered with an error."""

    memory: Uint64 | None = None
    storage: Uint64 | None = None
    reserved_memory: Uint64 | None = None
    reserved_storage: Uint64 | None = None
    streams: Int | None = None
    consumers: Int | None = None
    limits: AccountLimits | None = None
    domain: str = ""
    api: ApiStats | None = None
    tiers: dict[str, Tier] | None = None


# --------------------------------------------------------------------------------------
# PubAck
# --------------------------------------------------------------------------------------


class PubAck(_Obj, kw_only=True):
    """A successful publish: ``{"stream":"S","domain":"D"?,"seq":1,"duplicate": true?}``.

    Decode with this; write with :func:`encode_pub_ack` (the reference's bytes are
    hand-built: ``"duplicate": true`` has a space and the stream name is Go-quoted).
    """

    stream: str
    domain: str = ""
    seq: Uint64
    duplicate: bool = False


class PubAckError(_Obj, kw_only=True):
    """A refused publish: ``{"error":{...},"stream":"S","seq":0}`` (never a domain)."""

    error: ApiErrorBody
    stream: str
    seq: Uint64


def encode_pub_ack(stream: str, seq: int, domain: str = "", duplicate: bool = False) -> bytes:
    """The reference's PubAck bytes, exactly."""
    head = '{"stream":' + go_quote(stream)
    if domain:
        head += ',"domain":' + go_quote(domain)
    head += f',"seq":{seq}'
    return (head + (',"duplicate": true}' if duplicate else "}")).encode()


def encode_pub_ack_error(stream: str, err: ApiError) -> bytes:
    """The reference's bytes for a refused publish."""
    return encode(PubAckError(error=ApiErrorBody.of(err), stream=stream, seq=0))


def decode_pub_ack(data: bytes) -> PubAck | PubAckError:
    """Either form of a PubAck."""
    if b'"error"' in data:
        return msgspec.json.decode(data, type=PubAckError)
    return msgspec.json.decode(data, type=PubAck)


# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------


class StreamInfoRequest(_Obj, kw_only=True):
    """STREAM.INFO body (decoded only when it starts with ``{`` or ``[``)."""

    __go_name__ = "server.JSApiStreamInfoRequest"
    offset: Int = 0
    deleted_details: bool = False
    subjects_filter: str = ""


class StreamNamesRequest(_Obj, kw_only=True):
    __go_name__ = "server.JSApiStreamNamesRequest"
    offset: Int = 0
    subject: str = ""


class StreamListRequest(_Obj, kw_only=True):
    __go_name__ = "server.JSApiStreamListRequest"
    offset: Int = 0
    subject: str = ""


class StreamPurgeRequest(_Obj, kw_only=True):
    """STREAM.PURGE body: ``filter`` subject, purge below ``seq`` or ``keep`` the newest N."""

    __go_name__ = "server.JSApiStreamPurgeRequest"
    filter: str = ""
    seq: Uint64 = 0
    keep: Uint64 = 0


class MsgGetRequest(_Obj, kw_only=True):
    """STREAM.MSG.GET body (strict) and DIRECT.GET body (unknown fields ignored there).

    STREAM.MSG.GET accepts one of ``seq``, ``last_by_subj``, ``next_by_subj`` (with ``seq``
    as the start) or ``start_time``; ``batch``, ``max_bytes``, ``multi_last``, ``up_to_*``
    and ``no_hdr`` belong to DIRECT.GET and are a bad request (10003) in STREAM.MSG.GET.
    """

    __go_name__ = "server.JSApiMsgGetRequest"
    seq: Uint64 = 0
    last_by_subj: str = ""
    next_by_subj: str = ""
    batch: Int = 0
    max_bytes: Int = 0
    start_time: Time | None = None
    multi_last: list[str] | None = None
    up_to_seq: Uint64 = 0
    up_to_time: Time | None = None
    no_hdr: bool = False


class MsgDeleteRequest(_Obj, kw_only=True):
    __go_name__ = "server.JSApiMsgDeleteRequest"
    seq: Uint64 = 0
    no_erase: bool = False


# --------------------------------------------------------------------------------------
# Consumers
# --------------------------------------------------------------------------------------


class ConsumerConfig(_Obj, kw_only=True):
    """A consumer's configuration, fields in the reference's order."""

    __go_name__ = "server.ConsumerConfig"
    durable_name: str = ""
    name: str = ""
    description: str = ""
    deliver_policy: DeliverPolicy
    opt_start_seq: Uint64 = 0
    opt_start_time: Time | None = None
    ack_policy: AckPolicy
    ack_wait: Duration = 0
    max_deliver: Int = 0
    backoff: list[Duration] | None = None
    filter_subject: str = ""
    filter_subjects: list[str] | None = None
    replay_policy: ReplayPolicy
    rate_limit_bps: Uint64 = 0
    sample_freq: str = ""
    max_waiting: Int = 0
    max_ack_pending: Int = 0
    flow_control: bool = False
    headers_only: bool = False
    max_batch: Int = 0
    max_expires: Duration = 0
    max_bytes: Int = 0
    deliver_subject: str = ""
    deliver_group: str = ""
    idle_heartbeat: Duration = 0
    inactive_threshold: Duration = 0
    num_replicas: Int
    mem_storage: bool = False
    direct: bool = False
    sourcing: bool = False
    metadata: dict[str, str] | None = None
    pause_until: Time | None = None
    priority_groups: list[str] | None = None
    priority_policy: PriorityPolicy = "none"
    priority_timeout: Duration = 0


class SequenceInfo(_Obj, kw_only=True):
    """``delivered`` / ``ack_floor``; ``last_active`` once something was delivered/acked."""

    consumer_seq: Uint64
    stream_seq: Uint64
    last_active: Time | None = None


class PriorityGroupState(_Obj, kw_only=True):
    group: str
    pinned_client_id: str = ""
    pinned_ts: Time


class ConsumerInfo(_Obj, kw_only=True):
    stream_name: str
    name: str
    created: Time
    config: ConsumerConfig | None = None
    delivered: SequenceInfo
    ack_floor: SequenceInfo
    num_ack_pending: Int
    num_redelivered: Int
    num_waiting: Int
    num_pending: Uint64
    cluster: ClusterInfo | None = None
    push_bound: bool = False
    paused: bool = False
    pause_remaining: Duration = 0
    ts: Time
    priority_groups: list[PriorityGroupState] | None = None


class _ConsumerInfoResponse(_Response, kw_only=True):
    stream_name: str | None = None
    name: str | None = None
    created: Time | None = None
    config: ConsumerConfig | None = None
    delivered: SequenceInfo | None = None
    ack_floor: SequenceInfo | None = None
    num_ack_pending: Int | None = None
    num_redelivered: Int | None = None
    num_waiting: Int | None = None
    num_pending: Uint64 | None = None
    cluster: ClusterInfo | None = None
    push_bound: bool = False
    paused: bool = False
    pause_remaining: Duration = 0
    ts: Time | None = None
    priority_groups: list[PriorityGroupState] | None = None


class ConsumerCreateResponse(
    _ConsumerInfoResponse, tag="io.nats.jetstream.api.v1.consumer_create_response", kw_only=True
):
    """CONSUMER.CREATE / CONSUMER.DURABLE.CREATE: the ConsumerInfo inlined."""


class ConsumerInfoResponse(
    _ConsumerInfoResponse, tag="io.nats.jetstream.api.v1.consumer_info_response", kw_only=True
):
    pass


class ConsumerDeleteResponse(
    _Response, tag="io.nats.jetstream.api.v1.consumer_delete_response", kw_only=True
):
    success: bool = False


class ConsumerNamesResponse(_Response, tag="io.nats.jetstream.api.v1.consumer_names_response", kw_only=True):
    """CONSUMER.NAMES: ``consumers`` is ``[]`` when empty, also on errors (unlike STREAM.NAMES)."""

    total: Int
    offset: Int
    limit: Int
    consumers: list[str]


class ConsumerListResponse(_Response, tag="io.nats.jetstream.api.v1.consumer_list_response", kw_only=True):
    total: Int
    offset: Int
    limit: Int
    consumers: list[ConsumerInfo]
    missing: list[str] | None = None
    offline: dict[str, str] | None = None


class ConsumerPauseResponse(_Response, tag="io.nats.jetstream.api.v1.consumer_pause_response", kw_only=True):
    paused: bool
    pause_until: Time
    pause_remaining: Duration = 0


class ConsumerCreateRequest(_Obj, kw_only=True):
    """CONSUMER.CREATE body. ``action`` "" (create or update), "create" or "update"."""

    __go_name__ = "server.CreateConsumerRequest"
    stream_name: str = ""
    config: ConsumerConfig
    action: ConsumerAction = ""
    pedantic: bool = False


class PullRequestBody(_Obj, kw_only=True):
    """CONSUMER.MSG.NEXT body: batch size, expiry and heartbeat in ns, byte budget, no_wait."""

    __go_name__ = "server.JSApiConsumerGetNextRequest"
    __strict__ = False  # the reference ignores unknown fields in pull requests
    expires: Duration = 0
    batch: Int = 0
    max_bytes: Int = 0
    no_wait: bool = False
    idle_heartbeat: Duration = 0
    group: str = ""
    min_pending: Int = 0
    min_ack_pending: Int = 0
    id: str = ""
    priority: Int = 0


class ConsumersRequest(_Obj, kw_only=True):
    """CONSUMER.NAMES / CONSUMER.LIST body."""

    __go_name__ = "server.JSApiConsumersRequest"
    offset: Int = 0


class ConsumerPauseRequest(_Obj, kw_only=True):
    __go_name__ = "server.JSApiConsumerPauseRequest"
    pause_until: Time | None = None


# --------------------------------------------------------------------------------------
# Request decoding, the reference's way
# --------------------------------------------------------------------------------------

_WS: Final = b" \t\r\n"


def is_empty_request(data: bytes) -> bool:
    """The reference's "empty request": no bytes, or a JSON object without keys (``{}``, `` { } ``).

    Whitespace alone, ``null``, ``[]`` and anything else are not empty (STREAM.DELETE and
    CONSUMER.DELETE answer those with 10038 "expected an empty request payload").
    """
    if not data:
        return True
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return isinstance(value, dict) and not value


def looks_like_object_or_array(data: bytes) -> bool:
    """True when the first non-blank byte is ``{`` or ``[``.

    STREAM.INFO, STREAM.NAMES, STREAM.LIST, STREAM.PURGE, CONSUMER.NAMES and CONSUMER.LIST
    decode their body only then, and ignore any other body (``1``, ``"x"``, ``null``, ``x``).
    """
    stripped = data.lstrip(_WS)
    return stripped[:1] in (b"{", b"[")


class _JSONError(Exception):
    """A decoding failure; the text after ``invalid JSON: ``."""


class _Node:
    __slots__ = ("end", "kind", "start", "value")

    def __init__(self, kind: str, value: Any, start: int, end: int) -> None:
        self.kind = kind  # "object" | "array" | "string" | "number" | "bool" | "null"
        self.value = value  # list[tuple[str, _Node]] | list[_Node] | str | str literal | bool | None
        self.start = start
        self.end = end


def _quote_char(data: bytes, i: int) -> tuple[str, int]:
    """Go's quoting of the character at ``i`` in syntax errors, and the offset after it."""
    b = data[i]
    if b < 0x80:
        ch, n = chr(b), 1
    else:
        n = 2 if b >= 0xC0 else 1
        n = 3 if b >= 0xE0 else n
        n = 4 if b >= 0xF0 else n
        try:
            ch = data[i : i + n].decode("utf-8")
        except UnicodeDecodeError:
            ch, n = "\ufffd", 1
    if ch == "'":
        return "'\\''", i + n
    if ch == '"':
        return "'\"'", i + n
    return "'" + go_quote(ch)[1:-1] + "'", i + n


class _Scanner:
    """Go's JSON syntax, value by value, with Go's error messages and offsets."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def error(self, i: int, context: str) -> _JSONError:
        if i >= self.n:
            return _JSONError("unexpected EOF")
        q, after = _quote_char(self.data, i)
        return _JSONError(f"invalid character {q} {context} at offset {after}")

    def skip_ws(self, i: int) -> int:
        data, n = self.data, self.n
        while i < n and data[i] in _WS:
            i += 1
        return i

    def value(self, i: int) -> tuple[_Node, int]:
        i = self.skip_ws(i)
        if i >= self.n:
            raise _JSONError("unexpected EOF")
        c = self.data[i]
        if c == 0x7B:  # {
            return self.object(i)
        if c == 0x5B:  # [
            return self.array(i)
        if c == 0x22:  # "
            s, j = self.string(i)
            return _Node("string", s, i, j), j
        if c == 0x2D or 0x30 <= c <= 0x39:
            return self.number(i)
        for word, val in ((b"true", True), (b"false", False), (b"null", None)):
            if c == word[0]:
                j = i + 1
                for expect in word[1:]:
                    if j >= self.n:
                        raise _JSONError("unexpected EOF")
                    if self.data[j] != expect:
                        raise self.error(j, f"in literal {word.decode()} (expecting {chr(expect)!r})")
                    j += 1
                return _Node("null" if val is None else "bool", val, i, j), j
        raise self.error(i, "looking for beginning of value")

    def object(self, i: int) -> tuple[_Node, int]:
        start = i
        items: list[tuple[str, _Node]] = []
        i = self.skip_ws(i + 1)
        if i < self.n and self.data[i] == 0x7D:
            return _Node("object", items, start, i + 1), i + 1
        while True:
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            if self.data[i] != 0x22:
                raise self.error(i, "looking for beginning of object key string")
            key, i = self.string(i)
            i = self.skip_ws(i)
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            if self.data[i] != 0x3A:
                raise self.error(i, "after object key")
            node, i = self.value(i + 1)
            items.append((key, node))
            i = self.skip_ws(i)
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            c = self.data[i]
            if c == 0x7D:
                return _Node("object", items, start, i + 1), i + 1
            if c != 0x2C:
                raise self.error(i, "after object key:value pair")
            i = self.skip_ws(i + 1)

    def array(self, i: int) -> tuple[_Node, int]:
        start = i
        items: list[_Node] = []
        i = self.skip_ws(i + 1)
        if i < self.n and self.data[i] == 0x5D:
            return _Node("array", items, start, i + 1), i + 1
        while True:
            node, i = self.value(i)
            items.append(node)
            i = self.skip_ws(i)
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            c = self.data[i]
            if c == 0x5D:
                return _Node("array", items, start, i + 1), i + 1
            if c != 0x2C:
                raise self.error(i, "after array element")
            i += 1

    def number(self, i: int) -> tuple[_Node, int]:
        data, n, start = self.data, self.n, i

        def digit(k: int) -> bool:
            return k < n and 0x30 <= data[k] <= 0x39

        if data[i] == 0x2D:
            i += 1
            if i >= n:
                raise _JSONError("unexpected EOF")
            if not digit(i):
                raise self.error(i, "in numeric literal")
        if data[i] == 0x30:
            i += 1
        else:
            while digit(i):
                i += 1
        if i < n and data[i] == 0x2E:
            i += 1
            if i >= n:
                raise _JSONError("unexpected EOF")
            if not digit(i):
                raise self.error(i, "in numeric literal")
            while digit(i):
                i += 1
        if i < n and data[i] in b"eE":
            i += 1
            if i < n and data[i] in b"+-":
                i += 1
            if i >= n:
                raise _JSONError("unexpected EOF")
            if not digit(i):
                raise self.error(i, "in numeric literal")
            while digit(i):
                i += 1
        return _Node("number", data[start:i].decode(), start, i), i

    def string(self, i: int) -> tuple[str, int]:
        data, n = self.data, self.n
        out: list[str] = []
        i += 1
        run = i
        while True:
            if i >= n:
                raise _JSONError("unexpected EOF")
            c = data[i]
            if c == 0x22:
                out.append(data[run:i].decode("utf-8", "replace"))
                return "".join(out), i + 1
            if c < 0x20:
                raise self.error(i, "in string")
            if c != 0x5C:
                i += 1
                continue
            out.append(data[run:i].decode("utf-8", "replace"))
            if i + 1 >= n:
                raise _JSONError("unexpected EOF")
            e = data[i + 1]
            simple = {
                0x22: '"',
                0x5C: "\\",
                0x2F: "/",
                0x62: "\b",
                0x66: "\f",
                0x6E: "\n",
                0x72: "\r",
                0x74: "\t",
            }
            if e in simple:
                out.append(simple[e])
                i += 2
            elif e == 0x75:  # \uXXXX
                cp, i = self.hex4(i)
                if 0xD800 <= cp < 0xDC00 and data[i : i + 2] == b"\\u":
                    lo, j = self.hex4(i)
                    if 0xDC00 <= lo < 0xE000:
                        cp, i = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00), j
                out.append("\ufffd" if 0xD800 <= cp < 0xE000 else chr(cp))
            else:
                seq = data[i : i + 2].decode("utf-8", "replace")
                raise _JSONError(f"invalid escape sequence `{seq}` in string at offset {i + 2}")
            run = i

    def hex4(self, i: int) -> tuple[int, int]:
        """The code point of the ``\\uXXXX`` escape at ``i``."""
        digits = self.data[i + 2 : i + 6]
        if len(digits) == 4 and all(d in b"0123456789abcdefABCDEF" for d in digits):
            return int(digits, 16), i + 6
        if len(digits) < 4 and all(d in b"0123456789abcdefABCDEF" for d in digits):
            raise _JSONError("unexpected EOF")
        seq = self.data[i : i + 6].decode("utf-8", "replace")
        raise _JSONError(f"invalid escape sequence `{seq}` in string at offset {i + len(seq.encode())}")


# Type specs: msgspec.inspect output, cached per Struct class.
_SPEC_CACHE: dict[type, msgspec.inspect.StructType] = {}


def _struct_spec(cls: type) -> msgspec.inspect.StructType:
    spec = _SPEC_CACHE.get(cls)
    if spec is None:
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        spec = _SPEC_CACHE[cls] = info
    return spec


def _unwrap(t: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, dict[str, Any]]:
    extra: dict[str, Any] = {}
    while isinstance(t, msgspec.inspect.Metadata):
        extra = {**(t.extra or {}), **extra}
        t = t.type
    return t, extra


def _go_type(t: msgspec.inspect.Type) -> str:
    t, extra = _unwrap(t)
    if "go" in extra:
        return str(extra["go"])
    if isinstance(t, msgspec.inspect.UnionType):
        inner = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
        return _go_type(inner[0]) if len(inner) == 1 else "interface {}"
    if isinstance(t, msgspec.inspect.StrType | msgspec.inspect.LiteralType):
        return "string"
    if isinstance(t, msgspec.inspect.BoolType):
        return "bool"
    if isinstance(t, msgspec.inspect.IntType):
        return "int"
    if isinstance(t, msgspec.inspect.BytesType):
        return "[]uint8"
    if isinstance(t, msgspec.inspect.ListType):
        return "[]" + _go_type(t.item_type)
    if isinstance(t, msgspec.inspect.DictType):
        return f"map[{_go_type(t.key_type)}]{_go_type(t.value_type)}"
    if isinstance(t, msgspec.inspect.StructType):
        return getattr(t.cls, "__go_name__", "") or f"server.{t.cls.__name__}"
    return "interface {}"


_KIND_NAMES: Final = {
    "object": "object",
    "array": "array",
    "string": "string",
    "number": "number",
    "bool": "bool",
}


class _Decoder:
    """Go's ``encoding/json`` decoding of the reference's request types, on scanned nodes."""

    def __init__(self, data: bytes, root: str) -> None:
        self.data = data
        self.root = root  # "StreamConfigRequest"

    def raw(self, node: _Node) -> bytes:
        return self.data[node.start : node.end]

    def type_error(
        self, node: _Node, path: list[str | int], go: str, with_literal: bool = False
    ) -> _JSONError:
        what = _KIND_NAMES[node.kind]
        if with_literal and node.kind == "number":
            what = f"number {node.value}"
        if not path:
            return _JSONError(f"json: cannot unmarshal {what} into Go value of type {go}")
        dotted = ".".join([self.root, *map(str, path)])
        where = dotted if isinstance(path[-1], int) else f"Go struct field {dotted}"
        return _JSONError(f"json: cannot unmarshal {what} into {where} of type {go}")

    # Each convert_* returns the new value, or ``_KEEP`` to leave the current one.
    def convert(self, node: _Node, t: msgspec.inspect.Type, path: list[str | int], current: Any) -> Any:
        t, extra = _unwrap(t)
        nullable = False
        if isinstance(t, msgspec.inspect.UnionType):
            inner = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
            nullable = len(inner) < len(t.types)
            t, more = _unwrap(inner[0])
            extra = {**more, **extra}
        if "enum" in extra:
            return self.convert_enum(node, t, str(extra["enum"]), path)
        if node.kind == "null":
            if nullable or isinstance(t, msgspec.inspect.ListType | msgspec.inspect.DictType):
                return None
            return _KEEP
        if extra.get("time"):
            if node.kind != "string":
                raise self.type_error(node, path, "time.Time")
            try:
                parse_time(node.value)
            except GoTimeError as e:
                raise _JSONError(str(e)) from None
            return node.value
        go = str(extra.get("go") or _go_type(t))
        if isinstance(t, msgspec.inspect.StructType):
            if node.kind != "object":
                raise self.type_error(node, path, go)
            base = current if isinstance(current, dict) else {}
            return self.convert_struct(node, t, path, base)
        if isinstance(t, msgspec.inspect.StrType):
            if node.kind != "string":
                raise self.type_error(node, path, go)
            return node.value
        if isinstance(t, msgspec.inspect.BoolType):
            if node.kind != "bool":
                raise self.type_error(node, path, go)
            return node.value
        if isinstance(t, msgspec.inspect.IntType):
            if node.kind != "number":
                raise self.type_error(node, path, go)
            lit = node.value
            if any(c in lit for c in ".eE"):
                raise self.type_error(node, path, go, with_literal=True)
            v = int(lit)
            hi = extra.get("max", t.le)
            if (t.ge is not None and v < t.ge) or (hi is not None and v > hi):
                raise self.type_error(node, path, go, with_literal=True)
            return v
        if isinstance(t, msgspec.inspect.ListType):
            if node.kind != "array":
                raise self.type_error(node, path, go)
            items = []
            for idx, item in enumerate(node.value):
                v = self.convert(item, t.item_type, [*path, idx], None)
                items.append(self.zero(t.item_type) if v is _KEEP else v)
            return items
        if isinstance(t, msgspec.inspect.DictType):
            if node.kind != "object":
                raise self.type_error(node, path, go)
            out = dict(current) if isinstance(current, dict) else {}
            for key, item in node.value:
                v = self.convert(item, t.value_type, [*path, key], out.get(key))
                out[key] = self.zero(t.value_type) if v is _KEEP else v
            return out
        raise self.type_error(node, path, go)

    def convert_enum(self, node: _Node, t: msgspec.inspect.Type, how: str, path: list[str | int]) -> Any:
        assert isinstance(t, msgspec.inspect.LiteralType)
        raw = self.raw(node)
        values = [str(v) for v in t.values]
        if how == "compression":
            if node.kind not in ("string", "null"):
                kind = _KIND_NAMES[node.kind]
                raise _JSONError(f"json: cannot unmarshal {kind} into Go value of type string")
            if node.kind == "string" and node.value in values:
                return node.value
            raise _JSONError("unknown compression algorithm")
        text = raw.decode("utf-8", "replace")
        if how == "lower":
            text = text.lower()
        for v in values:
            if text == f'"{v}"':
                return v
        if how == "persist" and text == '""':
            return "default"
        if how == "deliver" and text == '"undefined"':
            return "all"
        if how == "priority":
            raise _JSONError(f"unknown priority policy: {raw.decode('utf-8', 'replace')}")
        if how == "action":
            raise _JSONError(f"unknown consumer action: {raw.decode('utf-8', 'replace')}")
        raise _JSONError(f"can not unmarshal {go_quote(raw)}")

    def convert_struct(
        self, node: _Node, spec: msgspec.inspect.StructType, path: list[str | int], base: dict[str, Any]
    ) -> dict[str, Any]:
        fields = {f.encode_name: f for f in spec.fields}
        folded = {name.casefold(): f for name, f in fields.items()}
        strict = getattr(spec.cls, "__strict__", True)
        out = dict(base)
        for key, item in node.value:
            f = fields.get(key) or folded.get(key.casefold())
            if f is None:
                if strict:
                    raise _JSONError(f"json: unknown field {go_quote(key)}")
                continue
            v = self.convert(item, f.type, [*path, key], out.get(f.name))
            if v is not _KEEP:
                out[f.name] = v
        return out

    def zero(self, t: msgspec.inspect.Type) -> Any:
        t, extra = _unwrap(t)
        if "zero" in extra:
            return extra["zero"]
        if extra.get("time"):
            return ZERO_TIME
        if isinstance(t, msgspec.inspect.UnionType):
            return None
        if isinstance(t, msgspec.inspect.StrType):
            return ""
        if isinstance(t, msgspec.inspect.BoolType):
            return False
        if isinstance(t, msgspec.inspect.IntType):
            return 0
        if isinstance(t, msgspec.inspect.ListType):
            return []
        if isinstance(t, msgspec.inspect.DictType):
            return {}
        if isinstance(t, msgspec.inspect.StructType):
            return {}
        return None

    def build(self, spec: msgspec.inspect.StructType, values: dict[str, Any]) -> Any:
        """The Struct for a decoded dict: missing fields at their default, else Go's zero value."""
        kwargs: dict[str, Any] = {}
        for f in spec.fields:
            if f.name in values:
                v = values[f.name]
            elif not f.required:
                continue
            else:
                v = self.zero(f.type)
            kwargs[f.name] = self.finish(f.type, v)
        return spec.cls(**kwargs)

    def finish(self, t: msgspec.inspect.Type, v: Any) -> Any:
        t, _ = _unwrap(t)
        if isinstance(t, msgspec.inspect.UnionType):
            if v is None:
                return None
            t, _ = _unwrap(next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)))
        if isinstance(t, msgspec.inspect.StructType) and isinstance(v, dict):
            return self.build(_struct_spec(t.cls), v)
        if isinstance(t, msgspec.inspect.ListType) and isinstance(v, list):
            return [self.finish(t.item_type, x) for x in v]
        return v


class _Keep:
    __slots__ = ()


_KEEP: Final = _Keep()


def _decode_go(data: bytes, model: type[T], root: str) -> T:
    spec = _struct_spec(model)
    go_name = getattr(model, "__go_name__", "") or f"server.{model.__name__}"
    dec = _Decoder(data, root)
    scanner = _Scanner(data)
    values: dict[str, Any] = {}
    i = 0
    while True:
        i = scanner.skip_ws(i)
        if i >= len(data):
            break
        node, i = scanner.value(i)
        if node.kind == "null":
            continue
        if node.kind != "object":
            raise dec.type_error(node, [], go_name)
        values = dec.convert_struct(node, spec, [], values)
    result: T = dec.build(spec, values)
    return result


_FAST_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}
_TIME_KEYS: dict[type, tuple[bytes, ...]] = {}


def _time_fields(cls: type, seen: set[type] | None = None) -> set[str]:
    """JSON names of the time fields of a Struct and the Structs inside it (msgspec checks no time syntax)."""
    seen = set() if seen is None else seen
    if cls in seen:
        return set()
    seen.add(cls)
    names: set[str] = set()

    def walk(t: msgspec.inspect.Type, name: str) -> None:
        t, extra = _unwrap(t)
        if extra.get("time"):
            names.add(name)
        elif isinstance(t, msgspec.inspect.UnionType | msgspec.inspect.ListType | msgspec.inspect.DictType):
            inner = (
                t.types
                if isinstance(t, msgspec.inspect.UnionType)
                else ((t.item_type,) if isinstance(t, msgspec.inspect.ListType) else (t.value_type,))
            )
            for x in inner:
                walk(x, name)
        elif isinstance(t, msgspec.inspect.StructType):
            names.update(_time_fields(t.cls, seen))

    for f in _struct_spec(cls).fields:
        walk(f.type, f.encode_name)
    return names


# Cases msgspec's typed decoding would accept but Go may not: escapes (Go compares raw
# enum text, replaces lone surrogates) and integers beyond 64 bits.
_LONG_NUMBER: Final = re.compile(rb"[0-9]{20}")


def decode_request(data: bytes, model: type[T]) -> T:
    """Decode an API request body as the reference does, or raise ``ApiError`` 10025.

    An empty (or all-blank) body gives the model's zero value. Which APIs decode their body
    at all is the caller's business (:func:`is_empty_request`, :func:`looks_like_object_or_array`).
    """
    dec = _FAST_DECODERS.get(model)
    if dec is None:
        dec = _FAST_DECODERS[model] = msgspec.json.Decoder(model)
        _TIME_KEYS[model] = tuple(f'"{name}"'.encode() for name in sorted(_time_fields(model)))
    if (
        b"\\u" not in data
        and _LONG_NUMBER.search(data) is None
        and not any(key in data for key in _TIME_KEYS[model])
    ):
        try:
            result: T = dec.decode(data)
            return result
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    go_name = getattr(model, "__go_name__", "") or f"server.{model.__name__}"
    try:
        return _decode_go(data, model, go_name.rpartition(".")[2])
    except _JSONError as e:
        raise api_error("INVALID_JSON", err=str(e)) from None


def error_response(cls: type[T], err: ApiError) -> T:
    """An error response of type ``cls`` the way the reference writes it.

    Fields the reference always writes get their zero value: ``total``/``offset``/``limit`` 0,
    ``purged`` 0, STREAM.NAMES ``streams`` null, STREAM.LIST and CONSUMER.NAMES/LIST ``[]``.
    Encode it with :func:`encode`.
    """
    spec = _struct_spec(cls)
    dec = _Decoder(b"", "")
    values: dict[str, Any] = {"error": ApiErrorBody.of(err)}
    result: T = dec.build(spec, values)
    return result
