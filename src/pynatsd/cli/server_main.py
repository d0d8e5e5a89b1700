"""The ``pynatsd`` command: the reference's flags, with the same meaning.

The reference parses flags with Go's ``flag`` package, so ``-port 4222``, ``--port=4222``
and ``-p 4222`` are all the same flag. Click and argparse follow POSIX conventions
instead (``-sl`` would be ``-s -l``), so a small parser of that style lives here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from pynatsd.options import Options, TLSOptions
from pynatsd.version import REFERENCE_VERSION, __version__

USAGE = """\
Usage: pynatsd [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 for random)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to pynatsd process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local timezone (default: false)
    -s, --syslog                     Log to syslog (not supported yet)
    -r, --remote_syslog <addr>       Syslog server addr (not supported yet)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
"""

SIGNALS = {
    "stop": signal.SIGKILL,
    "quit": signal.SIGINT,
    "term": signal.SIGTERM,
    "reopen": signal.SIGUSR1,
    "reload": signal.SIGHUP,
    "ldm": signal.SIGUSR2,
}


@dataclass(frozen=True)
class Flag:
    dest: str
    kind: str  # "str", "int", "bool", "size"
    feature: str = ""  # set for features pynatsd does not have yet


_FLAGS: dict[str, Flag] = {}


def _add(names: str, dest: str, kind: str = "str", feature: str = "") -> None:
    for n in names.split():
        _FLAGS[n] = Flag(dest, kind, feature)


_add("a addr net", "host")
_add("p port", "port", "int")
_add("n name server_name", "server_name")
_add("P pid", "pid_file")
_add("m http_port", "http_port", "int")
_add("ms https_port", "https_port", "int")
_add("c config", "config_file")
_add("t", "check_config", "bool")
_add("sl signal", "signal")
_add("client_advertise", "client_advertise")
_add("ports_file_dir", "ports_file_dir")
_add("l log", "log_file")
_add("T logtime", "logtime", "bool")
_add("logtime_utc", "logtime_utc", "bool")
_add("s syslog", "syslog", "bool", "syslog logging")
_add("r remote_syslog", "remote_syslog", "str", "remote syslog logging")
_add("D debug", "debug", "bool")
_add("V trace", "trace", "bool")
_add("VV", "trace_verbose", "bool")
_add("DV", "debug_trace", "bool")
_add("DVV", "debug_trace_verbose", "bool")
_add("log_size_limit", "log_size_limit", "size")
_add("max_traced_msg_len", "max_traced_msg_len", "int")
_add("js jetstream", "jetstream", "bool")
_add("sd store_dir", "store_dir")
_add("user", "username")
_add("pass", "password")
_add("auth", "authorization")
_add("tls", "tls", "bool")
_add("tlscert", "tlscert", "str")
_add("tlskey", "tlskey", "str")
_add("tlsverify", "tlsverify", "bool")
_add("tlscacert", "tlscacert", "str")
_add("routes", "routes", "str")
_add("cluster", "cluster", "str")
_add("cluster_name", "cluster_name", "str")
_add("no_advertise", "no_advertise", "bool")
_add("cluster_advertise", "cluster_advertise", "str")
_add("connect_retries", "connect_retries", "int")
_add("cluster_listen", "cluster_listen", "str")
_add("profile", "profile", "int", "the profiling port")
_add("h help", "help", "bool")
_add("help_tls", "help_tls", "bool")
_add("v version", "version", "bool")


class UsageError(Exception):
    pass


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """Parse Go-style flags into {dest: value}, in the order given."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            if arg == "--":
                break
            raise UsageError(f"unexpected argument: {arg}")
        name = arg.lstrip("-")
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        flag = _FLAGS.get(name)
        if flag is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if flag.kind == "bool":
            if value is None:
                out[flag.dest] = True
            else:
                low = value.lower()
                if low in ("1", "t", "true"):
                    out[flag.dest] = True
                elif low in ("0", "f", "false"):
                    out[flag.dest] = False
                else:
                    raise UsageError(f'invalid boolean value "{value}" for -{name}')
            continue
        if value is None:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if flag.kind == "int":
            try:
                out[flag.dest] = int(value)
            except ValueError:
                raise UsageError(f'invalid value "{value}" for flag -{name}: parse error')
        elif flag.kind == "size":
            from pynatsd.config.loader import parse_size_value

            out[flag.dest] = parse_size_value(value)
        else:
            out[flag.dest] = value
    return out


def build_options(flags: dict[str, Any], warnings: list[str] | None = None) -> Options:
    """Config file first, then the flags over it, as the reference merges them."""
    cfg = flags.get("config_file")
    if cfg:
        from pynatsd.config.loader import load_config_with_warnings

        opts, issues = load_config_with_warnings(cfg)
        if warnings is not None:
            warnings.extend(str(i) for i in issues)
    else:
        opts = Options()
    _tls_flags(flags, opts)
    from pynatsd.config.cluster import apply_cluster_flags

    problem = apply_cluster_flags(flags, opts)
    if problem:
        raise ValueError(problem)
    for dest, value in flags.items():
        if dest in _TLS_DESTS or dest in _CLUSTER_DESTS:
            continue
        flag = next(f for f in _FLAGS.values() if f.dest == dest)
        if flag.feature:
            if value not in (False, None, "", 0):
                opts.unsupported[f"--{dest}"] = flag.feature
            continue
        if dest == "debug_trace":
            opts.debug = opts.trace = bool(value)
        elif dest == "debug_trace_verbose":
            opts.debug = opts.trace = opts.trace_verbose = bool(value)
        elif dest == "trace_verbose":
            opts.trace = opts.trace_verbose = bool(value)
        elif dest in ("check_config", "signal", "help", "help_tls", "version"):
            continue
        elif dest == "port":
            opts.port = 4222 if value == 0 else value
        else:
            setattr(opts, dest, value)
    return opts


_CLUSTER_DESTS = (
    "cluster",
    "cluster_listen",
    "cluster_name",
    "routes",
    "cluster_advertise",
    "no_advertise",
    "connect_retries",
)
_TLS_DESTS = ("tls", "tlscert", "tlskey", "tlsverify", "tlscacert")


def _tls_flags(flags: dict[str, Any], opts: Options) -> None:
    """``--tls*`` flags replace the config file's tls block, as the reference's overrideTLS:
    any of them turns TLS on unless ``--tls=false`` is given."""
    if not any(d in flags for d in _TLS_DESTS) or flags.get("tls") is False:
        return
    from pynatsd.tls import TLSConfigError, build_context

    cert, key = flags.get("tlscert", ""), flags.get("tlskey", "")
    if not cert:
        raise TLSConfigError("TLS Server certificate must be present and valid")
    if not key:
        raise TLSConfigError("TLS Server private key must be present and valid")
    tc = TLSOptions(cert_file=cert, key_file=key, ca_file=flags.get("tlscacert", ""))
    tc.verify = bool(flags.get("tlsverify", False))
    build_context(tc)
    opts.tls = tc


def _fail(msg: str, code: int = 1) -> NoReturn:
    print(f"pynatsd: {msg}", file=sys.stderr)
    sys.exit(code)


def send_signal(spec: str) -> None:
    """``-sl command[=pid|pidfile]`` against a running pynatsd."""
    command, _, target = spec.partition("=")
    sig = SIGNALS.get(command)
    if sig is None:
        _fail(f"unknown signal {command!r}")
    pids: list[int]
    if target:
        if target.isdigit():
            pids = [int(target)]
        else:
            try:
                with open(target) as f:
                    pids = [int(f.read().strip())]
            except (OSError, ValueError) as e:
                _fail(f"could not read pid file {target}: {e}")
    else:
        pids = _find_pynatsd_pids()
        if not pids:
            _fail("no pynatsd process running")
        if len(pids) > 1:
            _fail("multiple pynatsd processes running:\n" + "\n".join(str(p) for p in pids))
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError as e:
            _fail(f"failed to send signal to {pid}: {e}")


def _find_pynatsd_pids() -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        words = [os.path.basename(a) for a in argv[:3]]
        if b"pynatsd" in words and b"-sl" not in argv and b"--signal" not in argv:
            found.append(int(entry))
    return found


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        flags = parse_flags(args)
    except UsageError as e:
        print(e, file=sys.stderr)
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    if flags.get("help") or flags.get("help_tls"):
        print(USAGE)
        return
    if flags.get("version"):
        print(f"pynatsd: v{__version__} (nats-server v{REFERENCE_VERSION} compatible)")
        return
    if flags.get("signal"):
        send_signal(flags["signal"])
        return
    warnings: list[str] = []
    try:
        opts = build_options(flags, warnings)
    except Exception as e:  # config errors carry file:line in their text
        _fail(str(e))
    if flags.get("check_config"):
        if warnings:
            # The reference's -t treats warnings as failures too.
            _fail("\n".join(warnings))
        if opts.unsupported:
            key, feature = next(iter(opts.unsupported.items()))
            _fail(f"{feature} is not supported by pynatsd yet (option {key!r})")
        print(f"pynatsd: configuration file {opts.config_file} is valid")
        return
    run(opts, flags, warnings)


def run(opts: Options, flags: dict[str, Any] | None = None, warnings: list[str] | None = None) -> None:
    """Run a server in the foreground until SIGINT/SIGTERM."""
    # Imported here so that -h, -v and -t do not pay for loading the server.
    from pynatsd.embed import new_event_loop
    from pynatsd.node import Node
    from pynatsd.server.errors import StartError

    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    srv = Node(opts).server
    for w in warnings or []:
        srv.log.warn("%s", w)

    def reload() -> None:
        if not opts.config_file:
            srv.log.error("Failed to reload server configuration: no configuration file")
            return
        try:
            new = build_options(dict(flags or {}))
        except Exception as e:
            srv.log.error("Failed to reload server configuration: %s", e)
            return
        srv.reload(new)

    def lame_duck() -> None:
        loop.create_task(srv.enter_lame_duck())

    def stop() -> None:
        srv.log.notice("Trapped %r signal", "terminated")
        loop.create_task(srv.shutdown())

    async def amain() -> int:
        try:
            await srv.start()
        except StartError as e:
            srv.log.fatal("%s", e)
            return 1
        except OSError as e:
            srv.log.fatal("Error listening on port: %s:%d, %r", opts.host, opts.port, e.strerror)
            return 1
        except (ValueError, RuntimeError) as e:  # TLS and monitoring settings checked at start
            srv.log.fatal("%s", e)
            return 1
        loop.add_signal_handler(signal.SIGINT, stop)
        loop.add_signal_handler(signal.SIGTERM, stop)
        loop.add_signal_handler(signal.SIGHUP, reload)
        loop.add_signal_handler(signal.SIGUSR1, srv.log.reopen)
        loop.add_signal_handler(signal.SIGUSR2, lame_duck)
        await srv.stopped.wait()
        # Give the transports closed by shutdown a turn to flush.
        await asyncio.sleep(0)
        return 0

    try:
        code = loop.run_until_complete(amain())
    finally:
        loop.close()
    sys.exit(code)
