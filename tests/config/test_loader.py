"""Config loader: reference keys and aliases onto Options, value checks, unsupported
features, and the reference's own verdict (``nats-server -t -c``) on the same files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from pynatsd.config.errors import ConfigError
from pynatsd.config.loader import (
    UNSUPPORTED_FEATURES,
    apply_config,
    load_config,
    load_config_with_warnings,
    parse_size_value,
)
from pynatsd.config.parser import parse_string
from pynatsd.options import MB, Options, Permission, Permissions, ResponsePermission, User
from tests.support.config import needs_reference, reference_test_config
from tests.support.config import write as write_file


def write(tmp_path: Path, text: str, name: str = "server.conf") -> str:
    return write_file(tmp_path / name, text)


def load(text: str, base: Options | None = None) -> Options:
    opts, _ = apply_config(parse_string(text, "t.conf"), base, source="t.conf")
    return opts


def warnings_of(text: str) -> list[str]:
    _, warnings = apply_config(parse_string(text, "t.conf"), source="t.conf")
    return [str(w) for w in warnings]


def fail(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text)
    return info.value


# ---------------------------------------------------------------------------------------
# Keys and aliases
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("host: 127.0.0.1", "host", "127.0.0.1"),
        ("net: 10.0.0.1", "host", "10.0.0.1"),
        ("port: 4333", "port", 4333),
        ("port: -1", "port", -1),
        ("port: 0", "port", 4222),
        ("server_name: srv-1", "server_name", "srv-1"),
        ("client_advertise: nats.example.com:4222", "client_advertise", "nats.example.com:4222"),
        ("http_port: 8222", "http_port", 8222),
        ("monitor_port: 8223", "http_port", 8223),
        ("http_base_path: /nats", "http_base_path", "/nats"),
        ("pid_file: /tmp/x.pid", "pid_file", "/tmp/x.pid"),
        ("pidfile: /tmp/y.pid", "pid_file", "/tmp/y.pid"),
        ("ports_file_dir: /tmp", "ports_file_dir", "/tmp"),
        ("debug: true", "debug", True),
        ("trace: on", "trace", True),
        ("logtime: false", "logtime", False),
        ("logtime_utc: yes", "logtime_utc", True),
        ("log_file: /tmp/n.log", "log_file", "/tmp/n.log"),
        ("logfile: /tmp/m.log", "log_file", "/tmp/m.log"),
        ("syslog: true", "syslog", True),
        ("remote_syslog: udp://localhost:514", "remote_syslog", "udp://localhost:514"),
        ("log_size_limit: 10MB", "log_size_limit", 10 * MB),
        ("logfile_size_limit: 1k", "log_size_limit", 1000),
        ("max_traced_msg_len: 128", "max_traced_msg_len", 128),
        ("max_payload: 2MB", "max_payload", 2 * MB),
        ("max_payload: 1KiB", "max_payload", 1024),
        ("max_payload: 0", "max_payload", MB),
        ("max_control_line: 8KB", "max_control_line", 8192),
        ("max_pending: 128MB", "max_pending", 128 * MB),
        ("max_connections: 100", "max_connections", 100),
        ("max_conn: 50", "max_connections", 50),
        ("max_subscriptions: 10", "max_subscriptions", 10),
        ("max_subs: 11", "max_subscriptions", 11),
        ("ping_max: 5", "ping_max", 5),
        ('ping_interval: "2m"', "ping_interval", 120.0),
        ('ping_interval: "1m30s"', "ping_interval", 90.0),
        ('write_deadline: "500ms"', "write_deadline", 0.5),
        ('write_deadline: "0s"', "write_deadline", 10.0),
        ('lame_duck_duration: "1m"', "lame_duck_duration", 60.0),
        ('lame_duck_grace_period: "5s"', "lame_duck_grace_period", 5.0),
        ("no_header_support: true", "no_header_support", True),
        ("disable_sublist_cache: true", "disable_sublist_cache", True),
        ("no_sublist_cache: true", "disable_sublist_cache", True),
        ("DEBUG: true", "debug", True),  # keys are case-insensitive
        ("Max_Payload = 4k", "max_payload", 4000),
    ],
)
def test_top_level_keys(text: str, field: str, value: Any) -> None:
    assert getattr(load(text), field) == value


def test_trace_verbose_also_turns_on_trace() -> None:
    opts = load("trace_verbose: true")
    assert opts.trace_verbose and opts.trace


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("listen: 127.0.0.1:4333", "127.0.0.1", 4333),
        ("listen: localhost:4334", "localhost", 4334),
        ('listen: "[::1]:4335"', "::1", 4335),
        ('listen: ":4336"', "0.0.0.0", 4336),
        ("listen: 4337", "0.0.0.0", 4337),
    ],
)
def test_listen(text: str, host: str, port: int) -> None:
    opts = load(text)
    assert (opts.host, opts.port) == (host, port)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('listen: "foo"', 'could not parse address string "foo"'),
        ('listen: "a:b:c"', 'could not parse address string "a:b:c"'),
        ('listen: "localhost:abc"', 'could not parse port "abc"'),
        ("listen: {a: 1}", "expected port or host:port, got map"),
        ("port: 70000", "invalid port 70000, must be between -1 and 65535"),
        ("http: 70000", "invalid http 70000, must be between -1 and 65535"),
    ],
)
def test_bad_addresses(text: str, reason: str) -> None:
    assert fail(text).reason == reason


def test_http_listen() -> None:
    opts = load('http: "127.0.0.1:8222"')
    assert (opts.http_host, opts.http_port) == ("127.0.0.1", 8222)
    opts = load("http: 8333")
    assert (opts.http_host, opts.http_port) == ("", 8333)


def test_http_host_is_not_a_reference_key() -> None:
    assert fail("http_host: 127.0.0.1").reason == 'unknown field "http_host"'


def test_no_system_account_is_accepted() -> None:
    load("no_system_account: true")
    load("no_sys_acc: false")


def test_jetstream_settings() -> None:
    assert load("jetstream: false").jetstream is False
    assert load("jetstream: true").jetstream is True
    assert load("jetstream: enabled").jetstream is True
    assert load("jetstream: disabled").jetstream is False
    o = load(
        "jetstream { store_dir: /data, max_memory_store: 1GB, max_file_store: 10GB, sync_interval: always, domain: hub }"
    )
    assert (o.jetstream, o.store_dir, o.sync_always, o.jetstream_domain) == (True, "/data", True, "hub")
    assert (o.jetstream_max_memory, o.jetstream_max_store) == (1024**3, 10 * 1024**3)
    assert load('jetstream { sync_interval: "30s" }').sync_interval == 30.0
    assert load("jetstream { key: s3cret }").unsupported == {"jetstream.key": "JetStream encryption at rest"}
    assert load("store_dir: /x").store_dir == "/x"


# ---------------------------------------------------------------------------------------
# Values that are wrong
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('port: "4222"', 'invalid value for "port": expected integer, got string'),
        ("port: 1.5", 'invalid value for "port": expected integer, got float'),
        ("debug: 1", 'invalid value for "debug": expected boolean, got integer'),
        ('debug: "true"', 'invalid value for "debug": expected boolean, got string'),
        ("server_name: [a ]", 'invalid value for "server_name": expected string, got array'),
        ('max_payload: "1MB"', 'invalid value for "max_payload": expected integer, got string'),
        ("max_payload: true", 'invalid value for "max_payload": expected integer, got boolean'),
        ("max_payload: 1T", "max_payload value is too big"),
        ("max_control_line: 3GB", "max_control_line value is too big"),
        ("max_payload: -1", "max_payload value can not be negative"),
        ("max_pending: -1k", "max_pending value can not be negative"),
        ("max_connections: -1", "max_connections value can not be negative"),
        ("log_size_limit: -1", "log_size_limit value can not be negative"),
        ('ping_interval: "bogus"', 'error parsing ping_interval: time: invalid duration "bogus"'),
        ('ping_interval: "10"', 'error parsing ping_interval: time: missing unit in duration "10"'),
        ('ping_interval: "-1s"', "invalid ping_interval, needs to be positive"),
        ("ping_interval: 1.5", 'invalid value for "ping_interval": expected integer, got float'),
        ('write_deadline: "5x"', 'error parsing write_deadline: time: unknown unit "x" in duration "5x"'),
        ('lame_duck_duration: "10s"', "invalid lame_duck_duration of 10s, minimum is 30 seconds"),
        ("lame_duck_duration: 60", 'invalid value for "lame_duck_duration": expected string, got integer'),
        ('lame_duck_grace_period: "-1s"', "invalid lame_duck_grace_period, needs to be positive"),
        ('server_name: "a b"', "server name cannot contain spaces"),
        ("authorization: 5", "Expected authorization to be a map/struct, got integer"),
    ],
)
def test_bad_values(text: str, reason: str) -> None:
    e = fail(text)
    assert (e.file, e.line, e.column, e.reason) == ("t.conf", 1, 0, reason)


def test_integer_durations_are_seconds_with_a_warning() -> None:
    opts = load("ping_interval: 60\nwrite_deadline: 5")
    assert (opts.ping_interval, opts.write_deadline) == (60.0, 5.0)
    assert warnings_of("ping_interval: 60\nwrite_deadline: 5") == [
        't.conf:1:0: invalid use of field "ping_interval": ping_interval should be converted to a duration',
        't.conf:2:1: invalid use of field "write_deadline": write_deadline should be converted to a duration',
    ]
    # An unquoted 2m is the integer 2,000,000 (m = mega), not two minutes.
    assert load("ping_interval: 2m").ping_interval == 2_000_000.0


def test_unknown_fields_are_errors_with_positions() -> None:
    e = fail("port: 4222\nfoo: 1\n  bar { x: 1 }")
    assert [str(i) for i in e.issues] == [
        't.conf:2:1: unknown field "foo"',
        't.conf:3:3: unknown field "bar"',
    ]
    assert (e.file, e.line, e.column, e.reason) == ("t.conf", 2, 1, 'unknown field "foo"')


def test_all_problems_are_reported_together() -> None:
    e = fail('debug: 1\nport: "x"\nnope: 1\nauthorization { bogus: 1 }')
    assert len(e.issues) == 4
    assert str(e).count("\n") == 3


def test_variables_that_were_used_are_not_unknown_fields() -> None:
    opts = load("PORT: 4333\nport: $PORT\nauthorization { U: bob\n user: $U\n password: x }")
    assert opts.port == 4333 and opts.username == "bob"
    assert fail("UNUSED: 1").reason == 'unknown field "UNUSED"'


def test_empty_config_is_an_error(tmp_path: Path) -> None:
    for text in ("", "# only a comment\n", "}"):
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert str(info.value) == f"{path}: config has no values or is empty"


# ---------------------------------------------------------------------------------------
# Unsupported features
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(UNSUPPORTED_FEATURES))
def test_unsupported_features_are_recorded(key: str) -> None:
    opts = load(f"{key}: {{ anything: 1 }}")
    assert opts.unsupported == {key: UNSUPPORTED_FEATURES[key]}


def test_unsupported_keep_the_spelling_used() -> None:
    assert load("Gateway { port: 6222 }\nMQTT {}").unsupported == {
        "Gateway": "gateways (super-clusters)",
        "MQTT": "MQTT",
    }


def test_unsupported_inside_authorization() -> None:
    opts = load(
        "authorization {\n"
        "  users: [\n"
        "    {nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}\n"
        "    {user: a, password: b, allowed_connection_types: [STANDARD ]}\n"
        "  ]\n"
        "  auth_callout { issuer: x }\n"
        "}"
    )
    assert opts.unsupported == {
        "authorization.users.allowed_connection_types": "allowed connection types",
        "authorization.auth_callout": "authorization callout",
    }
    assert [(u.username, u.nkey) for u in opts.users] == [
        ("", "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"),
        ("a", ""),
    ]


# ---------------------------------------------------------------------------------------
# Authorization
# ---------------------------------------------------------------------------------------


def test_single_user() -> None:
    opts = load('authorization { user: bob, password: "s3cr3t", timeout: 2 }')
    assert (opts.username, opts.password, opts.auth_timeout) == ("bob", "s3cr3t", 2.0)


def test_aliases_and_token() -> None:
    opts = load("authorization { username: bob, pass: x }")
    assert (opts.username, opts.password) == ("bob", "x")
    assert load('authorization { token: "t0k3n" }').authorization == "t0k3n"


@pytest.mark.parametrize(("value", "seconds"), [("2", 2.0), ("0.5", 0.5), ('"3s"', 3.0), ('"1m"', 60.0)])
def test_auth_timeout_forms(value: str, seconds: float) -> None:
    assert load(f"authorization {{ timeout: {value} }}").auth_timeout == seconds


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('timeout: "x"', "error parsing authorization config, 'timeout' time: invalid duration \"x\""),
        ("timeout: true", "error parsing authorization config, 'timeout' wrong type"),
        ("timeout: -1", "invalid authorization timeout, needs to be positive"),
        ("user: a, password: b, token: c", "Cannot have a user/pass and token"),
        ("user: a, users: [{user: b, password: c}]", "Can not have a single user/pass and a users array"),
        ("token: t, users: [{user: b, password: c}]", "Can not have a token and a users array"),
        ("users: [{user: b, password: c}, {user: b, password: d}]", 'Duplicate user "b" detected'),
        ("users: [{password: c}]", "User entry requires a user"),
        ("users: {user: b}", "Expected users field to be an array, got map"),
        ("users: [a ]", "Expected user entry to be a map/struct, got string"),
        ("users: [{user: a, bogus: 1}]", 'unknown field "bogus"'),
        ("bogus: 1", 'unknown field "bogus"'),
        ("users: [{user: a, permissions: 5}]", "Expected permissions to be a map/struct, got integer"),
        ("users: [{user: a, permissions: {bogus: a}}]", 'Unknown field "bogus" parsing permissions'),
        (
            "users: [{user: a, permissions: {publish: {allow: a, nope: b}}}]",
            "Unknown field name \"nope\" parsing subject permissions, only 'allow' or 'deny' are permitted",
        ),
        (
            "users: [{user: a, permissions: {publish: 5}}]",
            "Expected subject permissions to be a subject, or array of subjects, got integer",
        ),
        (
            "users: [{user: a, permissions: {publish: [5 ]}}]",
            "Subject in permissions array cannot be cast to string",
        ),
        ('users: [{user: a, permissions: {publish: "a b c"}}]', 'subject "a b c" is not a valid subject'),
        (
            'users: [{user: a, permissions: {subscribe: "foo..x q"}}]',
            'subject "foo..x" is not a valid subject',
        ),
        (
            "users: [{user: a, permissions: {allow_responses: 5}}]",
            "error parsing response permissions, expected a boolean or a map",
        ),
        (
            "users: [{user: a, permissions: {allow_responses: {expires: 60}}}]",
            "error parsing expires, not a duration string",
        ),
        (
            'users: [{user: a, permissions: {allow_responses: {expires: "zz"}}}]',
            'error parsing expires: time: invalid duration "zz"',
        ),
        (
            "users: [{user: a, permissions: {allow_responses: {foo: 1}}}]",
            'Unknown field "foo" parsing permissions',
        ),
        ("users: [{nkey: UABC, user: x}]", "Not a valid public nkey for a user"),
    ],
)
def test_authorization_errors(body: str, reason: str) -> None:
    assert fail(f"authorization {{ {body} }}").reason == reason


def test_users_with_every_permission_shape() -> None:
    opts = load(
        """
        authorization {
          default_permissions: { subscribe: "_INBOX.>" }
          users: [
            {user: a, password: pa, permissions: {publish: "foo", subscribe: ["bar", "baz.*" ]}}
            {user: b, password: pb, permissions: {pub: {allow: "x.>", deny: ["x.secret" ]}, sub: {deny: "y"}}}
            {user: c, password: pc, permissions: {publish: "req", allow_responses: true}}
            {user: d, password: pd, permissions: {allow_responses: {max: 5, expires: "1m"}}}
            {user: e, password: pe, permissions: {import: a, export: "b q"}}
            {user: f, password: pf}
            {username: g, pass: pg, permission: {publish_allow_responses: {max_msgs: -1, ttl: "-1s"}}}
            {user: h, password: ph, authorization: {publish: {}}}
          ]
        }
        """
    )
    perms = {u.username: u.permissions for u in opts.users}
    assert perms["a"] == Permissions(
        publish=Permission(allow=["foo"]), subscribe=Permission(allow=["bar", "baz.*"])
    )
    assert perms["b"] == Permissions(
        publish=Permission(allow=["x.>"], deny=["x.secret"]), subscribe=Permission(deny=["y"])
    )
    assert perms["c"] == Permissions(
        publish=Permission(allow=["req"]), allow_responses=ResponsePermission(max_msgs=1, expires=120.0)
    )
    assert perms["d"] == Permissions(allow_responses=ResponsePermission(max_msgs=5, expires=60.0))
    assert perms["e"] == Permissions(publish=Permission(allow=["a"]), subscribe=Permission(allow=["b q"]))
    assert perms["f"] == Permissions(subscribe=Permission(allow=["_INBOX.>"]))  # the default applies
    assert perms["g"] == Permissions(allow_responses=ResponsePermission(max_msgs=-1, expires=0.0))
    assert perms["h"] == Permissions(publish=None)
    assert opts.default_permissions == Permissions(subscribe=Permission(allow=["_INBOX.>"]))
    assert opts.users[0] == User("a", "pa", perms["a"])


def test_allow_responses_false_means_none() -> None:
    opts = load("authorization { users: [{user: a, permissions: {allow_responses: false}}] }")
    assert opts.users[0].permissions == Permissions()


def test_default_permissions_aliases() -> None:
    for alias in ("default_permission", "default_permissions", "permissions"):
        opts = load(f"authorization {{ {alias}: {{ publish: x }} }}")
        assert opts.default_permissions == Permissions(publish=Permission(allow=["x"]))


def test_no_auth_user() -> None:
    opts = load("authorization { users: [{user: a, password: b}] }\nno_auth_user: a")
    assert opts.no_auth_user == "a"
    e = fail("authorization { users: [{user: a, password: b}] }\nno_auth_user: c")
    assert str(e) == (
        't.conf:2:1: no_auth_user: "c" not present as user or nkey in authorization block or account configuration'
    )
    assert fail("no_auth_user: c").reason == 'no_auth_user: "c" present, but users/nkeys are not defined'


def test_bcrypt_passwords_need_no_quotes() -> None:
    opts = load(
        "authorization { user: a, password: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG }"
    )
    assert opts.password.startswith("$2a$11$")


# ---------------------------------------------------------------------------------------
# Files, base options, warnings
# ---------------------------------------------------------------------------------------


def test_load_config_reads_includes_and_sets_config_file(tmp_path: Path) -> None:
    write(tmp_path, "users: [{user: a, password: b}]\n", "auth/users.conf")
    path = write(tmp_path, "port: 4333\nauthorization {\n  include auth/users.conf\n}\n")
    opts = load_config(path)
    assert opts.port == 4333 and opts.config_file == path
    assert [u.username for u in opts.users] == ["a"]


def test_errors_in_included_files_name_them(tmp_path: Path) -> None:
    inc = write(tmp_path, "port: 1\nbogus: 2\n", "inc.conf")
    path = write(tmp_path, "include inc.conf\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f'{inc}:2:1: unknown field "bogus"'


def test_base_options_are_kept_and_not_mutated() -> None:
    base = Options(server_name="base", port=5000, unsupported={"--x": "x"})
    opts = load("debug: true\ngateway {}", base)
    assert (opts.server_name, opts.port, opts.debug) == ("base", 5000, True)
    assert opts.unsupported == {"--x": "x", "gateway": "gateways (super-clusters)"}
    assert base.unsupported == {"--x": "x"} and not base.debug


def test_load_config_logs_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "ping_interval: 30\n")
    with caplog.at_level(logging.WARNING, logger="pynatsd.config.loader"):
        opts = load_config(path)
    assert opts.ping_interval == 30.0
    assert "should be converted to a duration" in caplog.text
    _, warnings = load_config_with_warnings(path)
    assert [w.position.line for w in warnings] == [1]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.conf"))
    assert "error opening config file" in info.value.reason


@pytest.mark.parametrize(("text", "value"), [("1024", 1024), ("1MB", MB), ("64KiB", 65536), ("2k", 2000)])
def test_parse_size_value(text: str, value: int) -> None:
    assert parse_size_value(text) == value


@pytest.mark.parametrize("text", ["abc", "1kbb", "-1", "1.5", ""])
def test_parse_size_value_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size_value(text)


# ---------------------------------------------------------------------------------------
# Differential: the reference's verdict on the same files
# ---------------------------------------------------------------------------------------


def reference_check(path: str) -> tuple[bool, list[str]]:
    """The reference's verdict and its messages (file:line:col: reason), one per line."""
    rc, out = reference_test_config(path)
    out = out.replace("nats-server: ", "")
    return rc == 0, [line for line in out.splitlines() if line.strip()]


# Accepted by both, without warnings.
ACCEPTED = [
    "port: 4333\nserver_name: srv\ndebug: true\ntrace: false",
    "listen: 127.0.0.1:4333\nhttp: 127.0.0.1:8333\nhttp_base_path: /x",
    "net: 0.0.0.0\nport: -1\nmonitor_port: 8444",
    "max_payload: 2MB\nmax_pending: 64MB\nmax_control_line: 4KB\nmax_connections: 100\nmax_subs: 10",
    'ping_interval: "30s"\nping_max: 3\nwrite_deadline: "2s"',
    'lame_duck_duration: "45s"\nlame_duck_grace_period: "5s"',
    "logtime: false\nlogtime_utc: true\nlog_file: /tmp/pynatsd-test.log\nlog_size_limit: 1MB\nmax_traced_msg_len: 64",
    "syslog: false\nremote_syslog: udp://127.0.0.1:514\npidfile: /tmp/p.pid\nports_file_dir: /tmp",
    "no_header_support: false\ndisable_sublist_cache: true\nno_sublist_cache: false",
    'authorization { user: bob, password: "pw", timeout: 2 }',
    'authorization { token: "tok", timeout: "3s" }',
    "authorization {\n  default_permissions { subscribe: _INBOX.> }\n  users: [\n"
    '    {user: a, password: b, permissions: {publish: {allow: "x.>", deny: "x.y"}, allow_responses: true}}\n'
    '    {user: c, password: d, permissions: {publish: ["p" ], subscribe: "s q"}}\n'
    '    {user: e, password: f, permissions: {allow_responses: {max: 3, expires: "5s"}}}\n  ]\n}\nno_auth_user: a',
    "U: bob\nauthorization { user: $U, password: x }",
    "{\n  port: 4333\n  debug: true\n}",
]

# Rejected by both; the first message is compared word for word.
REJECTED_SAME_MESSAGE = [
    "foo: 1",
    "port: 4222\n  foo { bar: 1 }",
    "authorization {\n  user: x\n  bogus: 1\n}",
    "authorization { users: [{user: a, password: b, xyz: 1}] }",
    'listen: "foo"',
    'listen: "localhost:abc"',
    "max_payload: 3GB",
    'ping_interval: "bogus"',
    'lame_duck_duration: "10s"',
    'lame_duck_grace_period: "-1s"',
    'server_name: "a b"',
    "authorization { user: a, password: b, token: c }",
    "authorization { token: t, users: [{user: b, password: c}] }",
    "authorization { users: [{user: b, password: c}, {user: b, password: d}] }",
    "authorization { users: [{password: c}] }",
    'authorization { timeout: "x" }',
    "authorization { timeout: true }",
    "authorization { users: [{user: a, permissions: {bogus: a}}] }",
    "authorization { users: [{user: a, permissions: {allow_responses: 5}}] }",
    "UNUSED: 1",
]

# Rejected by both, with different wording (type errors, parse errors without a position).
REJECTED = [
    'port: "4222"',
    "debug: 1",
    "max_payload: 1Kx",
    "x: [1]",
    "http_host: 127.0.0.1",
    "authorization: 5",
    'authorization { users: [{user: a, permissions: {publish: "a b c"}}] }',
    "port: $UNDEFINED_PYNATSD_VARIABLE",
    "debug",
    "",
]


@needs_reference
@pytest.mark.parametrize("text", ACCEPTED)
def test_reference_accepts_what_we_accept(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    ok, messages = reference_check(path)
    assert ok, messages
    _, warnings = load_config_with_warnings(path)
    assert warnings == []


@needs_reference
@pytest.mark.parametrize(
    ("text", "same_message"),
    [(text, True) for text in REJECTED_SAME_MESSAGE] + [(text, False) for text in REJECTED],
)
def test_reference_rejects_what_we_reject(tmp_path: Path, text: str, same_message: bool) -> None:
    path = write(tmp_path, text)
    ok, messages = reference_check(path)
    assert not ok
    with pytest.raises(ConfigError) as info:
        load_config(path)
    if same_message:
        assert str(info.value.first) == messages[0]


@needs_reference
def test_reference_warns_where_we_warn(tmp_path: Path) -> None:
    path = write(tmp_path, "ping_interval: 60\n")
    ok, messages = reference_check(path)
    assert not ok  # its -t mode fails on warnings
    _, warnings = load_config_with_warnings(path)
    assert [str(w) for w in warnings] == messages


@needs_reference
def test_reference_and_we_agree_on_unsupported_keys_being_known(tmp_path: Path) -> None:
    # For every key we record as unsupported, the reference must at least know the key
    # (it complains about the value, never with "unknown field").
    for key in sorted(UNSUPPORTED_FEATURES):
        path = write(tmp_path, f"{key}: {{ qqq: 1 }}\n")
        _, messages = reference_check(path)
        assert not any(f'unknown field "{key}"' in m for m in messages), (key, messages)


def test_jetstream_batch_limits() -> None:
    o = load(
        "jetstream { limits { batch { max_inflight_per_stream: 2, max_inflight_total: 3, max_msgs: 4, timeout: 1500ms } } }"
    )
    assert (o.jetstream_batch_max_inflight_per_stream, o.jetstream_batch_max_inflight_total) == (2, 3)
    assert (o.jetstream_batch_max_msgs, o.jetstream_batch_timeout) == (4, 1.5)
    assert o.unsupported == {}
    o = load(
        'jetstream { limits { max_ack_pending: 5, max_request_batch: 6, max_ha_assets: 7, duplicate_window: "1m" } }'
    )
    assert (o.jetstream_max_ack_pending, o.jetstream_max_request_batch, o.jetstream_max_ha_assets) == (
        5,
        6,
        7,
    )
    assert (o.jetstream_duplicate_window, o.unsupported) == (60 * 10**9, {})


@needs_reference
def test_max_ack_pending_belongs_in_the_limits_block(tmp_path: Path) -> None:
    path = write_file(tmp_path / "js.conf", "jetstream { max_ack_pending: 5 }")
    rc, messages = reference_check(path)
    assert not rc and any('unknown field "max_ack_pending"' in m for m in messages)
    with pytest.raises(ConfigError, match='unknown field "max_ack_pending"'):
        load_config(path)
