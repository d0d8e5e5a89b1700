"""An account's ``msg_trace`` (alias ``trace_dest``): where sampled ``traceparent`` publishes
send their trace event, with the reference's load errors and warning (opts.go,
parseAccountMsgTrace; its texts, typo included)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynatsd.config.errors import ConfigIssue, go_type_name
from pynatsd.gocompat import go_quote
from pynatsd.protocol.subjects import is_valid_literal_subject

if TYPE_CHECKING:
    from pynatsd.config.loader import _Loader
    from pynatsd.config.parser import Node
    from pynatsd.options import AccountConfig


def parse_msg_trace(loader: _Loader, key: str, node: Node, acc: AccountConfig) -> None:
    """A destination subject, or a map with ``dest`` and ``sampling`` (1..100, or "N%")."""
    issue = _parse(key, node, acc)
    if issue is not None:
        loader.errors.append(issue)
        return
    if acc.trace_dest and acc.trace_sampling == 0:
        acc.trace_sampling = 100
    elif acc.trace_sampling > 0 and not acc.trace_dest:
        loader.warnings.append(
            ConfigIssue(node.pos, "Trace destination sampling ignored since no destination was set")
        )
        acc.trace_sampling = 0


def _dest(node: Node, field: str, acc: AccountConfig) -> ConfigIssue | None:
    v = node.value
    if not isinstance(v, str):
        return ConfigIssue(node.pos, f"Field {go_quote(field)} should be a string, got {go_type_name(v)}")
    if not is_valid_literal_subject(v):
        return ConfigIssue(node.pos, f"Trace destination {go_quote(v)} is not valid")
    acc.trace_dest = v
    return None


def _sampling(node: Node, n: int, acc: AccountConfig) -> ConfigIssue | None:
    if n <= 0 or n > 100:
        return ConfigIssue(
            node.pos, f"Ttrace destination sampling value {n} is invalid, needs to be [1..100]"
        )
    acc.trace_sampling = n
    return None


def _parse(key: str, node: Node, acc: AccountConfig) -> ConfigIssue | None:
    v = node.value
    if isinstance(v, str):
        return _dest(node, key, acc)
    if not isinstance(v, dict):
        return ConfigIssue(
            node.pos,
            f"Expected account message trace {go_quote(key)} to be a string or a map/struct, "
            f"got {go_type_name(v)}",
        )
    for k, child in v.items():
        low = k.lower()
        cv = child.value
        if low == "dest":
            issue = _dest(child, k, acc)
        elif low == "sampling":
            if isinstance(cv, int) and not isinstance(cv, bool):
                issue = _sampling(child, cv, acc)
            elif isinstance(cv, str):
                try:
                    n = int(cv.removesuffix("%"))
                except ValueError:
                    n = None
                if n is None:
                    issue = ConfigIssue(child.pos, f"Invalid trace destination sampling value {go_quote(cv)}")
                else:
                    issue = _sampling(child, n, acc)
            else:
                issue = ConfigIssue(
                    child.pos,
                    f"Trace destination sampling field {go_quote(k)} should be an integer or a "
                    f"percentage, got {go_type_name(cv)}",
                )
        elif child.used_as_variable:
            issue = None
        else:
            issue = ConfigIssue(
                child.pos,
                f"Unknown field {go_quote(k)} parsing account message trace map/struct {go_quote(key)}",
            )
        if issue is not None:
            return issue
    return None
