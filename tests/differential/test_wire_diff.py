"""Differential wire tests: identical raw bytes to the reference nats-server and to pynatsd.

Each test runs twice, ``[reference]`` and ``[pynatsd]``. Expected replies are pinned
as literals (what nats-server 2.15.1 sends); on the pynatsd side the live reference
transcript must match too. See REFERENCE_NOTES.md for the catalogue.

Unless a case says otherwise the reply is everything after the INFO line, and a
connection that stays open is proven open by the trailing PING/PONG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.support.wire import OPTIONAL_INFO_KEYS, WireClient, normalize, parse_frames, parse_info

if TYPE_CHECKING:
    from .conftest import Target

UNKNOWN_OP = b"-ERR 'Unknown Protocol Operation'\r\n"
AUTH_VIOLATION = b"-ERR 'Authorization Violation'\r\n"
MAX_PAYLOAD = b"-ERR 'Maximum Payload Violation'\r\n"
MAX_CONTROL_LINE = b"-ERR 'maximum control line exceeded'\r\n"
SILENT_CLOSE = b""  # the reference closes without writing anything

CV = b'CONNECT {"verbose":true}\r\n'
CQ = b'CONNECT {"verbose":false}\r\n'
CVH = b'CONNECT {"verbose":true,"headers":true}\r\n'
CQH = b'CONNECT {"verbose":false,"headers":true}\r\n'
CVP = b'CONNECT {"verbose":true,"pedantic":true}\r\n'

AUTH_ARGS = ("--user", "u", "--pass", "p")

DEFAULT_INFO = b'INFO {"api_lvl":5,"headers":true,"max_payload":1048576,"proto":1} \r\n'
AUTH_INFO = b'INFO {"api_lvl":5,"auth_required":true,"headers":true,"max_payload":1048576,"proto":1} \r\n'
# The reference's exact INFO key order; the comparison leaves out OPTIONAL_INFO_KEYS.
REFERENCE_INFO_KEYS = [
    "server_id",
    "server_name",
    "version",
    "proto",
    "git_commit",
    "go",
    "host",
    "port",
    "headers",
    "max_payload",
    "client_id",
    "client_ip",
    "api_lvl",
    "xkey",
]
REFERENCE_AUTH_INFO_KEYS = [*REFERENCE_INFO_KEYS[:9], "auth_required", *REFERENCE_INFO_KEYS[9:]]
DEFAULT_INFO_KEYS = [k for k in REFERENCE_INFO_KEYS if k not in OPTIONAL_INFO_KEYS]
AUTH_INFO_KEYS = [k for k in REFERENCE_AUTH_INFO_KEYS if k not in OPTIONAL_INFO_KEYS]


def case(case_id: str, send: bytes | list[bytes], reply: bytes, *, closed: bool = False) -> Any:
    return pytest.param(send, reply, closed, id=case_id)


# --------------------------------------------------------------------------------------
# Single-connection scripts against a default server
# --------------------------------------------------------------------------------------

PING_CASES = [
    case("ping-before-connect", b"PING\r\n", b"PONG\r\n"),
    case("ping-after-connect", CQ + b"PING\r\n", b"PONG\r\n"),
    case("two-pings", b"PING\r\nPING\r\n", b"PONG\r\nPONG\r\n"),
    case("pong-from-client-ignored", CV + b"PONG\r\nPING\r\n", b"+OK\r\nPONG\r\n"),
    case(
        "ping-with-trailing-junk", CV + b"PINGX\r\nPING extra\r\nPING\r\n", b"+OK\r\nPONG\r\nPONG\r\nPONG\r\n"
    ),
    case("pong-with-trailing-junk", CV + b"PONGX\r\nPING\r\n", b"+OK\r\nPONG\r\n"),
    case("ping-cr-without-lf-swallows-rest", CV + b"PING\rPING\r\n", b"+OK\r\nPONG\r\n"),
    case("ping-cr-cr-lf", CV + b"PING\r\r\n", b"+OK\r\nPONG\r\n"),
    case("lf-only-line-endings", CV + b"SUB foo 1\nUNSUB 1\nPING\n", b"+OK\r\n+OK\r\n+OK\r\nPONG\r\n"),
]

VERBOSE_CASES = [
    case("connect-verbose-ok", CV + b"PING\r\n", b"+OK\r\nPONG\r\n"),
    case(
        "verbose-ok-for-each-op",
        CVH
        + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1\r\nPONG\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n+OK\r\nPONG\r\n",
    ),
    case("verbose-defaults-to-true", b"CONNECT {}\r\nSUB foo 1\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    case(
        "verbose-is-on-before-connect",
        b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    case(
        "verbose-false",
        CQ + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n",
        b"MSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    case("connect-twice-both-verbose", CV + CV + b"PING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    case("second-connect-turns-verbose-off", CV + CQ + b"SUB foo 1\r\nPING\r\n", b"+OK\r\nPONG\r\n"),
    case("second-connect-merges-fields", CQ + b"CONNECT {}\r\nSUB foo 1\r\nPING\r\n", b"PONG\r\n"),
    case(
        "second-connect-keeps-headers",
        CQH + CQ + b"SUB foo 1\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
        b"HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n",
    ),
    case(
        "connect-unknown-field-ignored", b'CONNECT {"verbose":true,"zzz":1}\r\nPING\r\n', b"+OK\r\nPONG\r\n"
    ),
    case("connect-null-accepted", b"CONNECT null\r\nPING\r\n", b"+OK\r\nPONG\r\n"),
    case("connect-without-space", b'CONNECT{"verbose":true}\r\nPING\r\n', b"+OK\r\nPONG\r\n"),
    case("connect-tab-and-trailing-space", b'CONNECT\t{"verbose":true}   \r\nPING\r\n', b"+OK\r\nPONG\r\n"),
]

PEDANTIC_CASES = [
    case(
        "pedantic-pub-star",
        CVP + b"PUB foo.* 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pedantic-pub-gt",
        CVP + b"PUB foo.> 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pedantic-pub-empty-token",
        CVP + b"PUB foo..bar 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pedantic-pub-trailing-dot",
        CVP + b"PUB foo. 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pedantic-pub-partial-wildcard-is-literal",
        CVP + b"PUB foo* 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pedantic-reply-not-checked",
        CVP + b"PUB foo bar.* 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pedantic-invalid-pub-still-delivered",
        b'CONNECT {"verbose":false,"pedantic":true}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\na\r\nPING\r\n',
        b"-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\na\r\nPONG\r\n",
    ),
    case(
        "pedantic-before-connect",
        b"PUB foo.* 0\r\n\r\nPING\r\n",
        b"-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pedantic-is-default",
        b"CONNECT {}\r\nPUB foo.* 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "non-pedantic-wildcard-pub-delivered-literally",
        b'CONNECT {"verbose":true,"pedantic":false}\r\nSUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n',
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo.* 1 2\r\nhi\r\nPONG\r\n",
    ),
    case(
        "sub-invalid-subject",
        b'CONNECT {"verbose":true,"pedantic":false}\r\nSUB foo..bar 1\r\nPING\r\n',
        b"+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n",
    ),
    case(
        "sub-invalid-trailing-dot",
        CV + b"SUB foo. 1\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n",
    ),
    case(
        "sub-invalid-leading-dot",
        CV + b"SUB .foo 1\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n",
    ),
    case(
        "sub-invalid-gt-not-last",
        CV + b"SUB foo.>.bar 1\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n",
    ),
    case(
        "sub-partial-wildcard-is-literal",
        CQ + b"SUB foo* 1\r\nPUB foo* 1\r\na\r\nPUB fooX 1\r\nb\r\nPING\r\n",
        b"MSG foo* 1 1\r\na\r\nPONG\r\n",
    ),
    case("sub-queue-name-not-checked", CV + b"SUB foo q.* 1\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    case(
        "non-pedantic-pub-with-empty-token-reaches-nobody",
        b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB x.* 1\r\nSUB > 2\r\nSUB x.> 3\r\n'
        b"PUB x. 1\r\na\r\nPUB x..y 1\r\nb\r\nPUB .x 1\r\nc\r\nPUB x.y 1\r\nd\r\nPING\r\n",
        b"MSG x.y 2 1\r\nd\r\nMSG x.y 3 1\r\nd\r\nMSG x.y 1 1\r\nd\r\nPONG\r\n",
    ),
]

SUB_CASES = [
    case(
        "unsub-max-auto",
        CV + b"SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\na\r\n+OK\r\nMSG foo 1 1\r\nb\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "unsub-max-overridden",
        CQ
        + b"SUB foo 1\r\nUNSUB 1 2\r\nUNSUB 1 5\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nMSG foo 1 1\r\nc\r\nPONG\r\n",
    ),
    case(
        "unsub-max-already-reached",
        CQ + b"SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1 1\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\nPONG\r\n",
    ),
    case(
        "unsub-max-zero-is-immediate",
        CQ + b"SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"PONG\r\n",
    ),
    case(
        "unsub-max-negative-is-immediate",
        CQ + b"SUB foo 1\r\nUNSUB 1 -1\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"PONG\r\n",
    ),
    case(
        "unsub-max-non-numeric-is-immediate",
        CQ + b"SUB foo 1\r\nUNSUB 1 x\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"PONG\r\n",
    ),
    case("unsub-unknown-sid", CV + b"UNSUB 99\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    case("unsub-non-numeric-sid", CV + b"UNSUB x\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    case(
        "sub-duplicate-sid-keeps-first",
        CV + b"SUB foo 1\r\nSUB bar 1\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\na\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "sid-may-be-alphanumeric",
        CV + b"SUB foo abc\r\nPUB foo 1\r\na\r\nUNSUB abc\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo abc 1\r\na\r\n+OK\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "sid-reusable-after-unsub",
        CQ + b"SUB foo 1\r\nUNSUB 1\r\nSUB bar 1\r\nPUB bar 1\r\na\r\nPING\r\n",
        b"MSG bar 1 1\r\na\r\nPONG\r\n",
    ),
    case(
        "queue-sub-delivery",
        CV + b"SUB foo q 1\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\na\r\nPONG\r\n",
    ),
]

PUB_CASES = [
    case("pub-no-reply", CQ + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n", b"MSG foo 1 2\r\nhi\r\nPONG\r\n"),
    case(
        "pub-with-reply",
        CQ + b"SUB foo 1\r\nPUB foo _INBOX.abc 2\r\nhi\r\nPING\r\n",
        b"MSG foo 1 _INBOX.abc 2\r\nhi\r\nPONG\r\n",
    ),
    case("pub-empty-payload", CQ + b"SUB foo 1\r\nPUB foo 0\r\n\r\nPING\r\n", b"MSG foo 1 0\r\n\r\nPONG\r\n"),
    case(
        "pub-binary-payload-with-crlf",
        CQ + b"SUB foo 1\r\nPUB foo 8\r\n\x00\r\nPING\xff\r\nPING\r\n",
        b"MSG foo 1 8\r\n\x00\r\nPING\xff\r\nPONG\r\n",
    ),
    case(
        "pub-size-token-echoed-verbatim",
        CQ + b"SUB foo 1\r\nPUB foo 02\r\nhi\r\nPING\r\n",
        b"MSG foo 1 02\r\nhi\r\nPONG\r\n",
    ),
    case(
        "pub-to-no-subscriber",
        CV + b"PUB nobody 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pub-split-across-chunks",
        [CQ + b"SUB foo 1\r\nPU", b"B foo 5\r\nhel", b"lo\r", b"\nPI", b"NG\r\n"],
        b"MSG foo 1 5\r\nhello\r\nPONG\r\n",
    ),
    case(
        "pub-payload-arrives-later",
        [CQ + b"SUB foo 1\r\nPUB foo 5\r\nhi", b"abc\r\nPING\r\n"],
        b"MSG foo 1 5\r\nhiabc\r\nPONG\r\n",
    ),
    case(
        "lowercase-ops",
        b'connect {"verbose":true}\r\nsub foo 1\r\npub foo 2\r\nhi\r\nunsub 1\r\nping\r\n',
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "mixed-case-ops",
        b'CoNnEcT {"verbose":true}\r\nsUb foo 1\r\nPuB foo 2\r\nhi\r\nPiNg\r\n',
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    case(
        "extra-spaces-and-tabs",
        CV + b"SUB \t foo \t  1\r\nPUB\t foo  \t 2\r\nhi\r\nUNSUB\t\t1\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "trailing-whitespace-in-args",
        CV + b"SUB foo 1  \r\nPUB foo 2 \t\r\nhi\r\nPING \r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    case(
        "cr-inside-sub-args-is-whitespace",
        [CV + b"SUB foo 1\rPING\r\n", b"PUB foo 1\r\na\r\nPING\r\n"],
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo PING 1\r\na\r\nPONG\r\n",
    ),
    case(
        "cr-cr-lf-after-sub",
        CV + b"SUB foo 1\r\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\na\r\nPONG\r\n",
    ),
    case(
        "lf-only-pub-line",
        CV + b"SUB foo 1\nPUB foo 2\nhi\r\nPING\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    case("client-info-ignored", CV + b"INFO {}\r\nPING\r\n", b"+OK\r\nPONG\r\n"),
    case("client-ok-ignored", CV + b"+OK\r\nPING\r\n", b"+OK\r\nPONG\r\n"),
]

HEADER_CASES = [
    case(
        "hpub-byte-exact",
        CQH
        + b"SUB foo 1\r\nHPUB foo 53 60\r\nNATS/1.0\r\nX-Trace: a b  c\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n"
        + b"\x00\r\nbin\xff\r\nPING\r\n",
        b"HMSG foo 1 53 60\r\nNATS/1.0\r\nX-Trace: a b  c\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n\x00\r\nbin\xff\r\n"
        + b"PONG\r\n",
    ),
    case(
        "hpub-with-reply",
        CVH + b"SUB foo 1\r\nHPUB foo rep 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nHMSG foo 1 rep 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPONG\r\n",
    ),
    case(
        "hpub-empty-payload",
        CQH + b"SUB foo 1\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
        b"HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n",
    ),
    case(
        "hpub-zero-header-size-becomes-msg",
        CQH + b"SUB foo 1\r\nHPUB foo 0 2\r\nhi\r\nPING\r\n",
        b"MSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    case(
        "hpub-header-block-not-validated",
        CQH + b"SUB foo 1\r\nHPUB foo 4 6\r\nab\r\nhi\r\nPING\r\n",
        b"HMSG foo 1 4 6\r\nab\r\nhi\r\nPONG\r\n",
    ),
    case(
        "hpub-lowercase",
        b'connect {"verbose":false,"headers":true}\r\nsub foo 1\r\nhpub foo 12 13\r\nNATS/1.0\r\n\r\na\r\nping\r\n',
        b"HMSG foo 1 12 13\r\nNATS/1.0\r\n\r\na\r\nPONG\r\n",
    ),
    case(
        "hpub-headers-not-declared",
        CV + b"SUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\n",
        closed=True,
    ),
    case(
        "hpub-headers-false",
        b'CONNECT {"verbose":true,"headers":false}\r\nSUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n',
        b"+OK\r\n+OK\r\n",
        closed=True,
    ),
    case(
        "hpub-before-connect",
        b"SUB foo 1\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
        b"+OK\r\n",
        closed=True,
    ),
    case(
        "hpub-header-larger-than-total",
        CVH + b"HPUB foo 14 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
        b"+OK\r\n",
        closed=True,
    ),
    case(
        "hpub-bad-header-size",
        CVH + b"HPUB foo x 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
        b"+OK\r\n",
        closed=True,
    ),
    case(
        "hpub-bad-total-size", CVH + b"HPUB foo 12 x\r\nNATS/1.0\r\n\r\n\r\nPING\r\n", b"+OK\r\n", closed=True
    ),
    case("hpub-missing-total", CVH + b"HPUB foo 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n", b"+OK\r\n", closed=True),
    case(
        "hpub-too-many-args",
        CVH + b"HPUB foo bar baz 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
        b"+OK\r\n",
        closed=True,
    ),
    case(
        "hpub-no-args",
        CVH + b"HPUB\r\nPING\r\n",
        b"+OK\r\n-ERR 'Unknown Protocol Operation'\r\n",
        closed=True,
    ),
    case(
        "hpub-max-payload",
        CVH + b"HPUB foo 12 1048577\r\n",
        b"+OK\r\n-ERR 'Maximum Payload Violation'\r\n",
        closed=True,
    ),
]

NO_RESPONDERS_CASES = [
    case(
        "no-responders-503",
        b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB r 1\r\nPUB foo r 2\r\nhi\r\nPING\r\n',
        b"HMSG r 1 35 35\r\nNATS/1.0 503\r\nNats-Subject: foo\r\n\r\n\r\nPONG\r\n",
    ),
    case(
        "no-responders-503-for-hpub",
        b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n'
        + b"SUB r 1\r\nHPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
        b"HMSG r 1 35 35\r\nNATS/1.0 503\r\nNats-Subject: foo\r\n\r\n\r\nPONG\r\n",
    ),
    case(
        "no-responders-verbose",
        b'CONNECT {"verbose":true,"headers":true,"no_responders":true}\r\nSUB r 1\r\nPUB foo r 2\r\nhi\r\nPING\r\n',
        b"+OK\r\n+OK\r\n+OK\r\nHMSG r 1 35 35\r\nNATS/1.0 503\r\nNats-Subject: foo\r\n\r\n\r\nPONG\r\n",
    ),
    case(
        "no-responders-after-responder-unsubscribed",
        b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n'
        + b"SUB r 1\r\nSUB foo 2\r\nUNSUB 2\r\nPUB foo r 2\r\nhi\r\nPING\r\n",
        b"HMSG r 1 35 35\r\nNATS/1.0 503\r\nNats-Subject: foo\r\n\r\n\r\nPONG\r\n",
    ),
    case(
        "no-responders-ignores-echo-false",
        b'CONNECT {"verbose":false,"headers":true,"no_responders":true,"echo":false}\r\n'
        + b"SUB r 1\r\nPUB foo r 2\r\nhi\r\nPING\r\n",
        b"HMSG r 1 35 35\r\nNATS/1.0 503\r\nNats-Subject: foo\r\n\r\n\r\nPONG\r\n",
    ),
    case(
        "no-responders-not-without-reply",
        b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB r 1\r\nPUB foo 2\r\nhi\r\nPING\r\n',
        b"PONG\r\n",
    ),
    case(
        "no-responders-not-requested",
        CQH + b"SUB r 1\r\nPUB foo r 2\r\nhi\r\nPING\r\n",
        b"PONG\r\n",
    ),
    case(
        "no-responders-without-headers",
        b'CONNECT {"verbose":false,"no_responders":true}\r\nSUB r 1\r\nPUB foo r 2\r\nhi\r\nPING\r\n',
        b"-ERR 'no responders requires headers support'\r\n",
        closed=True,
    ),
    case(
        "no-responders-with-headers-false",
        b'CONNECT {"verbose":true,"headers":false,"no_responders":true}\r\nPING\r\n',
        b"-ERR 'no responders requires headers support'\r\n",
        closed=True,
    ),
]

BAD_INPUT_CASES = [
    case("unknown-op", CQ + b"FOO bar\r\nPING\r\n", UNKNOWN_OP, closed=True),
    case("unknown-op-before-connect", b"xyz\r\n", UNKNOWN_OP, closed=True),
    case("binary-garbage", b"\x00\x01\x02\xff\r\n", UNKNOWN_OP, closed=True),
    case("binary-garbage-after-connect", CV + b"\x00\x01\x02\xff\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("empty-line", CV + b"\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("lone-cr", CV + b"\r", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("lone-lf", CV + b"\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("leading-space", CV + b" PING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("op-prefix-only", CV + b"P\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("op-without-space-pub", CV + b"PUBfoo 0\r\n\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("op-without-space-sub", CV + b"SUBfoo 1\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("op-with-suffix", CV + b"PUBX foo 0\r\n\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("msg-from-client", CV + b"MSG foo 1 2\r\nhi\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case(
        "hmsg-from-client",
        CVH + b"HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        b"+OK\r\n" + UNKNOWN_OP,
        closed=True,
    ),
    case("route-op-from-client", CV + b"RS+ foo\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("leaf-op-from-client", CV + b"LS+ foo\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("account-op-from-client", CV + b"A+ foo\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("err-from-client-closes", CV + b"-ERR 'x'\r\nPING\r\n", b"+OK\r\n", closed=True),
    # missing arguments
    case("sub-missing-sid", CV + b"SUB foo\r\nPING\r\n", b"+OK\r\n", closed=True),
    case("sub-no-args", CV + b"SUB\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("sub-space-no-args", CV + b"SUB \r\nPING\r\n", b"+OK\r\n", closed=True),
    case("sub-too-many-args", CV + b"SUB foo bar baz 2\r\nPING\r\n", b"+OK\r\n", closed=True),
    case("pub-no-args", CV + b"PUB\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("pub-space-no-args", CV + b"PUB \r\nPING\r\n", b"+OK\r\n", closed=True),
    case("pub-missing-size", CV + b"PUB foo\r\nPING\r\n", b"+OK\r\n", closed=True),
    case("pub-too-many-args", CV + b"PUB foo bar baz 2\r\nhi\r\nPING\r\n", b"+OK\r\n", closed=True),
    case("unsub-no-args", CV + b"UNSUB\r\nPING\r\n", b"+OK\r\n" + UNKNOWN_OP, closed=True),
    case("unsub-space-no-args", CV + b"UNSUB \r\nPING\r\n", b"+OK\r\n", closed=True),
    case("unsub-too-many-args", CV + b"UNSUB 1 2 3\r\nPING\r\n", b"+OK\r\n", closed=True),
    # bad sizes
    case("pub-size-non-numeric", CV + b"PUB foo abc\r\nhi\r\nPING\r\n", b"+OK\r\n", closed=True),
    case("pub-size-negative", CV + b"PUB foo -2\r\nhi\r\nPING\r\n", b"+OK\r\n", closed=True),
    case("pub-size-plus-sign", CV + b"PUB foo +2\r\nhi\r\nPING\r\n", b"+OK\r\n", closed=True),
    case("pub-size-trailing-garbage", CV + b"PUB foo 2x\r\nhi\r\nPING\r\n", b"+OK\r\n", closed=True),
    case(
        "pub-size-overflow", CV + b"PUB foo 99999999999999999999\r\nhi\r\nPING\r\n", b"+OK\r\n", closed=True
    ),
    case("pub-size-cr-inside", CV + b"PUB foo 1\rx\r\na\r\nPING\r\n", b"+OK\r\n", closed=True),
    # payload framing
    case(
        "payload-longer-than-size",
        CV + b"SUB foo 1\r\nPUB foo 1\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\n" + UNKNOWN_OP,
        closed=True,
    ),
    case(
        "payload-shorter-than-size",
        CV + b"SUB foo 1\r\nPUB foo 5\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\n" + UNKNOWN_OP,
        closed=True,
    ),
    case(
        "payload-terminated-by-cr-only",
        CV + b"SUB foo 1\r\nPUB foo 1\r\na\rPING\r\n",
        b"+OK\r\n+OK\r\n" + UNKNOWN_OP,
        closed=True,
    ),
    case(
        "payload-terminated-by-lf-only",
        CV + b"SUB foo 1\r\nPUB foo 1\r\na\nPING\r\n",
        b"+OK\r\n+OK\r\n" + UNKNOWN_OP,
        closed=True,
    ),
    case("max-payload-exceeded", CV + b"PUB foo 1048577\r\n", b"+OK\r\n" + MAX_PAYLOAD, closed=True),
    case("max-payload-far-exceeded", CV + b"PUB foo 2000000\r\n", b"+OK\r\n" + MAX_PAYLOAD, closed=True),
    # CONNECT problems
    case("connect-bad-json", b'CONNECT {"verbose":true\r\nPING\r\n', SILENT_CLOSE, closed=True),
    case("connect-not-json", b"CONNECT xyz\r\nPING\r\n", SILENT_CLOSE, closed=True),
    case("connect-no-arg", b"CONNECT\r\nPING\r\n", SILENT_CLOSE, closed=True),
    case("connect-empty-arg", b"CONNECT \r\nPING\r\n", SILENT_CLOSE, closed=True),
    case("connect-json-array", b"CONNECT []\r\nPING\r\n", SILENT_CLOSE, closed=True),
    case("connect-wrong-field-type", b'CONNECT {"verbose":"yes"}\r\nPING\r\n', SILENT_CLOSE, closed=True),
    case("connect-with-suffix", b'CONNECTX {"verbose":true}\r\nPING\r\n', SILENT_CLOSE, closed=True),
    case(
        "connect-cr-without-lf",
        b'CONNECT {"verbose":true}\rPING\r\n',
        SILENT_CLOSE,
        closed=True,
    ),
    case(
        "connect-bad-protocol",
        b'CONNECT {"verbose":true,"protocol":2}\r\nPING\r\n',
        b"-ERR 'invalid client protocol'\r\n",
        closed=True,
    ),
    case(
        "connect-negative-protocol",
        b'CONNECT {"verbose":true,"protocol":-1}\r\nPING\r\n',
        b"-ERR 'invalid client protocol'\r\n",
        closed=True,
    ),
]


def _reply_violation(quoted: bytes) -> bytes:
    return b"-ERR 'Permissions Violation for Publish with Reply of " + quoted + b"'\r\nPONG\r\n"


# Reply subjects the server keeps for itself: `_R_.` alone is reserved, the other prefixes
# only with something after them; the text quotes the raw bytes as Go's %q does.
RESERVED_REPLY_CASES = [
    case(f"reserved-reply-{i}", CQ + b"PUB foo " + reply + b" 1\r\nx\r\nPING\r\n", expected)
    for i, (reply, expected) in enumerate(
        [
            (b"_R_.", _reply_violation(b'"_R_."')),
            (b"_R_.x", _reply_violation(b'"_R_.x"')),
            (b"$JS.ACK.", b"PONG\r\n"),
            (b"$JS.ACK.x", _reply_violation(b'"$JS.ACK.x"')),
            (b"$JS.ACK", b"PONG\r\n"),
            (b"$GR.", b"PONG\r\n"),
            (b"$GR.x", _reply_violation(b'"$GR.x"')),
            (b"_GR_.", b"PONG\r\n"),
            (b"_GR_.x", _reply_violation(b'"_GR_.x"')),
            (b"_R_.\xff", _reply_violation(b'"_R_.\\xff"')),
            (b"$JS.ACK.\xc3\xa9\x01", _reply_violation(b'"$JS.ACK.\xc3\xa9\\x01"')),
        ]
    )
]


@pytest.mark.parametrize(
    ("send", "reply", "closed"),
    PING_CASES
    + VERBOSE_CASES
    + PEDANTIC_CASES
    + SUB_CASES
    + PUB_CASES
    + HEADER_CASES
    + NO_RESPONDERS_CASES
    + RESERVED_REPLY_CASES,
)
def test_script(target: Target, send: bytes | list[bytes], reply: bytes, closed: bool) -> None:
    target.script(send, reply, closed=closed)


@pytest.mark.parametrize(("send", "reply", "closed"), BAD_INPUT_CASES)
def test_bad_input(target: Target, send: bytes | list[bytes], reply: bytes, closed: bool) -> None:
    target.script(send, reply, closed=closed)


# --------------------------------------------------------------------------------------
# Max control line (default 4096): the limit applies to the arguments after the op name
# --------------------------------------------------------------------------------------


def _connect_with_arg_len(n: int) -> bytes:
    padding = b"a" * (n - len(b'{"verbose":true,"name":""}'))
    return b'CONNECT {"verbose":true,"name":"' + padding + b'"}\r\n'


CONTROL_LINE_CASES = [
    case("sub-arg-4096-ok", CV + b"SUB " + b"a" * 4094 + b" 1\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    case(
        "sub-arg-4097",
        CV + b"SUB " + b"a" * 4095 + b" 1\r\nPING\r\n",
        b"+OK\r\n" + MAX_CONTROL_LINE,
        closed=True,
    ),
    case(
        "pub-arg-4096-ok",
        CV + b"PUB " + b"a" * 4094 + b" 0\r\n\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "pub-arg-4097",
        CV + b"PUB " + b"a" * 4095 + b" 0\r\n\r\nPING\r\n",
        b"+OK\r\n" + MAX_CONTROL_LINE,
        closed=True,
    ),
    case(
        "hpub-arg-4096-ok",
        CVH + b"HPUB " + b"a" * 4092 + b" 0 0\r\n\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "hpub-arg-4097",
        CVH + b"HPUB " + b"a" * 4093 + b" 0 0\r\n\r\nPING\r\n",
        b"+OK\r\n" + MAX_CONTROL_LINE,
        closed=True,
    ),
    case(
        "unsub-arg-4097",
        CV + b"UNSUB " + b"1" * 4097 + b"\r\nPING\r\n",
        b"+OK\r\n" + MAX_CONTROL_LINE,
        closed=True,
    ),
    case("connect-arg-4096-ok", _connect_with_arg_len(4096) + b"PING\r\n", b"+OK\r\nPONG\r\n"),
    case("connect-arg-4097", _connect_with_arg_len(4097) + b"PING\r\n", MAX_CONTROL_LINE, closed=True),
    case(
        "ping-junk-not-limited",
        CV + b"PING" + b"x" * 5000 + b"\r\nPING\r\n",
        b"+OK\r\nPONG\r\nPONG\r\n",
    ),
]


@pytest.mark.parametrize(("send", "reply", "closed"), CONTROL_LINE_CASES)
def test_max_control_line(target: Target, send: bytes, reply: bytes, closed: bool) -> None:
    target.script(send, reply, closed=closed)


def test_max_control_line_config(target: Target) -> None:
    config = "max_control_line: 64\n"
    target.script(
        CV + b"SUB " + b"a" * 62 + b" 1\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n", closed=False, config=config
    )
    target.script(
        CV + b"SUB " + b"a" * 63 + b" 1\r\nPING\r\n",
        b"+OK\r\n" + MAX_CONTROL_LINE,
        closed=True,
        config=config,
    )


# --------------------------------------------------------------------------------------
# Authorization (--user u --pass p)
# --------------------------------------------------------------------------------------

AUTH_CASES = [
    case("pub-before-connect", b"PUB foo 2\r\nhi\r\n", AUTH_VIOLATION, closed=True),
    case("ping-before-connect", b"PING\r\n", AUTH_VIOLATION, closed=True),
    case("sub-before-connect", b"SUB foo 1\r\n", AUTH_VIOLATION, closed=True),
    case("garbage-before-connect", b"FOO\r\n", AUTH_VIOLATION, closed=True),
    case("connect-without-credentials", CV + b"PING\r\n", AUTH_VIOLATION, closed=True),
    case(
        "connect-wrong-password",
        b'CONNECT {"verbose":true,"user":"u","pass":"x"}\r\nPING\r\n',
        AUTH_VIOLATION,
        closed=True,
    ),
    case(
        "connect-token-instead-of-user",
        b'CONNECT {"verbose":true,"auth_token":"p"}\r\nPING\r\n',
        AUTH_VIOLATION,
        closed=True,
    ),
    case(
        "connect-good-credentials",
        b'CONNECT {"verbose":true,"user":"u","pass":"p"}\r\nPING\r\n',
        b"+OK\r\nPONG\r\n",
    ),
    case(
        "lowercase-connect-good-credentials",
        b'connect {"verbose":true,"user":"u","pass":"p"}\r\nPING\r\n',
        b"+OK\r\nPONG\r\n",
    ),
    case(
        "second-connect-keeps-credentials",
        b'CONNECT {"verbose":true,"user":"u","pass":"p"}\r\nCONNECT {"verbose":true}\r\nPING\r\n',
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    case(
        "second-connect-wrong-password",
        b'CONNECT {"verbose":true,"user":"u","pass":"p"}\r\nCONNECT {"verbose":true,"user":"u","pass":"x"}\r\n'
        + b"PING\r\n",
        b"+OK\r\n" + AUTH_VIOLATION,
        closed=True,
    ),
    case(
        "connect-bad-json",
        b'CONNECT {"verbose":true,"user":"u","pass":"p"\r\nPING\r\n',
        SILENT_CLOSE,
        closed=True,
    ),
]


@pytest.mark.parametrize(("send", "reply", "closed"), AUTH_CASES)
def test_auth(target: Target, send: bytes, reply: bytes, closed: bool) -> None:
    target.script(send, reply, closed=closed, args=AUTH_ARGS)


def test_auth_timeout(target: Target) -> None:
    config = "authorization { user: u, password: p, timeout: 0.5 }\n"
    target.script(b"", b"-ERR 'Authentication Timeout'\r\n", closed=True, config=config)


# --------------------------------------------------------------------------------------
# Limits from a config file
# --------------------------------------------------------------------------------------

MAX_PAYLOAD_CONFIG = "max_payload: 100\n"

LIMIT_CASES = [
    case(
        "at-max-payload",
        CQ + b"SUB x 1\r\nPUB x 100\r\n" + b"x" * 100 + b"\r\nPING\r\n",
        b"MSG x 1 100\r\n" + b"x" * 100 + b"\r\nPONG\r\n",
    ),
    case(
        "over-max-payload",
        CV + b"PUB x 101\r\n" + b"x" * 101 + b"\r\nPING\r\n",
        b"+OK\r\n-ERR 'Maximum Payload Violation'\r\n",
        closed=True,
    ),
    case(
        "hpub-total-over-max-payload",
        CVH + b"HPUB x 12 101\r\n",
        b"+OK\r\n-ERR 'Maximum Payload Violation'\r\n",
        closed=True,
    ),
]


@pytest.mark.parametrize(("send", "reply", "closed"), LIMIT_CASES)
def test_max_payload_config(target: Target, send: bytes, reply: bytes, closed: bool) -> None:
    target.script(send, reply, closed=closed, config=MAX_PAYLOAD_CONFIG)


def test_max_subscriptions(target: Target) -> None:
    target.script(
        CV + b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB c 1\r\nx\r\nPUB a 1\r\ny\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n-ERR 'maximum subscriptions exceeded'\r\n+OK\r\n+OK\r\nMSG a 1 1\r\ny\r\nPONG\r\n",
        closed=False,
        config="max_subscriptions: 2\n",
    )


def _max_connections(port: int) -> tuple[bytes, bytes, bytes]:
    with WireClient.open(port) as first:
        before = first.ping_pong()
        with WireClient.open(port, read_info=False) as second:
            rejected = normalize(second.read_until_eof())
        after = first.ping_pong()
    return before, rejected, after


def test_max_connections(target: Target) -> None:
    target.compare(
        _max_connections,
        (
            b"",
            b'INFO {"api_lvl":5,"headers":true,"max_payload":1048576,"proto":1} \r\n'
            b"-ERR 'maximum connections exceeded'\r\n",
            b"",
        ),
        config="max_connections: 1\n",
        fresh=True,
    )


# --------------------------------------------------------------------------------------
# INFO
# --------------------------------------------------------------------------------------


def _info(port: int) -> tuple[bytes, list[str], bytes, bytes]:
    """Normalized INFO, its key order (implementation-specific keys left out), framing."""
    with WireClient.open(port) as client:
        line = client.info_line
        keys = [k for k in parse_info(line) if k not in OPTIONAL_INFO_KEYS]
        return normalize(line), keys, line[:16], line[-4:]


def _check_reference_keys(target: Target, expected: list[str], *args: str) -> None:
    """The reference's exact key list, api_lvl included (pinned on the reference side only)."""
    if target.kind == "reference":
        with WireClient.open(target.port(*args)) as client:
            assert list(client.info) == expected


def _check_info_values(port: int) -> None:
    with WireClient.open(port) as client:
        info = client.info
    assert info["port"] == port
    assert info["host"] == "127.0.0.1"
    assert info["client_ip"] == "127.0.0.1"
    assert isinstance(info["client_id"], int)
    assert info["client_id"] > 0
    for key in ("server_id", "server_name", "version", "go", "git_commit", "xkey"):
        if key in OPTIONAL_INFO_KEYS and key not in info:
            continue
        assert isinstance(info[key], str)
        assert info[key]
    assert info["proto"] == 1
    assert info["headers"] is True


def test_info_default(target: Target) -> None:
    target.compare(_info, (DEFAULT_INFO, DEFAULT_INFO_KEYS, b'INFO {"server_id', b"} \r\n"))
    _check_reference_keys(target, REFERENCE_INFO_KEYS)
    _check_info_values(target.port())


def test_info_auth_required(target: Target) -> None:
    target.compare(_info, (AUTH_INFO, AUTH_INFO_KEYS, b'INFO {"server_id', b"} \r\n"), *AUTH_ARGS)
    _check_reference_keys(target, REFERENCE_AUTH_INFO_KEYS, *AUTH_ARGS)


def test_info_with_monitoring(target: Target) -> None:
    target.compare(_info, (DEFAULT_INFO, DEFAULT_INFO_KEYS, b'INFO {"server_id', b"} \r\n"), monitor=True)


def test_info_max_payload_config(target: Target) -> None:
    expected = b'INFO {"api_lvl":5,"headers":true,"max_payload":100,"proto":1} \r\n'
    target.compare(
        _info, (expected, DEFAULT_INFO_KEYS, b'INFO {"server_id', b"} \r\n"), config=MAX_PAYLOAD_CONFIG
    )


def test_client_ids_increase(target: Target) -> None:
    port = target.port()
    with WireClient.open(port) as a, WireClient.open(port) as b:
        assert b.info["client_id"] > a.info["client_id"]
        assert a.info["server_id"] == b.info["server_id"]


# --------------------------------------------------------------------------------------
# Multi-connection scenarios
# --------------------------------------------------------------------------------------


def _echo(port: int) -> tuple[bytes, bytes, bytes]:
    with WireClient.open(port) as quiet, WireClient.open(port) as other:
        quiet.send(b'CONNECT {"verbose":false,"echo":false}\r\nSUB foo 1\r\nPUB foo 4\r\nself\r\n')
        own = quiet.ping_pong()
        other.send(CQ + b"SUB foo 9\r\n")
        other.ping_pong()
        other.send(b"PUB foo 6\r\nfrom-b\r\n")
        other_got = other.ping_pong()
        quiet_got = quiet.ping_pong()
    return own, quiet_got, other_got


def test_echo_false(target: Target) -> None:
    target.compare(_echo, (b"", b"MSG foo 1 6\r\nfrom-b\r\n", b"MSG foo 9 6\r\nfrom-b\r\n"))


def _echo_default(port: int) -> bytes:
    with WireClient.open(port) as client:
        client.send(CQ + b"SUB foo 1\r\nPUB foo 4\r\nself\r\n")
        return client.ping_pong()


def test_echo_default_on(target: Target) -> None:
    target.compare(_echo_default, b"MSG foo 1 4\r\nself\r\n")


def _request_reply(port: int) -> tuple[bytes, bytes]:
    with WireClient.open(port) as service, WireClient.open(port) as requester:
        service.send(CQ + b"SUB service 1\r\n")
        service.ping_pong()
        requester.send(CQ + b"SUB _INBOX.b 9\r\nPUB service _INBOX.b 4\r\nping\r\n")
        requester.ping_pong()
        request = service.ping_pong()
        service.send(b"PUB _INBOX.b 4\r\npong\r\n")
        service.ping_pong()
        response = requester.ping_pong()
    return request, response


def test_request_reply_across_connections(target: Target) -> None:
    target.compare(_request_reply, (b"MSG service 1 _INBOX.b 4\r\nping\r\n", b"MSG _INBOX.b 9 4\r\npong\r\n"))


def _queue_across_connections(port: int) -> dict[str, Any]:
    count = 20
    with (
        WireClient.open(port) as a,
        WireClient.open(port) as b,
        WireClient.open(port) as plain,
        WireClient.open(port) as publisher,
    ):
        a.send(CQ + b"SUB jobs workers 1\r\n")
        a.ping_pong()
        b.send(CQ + b"SUB jobs workers 7\r\n")
        b.ping_pong()
        plain.send(CQ + b"SUB jobs 3\r\n")
        plain.ping_pong()
        publisher.send(CQ + b"".join(b"PUB jobs %d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(count)))
        publisher.ping_pong()
        frames_a = parse_frames(a.ping_pong())
        frames_b = parse_frames(b.ping_pong())
        frames_plain = parse_frames(plain.ping_pong())
    return {
        "queue_payloads_sorted": sorted(int(f.payload or b"-1") for f in frames_a + frames_b),
        "a_sids": {f.args[1] for f in frames_a} <= {b"1"},
        "b_sids": {f.args[1] for f in frames_b} <= {b"7"},
        "plain": [f.payload for f in frames_plain],
    }


def test_queue_group_across_connections(target: Target) -> None:
    target.compare(
        _queue_across_connections,
        {
            "queue_payloads_sorted": list(range(20)),
            "a_sids": True,
            "b_sids": True,
            "plain": [b"%d" % i for i in range(20)],
        },
    )


def _queue_one_connection(port: int) -> dict[str, Any]:
    with WireClient.open(port) as client:
        client.send(
            CQ
            + b"SUB foo q 1\r\nSUB foo q 2\r\nSUB foo 3\r\n"
            + b"".join(b"PUB foo 1\r\n%d\r\n" % i for i in range(10))
        )
        frames = parse_frames(client.ping_pong())
    queue = [f for f in frames if f.args[1] in (b"1", b"2")]
    return {
        "ops": {f.op for f in frames},
        "queue_payloads_sorted": sorted(f.payload or b"" for f in queue),
        "plain": [f.payload for f in frames if f.args[1] == b"3"],
        "total": len(frames),
    }


def test_queue_group_one_connection(target: Target) -> None:
    digits = [b"%d" % i for i in range(10)]
    target.compare(
        _queue_one_connection,
        {"ops": {b"MSG"}, "queue_payloads_sorted": digits, "plain": digits, "total": 20},
    )


def _wildcards(port: int) -> list[tuple[bytes, list[int]]]:
    with WireClient.open(port) as client:
        client.send(
            CQ
            + b"SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB foo.bar 4\r\nSUB foo 5\r\nSUB *.bar 6\r\n"
            + b"SUB foo.bar.baz 7\r\nSUB foo.bar q 8\r\nSUB *.*.* 9\r\n"
            + b"PUB foo.bar 1\r\na\r\nPUB foo.bar.baz 1\r\nb\r\nPUB foo 1\r\nc\r\nPUB bar 1\r\nd\r\n"
            + b"PUB x.bar 1\r\ne\r\n"
        )
        frames = parse_frames(client.ping_pong())
    # Order among the subscriptions matched by one publish is not specified; order of
    # the publishes is.
    groups: list[tuple[bytes, list[int]]] = []
    for frame in frames:
        key = frame.args[0] + b" " + (frame.payload or b"")
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append(int(frame.args[1]))
    return [(key, sorted(sids)) for key, sids in groups]


def test_wildcard_delivery(target: Target) -> None:
    target.compare(
        _wildcards,
        [
            (b"foo.bar a", [1, 2, 3, 4, 6, 8]),
            (b"foo.bar.baz b", [2, 3, 7, 9]),
            (b"foo c", [3, 5]),
            (b"bar d", [3]),
            (b"x.bar e", [3, 6]),
        ],
    )


def _pedantic_and_verbose_mix(port: int) -> bytes:
    """Two connections: pedantic -ERR does not stop delivery to others."""
    with WireClient.open(port) as sub, WireClient.open(port) as pub:
        sub.send(CQ + b"SUB > 1\r\n")
        sub.ping_pong()
        pub.send(CVP + b"PUB foo.> 2\r\nhi\r\n")
        pub_got = pub.ping_pong()
        return pub_got + b"|" + sub.ping_pong()


def test_pedantic_error_still_delivers(target: Target) -> None:
    target.compare(
        _pedantic_and_verbose_mix,
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\n|MSG foo.> 1 2\r\nhi\r\n",
    )
