"""JetStream's API in an account that has no JetStream: every request is answered with the
reference's ``JetStream not enabled for account`` (503, 10039) in the response type of the
API asked.

The reference enables JetStream per account (jetstream/engine.py decides which): every
account without it, the system account included, gets this responder instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pynatsd.gocompat import marshal_json
from pynatsd.jetstream import codec
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, api_error
from pynatsd.jetstream.snapshot import StreamRestoreResponse, StreamSnapshotResponse

if TYPE_CHECKING:
    from pynatsd.server.internal import Client, Internal, Subscription

# tokens after $JS.API -> the response type of that API
_TYPES: dict[tuple[str, ...], type[Any]] = {
    ("INFO",): S.AccountInfoResponse,
    ("STREAM", "CREATE"): S.StreamCreateResponse,
    ("STREAM", "UPDATE"): S.StreamUpdateResponse,
    ("STREAM", "INFO"): S.StreamInfoResponse,
    ("STREAM", "DELETE"): S.StreamDeleteResponse,
    ("STREAM", "PURGE"): S.StreamPurgeResponse,
    ("STREAM", "NAMES"): S.StreamNamesResponse,
    ("STREAM", "LIST"): S.StreamListResponse,
    ("STREAM", "MSG", "GET"): S.StreamMsgGetResponse,
    ("STREAM", "MSG", "DELETE"): S.StreamMsgDeleteResponse,
    ("STREAM", "SNAPSHOT"): StreamSnapshotResponse,
    ("STREAM", "RESTORE"): StreamRestoreResponse,
    ("CONSUMER", "CREATE"): S.ConsumerCreateResponse,
    ("CONSUMER", "DURABLE", "CREATE"): S.ConsumerCreateResponse,
    ("CONSUMER", "INFO"): S.ConsumerInfoResponse,
    ("CONSUMER", "DELETE"): S.ConsumerDeleteResponse,
    ("CONSUMER", "NAMES"): S.ConsumerNamesResponse,
    ("CONSUMER", "LIST"): S.ConsumerListResponse,
    ("CONSUMER", "PAUSE"): S.ConsumerPauseResponse,
    ("CONSUMER", "UNPIN"): S.ConsumerUnpinResponse,
}

_SYSTEM_RESPONSE = (
    b'{"type":"io.nats.jetstream.api.v1.system_response","error":'
    b'{"code":503,"err_code":10039,"description":"JetStream not enabled for account"}}'
)


class NotEnabled:
    """The ``$JS.API.>`` responder of one account without JetStream."""

    def __init__(self, core: Internal, system: bool = False) -> None:
        self.core = core
        # The system account answers all but INFO with the generic system response type.
        self.system = system
        self._sub: Subscription | None = None

    def open(self) -> None:
        self._sub = self.core.subscribe("$JS.API.>", self._on_request)

    def close(self) -> None:
        if self._sub is not None:
            self.core.unsubscribe(self._sub)
            self._sub = None

    def _on_request(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        if not reply:
            return
        tokens = tuple(subject.decode("utf-8", "replace").split(".")[2:])
        cls = next((_TYPES[tokens[:n]] for n in (3, 2, 1) if tokens[:n] in _TYPES), None)
        if cls is None:
            return
        if self.system and tokens != ("INFO",):
            self.core.publish(reply, _SYSTEM_RESPONSE)
            return
        err = api_error(JSErr.NOT_ENABLED_FOR_ACCOUNT)
        self.core.publish(reply, marshal_json(codec.error_response(cls, err)))
