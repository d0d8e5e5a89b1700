"""Exact bytes over raw sockets: framing, options and errors as the reference sends them."""

from __future__ import annotations

import json

import pytest

import pynatsd
from tests.support.wire import QUIET
from tests.support.wire import AsyncWireClient as Raw


async def test_info_fields(raw: Raw, server: pynatsd.Server) -> None:
    assert raw.info.startswith(b"INFO {") and raw.info.endswith(b"} \r\n")
    info = json.loads(raw.info[5:-3])
    assert info["version"] == pynatsd.REFERENCE_VERSION
    assert info["pynatsd_version"] == pynatsd.__version__
    assert info["port"] == server.port
    assert info["headers"] is True
    assert info["max_payload"] == 1024 * 1024
    assert info["proto"] == 1
    assert info["client_ip"] == "127.0.0.1"
    assert isinstance(info["client_id"], int)
    assert len(info["server_id"]) == 56 and info["server_id"].startswith("N")
    assert "auth_required" not in info


async def test_verbose_and_pedantic_are_default(raw: Raw) -> None:
    out = await raw.roundtrip(b"CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPUB foo.* 0\r\n\r\n")
    assert out == b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\n"


async def test_pub_sub_reply_and_wildcards(raw: Raw) -> None:
    out = await raw.roundtrip(
        QUIET + b"SUB > 1\r\nSUB *.> 2\r\nSUB a.* 3\r\nSUB a.b.c 4\r\nPUB a.b r.1 3\r\nabc\r\n"
    )
    assert out == b"MSG a.b 1 r.1 3\r\nabc\r\nMSG a.b 2 r.1 3\r\nabc\r\nMSG a.b 3 r.1 3\r\nabc\r\n"


async def test_lowercase_ops_and_tabs(raw: Raw) -> None:
    out = await raw.roundtrip(QUIET + b"sub\tfoo \t 7\r\npub  foo\t 1 \r\nx\r\n")
    assert out == b"MSG foo 7 1\r\nx\r\n"
    await raw.send(b"ping\r\n")
    assert await raw.read_until(b"\r\n") == b"PONG\r\n"


async def test_headers_byte_exact(raw: Raw) -> None:
    hdr = b"NATS/1.0\r\nX-Key: a b  c\r\n\r\n"
    frame = b"HPUB h %d %d\r\n%bbody\r\n" % (len(hdr), len(hdr) + 4, hdr)
    out = await raw.roundtrip(QUIET + b"SUB h 1\r\n" + frame)
    assert out == b"HMSG h 1 %d %d\r\n%bbody\r\n" % (len(hdr), len(hdr) + 4, hdr)


async def test_headers_stripped_for_clients_without_header_support(server: pynatsd.Server) -> None:
    sub = await Raw.connect(server.port)
    pub = await Raw.connect(server.port)
    await sub.roundtrip(b'CONNECT {"verbose":false}\r\nSUB h 1\r\n')
    hdr = b"NATS/1.0\r\nA: 1\r\n\r\n"
    await pub.roundtrip(QUIET + b"HPUB h %d %d\r\n%bxy\r\n" % (len(hdr), len(hdr) + 2, hdr))
    assert await sub.roundtrip(b"") == b"MSG h 1 2\r\nxy\r\n"
    await sub.close()
    await pub.close()


async def test_echo_false(raw: Raw) -> None:
    out = await raw.roundtrip(b'CONNECT {"verbose":false,"echo":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\n')
    assert out == b""


async def test_auto_unsubscribe(raw: Raw) -> None:
    out = await raw.roundtrip(QUIET + b"SUB foo 1\r\nUNSUB 1 2\r\n" + b"PUB foo 1\r\na\r\n" * 3)
    assert out == b"MSG foo 1 1\r\na\r\n" * 2


async def test_unsub_after_max_already_reached_removes_at_once(raw: Raw) -> None:
    out = await raw.roundtrip(QUIET + b"SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1 1\r\nPUB foo 1\r\nb\r\n")
    assert out == b"MSG foo 1 1\r\na\r\n"


async def test_duplicate_sid_keeps_first(raw: Raw) -> None:
    out = await raw.roundtrip(QUIET + b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 0\r\n\r\nPUB foo 0\r\n\r\n")
    assert out == b"MSG foo 1 0\r\n\r\n"


async def test_queue_group_delivers_once(raw: Raw) -> None:
    out = await raw.roundtrip(QUIET + b"SUB q g 1\r\nSUB q g 2\r\nSUB q 3\r\n" + b"PUB q 0\r\n\r\n" * 20)
    frames = [f for f in out.split(b"\r\n") if f.startswith(b"MSG")]
    assert sum(f == b"MSG q 3 0" for f in frames) == 20
    assert sum(f in (b"MSG q 1 0", b"MSG q 2 0") for f in frames) == 20


async def test_no_responders(raw: Raw) -> None:
    cmd = b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB _INBOX.x 1\r\nPUB nobody _INBOX.x 0\r\n\r\n'
    out = await raw.roundtrip(cmd)
    assert out == b"HMSG _INBOX.x 1 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n"


async def test_no_responders_requires_headers(raw: Raw) -> None:
    await raw.send(b'CONNECT {"no_responders":true}\r\n')
    assert await raw.read_to_close() == b"-ERR 'no responders requires headers support'\r\n"


async def test_invalid_subscribe_subject_keeps_connection(raw: Raw) -> None:
    out = await raw.roundtrip(QUIET + b"SUB foo..bar 1\r\nSUB foo.>.bar 2\r\n")
    assert out == b"-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"FOO\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
        (b"\x00\x01garbage", b"-ERR 'Unknown Protocol Operation'\r\n"),
        (b"MSG foo 1 1\r\nx\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
        (b"UNSUB\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
        (b"PUB foo 2\r\nxyz\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
        (b"PUB foo 1\r\nx\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
        (b"PUB foo 2000000\r\n", b"-ERR 'Maximum Payload Violation'\r\n"),
        (b"SUB " + b"a" * 5000 + b" 1\r\n", b"-ERR 'maximum control line exceeded'\r\n"),
        (b"PUB foo abc\r\nhi\r\n", b""),
        (b"PUB foo -1\r\n", b""),
        (b"PUB foo 1234567890\r\n", b""),
        (b"SUB foo\r\n", b""),
        (b"SUB a b c d\r\n", b""),
        (b"HPUB foo 5 2\r\n", b""),
        (b"-ERR 'x'\r\n", b""),
    ],
)
async def test_bad_input_closes(raw: Raw, data: bytes, expected: bytes) -> None:
    await raw.send(QUIET + data)
    assert await raw.read_to_close() == expected


async def test_bad_connect_json_closes(raw: Raw) -> None:
    await raw.send(b"CONNECT {bad\r\n")
    assert await raw.read_to_close() == b""


async def test_invalid_protocol_version(raw: Raw) -> None:
    await raw.send(b'CONNECT {"protocol":2}\r\n')
    assert await raw.read_to_close() == b"-ERR 'invalid client protocol'\r\n"


async def test_ping_variants_and_info_ignored(raw: Raw) -> None:
    await raw.send(QUIET + b"PING\nPINGx\r\nINFO {}\r\n+OK\r\nPiNg\r\n")
    for _ in range(3):
        assert await raw.read_until(b"\r\n") == b"PONG\r\n"
    assert await raw.roundtrip(b"") == b""


async def test_other_clients_unaffected_by_bad_input(server: pynatsd.Server) -> None:
    good = await Raw.connect(server.port)
    await good.roundtrip(QUIET + b"SUB foo 1\r\n")
    bad = await Raw.connect(server.port)
    await bad.send(b"\xff\xfe nonsense\r\n")
    await bad.read_to_close()
    pub = await Raw.connect(server.port)
    await pub.roundtrip(QUIET + b"PUB foo 2\r\nok\r\n")
    assert await good.roundtrip(b"") == b"MSG foo 1 2\r\nok\r\n"
    for r in (good, bad, pub):
        await r.close()


async def test_split_frames_at_every_boundary(server: pynatsd.Server) -> None:
    sub = await Raw.connect(server.port)
    await sub.roundtrip(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB s.> 1\r\n')
    pub = await Raw.connect(server.port)
    await pub.roundtrip(QUIET)
    hdr = b"NATS/1.0\r\n\r\n"
    data = b"PUB s.a 5\r\nab\r\nc\r\nHPUB s.b %d %d\r\n%bxy\r\nPUB s.c r 0\r\n\r\n" % (
        len(hdr),
        len(hdr) + 2,
        hdr,
    )
    for i in range(len(data)):
        pub.writer.write(data[:i])
        await pub.writer.drain()
        await pub.send(data[i:])
    await pub.roundtrip(b"")
    out = await sub.roundtrip(b"")
    want = b"MSG s.a 1 5\r\nab\r\nc\r\nMSG s.b 1 2\r\nxy\r\nMSG s.c 1 r 0\r\n\r\n"
    assert out == want * len(data)
    await sub.close()
    await pub.close()
