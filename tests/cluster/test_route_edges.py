"""Routes at their edges: flags instead of a config file, route credentials, both servers
dialling each other (duplicate routes), and bad input on the route port."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path

import pytest

from tests.cluster.test_routes import PAIR_IDS, PAIRS, Collector, Node, connect, in_sync, start_node
from tests.support import ServerProcess, free_port, require_reference
from tests.support.launcher import server_command

T = 20.0


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=PAIR_IDS)
async def test_cluster_flags(first: str, second: str, nodes: list[Node]) -> None:
    """``--cluster``/``--cluster_name``/``--routes`` as the reference's command line takes them."""
    started = []
    for kind, routes in ((first, []), (second, None)):
        if kind == "reference":
            require_reference()
        port, cport = free_port(), free_port()
        args = [
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "--cluster",
            f"nats://127.0.0.1:{cport}",
            "--cluster_name",
            "flags",
        ]
        if routes is None:
            args += ["--routes", f"nats-route://127.0.0.1:{started[0].cluster_port}"]
        proc = ServerProcess(server_command(kind), *args, host=None, name=kind)
        proc.start()
        node = Node(kind, proc, port, cport)
        nodes.append(node)
        started.append(node)
    na, nb = await connect(started[0]), await connect(started[1])
    try:
        await in_sync(na, nb)
        await in_sync(nb, na)
    finally:
        await na.close()
        await nb.close()


ROUTE_AUTH = "authorization { user: ruser, password: rpass }"


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=PAIR_IDS)
async def test_route_credentials(first: str, second: str, tmp_path: Path, nodes: list[Node]) -> None:
    """A seed that requires route credentials: a joiner with them in its route URL is routed."""
    if "reference" in (first, second):
        require_reference()
    port, cport = free_port(), free_port()
    conf = tmp_path / "seed.conf"
    conf.write_text(
        f"listen: 127.0.0.1:{port}\ncluster {{ name: c1, listen: 127.0.0.1:{cport}, {ROUTE_AUTH} }}\n"
    )
    seed = ServerProcess(server_command(first), "-c", str(conf), host=None, name=first)
    seed.start()
    a = Node(first, seed, port, cport)
    nodes.append(a)
    jport, jcport = free_port(), free_port()
    jconf = tmp_path / "joiner.conf"
    jconf.write_text(
        f"listen: 127.0.0.1:{jport}\ncluster {{ name: c1, listen: 127.0.0.1:{jcport}, {ROUTE_AUTH},\n"
        f"  routes: [ nats-route://ruser:rpass@127.0.0.1:{cport} ] }}\n"
    )
    joiner = ServerProcess(server_command(second), "-c", str(jconf), host=None, name=second)
    joiner.start()
    b = Node(second, joiner, jport, jcport)
    nodes.append(b)
    na, nb = await connect(a), await connect(b)
    try:
        await in_sync(na, nb)
        await in_sync(nb, na)
    finally:
        await na.close()
        await nb.close()


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=PAIR_IDS)
async def test_wrong_route_credentials_are_refused(
    first: str, second: str, tmp_path: Path, nodes: list[Node]
) -> None:
    if "reference" in (first, second):
        require_reference()
    a = start_node(tmp_path, first, "A", [], cluster_extra=ROUTE_AUTH)
    nodes.append(a)
    port, cport = free_port(), free_port()
    conf = tmp_path / "bad.conf"
    conf.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f"cluster {{ name: c1, listen: 127.0.0.1:{cport}, routes: [ nats-route://ruser:wrong@127.0.0.1:{a.cluster_port} ] }}\n"
    )
    bad = ServerProcess(server_command(second), "-c", str(conf), host=None, name=second)
    bad.start()
    nodes.append(Node(second, bad, port, cport))
    a.proc.wait_for_log("authentication error")


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=PAIR_IDS)
async def test_servers_dialling_each_other_keep_one_route(
    first: str, second: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """Both servers list each other: one route survives (duplicates are resolved) and every
    message is delivered once."""
    if "reference" in (first, second):
        require_reference()
    pa, ca, pb, cb = free_port(), free_port(), free_port(), free_port()
    procs = []
    for kind, name, port, cport, other in ((first, "A", pa, ca, cb), (second, "B", pb, cb, ca)):
        conf = tmp_path / f"{name}.conf"
        conf.write_text(
            f"server_name: {name}\nlisten: 127.0.0.1:{port}\n"
            f"cluster {{ name: c1, listen: 127.0.0.1:{cport}, routes: [ nats-route://127.0.0.1:{other} ] }}\n"
        )
        proc = ServerProcess(server_command(kind), "-c", str(conf), host=None, name=f"{kind}-{name}")
        procs.append(proc)
    for proc in procs:
        proc.start(ready=None)
    for proc, (port, cport) in zip(procs, ((pa, ca), (pb, cb)), strict=True):
        proc.wait_for_log("Server is ready")
        nodes.append(Node(first, proc, port, cport))
    na, nb = await connect(nodes[0]), await connect(nodes[1])
    try:
        got = Collector()
        await na.subscribe("dup.>", cb=got.cb)
        await in_sync(na, nb)
        for i in range(100):
            await nb.publish("dup.x", b"%d" % i)
        await nb.publish("dup.x", b"END")
        await asyncio.wait_for(got.done.wait(), T)
        await in_sync(na, nb)
        assert [m.data for m in got.msgs] == [b"%d" % i for i in range(100)]
    finally:
        await na.close()
        await nb.close()


def _route_port_exchange(cport: int, payload: bytes) -> bytes:
    """Send ``payload`` to a route port, return what came back until the server closed."""
    with socket.create_connection(("127.0.0.1", cport), timeout=T) as s:
        s.sendall(payload)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.parametrize("kind", ["pynatsd", "reference"])
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"GARBAGE\r\n", b"-ERR 'Authorization Violation'\r\n"),
        (
            b'CONNECT {"name":"NX","cluster":"c1","headers":true}\r\nGARBAGE\r\n',
            b"-ERR 'Unknown Protocol Operation'\r\n",
        ),
        (b'CONNECT {"lang":"python","verbose":false}\r\n', b"-ERR 'attempted to connect to route port'\r\n"),
        (
            b'CONNECT {"name":"NX","cluster":"other","headers":true}\r\n',
            b'-ERR \'Rejecting connection, cluster name "other" does not match "c1"\'\r\n',
        ),
    ],
    ids=["garbage-first", "garbage-after-connect", "client-on-route-port", "wrong-cluster"],
)
def test_bad_input_on_the_route_port(tmp_path: Path, kind: str, payload: bytes, expected: bytes) -> None:
    node = start_node(tmp_path, kind, "A", [])
    try:
        out = _route_port_exchange(node.cluster_port, payload)
        assert out.startswith(b"INFO ")
        assert expected in out
        # The server is unaffected: clients still work.
        with socket.create_connection(("127.0.0.1", node.port), timeout=T) as c:
            c.sendall(b"CONNECT {}\r\nPING\r\n")
            buf = b""
            while b"PONG" not in buf:
                chunk = c.recv(4096)
                assert chunk
                buf += chunk
    finally:
        node.proc.stop()


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=PAIR_IDS)
async def test_lame_duck_is_announced_to_the_cluster(
    first: str, second: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """A server entering lame-duck mode tells its peers, whose clients then get an INFO
    update without its URL."""
    a = start_node(tmp_path, first, "A", [], extra="lame_duck_duration: 30s\nlame_duck_grace_period: 20s")
    nodes.append(a)
    b = start_node(tmp_path, second, "B", [a.cluster_port])
    nodes.append(b)
    na, nb = await connect(a), await connect(b)
    await in_sync(na, nb)
    await na.close()
    await nb.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
    try:
        writer.write(b'CONNECT {"protocol":1,"verbose":false}\r\nPING\r\n')
        await writer.drain()
        a_url = f"127.0.0.1:{a.port}"
        first_info = await asyncio.wait_for(reader.readline(), T)
        assert a_url.encode() in first_info
        assert a.proc.proc is not None
        a.proc.proc.send_signal(signal.SIGUSR2)  # lame-duck mode, as `nats-server --signal ldm`
        while True:
            line = await asyncio.wait_for(reader.readline(), T)
            assert line, "B closed the connection"
            if line.startswith(b"PING"):
                writer.write(b"PONG\r\n")
            if line.startswith(b"INFO ") and a_url.encode() not in line:
                info = json.loads(line[5:])
                assert f"127.0.0.1:{b.port}" in info["connect_urls"]
                break
    finally:
        writer.close()


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("restart", ["seed", "joiner"])
async def test_a_restarted_node_rejoins_and_interest_is_rebuilt(
    first: str, second: str, restart: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """Kill one node and start it again on the same ports: the joiner's configured route is
    dialled again (either way round) and subscriptions on both sides cross it again."""
    a = start_node(tmp_path, first, "A", [])
    nodes.append(a)
    b = start_node(tmp_path, second, "B", [a.cluster_port])
    nodes.append(b)
    na, nb = await connect(a), await connect(b)
    await in_sync(na, nb)
    await na.close()
    await nb.close()
    victim = a if restart == "seed" else b
    victim.proc.kill()
    victim.proc.start()
    na, nb = await connect(a), await connect(b)
    try:
        got = Collector()
        await na.subscribe("again.>", cb=got.cb)
        await in_sync(na, nb)
        await in_sync(nb, na)
        await nb.publish("again.x", b"back")
        await nb.publish("again.x", b"END")
        await asyncio.wait_for(got.done.wait(), T)
        assert [m.data for m in got.msgs] == [b"back"]
    finally:
        await na.close()
        await nb.close()


def test_random_input_after_the_handshake_does_not_hurt_the_server(tmp_path: Path) -> None:
    """Seeded random operations on a registered route: the route may be closed, the server
    keeps serving its clients."""
    import random

    node = start_node(tmp_path, "pynatsd", "A", [])
    rng = random.Random(14)
    words = [
        b"RS+",
        b"RS-",
        b"RMSG",
        b"HMSG",
        b"INFO",
        b"PING",
        b"PONG",
        b"-ERR",
        b"+OK",
        b"$G",
        b"foo",
        b"*",
        b">",
    ]
    try:
        for _ in range(30):
            ops = []
            for _ in range(rng.randint(1, 8)):
                parts = [rng.choice(words) for _ in range(rng.randint(1, 6))]
                if rng.random() < 0.3:
                    parts.append(b"%d" % rng.randint(-5, 20))
                if rng.random() < 0.1:
                    parts.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 12))))
                ops.append(
                    b" ".join(parts)
                    + b"\r\n"
                    + (b"x" * rng.randint(0, 10) + b"\r\n" if rng.random() < 0.3 else b"")
                )
            hello = (
                b'CONNECT {"name":"NFUZZ%d","cluster":"c1","headers":true}\r\n' % rng.randrange(10**6)
                + b'INFO {"server_id":"NFUZZ%d","cluster":"c1","port":1,"host":"127.0.0.1"}\r\n'
                % rng.randrange(10**6)
            )
            with socket.create_connection(("127.0.0.1", node.cluster_port), timeout=T) as s:
                s.sendall(hello + b"".join(ops) + b"PING\r\n")
                s.settimeout(0.5)
                try:
                    while s.recv(65536):
                        pass
                except (TimeoutError, ConnectionResetError):
                    pass
        assert node.proc.alive()
        with socket.create_connection(("127.0.0.1", node.port), timeout=T) as c:
            c.sendall(b"CONNECT {}\r\nSUB x 1\r\nPUB x 2\r\nhi\r\nPING\r\n")
            buf = b""
            while b"PONG" not in buf:
                chunk = c.recv(4096)
                assert chunk
                buf += chunk
            assert b"MSG x 1 2\r\nhi\r\n" in buf
        assert "Traceback" not in node.proc.tail(1000)
    finally:
        node.proc.stop()


def test_service_import_subscriptions_are_not_announced(tmp_path: Path) -> None:
    """The ``$JS.API.>`` import of ``$G`` (and any service import) is local, as the
    reference's (sub.si): announcing it would bring other servers' own API requests back
    here, to be answered twice. A plain subscription is announced."""
    node = start_node(tmp_path, "pynatsd", "A", [])
    try:
        with socket.create_connection(("127.0.0.1", node.port), timeout=T) as c:
            c.sendall(b"CONNECT {}\r\nSUB plain.subject 1\r\nPING\r\n")
            buf = b""
            while b"PONG" not in buf:
                chunk = c.recv(4096)
                assert chunk
                buf += chunk
            with socket.create_connection(("127.0.0.1", node.cluster_port), timeout=T) as s:
                s.sendall(
                    b'CONNECT {"name":"NPEER","cluster":"c1","headers":true}\r\n'
                    b'INFO {"server_id":"NPEER","cluster":"c1","port":1,"host":"127.0.0.1"}\r\nPING\r\n'
                )
                out = b""
                while b"PONG" not in out:
                    chunk = s.recv(65536)
                    assert chunk
                    out += chunk
        assert b"RS+ $G plain.subject\r\n" in out
        assert b"$JS.API" not in out
    finally:
        node.proc.stop()
