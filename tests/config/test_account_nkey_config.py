"""An account's ``nkey``: a public account NKey, the same verdict as the reference
(``nats-server -t``) on good and bad values, message for message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynatsd.config.loader import load_config
from tests.config.test_accounts_config import verdicts
from tests.support.config import needs_reference

ACCOUNT_KEY = "AB5UKNPVHDWBP5WODG742274I3OGY5FM3CBIFCYI4OFEH7Y23GNZPXFE"
USER_KEY = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"


def with_nkey(value: str) -> str:
    return f"accounts {{\n  A {{\n    users = [{{user: a, password: a}}]\n    nkey: {value}\n  }}\n}}\n"


@needs_reference
def test_an_account_nkey_is_kept(tmp_path: Path) -> None:
    assert verdicts(tmp_path, with_nkey(ACCOUNT_KEY)) == ([], [])
    opts = load_config(str(tmp_path / "server.conf"))
    assert opts.accounts[0].nkey == ACCOUNT_KEY and not opts.unsupported


@needs_reference
def test_two_accounts_may_share_a_key(tmp_path: Path) -> None:
    """The reference checks neither uniqueness nor a clash with an account's name."""
    text = f"accounts {{\n  A {{ nkey: {ACCOUNT_KEY} }}\n  B {{ nkey: {ACCOUNT_KEY} }}\n  {ACCOUNT_KEY} {{}}\n}}\n"
    assert verdicts(tmp_path, text) == ([], [])


BAD = [
    USER_KEY,  # a user key
    ACCOUNT_KEY[:-1] + ("A" if ACCOUNT_KEY[-1] != "A" else "B"),  # a bad checksum
    "SAAGNWTR3Q2GH6XWRZTIQMY5YYDMOSEH6DFSMLCAPD3UFU5TJNEX5V6FAE",  # a seed
    "bogus",
    '"A\\"B"',
    "5",
    "65",
    "0",
    "-1",
    "128512",
    "true",
    "1.5",
    "100.0",
]


@needs_reference
@pytest.mark.parametrize("value", BAD)
def test_bad_account_nkeys_have_the_reference_errors(tmp_path: Path, value: str) -> None:
    ref, ours = verdicts(tmp_path, with_nkey(value))
    assert ref, "the reference accepts this config"
    assert ours == ref
