"""The pure parts of latency tracking: header parsing as Go's textproto, the reference's
sampling rules, percentage sampling and event ids (server/latency.py)."""

from __future__ import annotations

import pytest

from pynatsd.server import latency
from pynatsd.server.latency import Header, canonical_key, parse_header, sample_by_header


@pytest.mark.parametrize(
    ("key", "canonical"),
    [
        ("x-b3-traceid", "X-B3-Traceid"),
        ("X-B3-SpanId", "X-B3-Spanid"),
        ("uber-trace-id", "Uber-Trace-Id"),
        ("TRACEPARENT", "Traceparent"),
        ("uberctx-user-name", "Uberctx-User-Name"),
    ],
)
def test_canonical_keys(key: str, canonical: str) -> None:
    assert canonical_key(key) == canonical


def test_header_block_is_read_as_textproto() -> None:
    block = b"NATS/1.0\r\nx-b3-traceid:  abc \r\nA: 1\r\na: 2\r\n\r\n"
    assert parse_header(block) == {"X-B3-Traceid": ["abc"], "A": ["1", "2"]}
    assert parse_header(b"NATS/1.0\r\n\r\n") == {}
    # a malformed line spoils the whole header, as in Go
    assert parse_header(b"NATS/1.0\r\nX-B3-TraceId: t\r\nno colon\r\n\r\n") is None
    assert parse_header(b"NATS/1.0\r\nbad key: v\r\n\r\n") is None


CASES: list[tuple[Header, bool, Header | None]] = [
    ({"Uber-Trace-Id": ["a:b:c:1"], "Uberctx-X": ["1"], "Other": ["o"]}, True, None),
    ({"Uber-Trace-Id": ["a:b:c:0"]}, False, None),
    ({"Uber-Trace-Id": ["a:b:c:f"]}, True, None),
    ({"Uber-Trace-Id": ["a:b:c:10"]}, False, None),  # only the last digit is decoded
    ({"Uber-Trace-Id": ["a:b:c:101"]}, False, None),  # flags of more than two digits
    ({"Uber-Trace-Id": ["a:b:c:g"]}, False, None),
    ({"Uber-Trace-Id": ["a:b:c:1"], "X-B3-Traceid": ["t"]}, True, {"Uber-Trace-Id": ["a:b:c:1"]}),
    ({"X-B3-Sampled": ["1"], "X-B3-Traceid": ["t"], "X-B3-Flags": ["f"]}, True, None),
    ({"X-B3-Sampled": ["0"], "X-B3-Traceid": ["t"]}, False, None),
    ({"X-B3-Sampled": ["yes"], "X-B3-Traceid": ["t"]}, True, None),
    ({"X-B3-Sampled": ["yes"]}, False, None),
    ({"B3": ["a-b-1"]}, True, None),
    ({"B3": ["a-b"]}, True, None),
    ({"B3": ["a-b-0-c"]}, False, None),
    ({"B3": ["0"]}, False, None),
    ({"Traceparent": ["00-t-s-01"], "Tracestate": ["k=v"]}, True, None),
    ({"Traceparent": ["00-t-s-03"]}, True, None),
    ({"Traceparent": ["00-t-s-02"]}, False, None),
    ({"Traceparent": ["00-t-s-7f"]}, True, None),
    ({"Traceparent": ["00-t-s-81"]}, False, None),  # beyond int8
    ({"Traceparent": ["00-t-s--1"]}, False, None),  # five tokens
    ({"Traceparent": ["00-t-s-1"]}, False, None),
    ({"Traceparent": ["00-t-s- 1"]}, False, None),
]


@pytest.mark.parametrize(("h", "sampled", "header"), CASES)
def test_header_sampling_rules(h: Header, sampled: bool, header: Header | None) -> None:
    got, passed = sample_by_header(h)
    assert got is sampled
    if not sampled:
        assert passed is None
    elif header is not None:
        assert passed == header
    else:
        # the tracing headers go on; anything else stays behind
        assert passed is not None and "Other" not in passed and "X-B3-Flags" not in passed
        assert set(passed) <= set(h)


class _Cfg:
    def __init__(self, sampling: int) -> None:
        self.subject = "lat"
        self.sampling = sampling


def _tracker(sampling: int) -> latency.Tracker:
    return latency.Tracker(None, None, _Cfg(sampling), lambda c, share: b"{}")  # type: ignore[arg-type]


def test_percentage_sampling() -> None:
    """As the reference: a draw of 0-99 at most the percentage, so 50 % samples 51 in 100."""
    t = _tracker(50)
    n = sum(t.sample(-1, b"")[0] for _ in range(4000))
    assert 0.45 < n / 4000 < 0.57
    assert all(_tracker(100).sample(-1, b"")[0] for _ in range(100))


def test_headers_decide_when_the_percentage_does_not() -> None:
    block = b"NATS/1.0\r\nX-B3-TraceId: t\r\n\r\n"
    msg = block + b"payload"
    assert _tracker(0).sample(len(block), msg) == (True, {"X-B3-Traceid": ["t"]})
    assert _tracker(0).sample(-1, b"payload") == (False, None)
    # a percentage that does not draw this request still looks at the headers
    t = _tracker(1)
    assert all(t.sample(len(block), msg)[0] for _ in range(200))


def test_event_ids_are_unique_and_nuid_sized() -> None:
    ids = {latency._ids.next() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 for i in ids)
