"""An export's ``latency`` setting, with the reference's checks and texts (opts.go
parseServiceLatency and TrackServiceExportWithSampling, nats-server 2.15).

The first pass reads the value: ``latency: <subject>`` (every request sampled) or
``latency: {sampling: <1-100>[%] | headers, subject: <subject>}``; the second pass, once
every export is known, checks what the reference checks when it turns tracking on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynatsd.config.errors import ConfigIssue, go_type_name
from pynatsd.gocompat import go_atoi, go_quote
from pynatsd.options import ServiceLatency
from pynatsd.protocol.subjects import is_valid_subject, subset_of

if TYPE_CHECKING:
    from pynatsd.config.parser import Node
    from pynatsd.options import ExportConfig

BAD_SAMPLING = "bad sampling percentage, should be 1-100"
_BAD_SUBJECT = "invalid publish subject"


def parse_latency(node: Node) -> ServiceLatency | ConfigIssue:
    """The setting, or the reference's complaint about it."""
    v = node.value
    if isinstance(v, str):
        return ServiceLatency(v)
    if not isinstance(v, dict):
        return ConfigIssue(
            node.pos, f"Expected latency entry to be a map/struct or string, got {go_type_name(v)}"
        )
    sampling = 100
    sample = v.get("sampling")  # the reference reads these two keys as written, lower case
    if sample is not None:
        s = sample.value
        headers = False
        if isinstance(s, int) and not isinstance(s, bool):
            n = s
        elif isinstance(s, str):
            if s.strip().lower() == "headers":
                headers, n = True, 0
            else:
                n, err = go_atoi(s.removesuffix("%"))
                if err is not None:
                    return ConfigIssue(sample.pos, f"Failed to parse latency sample: {err}")
        else:
            return ConfigIssue(
                sample.pos,
                f"Expected latency sample to be a string or map/struct, got {go_type_name(s)}",
            )
        if not headers and not 1 <= n <= 100:
            return ConfigIssue(sample.pos, BAD_SAMPLING)
        sampling = n
    subject = v.get("subject")
    if subject is None:
        return ConfigIssue(node.pos, "Latency subject required, but missing")
    if not isinstance(subject.value, str):
        # sic: the reference prints the type of its (string) target variable
        return ConfigIssue(subject.pos, "Expected latency subject to be a string, got string")
    return ServiceLatency(subject.value, sampling)


def tracking_problem(exports: list[ExportConfig], i: int, no_system_account: bool) -> str:
    """Why the reference would refuse to track ``exports[i]`` (its account's exports), or ''.

    Results must go to a literal subject that is not itself one of the services the account
    has exported so far (a loop), and only singleton services are tracked."""
    e = exports[i]
    lat = e.latency
    if lat is None:
        return ""
    if no_system_account:
        return f"Error adding service latency sampling for {go_quote(e.subject)}: system account not setup"
    why = ""
    results = lat.subject
    if not _valid_publish_subject(results) or any(
        x.service and subset_of(results, x.subject) for x in exports[: i + 1]
    ):
        why = _BAD_SUBJECT
    elif e.response_type != "singleton":
        why = "bad service response type"
    if not why:
        return ""
    return (
        f"Error adding service latency sampling for {go_quote(e.subject)} on subject "
        f"{go_quote(results)}: {why}"
    )


def _valid_publish_subject(subject: str) -> bool:
    return is_valid_subject(subject) and not any(t in ("*", ">") for t in subject.split("."))
