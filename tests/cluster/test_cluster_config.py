"""The ``cluster {}`` block: pynatsd's ``-t`` verdict and text match the reference's, and what
pynatsd does not build is refused by name at start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import pynatsd_command
from tests.support import require_reference as reference_binary
from tests.support.config import needs_reference, reference_test_config, write

BAD = [
    "cluster: 5",
    'cluster { name: "a b" }',
    'cluster { name: "_" }',
    "cluster { name: 5 }",
    'cluster { listen: "x" }',
    "cluster { foo: 1 }",
    'cluster { routes: "x" }',
    'cluster { routes: ["::bad"] }',
    "cluster { routes: [ 5 ] }",
    "cluster { port: 6222, authorization { users: [{user: a, password: b}] } }",
    "cluster { port: 6222, authorization { token: abc } }",
    'cluster { port: 6222, name: c, no_advertise: "x" }',
    'cluster { connect_retries: "x" }',
]

GOOD = [
    "cluster { name: c1, listen: 127.0.0.1:6222, routes: [nats-route://127.0.0.1:6223] }",
    'cluster { port: 6222, routes: [ "nats-route://h:1", "nats://user:pw@h:2" ], advertise: "h:1" }',
    "cluster { port: 6222, no_advertise: true, connect_retries: 5, pool_size: -1, compression: off }",
    "cluster { port: 6222, authorization { user: ruser, password: T0pS3cr3t, timeout: 2 } }",
]


def pynatsd_test_config(path: str) -> tuple[int, str]:
    proc = subprocess.run(
        [*pynatsd_command(), "-t", "-c", path], capture_output=True, timeout=60, check=False
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


@needs_reference
@pytest.mark.parametrize("text", BAD)
def test_bad_cluster_blocks_fail_as_the_reference(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "c.conf", text + "\n")
    ref_code, ref_out = reference_test_config(path)
    our_code, our_out = pynatsd_test_config(path)
    assert ref_code != 0 and our_code != 0
    # "nats-server: c.conf:1:10: reason" against "pynatsd: c.conf:1:10: reason"
    assert our_out.strip().split(": ", 1)[1] == ref_out.strip().splitlines()[0].split(": ", 1)[1]


@needs_reference
@pytest.mark.parametrize("text", GOOD)
def test_good_cluster_blocks_are_valid_on_both(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "c.conf", text + "\n")
    assert reference_test_config(path)[0] == 0
    code, out = pynatsd_test_config(path)
    assert code == 0, out


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        ("cluster { port: 6222, pool_size: 3 }", "route pooling"),
        ("cluster { port: 6222, accounts: [A] }", "pinned accounts"),
        ("cluster { port: 6222, compression: s2_fast }", "route compression"),
        ("cluster { port: 6222, tls { cert_file: x, key_file: y } }", "TLS for routes"),
        ("cluster { port: 6222, permissions { import: foo } }", "route permissions"),
    ],
)
def test_unbuilt_route_features_are_refused_by_name(tmp_path: Path, text: str, feature: str) -> None:
    path = write(tmp_path / "c.conf", text + "\n")
    code, out = pynatsd_test_config(path)
    assert code != 0
    assert feature in out and "not supported by pynatsd yet" in out


@needs_reference
@pytest.mark.parametrize(
    "args",
    [
        ["--routes", "nats://127.0.0.1:5"],
        ["--cluster", "nats://127.0.0.1:x"],
        ["--cluster_name", "a b", "--cluster", "nats://127.0.0.1:6222"],
    ],
    ids=["routes-without-cluster", "bad-cluster-url", "name-with-spaces"],
)
def test_bad_cluster_flags_fail_as_the_reference(args: list[str]) -> None:
    ref = subprocess.run([reference_binary(), "-p", "0", *args], capture_output=True, timeout=30, check=False)
    ours = subprocess.run(
        [*pynatsd_command(), "-p", "0", *args], capture_output=True, timeout=60, check=False
    )
    assert ref.returncode != 0 and ours.returncode != 0
    ref_text = ref.stderr.decode().strip().splitlines()[-1].split(": ", 1)[1]
    our_text = ours.stderr.decode().strip().splitlines()[-1].split(": ", 1)[1]
    assert our_text == ref_text
