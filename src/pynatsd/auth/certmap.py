"""``verify_and_map``: the client certificate names the user, in the reference's order.

E-mail SANs, then DNS SANs, then URI SANs are looked up literally in the users list; then
the subject DN is compared with every user name that parses as an LDAP DN (same RDNs in
any order, attribute types case-insensitive); last the subject as Go prints it is looked
up literally (with ``DC=`` components appended first when the subject has any).
"""

from __future__ import annotations

from collections.abc import Mapping

from pynatsd.options import User
from pynatsd.tls import CertIdentity

__all__ = ["parse_dn", "user_for_cert"]

RDN = frozenset[tuple[str, str]]


def parse_dn(text: str) -> list[RDN] | None:
    """An RFC 4514 DN as RDNs of (TYPE, value); None when it is not one."""
    rdns: list[RDN] = []
    attrs: list[tuple[str, str]] = []
    buf: list[str] = []
    key: str | None = None
    i = 0
    while i <= len(text):
        ch = text[i] if i < len(text) else ","
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            hexpair = text[i + 1 : i + 3]
            if len(hexpair) == 2 and all(h in "0123456789abcdefABCDEF" for h in hexpair):
                buf.append(chr(int(hexpair, 16)))
                i += 3
                continue
            buf.append(nxt)
            i += 2
            continue
        if ch == "=" and key is None:
            key = "".join(buf).strip()
            buf = []
        elif ch in ",+;":
            if key is None or not key:
                return None
            attrs.append((key.upper(), "".join(buf).strip()))
            key, buf = None, []
            if ch != "+":
                rdns.append(frozenset(attrs))
                attrs = []
        else:
            buf.append(ch)
        i += 1
    return rdns or None


def user_for_cert(cert: CertIdentity | None, users: Mapping[str, User]) -> User | None:
    """The user a verified client certificate maps to; None when it maps to nobody."""
    if cert is None:
        return None
    for name in (*cert.emails, *cert.dns_names, *cert.uris):
        if name in users:
            return users[name]
    if cert.rdns:
        want = sorted(sorted(rdn) for rdn in (frozenset(r) for r in cert.rdns))
        for user in users.values():
            dn = parse_dn(user.username)
            if dn is not None and sorted(sorted(rdn) for rdn in dn) == want:
                return user
        dcs = [v for rdn in cert.rdns for (t, v) in rdn if t == "DC"]
        if dcs:
            with_dcs = cert.subject + "," + ",".join(f"DC={v}" for v in dcs)
            if with_dcs in users:
                return users[with_dcs]
    return users.get(cert.subject) if cert.subject else None
