"""JetStream API errors: the reference server's error table, and the exception that carries one.

Every JetStream API response, and every PubAck, reports a failure as
``{"error":{"code":404,"err_code":10059,"description":"stream not found"}}``: ``code`` is
an HTTP-like status, ``err_code`` a stable JetStream error number, ``description`` a text
clients match on. Codes, numbers and texts here are protocol data and must equal the
reference server's (nats-server 2.15.1) byte for byte.

:class:`JSErr` is the table: one member per error, its value ``(code, err_code,
description template)``. Templates hold placeholders such as ``{err}``, ``{seq}``,
``{name}``; :func:`api_error` fills them the way the reference does (plain text
substitution, ``true``/``false`` for booleans, the message for exceptions).

The second part, :class:`Reason`, lists texts the reference puts *into* the ``{err}``
placeholder of the generic errors (``STREAM_INVALID_CONFIG``, ``STREAM_STORE_FAILED``,
``STREAM_MSG_DELETE_FAILED``...), so that callers do not retype them.

Usage::

    raise api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE, seq=last)
    raise api_error("STREAM_INVALID_CONFIG", err=Reason.MAX_AGE_NEGATIVE)
    body = error_dict(JSErr.STREAM_NOT_FOUND)  # {"code": 404, "err_code": 10059, ...}
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final

__all__ = [
    "ApiError",
    "JSErr",
    "Reason",
    "api_error",
    "error_dict",
    "format_description",
    "lookup",
    "wrap_error",
]


class JSErr(Enum):
    """The reference's JetStream error table: ``NAME = (code, err_code, description)``.

    Ordered by ``err_code``. Names follow the reference's constants without the ``JS``
    prefix and the ``Err``/``ErrF`` suffix (``JSStreamNotFoundErr`` -> ``STREAM_NOT_FOUND``).
    """

    _value_: tuple[int, int, str]

    ACCOUNT_RESOURCES_EXCEEDED = (400, 10002, "resource limits exceeded for account")
    BAD_REQUEST = (400, 10003, "bad request")
    CLUSTER_INCOMPLETE = (503, 10004, "incomplete results")
    CLUSTER_NO_PEERS = (400, 10005, "{err}")
    CLUSTER_NOT_ACTIVE = (500, 10006, "JetStream not in clustered mode")
    CLUSTER_NOT_ASSIGNED = (500, 10007, "JetStream cluster not assigned to this server")
    CLUSTER_NOT_AVAIL = (503, 10008, "JetStream system temporarily unavailable")
    CLUSTER_NOT_LEADER = (500, 10009, "JetStream cluster can not handle request")
    CLUSTER_REQUIRED = (503, 10010, "JetStream clustering support required")
    CLUSTER_TAGS = (400, 10011, "tags placement not supported for operation")
    CONSUMER_CREATE = (500, 10012, "{err}")
    CONSUMER_NAME_EXIST = (400, 10013, "consumer name already in use")
    CONSUMER_NOT_FOUND = (404, 10014, "consumer not found")
    SNAPSHOT_DELIVER_SUBJECT_INVALID = (400, 10015, "deliver subject not valid")
    CONSUMER_DURABLE_NAME_NOT_IN_SUBJECT = (
        400,
        10016,
        "consumer expected to be durable but no durable name set in subject",
    )
    CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT = (
        400,
        10017,
        "consumer name in subject does not match durable name in request",
    )
    CONSUMER_DURABLE_NAME_NOT_SET = (
        400,
        10018,
        "consumer expected to be durable but a durable name was not set",
    )
    CONSUMER_EPHEMERAL_WITH_DURABLE_IN_SUBJECT = (
        400,
        10019,
        "consumer expected to be ephemeral but detected a durable name set in subject",
    )
    CONSUMER_EPHEMERAL_WITH_DURABLE_NAME = (
        400,
        10020,
        "consumer expected to be ephemeral but a durable name was set in request",
    )
    STREAM_EXTERNAL_API_OVERLAP = (
        400,
        10021,
        "stream external api prefix {prefix} must not overlap with {subject}",
    )
    STREAM_EXTERNAL_DEL_PREFIX_OVERLAPS = (
        400,
        10022,
        "stream external delivery prefix {prefix} overlaps with stream subject {subject}",
    )
    INSUFFICIENT_RESOURCES = (503, 10023, "insufficient resources")
    STREAM_INVALID_EXTERNAL_DELIVERY_SUBJ = (
        400,
        10024,
        "stream external delivery prefix {prefix} must not contain wildcards",
    )
    INVALID_JSON = (400, 10025, "invalid JSON: {err}")
    MAXIMUM_CONSUMERS_LIMIT = (400, 10026, "maximum consumers limit reached")
    MAXIMUM_STREAMS_LIMIT = (400, 10027, "maximum number of streams reached")
    MEMORY_RESOURCES_EXCEEDED = (500, 10028, "insufficient memory resources available")
    MIRROR_CONSUMER_SETUP_FAILED = (500, 10029, "{err}")
    MIRROR_MAX_MESSAGE_SIZE_TOO_BIG = (400, 10030, "stream mirror must have max message size >= source")
    MIRROR_WITH_SOURCES = (400, 10031, "stream mirrors can not also contain other sources")
    MIRROR_WITH_START_SEQ_AND_TIME = (
        400,
        10032,
        "stream mirrors can not have both start seq and start time configured",
    )
    MIRROR_WITH_SUBJECT_FILTERS = (400, 10033, "stream mirrors can not contain filtered subjects")
    MIRROR_WITH_SUBJECTS = (400, 10034, "stream mirrors can not contain subjects")
    NO_ACCOUNT = (503, 10035, "account not found")
    CLUSTER_UNSUPPORTED_FEATURE = (503, 10036, "not currently supported in clustered mode")
    NO_MESSAGE_FOUND = (404, 10037, "no message found")
    NOT_EMPTY_REQUEST = (400, 10038, "expected an empty request payload")
    NOT_ENABLED_FOR_ACCOUNT = (503, 10039, "JetStream not enabled for account")
    CLUSTER_PEER_NOT_MEMBER = (400, 10040, "peer not a member")
    RAFT_GENERAL = (500, 10041, "{err}")
    RESTORE_SUBSCRIBE_FAILED = (
        500,
        10042,
        "JetStream unable to subscribe to restore snapshot {subject}: {err}",
    )
    SEQUENCE_NOT_FOUND = (400, 10043, "sequence {seq} not found")
    CLUSTER_SERVER_NOT_MEMBER = (400, 10044, "server is not a member of the cluster")
    SOURCE_CONSUMER_SETUP_FAILED = (500, 10045, "{err}")
    SOURCE_MAX_MESSAGE_SIZE_TOO_BIG = (400, 10046, "stream source must have max message size >= target")
    STORAGE_RESOURCES_EXCEEDED = (500, 10047, "insufficient storage resources available")
    STREAM_ASSIGNMENT = (500, 10048, "{err}")
    STREAM_CREATE = (500, 10049, "{err}")
    STREAM_DELETE = (500, 10050, "{err}")
    STREAM_GENERAL = (500, 10051, "{err}")
    STREAM_INVALID_CONFIG = (500, 10052, "{err}")
    STREAM_LIMITS = (500, 10053, "{err}")
    STREAM_MESSAGE_EXCEEDS_MAXIMUM = (400, 10054, "message size exceeds maximum allowed")
    STREAM_MIRROR_NOT_UPDATABLE = (400, 10055, "stream mirror configuration can not be updated")
    STREAM_MISMATCH = (400, 10056, "stream name in subject does not match request")
    STREAM_MSG_DELETE_FAILED = (500, 10057, "{err}")
    STREAM_NAME_EXIST = (400, 10058, "stream name already in use with a different configuration")
    STREAM_NOT_FOUND = (404, 10059, "stream not found")
    STREAM_NOT_MATCH = (400, 10060, "expected stream does not match")
    STREAM_REPLICAS_NOT_UPDATABLE = (400, 10061, "Replicas configuration can not be updated")
    STREAM_RESTORE = (500, 10062, "restore failed: {err}")
    STREAM_SEQUENCE_NOT_MATCH = (503, 10063, "expected stream sequence does not match")
    STREAM_SNAPSHOT = (500, 10064, "snapshot failed: {err}")
    STREAM_SUBJECT_OVERLAP = (400, 10065, "subjects overlap with an existing stream")
    STREAM_TEMPLATE_CREATE = (500, 10066, "{err}")
    STREAM_TEMPLATE_DELETE = (500, 10067, "{err}")
    STREAM_TEMPLATE_NOT_FOUND = (404, 10068, "template not found")
    STREAM_UPDATE = (500, 10069, "{err}")
    STREAM_WRONG_LAST_MSG_ID = (400, 10070, "wrong last msg ID: {id}")
    STREAM_WRONG_LAST_SEQUENCE = (400, 10071, "wrong last sequence: {seq}")
    TEMP_STORAGE_FAILED = (500, 10072, "JetStream unable to open temp storage for restore")
    TEMPLATE_NAME_NOT_MATCH_SUBJECT = (400, 10073, "template name in subject does not match request")
    STREAM_REPLICAS_NOT_SUPPORTED = (500, 10074, "replicas > 1 not supported in non-clustered mode")
    PEER_REMAP = (503, 10075, "peer remap failed")
    NOT_ENABLED = (503, 10076, "JetStream not enabled")
    STREAM_STORE_FAILED = (503, 10077, "{err}")
    CONSUMER_CONFIG_REQUIRED = (400, 10078, "consumer config required")
    CONSUMER_DELIVER_TO_WILDCARDS = (400, 10079, "consumer deliver subject has wildcards")
    CONSUMER_PUSH_MAX_WAITING = (400, 10080, "consumer in push mode can not set max waiting")
    CONSUMER_DELIVER_CYCLE = (400, 10081, "consumer deliver subject forms a cycle")
    CONSUMER_MAX_PENDING_ACK_POLICY_REQUIRED = (
        400,
        10082,
        "consumer requires ack policy for max ack pending",
    )
    CONSUMER_SMALL_HEARTBEAT = (400, 10083, "consumer idle heartbeat needs to be >= 100ms")
    CONSUMER_PULL_REQUIRES_ACK = (
        400,
        10084,
        "consumer in pull mode requires explicit ack policy on workqueue stream",
    )
    CONSUMER_PULL_NOT_DURABLE = (400, 10085, "consumer in pull mode requires a durable name")
    CONSUMER_PULL_WITH_RATE_LIMIT = (400, 10086, "consumer in pull mode can not have rate limit set")
    CONSUMER_MAX_WAITING_NEGATIVE = (400, 10087, "consumer max waiting needs to be positive")
    CONSUMER_HB_REQUIRES_PUSH = (400, 10088, "consumer idle heartbeat requires a push based consumer")
    CONSUMER_FC_REQUIRES_PUSH = (400, 10089, "consumer flow control requires a push based consumer")
    CONSUMER_DIRECT_REQUIRES_PUSH = (400, 10090, "consumer direct requires a push based consumer")
    CONSUMER_DIRECT_REQUIRES_EPHEMERAL = (400, 10091, "consumer direct requires an ephemeral consumer")
    CONSUMER_ON_MAPPED = (400, 10092, "consumer direct on a mapped consumer")
    CONSUMER_FILTER_NOT_SUBSET = (
        400,
        10093,
        "consumer filter subject is not a valid subset of the interest subjects",
    )
    CONSUMER_INVALID_POLICY = (400, 10094, "{err}")
    CONSUMER_INVALID_SAMPLING = (400, 10095, "failed to parse consumer sampling configuration: {err}")
    STREAM_INVALID = (500, 10096, "stream not valid")
    STREAM_HEADER_EXCEEDS_MAXIMUM = (400, 10097, "header size exceeds maximum allowed of 64k")
    CONSUMER_WQ_REQUIRES_EXPLICIT_ACK = (400, 10098, "workqueue stream requires explicit ack")
    CONSUMER_WQ_MULTIPLE_UNFILTERED = (
        400,
        10099,
        "multiple non-filtered consumers not allowed on workqueue stream",
    )
    CONSUMER_WQ_CONSUMER_NOT_UNIQUE = (400, 10100, "filtered consumer not unique on workqueue stream")
    CONSUMER_WQ_CONSUMER_NOT_DELIVER_ALL = (400, 10101, "consumer must be deliver all on workqueue stream")
    CONSUMER_NAME_TOO_LONG = (400, 10102, "consumer name is too long, maximum allowed is {max}")
    CONSUMER_BAD_DURABLE_NAME = (400, 10103, "durable name can not contain '.', '*', '>'")
    CONSUMER_STORE_FAILED = (500, 10104, "error creating store for consumer: {err}")
    CONSUMER_EXISTING_ACTIVE = (400, 10105, "consumer already exists and is still active")
    CONSUMER_REPLACEMENT_WITH_DIFFERENT_NAME = (
        400,
        10106,
        "consumer replacement durable config not the same",
    )
    CONSUMER_DESCRIPTION_TOO_LONG = (400, 10107, "consumer description is too long, maximum allowed is {max}")
    CONSUMER_WITH_FLOW_CONTROL_NEEDS_HEARTBEATS = (
        400,
        10108,
        "consumer with flow control also needs heartbeats",
    )
    STREAM_SEALED = (400, 10109, "invalid operation on sealed stream")
    STREAM_PURGE_FAILED = (500, 10110, "{err}")
    STREAM_ROLLUP_FAILED = (500, 10111, "{err}")
    CONSUMER_INVALID_DELIVER_SUBJECT = (400, 10112, "invalid push consumer deliver subject")
    STREAM_MAX_BYTES_REQUIRED = (400, 10113, "account requires a stream config to have max bytes set")
    CONSUMER_MAX_REQUEST_BATCH_NEGATIVE = (400, 10114, "consumer max request batch needs to be > 0")
    CONSUMER_MAX_REQUEST_EXPIRES_TOO_SMALL = (400, 10115, "consumer max request expires needs to be >= 1ms")
    CONSUMER_MAX_DELIVER_BACKOFF = (400, 10116, "max deliver is required to be > length of backoff values")
    STREAM_INFO_MAX_SUBJECTS = (500, 10117, "subject details would exceed maximum allowed")
    STREAM_OFFLINE = (500, 10118, "stream is offline")
    CONSUMER_OFFLINE = (500, 10119, "consumer is offline")
    NO_LIMITS = (400, 10120, "no JetStream default or applicable tiered limit present")
    CONSUMER_MAX_PENDING_ACK_EXCESS = (400, 10121, "consumer max ack pending exceeds system limit of {limit}")
    STREAM_MAX_STREAM_BYTES_EXCEEDED = (400, 10122, "stream max bytes exceeds account limit max stream bytes")
    STREAM_MOVE_AND_SCALE = (400, 10123, "can not move and scale a stream in a single update")
    STREAM_MOVE_IN_PROGRESS = (400, 10124, "stream move already in progress")
    CONSUMER_MAX_REQUEST_BATCH_EXCEEDED = (
        400,
        10125,
        "consumer max request batch exceeds server limit of {limit}",
    )
    CONSUMER_REPLICAS_EXCEEDS_STREAM = (400, 10126, "consumer config replica count exceeds parent stream")
    CONSUMER_NAME_CONTAINS_PATH_SEPARATORS = (400, 10127, "Consumer name can not contain path separators")
    STREAM_NAME_CONTAINS_PATH_SEPARATORS = (400, 10128, "Stream name can not contain path separators")
    STREAM_RECONFIGURE_NOT_IN_PROGRESS = (400, 10129, "stream reconfiguration not in progress")
    STREAM_NAME_EXIST_RESTORE_FAILED = (400, 10130, "stream name already in use, cannot restore")
    CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH = (
        400,
        10131,
        "Consumer create request did not match filtered subject from create subject",
    )
    CONSUMER_CREATE_DURABLE_AND_NAME_MISMATCH = (
        400,
        10132,
        "Consumer Durable and Name have to be equal if both are provided",
    )
    REPLICAS_COUNT_CANNOT_BE_NEGATIVE = (400, 10133, "replicas count cannot be negative")
    CONSUMER_REPLICAS_SHOULD_MATCH_STREAM = (
        400,
        10134,
        "consumer config replicas must match interest retention stream's replicas",
    )
    CONSUMER_METADATA_LENGTH = (400, 10135, "consumer metadata exceeds maximum size of {limit}")
    CONSUMER_DUPLICATE_FILTER_SUBJECTS = (
        400,
        10136,
        "consumer cannot have both FilterSubject and FilterSubjects specified",
    )
    CONSUMER_MULTIPLE_FILTERS_NOT_ALLOWED = (
        400,
        10137,
        "consumer with multiple subject filters cannot use subject based API",
    )
    CONSUMER_OVERLAPPING_SUBJECT_FILTERS = (400, 10138, "consumer subject filters cannot overlap")
    CONSUMER_EMPTY_FILTER = (400, 10139, "consumer filter in FilterSubjects cannot be empty")
    SOURCE_DUPLICATE_DETECTED = (400, 10140, "duplicate source configuration detected")
    SOURCE_INVALID_STREAM_NAME = (400, 10141, "sourced stream name is invalid")
    MIRROR_INVALID_STREAM_NAME = (400, 10142, "mirrored stream name is invalid")
    MIRROR_WITH_FIRST_SEQ = (400, 10143, "stream mirrors can not have first sequence configured")
    SOURCE_MULTIPLE_FILTERS_NOT_ALLOWED = (
        400,
        10144,
        "source with multiple subject transforms cannot also have a single subject filter",
    )
    SOURCE_INVALID_SUBJECT_FILTER = (400, 10145, "source transform source: {err}")
    SOURCE_INVALID_TRANSFORM_DESTINATION = (400, 10146, "source transform: {err}")
    SOURCE_OVERLAPPING_SUBJECT_FILTERS = (400, 10147, "source filters can not overlap")
    CONSUMER_ALREADY_EXISTS = (400, 10148, "consumer already exists")
    CONSUMER_DOES_NOT_EXIST = (400, 10149, "consumer does not exist")
    MIRROR_MULTIPLE_FILTERS_NOT_ALLOWED = (
        400,
        10150,
        "mirror with multiple subject transforms cannot also have a single subject filter",
    )
    MIRROR_INVALID_SUBJECT_FILTER = (400, 10151, "mirror transform source: {err}")
    MIRROR_OVERLAPPING_SUBJECT_FILTERS = (400, 10152, "mirror subject filters can not overlap")
    CONSUMER_INACTIVE_THRESHOLD_EXCESS = (
        400,
        10153,
        "consumer inactive threshold exceeds system limit of {limit}",
    )
    MIRROR_INVALID_TRANSFORM_DESTINATION = (400, 10154, "mirror transform: {err}")
    STREAM_TRANSFORM_INVALID_SOURCE = (400, 10155, "stream transform source: {err}")
    STREAM_TRANSFORM_INVALID_DESTINATION = (400, 10156, "stream transform: {err}")
    PEDANTIC = (400, 10157, "pedantic mode: {err}")
    STREAM_DUPLICATE_MESSAGE_CONFLICT = (409, 10158, "duplicate message id is in process")
    CONSUMER_PRIORITY_POLICY_WITHOUT_GROUP = (
        400,
        10159,
        "Setting PriorityPolicy requires at least one PriorityGroup to be set",
    )
    CONSUMER_INVALID_PRIORITY_GROUP = (400, 10160, "Provided priority group does not exist for this consumer")
    CONSUMER_EMPTY_GROUP_NAME = (400, 10161, "Group name cannot be an empty string")
    CONSUMER_INVALID_GROUP_NAME = (
        400,
        10162,
        "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
    )
    STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY = (
        503,
        10163,
        "expected last sequence per subject temporarily unavailable",
    )
    STREAM_WRONG_LAST_SEQUENCE_CONSTANT = (400, 10164, "wrong last sequence")
    MESSAGE_TTL_INVALID = (400, 10165, "invalid per-message TTL")
    MESSAGE_TTL_DISABLED = (400, 10166, "per-message TTL is disabled")
    STREAM_TOO_MANY_REQUESTS = (429, 10167, "too many requests")
    MESSAGE_INCR_DISABLED = (400, 10168, "message counters is disabled")
    MESSAGE_INCR_MISSING = (400, 10169, "message counter increment is missing")
    MESSAGE_INCR_PAYLOAD = (400, 10170, "message counter has payload")
    MESSAGE_INCR_INVALID = (400, 10171, "message counter increment is invalid")
    MESSAGE_COUNTER_BROKEN = (400, 10172, "message counter is broken")
    MIRROR_WITH_COUNTERS = (400, 10173, "stream mirrors can not also calculate counters")
    ATOMIC_PUBLISH_DISABLED = (400, 10174, "atomic publish is disabled")
    ATOMIC_PUBLISH_MISSING_SEQ = (400, 10175, "atomic publish sequence is missing")
    ATOMIC_PUBLISH_INCOMPLETE_BATCH = (400, 10176, "atomic publish batch is incomplete")
    ATOMIC_PUBLISH_UNSUPPORTED_HEADER_BATCH = (400, 10177, "atomic publish unsupported header used: {header}")
    CONSUMER_PUSH_WITH_PRIORITY_GROUP = (400, 10178, "priority groups can not be used with push consumers")
    ATOMIC_PUBLISH_INVALID_BATCH_ID = (400, 10179, "atomic publish batch ID is invalid")
    STREAM_MIN_LAST_SEQ = (412, 10180, "min last sequence")
    CONSUMER_ACK_POLICY_INVALID = (400, 10181, "consumer ack policy invalid")
    CONSUMER_REPLAY_POLICY_INVALID = (400, 10182, "consumer replay policy invalid")
    CONSUMER_ACK_WAIT_NEGATIVE = (400, 10183, "consumer ack wait needs to be positive")
    CONSUMER_BACK_OFF_NEGATIVE = (400, 10184, "consumer backoff needs to be positive")
    REQUIRED_API_LEVEL = (412, 10185, "JetStream minimum api level required")
    MIRROR_WITH_MSG_SCHEDULES = (400, 10186, "stream mirrors can not also schedule messages")
    SOURCE_WITH_MSG_SCHEDULES = (400, 10187, "stream source can not also schedule messages")
    MESSAGE_SCHEDULES_DISABLED = (400, 10188, "message schedules is disabled")
    MESSAGE_SCHEDULES_PATTERN_INVALID = (400, 10189, "message schedules pattern is invalid")
    MESSAGE_SCHEDULES_TARGET_INVALID = (400, 10190, "message schedules target is invalid")
    MESSAGE_SCHEDULES_TTL_INVALID = (400, 10191, "message schedules invalid per-message TTL")
    MESSAGE_SCHEDULES_ROLLUP_INVALID = (400, 10192, "message schedules invalid rollup")
    STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID = (
        400,
        10193,
        "missing sequence for expected last sequence per subject",
    )
    STREAM_OFFLINE_REASON = (500, 10194, "stream is offline: {err}")
    CONSUMER_OFFLINE_REASON = (500, 10195, "consumer is offline: {err}")
    CONSUMER_PRIORITY_GROUP_WITH_POLICY_NONE = (
        400,
        10196,
        "consumer can not have priority groups when policy is none",
    )
    CONSUMER_PINNED_TTL_WITHOUT_PRIORITY_POLICY_NONE = (
        400,
        10197,
        "PinnedTTL cannot be set when PriorityPolicy is none",
    )
    MIRROR_WITH_ATOMIC_PUBLISH = (400, 10198, "stream mirrors can not also use atomic publishing")
    ATOMIC_PUBLISH_TOO_LARGE_BATCH = (400, 10199, "atomic publish batch is too large: {size}")
    ATOMIC_PUBLISH_INVALID_BATCH_COMMIT = (400, 10200, "atomic publish batch commit is invalid")
    ATOMIC_PUBLISH_CONTAINS_DUPLICATE_MESSAGE = (
        400,
        10201,
        "atomic publish batch contains duplicate message id",
    )
    CLUSTER_SERVER_MEMBER_CHANGE_INFLIGHT = (400, 10202, "cluster member change is in progress")
    MESSAGE_SCHEDULES_SOURCE_INVALID = (400, 10203, "message schedules source is invalid")
    CONSUMER_INVALID_RESET = (400, 10204, "invalid reset: {err}")
    BATCH_PUBLISH_DISABLED = (400, 10205, "batch publish is disabled")
    BATCH_PUBLISH_INVALID_PATTERN = (400, 10206, "batch publish pattern is invalid")
    BATCH_PUBLISH_INVALID_BATCH_ID = (400, 10207, "batch publish ID is invalid")
    BATCH_PUBLISH_UNKNOWN_BATCH_ID = (400, 10208, "batch publish ID unknown")
    MIRROR_WITH_BATCH_PUBLISH = (400, 10209, "stream mirrors can not also use batch publishing")
    ATOMIC_PUBLISH_TOO_MANY_INFLIGHT = (429, 10210, "atomic publish too many inflight")
    BATCH_PUBLISH_TOO_MANY_INFLIGHT = (429, 10211, "batch publish too many inflight")
    MESSAGE_SCHEDULES_SCHEDULER_INVALID = (400, 10212, "message schedules invalid scheduler")
    MIRROR_DURABLE_CONSUMER_CFG_INVALID = (400, 10213, "stream mirror consumer config is invalid")
    MIRROR_CONSUMER_REQUIRES_ACK_FC = (400, 10214, "stream mirror consumer requires flow control ack policy")
    SOURCE_DURABLE_CONSUMER_CFG_INVALID = (400, 10215, "stream source consumer config is invalid")
    SOURCE_DURABLE_CONSUMER_DUPLICATE_DETECTED = (400, 10216, "duplicate stream source consumer detected")
    SOURCE_CONSUMER_REQUIRES_ACK_FC = (400, 10217, "stream source consumer requires flow control ack policy")
    CONSUMER_ACK_FC_REQUIRES_PUSH = (400, 10218, "flow control ack policy requires a push based consumer")
    CONSUMER_ACK_FC_REQUIRES_FC = (400, 10219, "flow control ack policy requires flow control")
    CONSUMER_ACK_FC_REQUIRES_MAX_ACK_PENDING = (
        400,
        10220,
        "flow control ack policy requires max ack pending",
    )
    CONSUMER_ACK_FC_REQUIRES_NO_ACK_WAIT = (400, 10221, "flow control ack policy requires unset ack wait")
    CONSUMER_ACK_FC_REQUIRES_NO_MAX_DELIVER = (
        400,
        10222,
        "flow control ack policy requires unset max deliver",
    )
    MESSAGE_SCHEDULES_TIME_ZONE_INVALID = (400, 10223, "message schedules time zone is invalid")
    CLUSTER_RESCUE = (400, 10224, "JetStream system rescue not applied: {err}")
    CONSUMER_STREAM_IDENTITY_MISMATCH = (400, 10225, "consumer's stream identity does not match: {msg}")
    STREAM_RECONFIGURE_IN_PROGRESS = (400, 10226, "stream reconfiguration already in progress")
    MESSAGE_SOURCE_HDR_NOT_ALLOWED = (400, 10227, "message stream source header is not allowed")

    @property
    def code(self) -> int:
        """The HTTP-like status (400, 404, 409, 412, 429, 500, 503)."""
        return self._value_[0]

    @property
    def err_code(self) -> int:
        """The JetStream error number (10002...)."""
        return self._value_[1]

    @property
    def description(self) -> str:
        """The description template, placeholders unfilled."""
        return self._value_[2]


_BY_ERR_CODE: Final[dict[int, JSErr]] = {e.err_code: e for e in JSErr}

_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")


def lookup(key: JSErr | str | int) -> JSErr:
    """The table entry for a member, a member name (``"STREAM_NOT_FOUND"``) or an err_code."""
    if isinstance(key, JSErr):
        return key
    if isinstance(key, int):
        return _BY_ERR_CODE[key]
    return JSErr[key]


def _text(value: object) -> str:
    # The reference substitutes strings as they are, errors by their message and
    # anything else with Go's %v: booleans are "true"/"false", a nil is "<nil>".
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, ApiError):
        return value.description
    return str(value)


def format_description(template: str, params: dict[str, object]) -> str:
    """Fill ``{name}`` placeholders in one pass; placeholders without a value stay as they are."""
    if not params or "{" not in template:
        return template

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        return _text(params[key]) if key in params else m.group(0)

    return _PLACEHOLDER.sub(sub, template)


class ApiError(Exception):
    """A JetStream API error ready to be sent: table entry plus its filled-in description."""

    __slots__ = ("description", "error")

    def __init__(self, error: JSErr, description: str | None = None) -> None:
        self.error = error
        self.description = error.description if description is None else description
        super().__init__(self.description)

    @property
    def code(self) -> int:
        return self.error.code

    @property
    def err_code(self) -> int:
        return self.error.err_code

    def to_dict(self) -> dict[str, int | str]:
        """``{"code":..,"err_code":..,"description":..}``, the reference's key order."""
        return {"code": self.error.code, "err_code": self.error.err_code, "description": self.description}

    def __repr__(self) -> str:
        return f"ApiError({self.error.name}, {self.description!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiError):
            return NotImplemented
        return self.error is other.error and self.description == other.description

    def __hash__(self) -> int:
        return hash((self.error, self.description))


def api_error(name: JSErr | str | int, /, **params: object) -> ApiError:
    """An :class:`ApiError` for table entry ``name`` with its placeholders filled from ``params``."""
    entry = lookup(name)
    return ApiError(entry, format_description(entry.description, params))


def wrap_error(name: JSErr | str | int, err: BaseException | str, /) -> ApiError:
    """``err`` itself when it already is an :class:`ApiError`, else ``name`` with ``{err}`` = its text.

    The reference's generic errors (``STREAM_STORE_FAILED``, ``STREAM_INVALID_CONFIG``...) pass
    an inner JetStream error through unchanged rather than wrapping it.
    """
    if isinstance(err, ApiError):
        return err
    return api_error(name, err=err if isinstance(err, str) else str(err))


def error_dict(error: ApiError | JSErr | str | int, /, **params: object) -> dict[str, int | str]:
    """The ``error`` object of a response: ``{"code":..,"err_code":..,"description":..}``."""
    if not isinstance(error, ApiError):
        error = api_error(error, **params)
    return error.to_dict()


class Reason:
    """Texts the reference puts into ``{err}`` of the generic errors (checked against 2.15.1).

    Which generic error carries them is noted per group. Texts with ``%`` hold a value the
    reference formats in: fill them with ``%`` formatting (``%d`` integers, ``%q`` is a
    Go-quoted string, see :func:`pynatsd.gocompat.go_quote`).
    """

    # STREAM_INVALID_CONFIG (500/10052): create and update validation.
    CONFIG_INVALID: Final = "stream configuration invalid"
    NAME_INVALID: Final = "stream name is required and can not contain '.', '*', '>', '\\', '/'"
    NAME_TOO_LONG: Final = "stream name is too long, maximum allowed is %d"
    DESCRIPTION_TOO_LONG: Final = "stream description is too long, maximum allowed is %d"
    METADATA_TOO_LONG: Final = "stream metadata exceeds maximum size of %d bytes"
    INVALID_RETENTION: Final = "invalid retention"
    INVALID_DISCARD: Final = "invalid discard policy"
    INVALID_COMPRESSION: Final = "invalid compression"
    INVALID_STORAGE: Final = "invalid storage type"
    MAX_REPLICAS: Final = "maximum replicas is %d"
    MAX_AGE_NEGATIVE: Final = "max age can not be negative"
    MAX_AGE_TOO_SMALL: Final = "max age needs to be >= 100ms"
    DUPLICATES_NEGATIVE: Final = "duplicates window can not be negative"
    DUPLICATES_ABOVE_MAX_AGE: Final = "duplicates window can not be larger then max age"
    DUPLICATES_ABOVE_LIMIT: Final = "duplicates window can not be larger then server limit of %s"
    DUPLICATES_TOO_SMALL: Final = "duplicates window needs to be >= 100ms"
    ROLLUP_NEEDS_PURGE: Final = "roll-ups require the purge permission"
    COUNTER_DISCARD_NEW: Final = "counter stream cannot use discard new"
    COUNTER_TTL: Final = "counter stream cannot use message TTLs"
    COUNTER_SCHEDULES: Final = "counter stream cannot use message schedules"
    COUNTER_RETENTION: Final = "counter stream can only use limits retention"
    DISCARD_NEW_PER_NEEDS_NEW: Final = "discard new per subject requires discard new policy to be set"
    DISCARD_NEW_PER_NEEDS_MAX: Final = "discard new per subject requires max msgs per subject > 0"
    MARKER_TTL_TOO_SMALL: Final = "subject delete marker TTL must be at least 1 second"
    MARKER_TTL_NEGATIVE: Final = "subject delete marker TTL must not be negative"
    MARKER_ON_MIRROR: Final = "subject delete markers forbidden on mirrors"
    SCHEDULES_DISCARD_NEW: Final = "message scheduling cannot use discard new"
    ASYNC_NEEDS_FILE: Final = "async persist mode is only supported on file storage"
    ASYNC_REPLICATED: Final = "async persist mode is not supported on replicated streams"
    ASYNC_ATOMIC: Final = "async persist mode is not supported with atomic batch publish"
    EXTERNAL_API_PREFIX: Final = "stream external api prefix %s must be a valid subject without wildcards"
    DETECTED_CYCLE: Final = "detected cycle"
    INVALID_SUBJECT: Final = "invalid subject"
    DUPLICATE_SUBJECTS: Final = "duplicate subjects detected"
    CAPTURE_ALL_NO_ACK: Final = "capturing all subjects requires no-ack to be true"
    CAPTURE_ALL_R1: Final = "capturing all subjects requires replicas of 1"
    JS_API_OVERLAP: Final = "subjects that overlap with jetstream api require no-ack to be true"
    SYS_API_OVERLAP: Final = "subjects that overlap with system api require no-ack to be true"
    SUBJECTS_OVERLAP: Final = "subject %s overlaps with %s"  # both Go-quoted: subject "a" overlaps with "a"
    NO_SUBJECTS: Final = "stream needs at least one configured subject or be a source/mirror"
    REPUBLISH_CYCLE: Final = "stream configuration for republish destination forms a cycle"
    REPUBLISH_TRANSFORM: Final = (
        "stream configuration for republish with transform from '%s' to '%s' not valid"
    )
    PLACEMENT_PREFERRED: Final = "preferred server not permitted in placement"
    CREATE_SEALED: Final = "stream configuration for create can not be sealed"
    MIRROR_DIRECT_WITHOUT_MIRROR: Final = "stream has no mirror but does have mirror direct"
    UPDATE_NAME: Final = "stream configuration name must match original"
    UPDATE_STORAGE: Final = "stream configuration update can not change storage type"
    UPDATE_RETENTION: Final = "stream configuration update can not change retention policy to/from workqueue"
    UPDATE_UNSEAL: Final = "stream configuration update can not unseal a sealed stream"
    UPDATE_DENY_DELETE: Final = "stream configuration update can not cancel deny message deletes"
    UPDATE_DENY_PURGE: Final = "stream configuration update can not cancel deny purge"
    UPDATE_TTL: Final = "message TTL status can not be disabled"
    UPDATE_COUNTER: Final = "stream configuration update can not change message counter setting"
    UPDATE_SCHEDULES: Final = "message schedules can not be disabled"
    UPDATE_PERSIST_MODE: Final = "stream configuration update can not change persist mode"

    # Pedantic create/update ("pedantic": true): the silent corrections become errors.
    # PEDANTIC (400/10157) carries these:
    PEDANTIC_LIMIT: Final = (
        "%s must be set to -1"  # max_msgs, max_msgs_per_subject, max_bytes, max_msg_size, max_consumers
    )
    PEDANTIC_WINDOW_ABOVE_AGE: Final = "duplicate window cannot be bigger than max age"
    PEDANTIC_WINDOW_ABOVE_LIMIT: Final = "duplicate window limits are higher than current limits"
    PEDANTIC_REPUBLISH_SRC: Final = "republish source can not be empty"
    PEDANTIC_IMPLICIT_REPUBLISH: Final = "implicit republish based on subject transform"
    PEDANTIC_MIRROR_DIRECT: Final = "origin stream has direct get set, mirror has it disabled"
    # ...while these three stay STREAM_INVALID_CONFIG (500/10052) in pedantic mode:
    PEDANTIC_MARKER_TTL: Final = "subject delete marker cannot be set if message TTLs are disabled"
    PEDANTIC_MARKER_ROLLUP: Final = "subject delete marker cannot be set if roll-ups are disabled"
    PEDANTIC_SCHEDULES_ROLLUP: Final = "message scheduling cannot be set if roll-ups are disabled"

    # STREAM_STORE_FAILED (503/10077) in a PubAck: the store's limit errors (discard new).
    MAX_MSGS: Final = "maximum messages exceeded"
    MAX_BYTES: Final = "maximum bytes exceeded"
    MAX_MSGS_PER_SUBJECT: Final = "maximum messages per subject exceeded"
    STORE_CLOSED: Final = "store is closed"
    STREAM_CLOSED: Final = "stream closed"

    # STREAM_MSG_DELETE_FAILED (500/10057).
    STORE_EOF: Final = "stream store EOF"  # sequence above the last one
    MSG_NOT_FOUND: Final = "no message found"  # sequence 0 / below the first one
    DELETE_NOT_PERMITTED: Final = "message delete not permitted"  # deny_delete

    # STREAM_PURGE_FAILED (500/10110).
    PURGE_NOT_PERMITTED: Final = "stream purge not permitted"  # deny_purge

    # STREAM_ROLLUP_FAILED (500/10111) in a PubAck.
    ROLLUP_NOT_PERMITTED: Final = "rollup not permitted"
    ROLLUP_INVALID: Final = "rollup value invalid: %s"  # Go-quoted header value

    # CONSUMER_CREATE / STREAM_INVALID_CONFIG on the consumer path.
    CONSUMER_NAME_INVALID: Final = "consumer name can not contain '.', '*', '>', '\\', '/'"
    CONSUMER_DURABLE_INVALID: Final = "consumer durable name can not contain '.', '*', '>', '\\', '/'"
    ACK_FC_HEARTBEAT: Final = "flow control ack policy heartbeat needs to be 1s"
    DELIVER_POLICY_START_SET: Final = (
        "consumer delivery policy is deliver %s, but optional start %s is also set"
    )
    DELIVER_POLICY_NOT_SET: Final = "consumer delivery policy is deliver %s, but optional %s is not set"
