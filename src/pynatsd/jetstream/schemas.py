"""JetStream API message shapes: the msgspec Structs of every request and response.

Every request and response of ``$JS.API.>`` is JSON. Clients compare what they get with
what nats-server 2.15.1 sends, so the Structs here reproduce it field for field:

* field order is declaration order (the reference's struct order);
* a field the reference always writes has no default (it is required here), a field it
  leaves out when empty/zero (Go ``omitempty``) has its zero value as default, and
  ``omit_defaults`` drops it;
* durations are integers in nanoseconds, times are strings in Go's RFC 3339 form
  (:func:`pynatsd.gocompat.format_time`; the zero time is ``"0001-01-01T00:00:00Z"``);
* responses carry ``"type"`` first (the msgspec tag), then ``"error"`` when set.

Only shapes live here. Reading and writing them the reference's way (Go's JSON escapes,
Go's ``encoding/json`` request decoding and its errors) is :mod:`pynatsd.jetstream.codec`;
the defaults the reference fills into a stream configuration are
:mod:`pynatsd.jetstream.config`. The metadata on the field types (``go``, ``enum``,
``zero``, ``time``) and the ``__go_name__``/``__strict__`` class variables are read by the codec.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final, Literal

import msgspec
from msgspec import Meta

from pynatsd.jetstream.errors import ApiError
from pynatsd.version import API_LEVEL as VERSION_API_LEVEL

__all__ = [
    "API_LEVEL",
    "JS_MAX_DESCRIPTION_LEN",
    "JS_MAX_METADATA_LEN",
    "JS_MAX_NAME_LEN",
    "LIST_PAGE_SIZE",
    "META_REQUIRED_LEVEL",
    "META_SERVER_LEVEL",
    "META_SERVER_VERSION",
    "NAMES_PAGE_SIZE",
    "SUBJECTS_PAGE_SIZE",
    "AccountInfoResponse",
    "AccountLimits",
    "ApiErrorBody",
    "ApiStats",
    "ApiStoredMsg",
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
    "ConsumerUnpinRequest",
    "ConsumerUnpinResponse",
    "ConsumersRequest",
    "ExternalStream",
    "LostStreamData",
    "MsgDeleteRequest",
    "MsgGetRequest",
    "PeerInfo",
    "Placement",
    "PriorityGroupState",
    "PubAck",
    "PubAckError",
    "PullRequestBody",
    "RePublish",
    "SequenceInfo",
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
]

# --------------------------------------------------------------------------------------
# Constants of the API
# --------------------------------------------------------------------------------------

API_LEVEL: Final = VERSION_API_LEVEL  # 2.15.1 reports "api":{"level":5} and "_nats.level":"5"
JS_MAX_NAME_LEN: Final = 255
JS_MAX_DESCRIPTION_LEN: Final = 4 * 1024
JS_MAX_METADATA_LEN: Final = 128 * 1024  # sum of len(key) + len(value)
NAMES_PAGE_SIZE: Final = 1024  # STREAM.NAMES and CONSUMER.NAMES "limit"
LIST_PAGE_SIZE: Final = 256  # STREAM.LIST and CONSUMER.LIST "limit"
SUBJECTS_PAGE_SIZE: Final = 100_000  # STREAM.INFO "limit" when subjects_filter is given

META_REQUIRED_LEVEL: Final = "_nats.req.level"
META_SERVER_VERSION: Final = "_nats.ver"
META_SERVER_LEVEL: Final = "_nats.level"

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
#: An RFC 3339 time kept as the text the reference writes (see :func:`pynatsd.gocompat.format_time`).
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

    Required fields are the ones the reference always writes; :func:`~pynatsd.jetstream.config.with_defaults` turns a
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
    seq: Uint64 = 0  # a source's last origin sequence stored (2.15); omitted when 0
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


class ApiStoredMsg(_Obj, kw_only=True):
    """``message`` of STREAM.MSG.GET: headers and data base64 (omitted when empty)."""

    subject: str
    seq: Uint64
    hdrs: bytes = b""
    data: bytes = b""
    time: Time


class StreamMsgGetResponse(_Response, tag="io.nats.jetstream.api.v1.stream_msg_get_response", kw_only=True):
    message: ApiStoredMsg | None = None


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

    Decode with this; write with :func:`~pynatsd.jetstream.codec.encode_pub_ack` (the
    reference's bytes are hand-built: ``"duplicate": true`` has a space and the stream name
    is Go-quoted).
    """

    stream: str
    domain: str = ""
    seq: Uint64
    duplicate: bool = False
    val: str = ""  # counter streams: the subject's new total


class PubAckError(_Obj, kw_only=True):
    """A refused publish: ``{"error":{...},"stream":"S","seq":0}`` (never a domain)."""

    error: ApiErrorBody
    stream: str
    seq: Uint64


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


class ConsumerUnpinResponse(_Response, tag="io.nats.jetstream.api.v1.consumer_unpin_response", kw_only=True):
    """CONSUMER.UNPIN: just the type (or the error)."""


class ConsumerResetResponse(_Response, tag="io.nats.jetstream.api.v1.consumer_reset_response", kw_only=True):
    """CONSUMER.RESET errors (sourcing_consumers.py); answers are the consumer info plus ``reset_seq``."""

    reset_seq: int = 0


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
    min_pending: Int64 = 0
    min_ack_pending: Int64 = 0
    id: str = ""
    priority: Int = 0


class ConsumersRequest(_Obj, kw_only=True):
    """CONSUMER.NAMES / CONSUMER.LIST body."""

    __go_name__ = "server.JSApiConsumersRequest"
    offset: Int = 0


class ConsumerUnpinRequest(_Obj, kw_only=True):
    __go_name__ = "server.JSApiConsumerUnpinRequest"
    __strict__ = False  # the reference ignores unknown fields here
    group: str = ""


class ConsumerPauseRequest(_Obj, kw_only=True):
    __go_name__ = "server.JSApiConsumerPauseRequest"
    pause_until: Time | None = None
