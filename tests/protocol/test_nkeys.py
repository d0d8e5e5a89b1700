"""NKey decoding, the nonce and signature checks (pynatsd.protocol.nkeys), against keys and
signatures made by nats-io's ``nkeys`` package."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynatsd.protocol.nkeys import (
    PREFIX_ACCOUNT,
    PREFIX_USER,
    decode_public_key,
    decode_signature,
    is_valid_public_user_key,
    new_nonce,
    verify_nonce,
)
from tests.support.nkeys import ACCOUNT, UNKNOWN_USER, USER_A, USER_B, pair


def test_public_keys_decode_with_their_prefix() -> None:
    key = decode_public_key(USER_A.public)
    assert key is not None and len(key) == 32
    assert decode_public_key(USER_A.public, PREFIX_USER) == key
    assert decode_public_key(USER_A.public, PREFIX_ACCOUNT) is None
    assert decode_public_key(ACCOUNT.public, PREFIX_ACCOUNT) is not None
    assert is_valid_public_user_key(USER_A.public)
    assert not is_valid_public_user_key(ACCOUNT.public)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "U",
        USER_A.public[:-1],  # truncated
        USER_A.public + "A",  # too long
        USER_A.public.lower(),  # base32 is upper case only
        USER_A.public[:10] + ("A" if USER_A.public[10] != "A" else "B") + USER_A.public[11:],  # checksum
        USER_A.seed,  # a seed is not a public key
        USER_A.public[:-2] + "==",
        "UÄ" + USER_A.public[2:],
    ],
)
def test_malformed_keys_are_refused(key: str) -> None:
    assert decode_public_key(key) is None
    assert not is_valid_public_user_key(key)


def test_nonce_is_the_references_shape_and_random() -> None:
    nonces = {new_nonce() for _ in range(200)}
    assert len(nonces) == 200
    for n in nonces:
        assert re.fullmatch(rb"[A-Za-z0-9_-]{15}", n)
        assert len(base64.urlsafe_b64decode(n + b"=")) == 11


@pytest.mark.parametrize("encode", ["sig_url", "sig_std"])
def test_good_signature_verifies_in_both_encodings(encode: str) -> None:
    nonce = new_nonce()
    sig = getattr(USER_A, encode)(nonce)
    assert verify_nonce(USER_A.public, nonce, sig)


def test_bad_signatures_fail() -> None:
    nonce = new_nonce()
    assert not verify_nonce(USER_A.public, nonce, USER_B.sig_url(nonce))  # another key's
    assert not verify_nonce(USER_A.public, new_nonce(), USER_A.sig_url(nonce))  # another nonce
    assert not verify_nonce(USER_A.public, nonce, "")
    assert not verify_nonce(USER_A.public, nonce, "!!!!")
    assert not verify_nonce(USER_A.public, nonce, USER_A.sig_url(nonce)[:-4])  # short
    assert not verify_nonce(UNKNOWN_USER.public[:-1], nonce, UNKNOWN_USER.sig_url(nonce))
    raw = bytearray(USER_A.sign(nonce))
    raw[5] ^= 1
    assert not verify_nonce(USER_A.public, nonce, base64.b64encode(bytes(raw)).decode())


def test_signature_encodings() -> None:
    data = bytes(range(64))
    url = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    std = base64.b64encode(data).decode()
    assert decode_signature(url) == data
    assert decode_signature(std) == data
    assert decode_signature(url[:30] + "\r\n" + url[30:]) == data  # Go skips CR and LF
    assert decode_signature(std.rstrip("=")) is None  # std needs its padding
    assert decode_signature(url + "==") is None  # raw URL takes no padding
    assert decode_signature("a") is None


@given(st.text(max_size=120))
def test_no_text_crashes_the_checks(text: str) -> None:
    decode_public_key(text)
    decode_signature(text)
    assert not verify_nonce(text, b"nonce", text)


@given(st.integers(min_value=0, max_value=255))
def test_any_seed_round_trips(n: int) -> None:
    p = pair(n)
    assert is_valid_public_user_key(p.public)
    assert verify_nonce(p.public, b"x", p.sig_url(b"x"))
