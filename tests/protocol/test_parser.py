"""The sans-IO parser on its own: operations, splits at any byte, errors, and fuzzing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pynatsd.protocol.parser import Parser, parse_size


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_pub(self, subject: bytes, reply: bytes | None, hdr: int, size: bytes, msg: bytes) -> None:
        self.events.append(("pub", subject, reply, hdr, size, msg))

    def on_sub(self, subject: bytes, queue: bytes | None, sid: bytes) -> None:
        self.events.append(("sub", subject, queue, sid))

    def on_unsub(self, sid: bytes, max_msgs: int) -> None:
        self.events.append(("unsub", sid, max_msgs))

    def on_connect(self, arg: bytes) -> bool:
        self.events.append(("connect", arg))
        return True

    def on_ping(self) -> None:
        self.events.append(("ping",))

    def on_pong(self) -> None:
        self.events.append(("pong",))

    def on_info(self, arg: bytes) -> None:
        self.events.append(("info", arg))

    def on_err(self, arg: bytes) -> None:
        self.events.append(("err", arg))

    def on_auth_violation(self) -> None:
        self.events.append(("auth_violation",))

    def on_protocol_error(self, text: str | None) -> None:
        self.events.append(("protocol_error", text))


def parse(*chunks: bytes, **kw: Any) -> list[tuple[Any, ...]]:
    rec = Recorder()
    p = Parser(rec, **kw)
    for c in chunks:
        p.feed(c)
    return rec.events


STREAM = (
    b'CONNECT {"verbose":false}\r\n'
    b"SUB foo.* q 1\r\n"
    b"PUB foo.bar 5\r\nhello\r\n"
    b"PUB foo.bar reply.1 7\r\nab\r\ncde\r\n"
    b"HPUB foo.h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
    b"HPUB foo.h r 12 12\r\nNATS/1.0\r\n\r\n\r\n"
    b"PING\r\nPONG\r\n"
    b"UNSUB 1 10\r\nUNSUB 2\r\n"
    b"pub x 0\r\n\r\n"
)

EXPECTED = [
    ("connect", b'{"verbose":false}'),
    ("sub", b"foo.*", b"q", b"1"),
    ("pub", b"foo.bar", None, -1, b"5", b"hello"),
    ("pub", b"foo.bar", b"reply.1", -1, b"7", b"ab\r\ncde"),
    ("pub", b"foo.h", None, 12, b"14", b"NATS/1.0\r\n\r\nhi"),
    ("pub", b"foo.h", b"r", 12, b"12", b"NATS/1.0\r\n\r\n"),
    ("ping",),
    ("pong",),
    ("unsub", b"1", 10),
    ("unsub", b"2", -1),
    ("pub", b"x", None, -1, b"0", b""),
]


def test_whole_stream() -> None:
    assert parse(STREAM) == EXPECTED


def test_every_split_point() -> None:
    for i in range(len(STREAM) + 1):
        assert parse(STREAM[:i], STREAM[i:]) == EXPECTED, i


def test_byte_at_a_time() -> None:
    assert parse(*[STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_parse_size() -> None:
    assert parse_size(b"0") == 0
    assert parse_size(b"123456789") == 123456789
    for bad in (b"", b"-1", b"1_0", b"abc", b"1234567890", b" 1", b"\xd9\xa1"):
        assert parse_size(bad) == -1


def test_unknown_op_reported_before_newline() -> None:
    assert parse(b"XY") == [("protocol_error", "Unknown Protocol Operation")]
    assert parse(b"PUX") == [("protocol_error", "Unknown Protocol Operation")]
    assert parse(b"PU") == []


def test_payload_must_end_with_crlf() -> None:
    assert parse(b"PUB a 1\r\nxy") == [("protocol_error", "Unknown Protocol Operation")]
    assert parse(b"PUB a 1\r\nx\rz") == [("protocol_error", "Unknown Protocol Operation")]


def test_max_payload_and_control_line() -> None:
    assert parse(b"PUB a 11\r\n", max_payload=10) == [("protocol_error", "Maximum Payload Violation")]
    assert parse(b"SUB " + b"a" * 100, max_control_line=50) == [
        ("protocol_error", "maximum control line exceeded")
    ]


def test_malformed_arguments_close_without_text() -> None:
    for line in (
        b"PUB a\r\n",
        b"PUB a b c d\r\n",
        b"SUB a\r\n",
        b"UNSUB 1 2 3\r\n",
        b"HPUB a 5 3\r\n",
        b"PUB \r\n",
    ):
        assert parse(line) == [("protocol_error", None)], line


def test_nothing_after_fatal_error() -> None:
    assert parse(b"BAD\r\nPING\r\n", b"PING\r\n") == [("protocol_error", "Unknown Protocol Operation")]


def test_auth_pending_allows_only_connect() -> None:
    rec = Recorder()
    p = Parser(rec)
    p.auth_pending = True
    p.feed(b"PING\r\n")
    assert rec.events == [("auth_violation",)]


def test_headers_refused_when_not_negotiated() -> None:
    rec = Recorder()
    p = Parser(rec)
    p.headers_allowed = False
    p.feed(b"HPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\n")
    assert rec.events == [("protocol_error", None)]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12))
def test_fuzz_random_bytes_never_raise(chunks: list[bytes]) -> None:
    rec = Recorder()
    p = Parser(rec, max_payload=1024, max_control_line=256)
    for c in chunks:
        p.feed(c)
    errors = [e for e in rec.events if e[0] == "protocol_error"]
    assert len(errors) <= 1
    if errors:
        assert rec.events[-1][0] == "protocol_error"


_tokens = st.sampled_from(
    [b"PUB ", b"SUB ", b"HPUB ", b"UNSUB ", b"PING", b"PONG", b"CONNECT ", b"foo", b"*", b">"]
)
_pieces = st.one_of(
    _tokens, st.sampled_from([b" ", b"\t", b"\r\n", b"\n", b"\r", b"0", b"5", b"12"]), st.binary(max_size=8)
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_pieces, max_size=40), st.integers(min_value=1, max_value=16))
def test_fuzz_protocol_like_input_same_result_however_split(pieces: list[bytes], step: int) -> None:
    data = b"".join(pieces)
    whole = parse(data, max_payload=64, max_control_line=128)
    split = parse(
        *[data[i : i + step] for i in range(0, len(data), step)], max_payload=64, max_control_line=128
    )
    # A split can only report an error earlier (an unfinished op is checked as it arrives),
    # never accept something different.
    if whole and whole[-1][0] == "protocol_error":
        assert split[: len(split) - 1] == whole[: len(split) - 1]
    else:
        assert split == whole or (split and split[-1][0] == "protocol_error")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abc.", min_size=1, max_size=8).filter(lambda s: " " not in s),
            st.binary(max_size=40),
        ),
        min_size=1,
        max_size=20,
    ),
    st.integers(min_value=1, max_value=50),
)
def test_fuzz_valid_pubs_roundtrip(msgs: list[tuple[str, bytes]], step: int) -> None:
    data = b"".join(b"PUB %b %d\r\n%b\r\n" % (s.encode(), len(m), m) for s, m in msgs)
    events = parse(*[data[i : i + step] for i in range(0, len(data), step)])
    assert [(e[1], e[5]) for e in events] == [(s.encode(), m) for s, m in msgs]


def test_unsub_without_arguments_is_unknown_operation() -> None:
    assert parse(b"UNSUB\r\n") == [("protocol_error", "Unknown Protocol Operation")]
