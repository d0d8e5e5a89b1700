"""The Authenticator's NKey users: lookup order, signatures over the nonce, no_auth_user,
permissions; in the reference's order of checks (server/auth.go)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pynatsd.auth import Authenticator
from pynatsd.options import Options, Permission, Permissions, User
from pynatsd.protocol.nkeys import new_nonce
from tests.support.nkeys import ACCOUNT, UNKNOWN_USER, USER_A, USER_B

PERMS_A = Permissions(publish=Permission(allow=["a.>"]))
DEFAULTS = Permissions(subscribe=Permission(allow=["_INBOX.>"]))


def _auth(**kw: object) -> Authenticator:
    users = [
        User("", nkey=USER_A.public, permissions=PERMS_A),
        User("", nkey=USER_B.public),
        User("pw", "secret"),
    ]
    return Authenticator(Options(users=users, **kw))  # type: ignore[arg-type]


def test_nkey_users_make_auth_and_nonce_required() -> None:
    a = _auth()
    assert a.auth_required and a.advertise_auth_required and a.nonce_required
    plain = Authenticator(Options(users=[User("pw", "secret")]))
    assert plain.auth_required and not plain.nonce_required


def test_good_signature_logs_in_with_the_users_permissions() -> None:
    a = _auth()
    nonce = new_nonce()
    for sig in (USER_A.sig_url(nonce), USER_A.sig_std(nonce)):
        r = a.authenticate({"nkey": USER_A.public, "sig": sig}, nonce)
        assert r is not None and r.user == USER_A.public and r.permissions == PERMS_A
    r = a.authenticate({"nkey": USER_B.public, "sig": USER_B.sig_url(nonce)}, nonce)
    assert r is not None and r.user == USER_B.public and r.permissions is None


def test_refusals() -> None:
    a = _auth()
    nonce = new_nonce()
    refused = [
        {"nkey": USER_A.public},  # no signature
        {"nkey": USER_A.public, "sig": ""},
        {"nkey": USER_A.public, "sig": USER_B.sig_url(nonce)},  # signed by another key
        {"nkey": USER_A.public, "sig": USER_A.sig_url(new_nonce())},  # another nonce
        {"nkey": USER_A.public, "sig": "not base64!"},
        {"nkey": UNKNOWN_USER.public, "sig": UNKNOWN_USER.sig_url(nonce)},  # unknown key
        {"nkey": ACCOUNT.public, "sig": ACCOUNT.sig_url(nonce)},  # not a user key
        # an unknown nkey is refused even with a good password alongside
        {"nkey": UNKNOWN_USER.public, "user": "pw", "pass": "secret"},
        {"nkey": 5, "sig": "x"},
        {},
    ]
    for connect in refused:
        assert a.authenticate(connect, nonce) is None, connect


def test_password_users_still_work_beside_nkeys() -> None:
    a = _auth()
    r = a.authenticate({"user": "pw", "pass": "secret"}, new_nonce())
    assert r is not None and r.user == "pw"
    assert a.authenticate({"user": "pw", "pass": "wrong"}, new_nonce()) is None


def test_no_auth_user_may_be_an_nkey_and_needs_no_signature() -> None:
    a = _auth(no_auth_user=USER_A.public)
    assert a.has_no_auth_user and not a.advertise_auth_required
    r = a.authenticate({}, new_nonce())
    assert r is not None and r.user == USER_A.public and r.permissions == PERMS_A
    # naming the key explicitly still needs no signature (the reference skips it for that key)
    r = a.authenticate({"nkey": USER_A.public}, new_nonce())
    assert r is not None and r.user == USER_A.public
    # other credentials are judged on their own
    assert a.authenticate({"user": "pw", "pass": "bad"}, new_nonce()) is None
    assert a.authenticate({"nkey": USER_B.public}, new_nonce()) is None


def test_default_permissions_apply_to_nkey_users_without_their_own() -> None:
    a = _auth(default_permissions=DEFAULTS)
    nonce = new_nonce()
    r = a.authenticate({"nkey": USER_B.public, "sig": USER_B.sig_url(nonce)}, nonce)
    assert r is not None and r.permissions == DEFAULTS


async def test_async_path_agrees() -> None:
    a = _auth()
    nonce = new_nonce()
    r = await a.authenticate_async({"nkey": USER_A.public, "sig": USER_A.sig_url(nonce)}, nonce)
    assert r is not None and r.user == USER_A.public
    assert await a.authenticate_async({"nkey": USER_A.public, "sig": USER_B.sig_url(nonce)}, nonce) is None


_json_values = st.none() | st.booleans() | st.integers() | st.text(max_size=100)


@given(st.dictionaries(st.sampled_from(["nkey", "sig", "user", "pass", "auth_token", "x"]), _json_values))
def test_no_connect_crashes_or_passes_without_a_signature(connect: dict[str, object]) -> None:
    a = _auth()
    r = a.authenticate(connect, new_nonce())
    # Nothing random can pass: only the password user with its exact password could.
    assert r is None or (connect.get("user") == "pw" and connect.get("pass") == "secret")
