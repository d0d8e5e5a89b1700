"""Consumer configuration checks and defaults: what CONSUMER.CREATE refuses, and what it stores.

One call, :func:`validate_consumer`, takes a decoded ``CONSUMER.CREATE`` /
``CONSUMER.DURABLE.CREATE`` request, what its subject says (:func:`parse_create_subject`) and
the stream's current state, and either raises the :class:`~pynatsd.jetstream.errors.ApiError`
the reference (nats-server 2.15.1, standalone) answers with, or returns the configuration the
consumer will have. Error codes, texts and the order in which the rules are applied follow the
reference, checked request by request in ``tests/jetstream/test_consumer_config.py``.

The reference's path through a create request, which :func:`validate_consumer` follows:

1. the subject against the body: stream name (10056), path separators in the consumer name
   (10127), durable name rules of the legacy subjects (10018, 10017, 10020), the filter
   subject given in the subject (10137, 10131); the name in the subject replaces
   ``config.name``;
2. ``num_replicas`` > 1 (10074, standalone), then the stream must exist (10059);
3. an existing consumer keeps its ``pause_until`` (a create request cannot change it);
4. ``_nats.req.level`` metadata is computed from the request (before the defaults);
5. the defaults (:func:`apply_defaults`; pedantic mode turns each silent correction into 10157);
6. the checks of the configuration itself (:func:`check_config`);
7. either the rules of an existing consumer (action "create" with another configuration ->
   10148, work queue partitions, what an update may not change -> 500/10012 with the reason),
   or those of a new one (action "update" -> 10149, ``max_consumers`` -> 10026, work queue
   rules, durable name length, storage name limits; ``direct`` and ``sourcing`` consumers
   are outside the consumer count and the work queue rules), then the naming of ephemerals and the
   5s ``inactive_threshold`` of non-durables.

Stored configurations are "the reference's ``o.cfg``": no ``_nats.ver``/``_nats.level``
metadata (add them with :func:`response_config` for CREATE/INFO replies), times in the text
Go writes them in, empty lists and maps left out.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import msgspec

from pynatsd.gocompat import ZERO_TIME, format_duration, go_atoi, go_time_text, parse_time
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, Reason, api_error
from pynatsd.protocol.subjects import has_wildcard, is_valid_subject, subjects_collide, subset_of
from pynatsd.version import REFERENCE_VERSION

__all__ = [
    "DEFAULT_ACK_WAIT",
    "DEFAULT_INACTIVE_THRESHOLD",
    "DEFAULT_MAX_ACK_PENDING",
    "DEFAULT_MAX_WAITING",
    "DEFAULT_PINNED_TTL",
    "FLOW_CONTROL_HEARTBEAT",
    "ConsumerLimits",
    "CreateSubject",
    "ValidatedConsumer",
    "apply_defaults",
    "check_config",
    "check_update",
    "filters_of",
    "is_durable",
    "new_ephemeral_name",
    "parse_create_subject",
    "required_api_level",
    "response_config",
    "subjects_collide",
    "validate_consumer",
]

MS: Final = 1_000_000
SECOND: Final = 1_000_000_000

DEFAULT_ACK_WAIT: Final = 30 * SECOND  # explicit / all ack policies
DEFAULT_MAX_ACK_PENDING: Final = 1000  # any ack policy but none
DEFAULT_MAX_WAITING: Final = 512  # pull consumers
DEFAULT_INACTIVE_THRESHOLD: Final = 5 * SECOND  # consumers without a durable name
DEFAULT_PINNED_TTL: Final = 120 * SECOND  # priority_policy pinned_client
FLOW_CONTROL_HEARTBEAT: Final = SECOND  # ack_policy flow_control
MIN_HEARTBEAT: Final = 100 * MS
MAX_NAME_BYTES: Final = S.JS_MAX_NAME_LEN  # 255, durable names (file names for the others)

META_REQUIRED_LEVEL: Final = S.META_REQUIRED_LEVEL
META_SERVER_VERSION: Final = S.META_SERVER_VERSION
META_SERVER_LEVEL: Final = S.META_SERVER_LEVEL

# The reference's isValidAssetName: not empty, none of these. "\v" and other controls pass.
_NAME_FORBIDDEN: Final = frozenset(".*> \t\r\n\f\\/")
_PRIORITY_GROUP: Final = re.compile(r"[a-zA-Z0-9/_=-]{1,16}")
_NAME_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ZERO_TIME_NS: Final = parse_time(ZERO_TIME)
# What the reference's store answers when a consumer's directory name is unusable.
_STORE_FAILED: Final = "error creating store for consumer"


# --------------------------------------------------------------------------------------
# The create subjects
# --------------------------------------------------------------------------------------


class CreateSubject(NamedTuple):
    """What a create subject says.

    ``stream``: the stream token. ``name``: the consumer name token, ``None`` on the legacy
    ephemeral subject ``CONSUMER.CREATE.<stream>``. ``filter``: the filter subject made of the
    tokens after the name (``CONSUMER.CREATE.<stream>.<name>.<filter...>``), else ``None``.
    ``legacy_durable``: the subject was ``CONSUMER.DURABLE.CREATE.<stream>.<durable>``.
    """

    stream: str
    name: str | None
    filter: str | None
    legacy_durable: bool


def parse_create_subject(tokens: Sequence[str]) -> CreateSubject | None:
    """Read a create subject given as its tokens after the API prefix (``$JS.API``).

    ``["CONSUMER", "CREATE", "S"]`` -> legacy ephemeral; ``["CONSUMER", "CREATE", "S", "N",
    "orders", "*"]`` -> name ``N``, filter ``orders.*``; ``["CONSUMER", "DURABLE", "CREATE",
    "S", "D"]`` -> legacy durable ``D``. ``None`` for subjects the reference does not serve (no
    reply at all): ``CONSUMER.CREATE``, ``CONSUMER.DURABLE.CREATE.S``,
    ``CONSUMER.DURABLE.CREATE.S.D.x``.
    """
    if len(tokens) >= 3 and tokens[0] == "CONSUMER" and tokens[1] == "CREATE":
        if len(tokens) == 3:
            return CreateSubject(tokens[2], None, None, False)
        filt = ".".join(tokens[4:]) if len(tokens) > 4 else None
        return CreateSubject(tokens[2], tokens[3], filt, False)
    if len(tokens) == 5 and tokens[0] == "CONSUMER" and tokens[1] == "DURABLE" and tokens[2] == "CREATE":
        return CreateSubject(tokens[3], tokens[4], None, True)
    return None


# --------------------------------------------------------------------------------------
# Results and limits
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsumerLimits:
    """Server and account limits that bear on consumers; 0 means "no limit" for each.

    ``max_ack_pending`` / ``max_request_batch``: the server's ``jetstream { limits { ... } }``
    (the reference's JSLimitOpts). ``account_max_ack_pending`` / ``account_max_consumers``:
    the account's JetStream limits (a smaller account ``max_consumers`` beats the stream's).
    """

    max_ack_pending: int = 0
    max_request_batch: int = 0
    account_max_ack_pending: int = 0
    account_max_consumers: int = 0
    default_max_consumers: int = 0  # when neither the stream nor the account has a limit


@dataclass(frozen=True, slots=True)
class ValidatedConsumer:
    """An accepted create request.

    ``name``: the consumer's name (generated for legacy ephemerals, whose ``config.name``
    stays empty as in the reference). ``config``: the configuration to store and report.
    ``previous``: the stored configuration this request applies to, ``None`` when the
    consumer is new. When ``previous`` is set, ``config`` may equal it (nothing to change).
    """

    name: str
    config: S.ConsumerConfig
    previous: S.ConsumerConfig | None = None

    @property
    def created(self) -> bool:
        """True when a new consumer is to be created."""
        return self.previous is None


# --------------------------------------------------------------------------------------
# Small helpers, public for the consumer implementation
# --------------------------------------------------------------------------------------


def is_durable(cfg: S.ConsumerConfig) -> bool:
    """A durable consumer is one with a ``durable_name``; all others get an inactive threshold."""
    return cfg.durable_name != ""


def filters_of(cfg: S.ConsumerConfig) -> list[str]:
    """The consumer's filter subjects: ``filter_subjects``, or ``[filter_subject]``, or none."""
    if cfg.filter_subject:
        return [*(cfg.filter_subjects or ()), cfg.filter_subject]
    return list(cfg.filter_subjects or ())


def new_ephemeral_name() -> str:
    """A name for a legacy ephemeral: 8 characters of ``[0-9A-Za-z]``, as the reference makes them.

    The reference hashes a fresh random id with SHA-256 and maps the first 8 bytes onto 62
    characters; the same is done here with random bytes.
    """
    digest = hashlib.sha256(secrets.token_bytes(16)).digest()
    return "".join(_NAME_ALPHABET[b % 62] for b in digest[:8])


def required_api_level(cfg: S.ConsumerConfig) -> int:
    """The ``_nats.req.level`` of a consumer: 1 for a non-zero ``pause_until`` or any priority
    setting (policy, groups, timeout), 4 for ``ack_policy`` "flow_control", else 0."""
    level = 0
    if cfg.pause_until is not None and parse_time(cfg.pause_until) != _ZERO_TIME_NS:
        level = 1
    if cfg.priority_policy != "none" or cfg.priority_timeout != 0 or cfg.priority_groups:
        level = 1
    if cfg.ack_policy == "flow_control":
        level = 4
    return level


def response_config(
    cfg: S.ConsumerConfig, version: str = REFERENCE_VERSION, level: int = S.API_LEVEL
) -> S.ConsumerConfig:
    """A copy with ``_nats.ver`` and ``_nats.level`` added: the ``config`` of CREATE and INFO replies."""
    meta = dict(cfg.metadata or {})
    meta[META_SERVER_VERSION] = version
    meta[META_SERVER_LEVEL] = str(level)
    return msgspec.structs.replace(cfg, metadata=dict(sorted(meta.items())))


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


def _valid_name(name: str) -> bool:
    return name != "" and _NAME_FORBIDDEN.isdisjoint(name)


def _pedantic(text: str) -> Exception:
    return api_error(JSErr.PEDANTIC, err=text)


def _invalid(text: str) -> Exception:
    return api_error(JSErr.STREAM_INVALID_CONFIG, err=text)


# --------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------


def apply_defaults(
    cfg: S.ConsumerConfig,
    stream: S.StreamConfig,
    limits: ConsumerLimits = ConsumerLimits(),
    *,
    pedantic: bool = False,
) -> S.ConsumerConfig:
    """The reference's silent corrections and defaults, in its order (a new object is returned).

    ``max_deliver`` 0 or < -1 -> -1; negative ``max_waiting``, ``max_batch``, ``max_expires``,
    ``max_bytes``, ``idle_heartbeat``, ``inactive_threshold``, ``priority_timeout`` -> 0 and
    ``max_ack_pending`` < -1 -> -1 (each a 10157 error in pedantic mode); pull ``max_waiting``
    0 -> 512; ``ack_wait`` 0 -> 30s for ack explicit/all; a ``backoff`` sets ``ack_wait`` to
    its first value; ``max_ack_pending`` 0 and ``inactive_threshold`` 0 -> the stream's
    ``consumer_limits``; then ``max_ack_pending`` 0 -> 1000 (or a lower server/account limit)
    unless ack none; pull ``max_batch`` 0 -> the server's ``max_request_batch``; pinned_client
    ``priority_timeout`` 0 -> 2m; ack "flow_control" (not pedantic) -> ``flow_control`` true,
    ``idle_heartbeat`` 1s. The 5s ``inactive_threshold`` of non-durables comes later (it is
    not part of what an action "create" compares).
    """
    c = msgspec.structs.replace(cfg)
    if c.max_deliver == 0 or c.max_deliver < -1:
        if pedantic and c.max_deliver < -1:
            raise _pedantic("max_deliver must be set to -1")
        c.max_deliver = -1
    for field, zero, text in (
        ("max_waiting", 0, "max_waiting must not be negative"),
        ("max_ack_pending", -1, "max_ack_pending must be set to -1"),
        ("max_batch", 0, "max_batch must not be negative"),
        ("max_expires", 0, "max_expires must not be negative"),
        ("max_bytes", 0, "max_bytes must not be negative"),
        ("idle_heartbeat", 0, "idle_heartbeat must not be negative"),
        ("inactive_threshold", 0, "inactive_threshold must not be negative"),
        ("priority_timeout", 0, "priority_timeout must not be negative"),
    ):
        if getattr(c, field) < (-1 if field == "max_ack_pending" else 0):
            if pedantic:
                raise _pedantic(text)
            setattr(c, field, zero)
    pull = c.deliver_subject == ""
    if pull and c.max_waiting == 0:
        c.max_waiting = DEFAULT_MAX_WAITING
    if c.ack_wait == 0 and c.ack_policy in ("explicit", "all"):
        c.ack_wait = DEFAULT_ACK_WAIT
    if c.backoff:
        if pedantic and c.ack_wait != c.backoff[0]:
            raise _pedantic("first backoff value has to equal batch AckWait")
        c.ack_wait = c.backoff[0]
    stream_limits = stream.consumer_limits
    if c.max_ack_pending == 0:
        if pedantic and stream_limits.max_ack_pending > 0:
            raise _pedantic("max_ack_pending must be set if it's configured in stream limits")
        c.max_ack_pending = stream_limits.max_ack_pending
    if c.inactive_threshold == 0:
        if pedantic and stream_limits.inactive_threshold > 0:
            raise _pedantic("inactive_threshold must be set if it's configured in stream limits")
        c.inactive_threshold = stream_limits.inactive_threshold
    if c.max_ack_pending == 0 and c.ack_policy != "none":
        pending = DEFAULT_MAX_ACK_PENDING
        for limit in (limits.max_ack_pending, limits.account_max_ack_pending):
            if 0 < limit < pending:
                pending = limit
        c.max_ack_pending = pending
    if pull and c.max_batch == 0 and limits.max_request_batch > 0:
        if pedantic:
            raise _pedantic("max_request_batch must be set if it's JetStream limits are set")
        c.max_batch = limits.max_request_batch
    if c.priority_policy == "pinned_client" and c.priority_timeout == 0:
        c.priority_timeout = DEFAULT_PINNED_TTL
    if c.ack_policy == "flow_control" and not pedantic:
        c.flow_control = True
        c.idle_heartbeat = FLOW_CONTROL_HEARTBEAT
    return c


# --------------------------------------------------------------------------------------
# The configuration's own rules
# --------------------------------------------------------------------------------------


def check_config(
    cfg: S.ConsumerConfig, stream: S.StreamConfig, limits: ConsumerLimits = ConsumerLimits()
) -> None:
    """Raise the reference's error for the first rule a (defaulted) configuration breaks.

    In order: names (500/10052); ``num_replicas`` above the stream's (10126), negative (10133),
    not the stream's on interest/work queue streams (10134); negative backoff (10184) and
    ``ack_wait`` (10183); ack "flow_control" needs push (10218), ``flow_control`` (10219), a 1s
    heartbeat (500/10052), ``max_ack_pending`` (10220), no ``ack_wait``/``backoff`` (10221),
    no ``max_deliver`` (10222); ``backoff`` longer than ``max_deliver`` (10116); description
    over 4096 bytes (10107); push: wildcards in ``deliver_subject`` (10079), invalid (10112),
    a cycle with the stream's subjects (10081), ``max_waiting`` (10080), ``max_ack_pending``
    with ack none (10082), heartbeat under 100ms (10083); pull: ack none on a work queue
    (10084), ``rate_limit_bps`` (10086), ``idle_heartbeat`` (10088), ``flow_control`` (10089),
    ``max_expires`` under 1ms (10115), ``max_batch`` over the server limit (10125);
    ``max_ack_pending`` over the server, account, stream limit (10121); ``inactive_threshold``
    over the stream limit (10153); ``direct`` needs push (10090) and no durable (10091);
    ``filter_subject`` with ``filter_subjects`` (10136); invalid filters (500/10052 "invalid
    subject"), empty ones (10139), overlapping ones (10138); deliver policy against
    ``opt_start_seq``/``opt_start_time``/filters (10094); ``sample_freq`` (10095);
    ``flow_control`` without heartbeat (10108); durable vs name (10132); metadata over 128KB
    (10135); priority groups (10178, 10159, 10161, 10162, 10196, 10197).
    """
    if cfg.name and not _valid_name(cfg.name):
        raise _invalid(Reason.CONSUMER_NAME_INVALID)
    if cfg.durable_name and not _valid_name(cfg.durable_name):
        raise _invalid(Reason.CONSUMER_DURABLE_INVALID)
    if cfg.num_replicas > 0 and cfg.num_replicas > stream.num_replicas:
        raise api_error(JSErr.CONSUMER_REPLICAS_EXCEEDS_STREAM)
    if cfg.num_replicas < 0:
        raise api_error(JSErr.REPLICAS_COUNT_CANNOT_BE_NEGATIVE)
    if (
        stream.retention in ("interest", "workqueue")
        and cfg.num_replicas != 0
        and cfg.num_replicas != stream.num_replicas
    ):
        raise api_error(JSErr.CONSUMER_REPLICAS_SHOULD_MATCH_STREAM)
    if any(b < 0 for b in cfg.backoff or ()):
        raise api_error(JSErr.CONSUMER_BACK_OFF_NEGATIVE)
    if cfg.ack_wait < 0:
        raise api_error(JSErr.CONSUMER_ACK_WAIT_NEGATIVE)
    push = cfg.deliver_subject != ""
    if cfg.ack_policy == "flow_control":
        if not push:
            raise api_error(JSErr.CONSUMER_ACK_FC_REQUIRES_PUSH)
        if not cfg.flow_control:
            raise api_error(JSErr.CONSUMER_ACK_FC_REQUIRES_FC)
        if cfg.idle_heartbeat != FLOW_CONTROL_HEARTBEAT:
            raise _invalid(Reason.ACK_FC_HEARTBEAT)
        if cfg.max_ack_pending <= 0:
            raise api_error(JSErr.CONSUMER_ACK_FC_REQUIRES_MAX_ACK_PENDING)
        if cfg.ack_wait != 0 or cfg.backoff:
            raise api_error(JSErr.CONSUMER_ACK_FC_REQUIRES_NO_ACK_WAIT)
        if cfg.max_deliver > 0:
            raise api_error(JSErr.CONSUMER_ACK_FC_REQUIRES_NO_MAX_DELIVER)
    if cfg.backoff and cfg.max_deliver != -1 and len(cfg.backoff) > cfg.max_deliver:
        raise api_error(JSErr.CONSUMER_MAX_DELIVER_BACKOFF)
    if _nbytes(cfg.description) > S.JS_MAX_DESCRIPTION_LEN:
        raise api_error(JSErr.CONSUMER_DESCRIPTION_TOO_LONG, max=S.JS_MAX_DESCRIPTION_LEN)
    if push:
        if has_wildcard(cfg.deliver_subject):
            raise api_error(JSErr.CONSUMER_DELIVER_TO_WILDCARDS)
        if not is_valid_subject(cfg.deliver_subject):
            raise api_error(JSErr.CONSUMER_INVALID_DELIVER_SUBJECT)
        if any(subset_of(cfg.deliver_subject, subj) for subj in stream.subjects or ()):
            raise api_error(JSErr.CONSUMER_DELIVER_CYCLE)
        if cfg.max_waiting != 0:
            raise api_error(JSErr.CONSUMER_PUSH_MAX_WAITING)
        if cfg.max_ack_pending > 0 and cfg.ack_policy == "none":
            raise api_error(JSErr.CONSUMER_MAX_PENDING_ACK_POLICY_REQUIRED)
        if 0 < cfg.idle_heartbeat < MIN_HEARTBEAT:
            raise api_error(JSErr.CONSUMER_SMALL_HEARTBEAT)
    else:
        if cfg.ack_policy == "none" and stream.retention == "workqueue":
            raise api_error(JSErr.CONSUMER_PULL_REQUIRES_ACK)
        if cfg.rate_limit_bps > 0:
            raise api_error(JSErr.CONSUMER_PULL_WITH_RATE_LIMIT)
        if cfg.max_waiting < 0:
            raise api_error(JSErr.CONSUMER_MAX_WAITING_NEGATIVE)
        if cfg.idle_heartbeat > 0:
            raise api_error(JSErr.CONSUMER_HB_REQUIRES_PUSH)
        if cfg.flow_control:
            raise api_error(JSErr.CONSUMER_FC_REQUIRES_PUSH)
        if cfg.max_batch < 0:
            raise api_error(JSErr.CONSUMER_MAX_REQUEST_BATCH_NEGATIVE)
        if cfg.max_expires != 0 and cfg.max_expires < MS:
            raise api_error(JSErr.CONSUMER_MAX_REQUEST_EXPIRES_TOO_SMALL)
        if 0 < limits.max_request_batch < cfg.max_batch:
            raise api_error(JSErr.CONSUMER_MAX_REQUEST_BATCH_EXCEEDED, limit=limits.max_request_batch)
    stream_limits = stream.consumer_limits
    for limit in (limits.max_ack_pending, limits.account_max_ack_pending, stream_limits.max_ack_pending):
        if 0 < limit < cfg.max_ack_pending:
            raise api_error(JSErr.CONSUMER_MAX_PENDING_ACK_EXCESS, limit=limit)
    if 0 < stream_limits.inactive_threshold < cfg.inactive_threshold:
        raise api_error(
            JSErr.CONSUMER_INACTIVE_THRESHOLD_EXCESS, limit=format_duration(stream_limits.inactive_threshold)
        )
    if cfg.direct:
        if not push:
            raise api_error(JSErr.CONSUMER_DIRECT_REQUIRES_PUSH)
        if is_durable(cfg):
            raise api_error(JSErr.CONSUMER_DIRECT_REQUIRES_EPHEMERAL)
    if cfg.filter_subject and cfg.filter_subjects:
        raise api_error(JSErr.CONSUMER_DUPLICATE_FILTER_SUBJECTS)
    if cfg.filter_subject and not is_valid_subject(cfg.filter_subject):
        raise _invalid(Reason.INVALID_SUBJECT)
    if any(f == "" for f in cfg.filter_subjects or ()):
        raise api_error(JSErr.CONSUMER_EMPTY_FILTER)
    filters = filters_of(cfg)
    for i, subj in enumerate(filters):
        if not is_valid_subject(subj):
            raise _invalid(Reason.INVALID_SUBJECT)
        if any(j != i and subset_of(subj, other) for j, other in enumerate(filters)):
            raise api_error(JSErr.CONSUMER_OVERLAPPING_SUBJECT_FILTERS)
    _check_start(cfg)
    if cfg.sample_freq:
        value, err = go_atoi(cfg.sample_freq.removesuffix("%"))
        if err is not None or value < 0:
            raise api_error(JSErr.CONSUMER_INVALID_SAMPLING, err=err)
    if cfg.flow_control and cfg.idle_heartbeat == 0:
        raise api_error(JSErr.CONSUMER_WITH_FLOW_CONTROL_NEEDS_HEARTBEATS)
    if cfg.durable_name and cfg.name and cfg.name != cfg.durable_name:
        raise api_error(JSErr.CONSUMER_CREATE_DURABLE_AND_NAME_MISMATCH)
    if sum(_nbytes(k) + _nbytes(v) for k, v in (cfg.metadata or {}).items()) > S.JS_MAX_METADATA_LEN:
        raise api_error(JSErr.CONSUMER_METADATA_LENGTH, limit=f"{S.JS_MAX_METADATA_LEN // 1024}KB")
    if cfg.priority_policy != "none":
        if push:
            raise api_error(JSErr.CONSUMER_PUSH_WITH_PRIORITY_GROUP)
        if not cfg.priority_groups:
            raise api_error(JSErr.CONSUMER_PRIORITY_POLICY_WITHOUT_GROUP)
        for group in cfg.priority_groups:
            if group == "":
                raise api_error(JSErr.CONSUMER_EMPTY_GROUP_NAME)
            if _PRIORITY_GROUP.fullmatch(group) is None:
                raise api_error(JSErr.CONSUMER_INVALID_GROUP_NAME)
    else:
        if cfg.priority_groups:
            raise api_error(JSErr.CONSUMER_PRIORITY_GROUP_WITH_POLICY_NONE)
        if cfg.priority_timeout > 0:
            raise api_error(JSErr.CONSUMER_PINNED_TTL_WITHOUT_PRIORITY_POLICY_NONE)


def _check_start(cfg: S.ConsumerConfig) -> None:
    def also_set(policy: str, start: str) -> Exception:
        return api_error(JSErr.CONSUMER_INVALID_POLICY, err=Reason.DELIVER_POLICY_START_SET % (policy, start))

    def not_set(policy: str, what: str) -> Exception:
        return api_error(JSErr.CONSUMER_INVALID_POLICY, err=Reason.DELIVER_POLICY_NOT_SET % (policy, what))

    policy = cfg.deliver_policy
    has_seq, has_time = cfg.opt_start_seq > 0, cfg.opt_start_time is not None
    if policy in ("all", "last", "last_per_subject", "new"):
        words = "last per subject" if policy == "last_per_subject" else policy
        if has_seq:
            raise also_set(words, "sequence")
        if has_time:
            raise also_set(words, "time")
        if policy == "last_per_subject" and not filters_of(cfg):
            raise not_set(words, "filter subject")
    elif policy == "by_start_sequence":
        if not has_seq:
            raise not_set("by start sequence", "start sequence")
        if has_time:
            raise also_set("by start sequence", "time")
    elif policy == "by_start_time":
        if not has_time:
            raise not_set("by start time", "start time")
        if cfg.opt_start_seq != 0:
            raise also_set("by start time", "start sequence")


# --------------------------------------------------------------------------------------
# Updates
# --------------------------------------------------------------------------------------


def check_update(
    old: S.ConsumerConfig,
    new: S.ConsumerConfig,
    deliver_interest: Callable[[str], bool] | None = None,
) -> S.ConsumerConfig:
    """What an update may not change, and the configuration an accepted update stores.

    Refused with 500/10012 and the reason: ``deliver_policy``, ``mem_storage`` ("storage
    type"), ``direct``, ``sourcing``, ``opt_start_seq``, ``opt_start_time`` (the same instant
    in another offset is allowed), ``ack_policy``, ``replay_policy``, ``idle_heartbeat``
    ("heart beats"), ``flow_control``, pull <-> push, ``max_waiting``. A new
    ``deliver_subject`` while the old one has interest (``deliver_interest``) -> 10013.
    Everything else may change. The stored ``pause_until`` becomes UTC; an
    ``inactive_threshold`` that changes to 0 on a consumer stored without durable name
    becomes 5s again.
    """
    if new != old:
        refusal = _update_refusal(old, new, deliver_interest)
        if refusal is not None:
            raise refusal
    out = msgspec.structs.replace(new)
    if out.pause_until is not None:
        out.pause_until = go_time_text(out.pause_until, utc=True)
    if (
        out.inactive_threshold != old.inactive_threshold
        and not is_durable(old)
        and out.inactive_threshold <= 0
    ):
        out.inactive_threshold = DEFAULT_INACTIVE_THRESHOLD
    return out


def _update_refusal(
    old: S.ConsumerConfig, new: S.ConsumerConfig, deliver_interest: Callable[[str], bool] | None
) -> Exception | None:
    reason = _update_reason(old, new, deliver_interest)
    if reason is None or isinstance(reason, Exception):
        return reason
    return api_error(JSErr.CONSUMER_CREATE, err=reason)


def _update_reason(
    old: S.ConsumerConfig, new: S.ConsumerConfig, deliver_interest: Callable[[str], bool] | None
) -> str | Exception | None:
    if old.deliver_policy != new.deliver_policy:
        return "deliver policy can not be updated"
    if old.mem_storage != new.mem_storage:
        return "storage type can not be updated"
    if old.direct != new.direct:
        return "direct can not be updated"
    if old.sourcing != new.sourcing:
        return "sourcing can not be updated"
    if old.opt_start_seq != new.opt_start_seq:
        return "start sequence can not be updated"
    if (old.opt_start_time is None) != (new.opt_start_time is None) or (
        old.opt_start_time is not None
        and new.opt_start_time is not None
        and parse_time(old.opt_start_time) != parse_time(new.opt_start_time)
    ):
        return "start time can not be updated"
    if old.ack_policy != new.ack_policy:
        return "ack policy can not be updated"
    if old.replay_policy != new.replay_policy:
        return "replay policy can not be updated"
    if old.idle_heartbeat != new.idle_heartbeat:
        return "heart beats can not be updated"
    if old.flow_control != new.flow_control:
        return "flow control can not be updated"
    if old.deliver_subject != new.deliver_subject:
        if old.deliver_subject == "":
            return "can not update pull consumer to push based"
        if new.deliver_subject == "":
            return "can not update push consumer to pull based"
        if deliver_interest is not None and deliver_interest(old.deliver_subject):
            return api_error(JSErr.CONSUMER_NAME_EXIST)
    if old.max_waiting != new.max_waiting:
        return "max waiting can not be updated"
    return None


# --------------------------------------------------------------------------------------
# The whole request
# --------------------------------------------------------------------------------------


def _normalized(cfg: S.ConsumerConfig) -> S.ConsumerConfig:
    """Go's ``omitempty`` view: empty lists/maps as absent, times in Go's text."""
    c = msgspec.structs.replace(cfg)
    for field in ("backoff", "filter_subjects", "priority_groups"):
        if getattr(c, field) == []:
            setattr(c, field, None)
    if c.opt_start_time is not None:
        c.opt_start_time = go_time_text(c.opt_start_time)
    if c.pause_until is not None:
        c.pause_until = go_time_text(c.pause_until)
    return c


def _limitable(consumers: Mapping[str, S.ConsumerConfig]) -> int:
    return sum(1 for c in consumers.values() if not c.direct and not c.sourcing)


def _partition_unique(name: str, filters: list[str], consumers: Mapping[str, S.ConsumerConfig]) -> bool:
    """No other (non-direct, non-sourcing) consumer of a work queue sees any of ``filters``."""
    for subj in filters:
        for other_name, other in consumers.items():
            if other_name == name or other.direct or other.sourcing:
                continue
            other_filters = filters_of(other)
            if not other_filters or any(subjects_collide(subj, f) for f in other_filters):
                return False
    return True


def validate_consumer(
    req: S.ConsumerCreateRequest,
    stream: S.StreamConfig | None,
    subject: CreateSubject,
    *,
    consumers: Mapping[str, S.ConsumerConfig],
    limits: ConsumerLimits = ConsumerLimits(),
    deliver_interest: Callable[[str], bool] | None = None,
    name_factory: Callable[[], str] = new_ephemeral_name,
    max_file_name_bytes: int | None = MAX_NAME_BYTES,
) -> ValidatedConsumer:
    """Check a decoded create request the way the reference does; raise its error or return the result.

    ``req``: the body, decoded with :func:`codec.decode_request` (decoding errors are 10025,
    raised there). ``stream``: the stream's stored configuration, ``None`` when the subject's
    stream does not exist (10059, raised at the reference's point in the order).
    ``subject``: :func:`parse_create_subject` of the request subject. ``consumers``: the stored
    configurations of the stream's consumers by name (the existing consumer of that name,
    the others for ``max_consumers`` and work queue rules). ``limits``: server/account limits.
    ``deliver_interest(subject)``: whether a push consumer's current deliver subject has
    subscribers (an update may not move a bound push consumer); ``None`` = never.
    ``name_factory``: names for legacy ephemerals (retried while the name is taken).
    ``max_file_name_bytes``: the reference's file store cannot create a consumer directory
    whose name is longer than the file system allows (255 bytes) or holds a NUL: such a
    file-backed consumer (file stream, no ``mem_storage``, not ``direct``; in practice an
    ephemeral, durable names over 255 bytes are 10102 before) gets 500/10012 "error
    creating store for consumer"; ``None`` skips the check.

    The returned config is the one to store (no dynamic metadata); reply with
    :func:`response_config` of it.
    """
    cfg = msgspec.structs.replace(req.config)

    # 1. The subject against the body.
    if subject.stream != req.stream_name:
        raise api_error(JSErr.STREAM_MISMATCH)
    consumer_name = subject.name if subject.name is not None else cfg.name
    if "/" in consumer_name or "\\" in consumer_name:
        raise api_error(JSErr.CONSUMER_NAME_CONTAINS_PATH_SEPARATORS)
    if subject.legacy_durable:
        if cfg.durable_name == "":
            raise api_error(JSErr.CONSUMER_DURABLE_NAME_NOT_SET)
        if cfg.durable_name != consumer_name:
            raise api_error(JSErr.CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT)
        cfg.name = consumer_name
    elif subject.name is not None:
        if cfg.durable_name and cfg.durable_name != consumer_name:
            raise api_error(JSErr.CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT)
        cfg.name = consumer_name
    elif cfg.durable_name:
        raise api_error(JSErr.CONSUMER_EPHEMERAL_WITH_DURABLE_NAME)
    if subject.filter is not None:
        if cfg.filter_subjects:
            raise api_error(JSErr.CONSUMER_MULTIPLE_FILTERS_NOT_ALLOWED)
        if cfg.filter_subject != subject.filter:
            raise api_error(JSErr.CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH)

    # 2. Standalone replicas, the stream.
    if cfg.num_replicas > 1:
        raise api_error(JSErr.STREAM_REPLICAS_NOT_SUPPORTED)
    if stream is None:
        raise api_error(JSErr.STREAM_NOT_FOUND)

    # 3. A create request cannot change an existing consumer's pause_until.
    if consumer_name:
        holder = consumers.get(consumer_name)
        if holder is not None:
            cfg.pause_until = holder.pause_until

    # 4. Static metadata, from the request as it is now.
    meta = dict(cfg.metadata or {})
    meta.pop(META_SERVER_VERSION, None)
    meta.pop(META_SERVER_LEVEL, None)
    meta[META_REQUIRED_LEVEL] = str(required_api_level(cfg))
    cfg.metadata = meta

    # 5-6. Defaults, then the configuration's own rules.
    cfg = apply_defaults(cfg, stream, limits, pedantic=req.pedantic)
    check_config(cfg, stream, limits)
    cfg = _normalized(cfg)
    filters = filters_of(cfg)
    workqueue = stream.retention == "workqueue"

    # 7a. An existing consumer.
    key = cfg.durable_name or cfg.name
    existing = consumers.get(key) if key else None
    if existing is not None:
        if req.action == "create":
            compared = msgspec.structs.replace(cfg, metadata=dict(cfg.metadata or {}))
            assert compared.metadata is not None
            compared.metadata.pop(META_REQUIRED_LEVEL, None)
            old_level = (existing.metadata or {}).get(META_REQUIRED_LEVEL)
            if old_level is not None:
                compared.metadata[META_REQUIRED_LEVEL] = old_level
            if not compared.metadata:
                compared.metadata = None
            if compared != existing:
                raise api_error(JSErr.CONSUMER_ALREADY_EXISTS)
        if workqueue and not _partition_unique(key, filters, consumers):
            raise api_error(JSErr.CONSUMER_WQ_CONSUMER_NOT_UNIQUE)
        return ValidatedConsumer(key, check_update(existing, cfg, deliver_interest), existing)

    # 7b. A new consumer.
    if req.action == "update":
        raise api_error(JSErr.CONSUMER_DOES_NOT_EXIST)
    limitable = _limitable(consumers)
    max_consumers = stream.max_consumers
    if max_consumers <= 0 or 0 < limits.account_max_consumers < max_consumers:
        max_consumers = limits.account_max_consumers
    if max_consumers <= 0 < limits.default_max_consumers:
        max_consumers = limits.default_max_consumers
    if max_consumers > 0 and not cfg.direct and not cfg.sourcing and limitable >= max_consumers:
        raise api_error(JSErr.MAXIMUM_CONSUMERS_LIMIT)
    if workqueue and not cfg.direct and not cfg.sourcing:
        if cfg.ack_policy not in ("explicit", "flow_control"):
            raise api_error(JSErr.CONSUMER_WQ_REQUIRES_EXPLICIT_ACK)
        if cfg.deliver_policy != "all":
            raise api_error(JSErr.CONSUMER_WQ_CONSUMER_NOT_DELIVER_ALL)
        if limitable > 0:
            if not filters:
                raise api_error(JSErr.CONSUMER_WQ_MULTIPLE_UNFILTERED)
            if not _partition_unique(key, filters, consumers):
                raise api_error(JSErr.CONSUMER_WQ_CONSUMER_NOT_UNIQUE)
    if cfg.durable_name:
        if _nbytes(cfg.durable_name) > MAX_NAME_BYTES:
            raise api_error(JSErr.CONSUMER_NAME_TOO_LONG, max=MAX_NAME_BYTES)
        name = cfg.durable_name
    elif cfg.name:
        name = cfg.name
    else:
        name = name_factory()
        while name in consumers:
            name = name_factory()
    if not _valid_name(name):
        raise api_error(JSErr.CONSUMER_BAD_DURABLE_NAME)
    file_backed = stream.storage == "file" and not cfg.mem_storage and not cfg.direct
    if (
        max_file_name_bytes is not None
        and file_backed
        and (_nbytes(name) > max_file_name_bytes or "\x00" in name)
    ):
        raise api_error(JSErr.CONSUMER_CREATE, err=_STORE_FAILED)
    if not is_durable(cfg) and cfg.inactive_threshold <= 0:
        cfg.inactive_threshold = DEFAULT_INACTIVE_THRESHOLD
    return ValidatedConsumer(name, cfg)
