"""NKey users in the config file: ``nkey:`` entries of ``authorization { users = [...] }``,
their checks and load errors, each also judged by the reference (``nats-server -t``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pynatsd.config.errors import ConfigError
from pynatsd.config.loader import apply_config, load_config
from pynatsd.config.parser import parse_string
from pynatsd.options import Options, Permission, Permissions, User
from tests.support.binary import require_reference
from tests.support.config import needs_reference, reference_test_config, write
from tests.support.nkeys import ACCOUNT, USER_A, USER_B

A, B = USER_A.public, USER_B.public


def load(text: str) -> Options:
    opts, _ = apply_config(parse_string(text, "t.conf"), source="t.conf")
    return opts


def test_nkey_users_beside_password_users_with_permissions() -> None:
    opts = load(
        "authorization {\n"
        "  default_permissions { subscribe: _INBOX.> }\n"
        "  users = [\n"
        f"    {{nkey: {A}, permissions: {{publish: a.>}}}}\n"
        f"    {{nkey: {B}}}\n"
        "    {user: pw, password: secret}\n"
        "  ]\n"
        "}\n"
        f"no_auth_user: {B}\n"
    )
    defaults = Permissions(subscribe=Permission(allow=["_INBOX.>"]))
    assert opts.users == [
        User("", nkey=A, permissions=Permissions(publish=Permission(allow=["a.>"]))),
        User("", nkey=B, permissions=defaults),
        User("pw", "secret", permissions=defaults),
    ]
    assert opts.no_auth_user == B
    assert opts.unsupported == {}


# Refused by both servers; the first message must be the reference's, word for word. For
# an entry of several fields the reference reports the position of whichever field its map
# iteration (random in Go) visited last, so only the text after the position is compared.
REJECTED = [
    f"authorization {{ users = [ {{nkey: {ACCOUNT.public}}} ] }}",  # an account key
    "authorization { users = [ {nkey: UBOGUS} ] }",
    f"authorization {{ users = [ {{nkey: {A[:-1]}}} ] }}",
    f"authorization {{ users = [ {{nkey: {USER_A.seed}}} ] }}",  # a seed, not a public key
    f"authorization {{ users = [ {{nkey: {A}, user: x}} ] }}",
    f"authorization {{ users = [ {{nkey: {A}, password: x}} ] }}",
    f"authorization {{ users = [ {{nkey: {A}}}, {{nkey: {A}}} ] }}",
    f"authorization {{ user: x, password: y, users = [ {{nkey: {A}}} ] }}",
    f"authorization {{ token: t, users = [ {{nkey: {A}}} ] }}",
    f"authorization {{ nkeys = [ {A} ] }}",  # there is no such key in the reference
]


@pytest.mark.parametrize("text", REJECTED)
def test_rejected(text: str) -> None:
    with pytest.raises(ConfigError):
        load(text)


NO_AUTH_UNKNOWN = f"authorization {{ users = [ {{nkey: {A}}} ] }}\nno_auth_user: {B}\nport: -1\n"
NO_AUTH_REASON = (
    f'no_auth_user: "{B}" not present as user or nkey in authorization block or account configuration'
)


def test_no_auth_user_must_be_a_user_or_nkey() -> None:
    with pytest.raises(ConfigError) as info:
        load(NO_AUTH_UNKNOWN)
    assert info.value.first.reason == NO_AUTH_REASON
    assert load(NO_AUTH_UNKNOWN.replace(B, A)).no_auth_user == A


@needs_reference
def test_reference_refuses_to_start_with_an_unknown_no_auth_nkey(tmp_path: Path) -> None:
    # The reference checks this when it starts (so ``-t`` passes it); we check it at load.
    path = write(tmp_path / "server.conf", NO_AUTH_UNKNOWN)
    proc = subprocess.run([require_reference(), "-c", path], capture_output=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert NO_AUTH_REASON in proc.stderr.decode()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.first.reason == NO_AUTH_REASON


@needs_reference
@pytest.mark.parametrize("text", REJECTED)
def test_reference_rejects_with_the_same_first_message(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "server.conf", text)
    rc, out = reference_test_config(path)
    messages = [line for line in out.replace("nats-server: ", "").splitlines() if line.strip()]
    assert rc != 0
    with pytest.raises(ConfigError) as info:
        load_config(path)
    ours, theirs = str(info.value.first), messages[0]
    if re.search(r"\{[^{}]*,[^{}]*\}", text):  # an entry of several fields
        ours, theirs = ours.split(": ", 1)[1], theirs.split(": ", 1)[1]
    assert ours == theirs


@needs_reference
def test_reference_accepts_what_we_accept(tmp_path: Path) -> None:
    text = (
        f"authorization {{ users = [ {{nkey: {A}, permissions: {{subscribe: x}}}}, {{user: u, password: p}} ] }}\n"
        f"no_auth_user: {A}\n"
    )
    path = write(tmp_path / "server.conf", text)
    rc, out = reference_test_config(path)
    assert rc == 0, out
    assert [u.nkey for u in load_config(path).users] == [A, ""]
