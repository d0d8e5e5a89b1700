"""The config file's ``mappings`` (alias ``maps``) block: subject mappings of the global
account, each checked with the mapping engine and reported with the reference's texts."""

from __future__ import annotations

from pynatsd.config.errors import ConfigIssue
from pynatsd.config.parser import Node
from pynatsd.gocompat import go_quote
from pynatsd.mapping import TransformError, WeightedMapping
from pynatsd.options import MapDest
from pynatsd.protocol.subjects import is_valid_subject

Entries = list[tuple[str, list[MapDest]]]


def _atoi(text: str) -> int | None:
    body = text[1:] if text[:1] in ("+", "-") else text
    return int(text) if body and body.isascii() and body.isdigit() else None


def _dest(node: Node, issues: list[ConfigIssue]) -> MapDest | None:
    """One ``{dest: ..., weight: ..., cluster: ...}`` entry (the reference's parseAccountMapDest)."""
    fields = node.value
    if not isinstance(fields, dict):
        issues.append(ConfigIssue(node.pos, "Expected an entry for the mapping destination"))
        return None
    subject, cluster, weight = "", "", None
    for k, v in fields.items():
        low = k.lower()
        if low in ("dest", "destination"):
            subject = v.value if isinstance(v.value, str) else str(v.value)
        elif low == "weight":
            w = v.value
            if isinstance(w, str):
                text = w.removesuffix("%")
                n = _atoi(text)
                if n is None:
                    issues.append(
                        ConfigIssue(v.pos, f"Invalid weight {go_quote(text)} for mapping destination")
                    )
                    return None
            elif isinstance(w, int) and not isinstance(w, bool):
                n = w
            else:
                issues.append(ConfigIssue(v.pos, f"Unknown entry type for weight of {w}\n"))
                return None
            if not 0 <= n <= 100:
                issues.append(ConfigIssue(v.pos, f"Invalid weight {n} for mapping destination"))
                return None
            weight = n
        elif low == "cluster":
            cluster = v.value if isinstance(v.value, str) else str(v.value)
        else:
            issues.append(ConfigIssue(v.pos, f"Unknown field {go_quote(k)} for mapping destination"))
            return None
    if weight is None:
        issues.append(ConfigIssue(node.pos, f"Missing weight for mapping destination {go_quote(subject)}"))
        return None
    return MapDest(subject, weight, cluster)


def parse_mappings(node: Node) -> tuple[Entries, list[ConfigIssue]]:
    """The valid mappings of the block, in order, and an issue for each invalid one."""
    issues: list[ConfigIssue] = []
    entries: Entries = []
    block = node.value
    if not isinstance(block, dict):
        return entries, [ConfigIssue(node.pos, "Expected mappings to be a map/struct")]
    for src, value in block.items():
        if not is_valid_subject(src):
            issues.append(ConfigIssue(node.pos, f"Subject {go_quote(src)} is not a valid subject"))
            continue
        v = value.value
        if isinstance(v, str):
            dests = [MapDest(v, 100)]
            prefix = f"Error adding mapping for {go_quote(src)} to {go_quote(v)}"
        else:
            items = v if isinstance(v, list) else [value]
            parsed = [_dest(item, issues) for item in items]
            if isinstance(v, list):
                dests = [d for d in parsed if d is not None]
            elif parsed[0] is None:
                continue
            else:
                dests = [parsed[0]]
            prefix = f"Error adding mapping for {go_quote(src)}"
        try:
            WeightedMapping(src, dests)
        except TransformError as e:
            issues.append(ConfigIssue(value.pos, f"{prefix} : {e}"))
            continue
        entries.append((src, dests))
    return entries, issues
