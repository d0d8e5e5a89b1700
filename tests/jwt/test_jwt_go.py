"""pynatsd.jwt against the reference's own library (nats-io/jwt/v2, via tests/go/jwttool):
tokens the Go library makes decode here with every field, and tokens made here decode
in Go to the same claims; broken tokens are refused by both with the same texts."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import msgspec
import pytest

from pynatsd import jwt
from pynatsd.jwt import validate
from tests.support.gotools import go_program


def _go(*args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [go_program("jwttool"), *args], input=stdin, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def _go_decode(tokens: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _go("decode", stdin="\n".join(tokens) + "\n").splitlines()]


@pytest.fixture(scope="module")
def minted() -> dict[str, str]:
    return json.loads(_go("mint"))


def test_go_made_tokens_decode_with_every_field(minted: dict[str, str]) -> None:
    op = jwt.decode_operator(minted["operator"])
    op_kp = jwt.KeyPair.from_seed(minted["operator_seed"])
    assert op.sub == op.iss == op_kp.public_key and op.name == "O"
    assert op.nats.signing_keys == [jwt.KeyPair.from_seed(minted["operator_signing_seed"]).public_key]
    assert op.nats.account_server_url == "http://localhost:9090/jwt/v1"
    assert op.nats.strict_signing_key_usage and op.nats.system_account.startswith("A")

    acc = jwt.decode_account(minted["account"])
    acc_kp = jwt.KeyPair.from_seed(minted["account_seed"])
    sk_kp = jwt.KeyPair.from_seed(minted["account_signing_seed"])
    assert acc.sub == acc_kp.public_key and acc.iss == op.nats.signing_keys[0]
    lim = acc.nats.limits
    assert (lim.conn, lim.subs, lim.payload, lim.data, lim.leaf, lim.imports, lim.exports) == (
        5, 100, 4096, 1 << 20, 2, 10, 11,
    )  # fmt: skip
    assert lim.disallow_bearer and lim.wildcards
    assert (lim.mem_storage, lim.disk_storage, lim.streams, lim.consumer, lim.max_ack_pending) == (
        1024,
        2048,
        3,
        4,
        5,
    )
    assert lim.tiered_limits["R3"].disk_storage == 4096 and lim.tiered_limits["R3"].streams == 7
    scopes = acc.nats.signing_key_scopes()
    assert scopes[sk_kp.public_key] is None
    scoped = [s for s in scopes.values() if s is not None]
    assert len(scoped) == 1 and scoped[0].role == "dev"
    assert scoped[0].template.pub.allow == ["dev.{{name()}}.>"] and scoped[0].template.sub.allow == [
        "_INBOX.>"
    ]
    feed, svc = sorted(acc.nats.exports, key=lambda e: e.name)
    assert (svc.name, svc.subject, svc.type, svc.token_req, svc.response_type) == (
        "svc",
        "svc.>",
        "service",
        True,
        "Stream",
    )
    assert svc.response_threshold == 3_000_000_000
    assert svc.service_latency is not None and svc.service_latency.sampling == 50
    assert svc.service_latency.results == "lat.res" and svc.revocations
    assert (feed.subject, feed.type, feed.account_token_position) == ("feed.*", "stream", 2)
    (imp,) = acc.nats.imports
    assert (imp.subject, imp.local_subject, imp.type, imp.account) == (
        "other.>",
        "mine.>",
        "stream",
        op.nats.system_account,
    )
    assert list(acc.nats.revocations.values()) == [1600000000]
    assert acc.nats.default_permissions.pub.deny == ["secret.>"]
    assert [(m.subject, m.weight) for m in acc.nats.mappings["m.a"]] == [("m.b", 40), ("m.c", 60)]
    assert acc.nats.tags == ["team:blue"] and acc.exp > 0

    user = jwt.decode_user(minted["user"])
    u = user.nats
    assert user.sub == jwt.KeyPair.from_seed(minted["user_seed"]).public_key and user.iss == sk_kp.public_key
    assert u.issuer_account == acc.sub and user.name == "U" and user.nbf == 1600000000
    assert (u.pub.allow, u.pub.deny, u.sub.allow, u.sub.deny) == (
        ["a.>", "b"],
        ["a.secret"],
        ["c.*"],
        ["c.x"],
    )
    assert u.resp is not None and (u.resp.max, u.resp.ttl) == (3, 2_000_000_000)
    assert u.src_list() == ["127.0.0.1/32", "10.0.0.0/8"]
    assert [(t.start, t.end) for t in u.times] == [
        ("01:02:03", "23:00:00")
    ] and u.times_location == "Europe/Paris"
    assert (u.subs, u.payload, u.data) == (7, 512, -1)
    assert u.bearer_token and u.allowed_connection_types == ["STANDARD", "WEBSOCKET"] and u.tags == ["role:x"]
    assert validate.user_issues(user) == []

    act = jwt.decode_activation(minted["activation"])
    assert (act.nats.subject, act.nats.kind, act.nats.issuer_account) == ("svc.a", "service", acc.sub)


def _our_tokens() -> tuple[dict[str, str], dict[str, jwt.KeyPair]]:
    op = jwt.KeyPair.create(jwt.PREFIX_OPERATOR)
    acc = jwt.KeyPair.create(jwt.PREFIX_ACCOUNT)
    scoped = jwt.KeyPair.create(jwt.PREFIX_ACCOUNT)
    usr = jwt.KeyPair.create(jwt.PREFIX_USER)
    oc = jwt.OperatorClaims(sub=op.public_key, name="op")
    oc.nats.signing_keys = [jwt.KeyPair.create(jwt.PREFIX_OPERATOR).public_key]
    ac = jwt.new_account_claims(acc.public_key)
    ac.name = "acc"
    ac.nats.limits.conn = 3
    ac.nats.limits.tiered_limits = {"R1": jwt.claims.JetStreamLimits(mem_storage=-1, streams=2)}
    tmpl = jwt.claims.UserTemplate(pub=jwt.claims.Permission(allow=["{{tag(dept)}}.>"]))
    ac.nats.signing_keys = [jwt.claims.UserScope(key=scoped.public_key, role="r", template=tmpl)]
    ac.nats.exports = [
        jwt.claims.Export(subject="s.>", type="service", token_req=True, response_type="Chunked")
    ]
    ac.nats.revocations = {usr.public_key: 1234}
    uc = jwt.new_user_claims(usr.public_key)
    uc.name = "u"
    uc.exp = 4_000_000_000
    uc.nats.pub = jwt.claims.Permission(allow=["p.>"], deny=["p.x"])
    uc.nats.resp = jwt.claims.ResponsePermission(max=1, ttl=5_000_000_000)
    uc.nats.src = ["192.168.0.0/16"]
    uc.nats.times = [jwt.claims.TimeRange(start="08:00:00", end="17:00:00")]
    uc.nats.allowed_connection_types = ["STANDARD"]
    uc.nats.issuer_account = acc.public_key
    act = jwt.ActivationClaims(sub=jwt.KeyPair.create(jwt.PREFIX_ACCOUNT).public_key)
    act.nats.subject, act.nats.kind = "s.a", "service"
    server = jwt.KeyPair.create(jwt.PREFIX_SERVER)
    req = jwt.AuthRequestClaims(sub=usr.public_key, aud="nats-authorization-request")
    req.nats.server_id = jwt.claims.ServerID(name="srv", host="127.0.0.1", id=server.public_key, xkey="X")
    req.nats.user_nkey = usr.public_key
    req.nats.client_info = jwt.claims.ClientInformation(host="127.0.0.1", id=7, kind="Client", type="nats")
    req.nats.connect_opts = jwt.claims.ConnectOptions(user="bob", password="pw", protocol=1, lang="python3")
    resp = jwt.AuthResponseClaims(sub=usr.public_key, aud=server.public_key)
    resp.nats.jwt = "eyJ..."
    resp.nats.error = ""
    tokens = {
        "operator": jwt.encode(oc, op),
        "account": jwt.encode(ac, op),
        "user": jwt.encode(uc, acc),
        "activation": jwt.encode(act, acc),
        "authorization_request": jwt.encode(req, server),
        "authorization_response": jwt.encode(resp, acc),
    }
    return tokens, {"op": op, "acc": acc, "scoped": scoped, "usr": usr}


def test_tokens_made_here_decode_in_go_to_the_same_claims() -> None:
    tokens, keys = _our_tokens()
    results = _go_decode(list(tokens.values()))
    for (kind, token), res in zip(tokens.items(), results, strict=True):
        assert "error" not in res, (kind, res)
        assert res["issues"] == [], (kind, res)
        ours = jwt.decode(token)
        go = res["claims"]
        # Go's re-encoding of what it decoded decodes here to what we encoded.
        assert msgspec.convert(go, type=type(ours)) == ours, kind
        assert go["jti"] == ours.jti and go["iss"] == ours.iss and go["nats"]["type"] == kind
    go_acc = results[1]["claims"]["nats"]
    assert go_acc["limits"]["conn"] == 3 and go_acc["limits"]["tiered_limits"]["R1"]["streams"] == 2
    assert go_acc["signing_keys"][0]["kind"] == "user_scope"
    assert go_acc["signing_keys"][0]["template"]["pub"]["allow"] == ["{{tag(dept)}}.>"]
    assert go_acc["revocations"] == {keys["usr"].public_key: 1234}
    go_user = results[2]["claims"]
    assert go_user["nats"]["resp"] == {"max": 1, "ttl": 5_000_000_000}
    assert go_user["nats"]["src"] == ["192.168.0.0/16"] and go_user["exp"] == 4_000_000_000


def _tamper(token: str, part: int, new: str) -> str:
    chunks = token.split(".")
    chunks[part] = new
    return ".".join(chunks)


def _b64(obj: Any) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_bad_tokens_are_refused_as_go_refuses_them() -> None:
    tokens, keys = _our_tokens()
    user = tokens["user"]
    other = jwt.KeyPair.create(jwt.PREFIX_ACCOUNT)
    uc = jwt.decode_user(user)
    forged = jwt.encode(uc, other)  # validly signed by an account, just another one
    payload = json.loads(__import__("base64").urlsafe_b64decode(user.split(".")[1] + "=="))
    bad = {
        "two chunks": "a.b",
        "bad sig": _tamper(user, 2, "A" * 86),
        "payload swapped": _tamper(user, 1, _b64({**payload, "name": "evil"})),
        "wrong typ": _tamper(user, 0, _b64({"typ": "XYZ", "alg": "ed25519-nkey"})),
        "wrong alg": _tamper(user, 0, _b64({"typ": "JWT", "alg": "HS256"})),
        "user signed by a user": _tamper(user, 1, _b64({**payload, "iss": keys["usr"].public_key})),
    }
    results = _go_decode(list(bad.values()))
    for (what, token), res in zip(bad.items(), results, strict=True):
        try:
            jwt.decode(token)
        except jwt.JWTError as e:
            ours: str | None = str(e)
        else:
            ours = None
        go = res.get("error")
        assert go is not None and ours is not None, (what, go, ours)
        assert ours == go, what
    assert jwt.decode_user(forged).iss == other.public_key  # decoding alone never judges trust


def test_expired_and_not_yet_valid_user_issues_match_go() -> None:
    acc = jwt.KeyPair.create(jwt.PREFIX_ACCOUNT)
    usr = jwt.KeyPair.create(jwt.PREFIX_USER)
    cases = []
    for exp, nbf, src, times in (
        (1, 0, [], []),
        (0, 4_000_000_000, [], []),
        (0, 0, ["10.0.0.1"], []),
        (0, 0, [], [jwt.claims.TimeRange(start="25:00:00", end="")]),
    ):
        uc = jwt.new_user_claims(usr.public_key)
        uc.exp, uc.nbf, uc.nats.src, uc.nats.times = exp, nbf, src, times
        cases.append(jwt.encode(uc, acc))
    results = _go_decode(cases)
    for token, res in zip(cases, results, strict=True):
        assert validate.user_issues(jwt.decode_user(token)) == res["issues"]
