"""An account's ``nkey``: its public account NKey (``A...``), checked as the reference checks
it (opts.go, "Not a valid public nkey for an account: %q").

In config mode the reference only validates and keeps the key: the account is still known
by its config name everywhere a client can see it (``Nats-Request-Info``, latency results).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynatsd.config.errors import ConfigIssue
from pynatsd.gocompat import go_quote
from pynatsd.protocol.nkeys import PREFIX_ACCOUNT, decode_public_key

if TYPE_CHECKING:
    from pynatsd.config.parser import Node


def parse_account_nkey(node: Node) -> str | ConfigIssue:
    """The key, or the reference's complaint about the value."""
    v = node.value
    if isinstance(v, str) and decode_public_key(v, PREFIX_ACCOUNT) is not None:
        return v
    return ConfigIssue(node.pos, f"Not a valid public nkey for an account: {_go_q(v)}")


def _go_q(v: object) -> str:
    """Go's ``%q`` of a scalar config value (lists and maps: Go's ``%v``-like form)."""
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, bool):
        return f"%!q(bool={'true' if v else 'false'})"
    if isinstance(v, int):
        ch = chr(v) if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else "\ufffd"
        body = {'"': '"', "'": "\\'"}.get(ch) or go_quote(ch)[1:-1]
        return f"'{body}'"
    if isinstance(v, float):
        text = str(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
        return f"%!q(float64={text})"
    return str(v)
