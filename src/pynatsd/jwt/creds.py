"""Decorated JWTs and creds files, as ``nsc`` writes them and the reference reads them.

A creds file holds a user JWT and its seed, each between ``-----BEGIN ...-----`` and
``------END ...------`` lines. An operator JWT file may be decorated the same way or be
the bare token.
"""

from __future__ import annotations

import re

from pynatsd.jwt.keys import KeyPair

__all__ = ["format_creds", "parse_decorated_jwt", "parse_decorated_seed"]

_BLOCK = re.compile(r"\s*(?:(?:-{3,}.*-{3,}\r?\n)([\w\-.=]+)(?:\r?\n-{3,}.*-{3,}(\r?\n|\Z)))")


def parse_decorated_jwt(contents: str) -> str:
    """The first armored block's content, or the whole text when there is none (as the
    library: a bare token is returned unchanged, surrounding whitespace included)."""
    m = _BLOCK.search(contents)
    return m.group(1) if m else contents


def parse_decorated_seed(contents: str) -> KeyPair:
    """The key pair of the seed in a creds file (second block, else a line starting with
    ``SO``/``SA``/``SU``); ValueError when there is none or it is malformed."""
    blocks = _BLOCK.findall(contents)
    seed = ""
    if len(blocks) > 1:
        seed = blocks[1][0]
    else:
        for line in contents.splitlines():
            if line.strip()[:2] in ("SO", "SA", "SU"):
                seed = line.strip()
                break
    if not seed:
        raise ValueError("no nkey seed found")
    return KeyPair.from_seed(seed)


def format_creds(user_jwt: str, seed: str) -> str:
    """A creds file's text, in nsc's layout."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )
